"""Ranking losses: the cost of the ranking that item scores induce, per list (last axis)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from anyopt import _ops
from anyopt.losses import _math

Array = Any
_FRAMEWORKS = ("numpy", "jax", "torch", "mlx")


def mean(a: Array, where: Array | None = None) -> Array:
    """``jnp.mean(a, where=where)`` on every framework: the mean of the entries in
    ``where`` (NaN when there are none)."""
    if where is None:
        return _ops.mean(a)
    count = _ops.astype(_ops.sum(where), _ops.dtype(a))
    some = count > 0  # divide by 1 otherwise, so that no 0/0 enters the backward pass
    return _ops.where(
        some, _math.masked_sum(a, None, where) / _ops.where(some, count, 1.0), math.nan
    )


def _total(a: Array, where: Array | None = None) -> Array:
    """``jnp.sum(a, where=where)`` on every framework."""
    return _math.masked_sum(a, None, where)


def _builtin_kind(reduce_fn) -> str | None:
    """'mean' or 'sum' for those functions of NumPy, JAX, torch or MLX (or ours), which
    then run on whichever framework the loss's arrays are; None for any other callable."""
    if reduce_fn is mean:
        return "mean"
    name = getattr(reduce_fn, "__name__", None)
    root = str(getattr(reduce_fn, "__module__", None) or "").split(".")[0]
    return name if name in ("mean", "sum") and root in _FRAMEWORKS else None


def _safe_reduce(loss, where, reduce_fn):
    """Reduces the per-list losses over the valid lists (``where``). A mean over no valid
    list is 0 rather than NaN, unless a loss itself is NaN; without ``reduce_fn`` the
    invalid lists' losses are set to 0, so that summing them equals ``reduce_fn=sum``."""
    if reduce_fn is None:
        return loss if where is None else _ops.where(where, loss, 0.0)
    kind = _builtin_kind(reduce_fn)
    if kind == "sum":
        return _total(loss, where)
    if kind is None:
        return reduce_fn(loss, where=where)
    out = mean(loss, where)
    nan_free = ~_ops.any(_ops.isnan(loss))
    return _ops.where(_ops.isnan(out) & nan_free, 0.0, out)


@_math.quiet
def ranking_softmax_loss(
    logits: Array,
    labels: Array,
    *,
    where: Array | None = None,
    weights: Array | None = None,
    reduce_fn: Callable[..., Array] | None = mean,
) -> Array:
    r"""Ranking softmax loss: the cross entropy between the softmax of the item scores and
    the (weighted) relevance labels of each list, along the last axis.

    .. math::
        \ell(s, y) = -\sum_i w_i y_i \log \frac{e^{s_i}}{\sum_j e^{s_j}}

    with the items outside ``where`` left out (their scores :math:`-\infty`, their labels
    0). The per-list losses (shape ``[...]``) are reduced by ``reduce_fn`` over the lists
    with at least one valid item: the mean (default; 0 when no list is valid), the sum,
    or no reduction (``None``; invalid lists give 0). ``jnp.mean``/``jnp.sum`` and their
    NumPy, torch and MLX namesakes all select those reductions on any framework; any other
    callable is called as ``reduce_fn(losses, where=valid_lists)``.

    optax's default is ``jax.numpy.mean``; anyopt's is its own framework-neutral
    :func:`mean` (importing anyopt imports no JAX), with the same numbers.
    """
    fn = "ranking_softmax_loss"
    _math.check_floating(fn, "logits", logits)
    _math.check_broadcast(fn, "labels", labels, "logits", logits)
    labels = _ops.astype(labels, _ops.dtype(logits))
    if where is not None:
        _math.check_where(fn, where, logits)
        labels = _ops.where(where, labels, 0.0)
        logits = _ops.where(where, logits, -math.inf)
    if weights is not None:
        _math.check_broadcast(fn, "weights", weights, "labels", labels)
        labels = labels * weights
    log_probs = _math.log_softmax(logits, -1)
    loss = -_math.masked_sum(labels * log_probs, -1, where)
    if where is not None:
        where = _ops.any(where, axis=-1)
    return _safe_reduce(loss, where, reduce_fn)
