"""Kullback-Leibler divergences between distributions given in log space."""

from __future__ import annotations

import functools
import warnings
from typing import Any

from anyopt import _ops
from anyopt.losses import _math

Array = Any
Axis = int | tuple[int, ...] | None


def _check(fn: str, log_predictions, targets, where, targets_name: str = "targets") -> None:
    _math.check_floating(fn, "log_predictions", log_predictions)
    _math.check_floating(fn, targets_name, targets)
    _math.check_broadcast(fn, targets_name, targets, "log_predictions", log_predictions)
    _math.check_where(fn, where, log_predictions)


def _kl(log_predictions, targets, axis, where):
    log_targets = _ops.where(targets == 0, 0.0, _ops.log(targets))
    return _math.masked_sum(targets * (log_targets - log_predictions), axis, where)


@_math.quiet
def kl_divergence(
    log_predictions: Array, targets: Array, axis: Axis = -1, where: Array | None = None
) -> Array:
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(t \,\|\, p)` summed over ``axis``.

    .. math::
        \sum_j t_j (\log t_j - \log p_j), \quad 0 \log 0 = 0

    ``log_predictions`` are log-probabilities; ``targets`` are probabilities. Reference:
    Kullback and Leibler, `On Information and Sufficiency
    <https://www.jstor.org/stable/2236703>`_, 1951.
    """
    _check("kl_divergence", log_predictions, targets, where)
    return _kl(log_predictions, targets, axis, where)


@_math.quiet
def kl_divergence_with_log_targets(
    log_predictions: Array, log_targets: Array, axis: Axis = -1, where: Array | None = None
) -> Array:
    r""":func:`kl_divergence` with the targets in log space too:
    :math:`\sum_j e^{\log t_j} (\log t_j - \log p_j)`."""
    _check("kl_divergence_with_log_targets", log_predictions, log_targets, where, "log_targets")
    loss = _ops.exp(log_targets) * (log_targets - log_predictions)
    return _math.masked_sum(loss, axis, where)


@_math.quiet
def generalized_kl_divergence(
    log_predictions: Array, targets: Array, axis: Axis = -1, where: Array | None = None
) -> Array:
    r"""Generalized KL divergence for unnormalized distributions (the Bregman divergence of
    :math:`x \log x - x`):

    .. math::
        \sum_j t_j (\log t_j - \log p_j) + \sum_j (p_j - t_j)
    """
    _check("generalized_kl_divergence", log_predictions, targets, where)
    x = _kl(log_predictions, targets, axis, where)
    y = _math.masked_sum(_ops.exp(log_predictions) - targets, axis, where)
    return x + y


def _deprecated(replacement: str):
    def wrap(fun):
        message = f"The function {fun.__name__} is deprecated. Please use {replacement} instead."

        @functools.wraps(fun)
        def new_fun(*args, **kwargs):
            warnings.warn(message, category=DeprecationWarning, stacklevel=2)
            return fun(*args, **kwargs)

        return new_fun

    return wrap


@_deprecated("generalized_kl_divergence")
@_math.quiet
def convex_kl_divergence(
    log_predictions: Array, targets: Array, axis: Axis = -1, where: Array | None = None
) -> Array:
    """Deprecated name of :func:`generalized_kl_divergence` (warns, as optax's does)."""
    _check("convex_kl_divergence", log_predictions, targets, where)
    return generalized_kl_divergence(log_predictions, targets, axis=axis, where=where)
