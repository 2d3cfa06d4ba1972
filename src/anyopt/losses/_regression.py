"""Regression losses: element-wise, no reduction over the batch (optax.losses' semantics)."""

from __future__ import annotations

import math
from typing import Any

from anyopt import _ops
from anyopt.losses import _math

Array = Any


def _errors(fn: str, predictions, targets):
    _math.check_floating(fn, "predictions", predictions)
    if targets is None:
        return predictions
    _math.check_broadcast(fn, "predictions", predictions, "targets", targets)
    return predictions - targets


@_math.quiet
def squared_error(predictions: Array, targets: Array | None = None) -> Array:
    r"""Element-wise squared error :math:`(p - t)^2` (targets default to zeros).

    ``predictions`` and ``targets`` must have the same shape (as in optax). The mean squared
    error is ``squared_error(p, t).mean()``.

    Example:
        >>> import numpy as np, anyopt
        >>> anyopt.losses.squared_error(np.array([1.0, 2.0]), np.array([0.0, 0.5]))
        array([1.  , 2.25])
    """
    _math.check_floating("squared_error", "predictions", predictions)
    if targets is not None:
        _math.check_same_shape("squared_error", "predictions", predictions, "targets", targets)
    errors = predictions - targets if targets is not None else predictions
    return errors**2


@_math.quiet
def l2_loss(predictions: Array, targets: Array | None = None) -> Array:
    r"""Element-wise :math:`\tfrac12 (p - t)^2` (Bishop's convention: half the squared error).

    ``predictions`` and ``targets`` must have the same shape.
    """
    _math.check_floating("l2_loss", "predictions", predictions)
    if targets is not None:
        _math.check_same_shape("l2_loss", "predictions", predictions, "targets", targets)
    return 0.5 * squared_error(predictions, targets)


@_math.quiet
def huber_loss(predictions: Array, targets: Array | None = None, *, delta: Array = 1.0) -> Array:
    r"""Element-wise Huber loss: quadratic near zero, linear beyond ``delta``.

    .. math::
        q = \min(|e|, \delta), \quad \ell = \tfrac12 q^2 + \delta (|e| - q), \quad e = p - t

    Gradient descent on it equals clipping the gradient of ``l2_loss`` to
    :math:`[-\delta, \delta]`. Reference: `Huber loss
    <https://en.wikipedia.org/wiki/Huber_loss>`_.
    """
    errors = _errors("huber_loss", predictions, targets)
    abs_errors = _ops.abs(errors)
    quadratic = _ops.minimum(abs_errors, delta)
    linear = abs_errors - quadratic
    return 0.5 * quadratic**2 + delta * linear


@_math.quiet
def log_cosh(predictions: Array, targets: Array | None = None) -> Array:
    r"""Element-wise :math:`\log\cosh(p - t)`, computed stably as
    :math:`|e| + \log(1 + e^{-2|e|}) - \log 2`.

    About :math:`e^2/2` for small errors and :math:`|e| - \log 2` for large ones: a twice
    differentiable Huber loss. Reference: Chen et al, `Log Hyperbolic Cosine Loss Improves
    Variational Auto-Encoder <https://openreview.net/pdf?id=rkglvsC9Ym>`_, 2019.
    """
    errors = _errors("log_cosh", predictions, targets)
    return _math.logaddexp_neg(errors) - math.log(2.0)


@_math.quiet
def cosine_similarity(
    predictions: Array,
    targets: Array,
    *,
    epsilon: Array = 0.0,
    axis: int | tuple[int, ...] | None = -1,
    where: Array | None = None,
) -> Array:
    r"""Cosine of the angle between ``predictions`` and ``targets`` along ``axis``.

    .. math::
        \frac{\langle a, b \rangle}{\max(\|a\|, \sqrt\epsilon)\, \max(\|b\|, \sqrt\epsilon)}

    with the sums over ``axis`` restricted to ``where``. Returns shape ``[...]``.
    """
    return _cosine_similarity("cosine_similarity", predictions, targets, epsilon, axis, where)


def _cosine_similarity(fn: str, predictions, targets, epsilon, axis, where):
    _math.check_floating(fn, "predictions", predictions)
    _math.check_floating(fn, "targets", targets)
    _math.check_broadcast(fn, "predictions", predictions, "targets", targets)
    _math.check_where(fn, where, predictions)
    a, b = predictions, targets
    a_norm2 = _math.masked_sum(a * a, axis, where, keepdims=True)
    b_norm2 = _math.masked_sum(b * b, axis, where, keepdims=True)
    a_unit = a / _ops.sqrt(_ops.maximum(a_norm2, epsilon))
    b_unit = b / _ops.sqrt(_ops.maximum(b_norm2, epsilon))
    return _math.masked_sum(a_unit * b_unit, axis, where)


@_math.quiet
def cosine_distance(
    predictions: Array,
    targets: Array,
    *,
    epsilon: Array = 0.0,
    axis: int | tuple[int, ...] | None = -1,
    where: Array | None = None,
) -> Array:
    r""":math:`1 - \cos\theta`, the dissimilarity of ``predictions`` and ``targets``
    (see :func:`cosine_similarity`)."""
    return 1.0 - _cosine_similarity("cosine_distance", predictions, targets, epsilon, axis, where)
