"""Fenchel-Young losses built from a user's max function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from anyopt import _ops, backends
from anyopt.losses import _math

Array = Any


def _apply_to_last_axis(fn: str, max_fun: Callable, scores, *args, **kwargs):
    """``max_fun`` on every 1-D slice along the last axis, with the framework's own vmap
    (a loop on NumPy); ``jnp.vectorize(max_fun, signature='(n)->()')``."""
    shape = _math.shape_of(scores)
    if len(shape) == 0:
        raise ValueError(f"{fn}: scores must have at least one axis; got shape ()")

    def per_slice(row):
        return max_fun(row, *args, **kwargs)

    if len(shape) == 1:
        out = per_slice(scores)
        expected = ()
    else:
        rows = _ops.reshape(scores, (-1, shape[-1]))
        b = backends.of(scores)
        if hasattr(b, "vmap"):
            out = b.vmap(per_slice)(rows)
        else:  # NumPy: no vmap
            out = _ops.stack([per_slice(rows[i]) for i in range(_math.shape_of(rows)[0])])
        expected = _math.shape_of(rows)[:1]
    got = _math.shape_of(out)
    if got != expected:
        got_slice = got if len(shape) == 1 else got[1:]
        raise ValueError(
            f"{fn}: max_fun must return a scalar for each 1-D slice of scores along the "
            f"last axis; got an output of shape {got_slice} per slice"
        )
    return out if len(shape) == 1 else _ops.reshape(out, shape[:-1])


def _dot_last_axis(fn: str, targets, scores):
    """``<targets, scores>`` along the last axis, leading axes broadcast."""
    t, s = _math.shape_of(targets), _math.shape_of(scores)
    if t[-1:] != s[-1:]:
        raise ValueError(
            f"{fn}: targets and scores must have the same last axis; got targets of shape "
            f"{t} and scores of shape {s}"
        )
    _math.check_broadcast(fn, "targets", targets, "scores", scores)
    return _ops.sum(targets * scores, axis=-1)


def make_fenchel_young_loss(max_fun: Callable[..., Array]) -> Callable[..., Array]:
    r"""The Fenchel-Young loss of a max function :math:`\Omega^*` (a regularized max).

    .. math::
        \ell(s, y) = \Omega^*(s) - \langle y, s \rangle

    ``max_fun`` maps a 1-D array of scores to a scalar and is written for the framework
    of the arrays (e.g. ``jax.scipy.special.logsumexp``, giving the softmax cross
    entropy up to a constant, or ``lambda s: torch.logsumexp(s, -1)``). The returned
    ``fenchel_young_loss(scores, targets, *args, **kwargs)`` applies it to every slice of
    ``scores`` along the last axis, with the framework's vmap (``jax.vmap``,
    ``torch.func.vmap``, ``mx.vmap``; a loop on NumPy), and broadcasts the leading axes of
    ``scores`` and ``targets``: shape ``[...]``.

    Deviation: ``args`` and ``kwargs`` reach ``max_fun`` (unmapped) on every call; optax
    0.2.8's ``jnp.vectorize`` refuses extra positional arguments and drops keyword ones.

    Example:
        >>> import numpy as np, anyopt
        >>> logsumexp = lambda s: np.log(np.sum(np.exp(s)))
        >>> loss = anyopt.losses.make_fenchel_young_loss(max_fun=logsumexp)
        >>> loss(np.array([[1.0, 2.0]]), np.array([[0.0, 1.0]])).round(4)
        array([0.3133])

    Reference: Blondel et al, `Learning with Fenchel-Young Losses
    <https://arxiv.org/abs/1901.02324>`_, JMLR 2020.
    """
    fn = "make_fenchel_young_loss"
    if not callable(max_fun):
        raise TypeError(f"{fn}: max_fun must be callable; got {type(max_fun).__name__}")

    @_math.quiet
    def fenchel_young_loss(scores: Array, targets: Array, *args: Any, **kwargs: Any) -> Array:
        max_value = _apply_to_last_axis(fn, max_fun, scores, *args, **kwargs)
        return max_value - _dot_last_axis(fn, targets, scores)

    return fenchel_young_loss
