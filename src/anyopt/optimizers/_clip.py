"""``clip_grad_norm``: rescales a gradient tree to a global L2 norm of at most
``max_norm``, as ``mlx.optimizers.clip_grad_norm`` does."""

from __future__ import annotations

from typing import Any

from anyopt import _ops, backends
from anyopt.optimizers._base import scalar
from anyopt.optimizers._trees import tree_flatten, tree_map

_WIDTH = {"float16": 16, "bfloat16": 16, "float32": 32, "float64": 64}


def _name(x: Any) -> str:
    return backends.dtype_name(_ops.dtype(x))


def _squared_norm(g: Any) -> Any:
    name = _name(g)
    if name == "float16" or name not in _WIDTH:  # float16 squares would overflow; ints too
        g = _ops.astype(g, "float32")
    return _ops.sum(_ops.square(g))


def _scale(g: Any, normalizer: Any) -> Any:
    """``g * normalizer`` computed in the wider of the two dtypes (a 0-d float32 array does
    not promote a float16 array on torch, it does on MLX), then cast back to g's dtype."""
    name, wide = _name(g), _name(normalizer)
    if name not in _WIDTH:
        return _ops.astype(g, wide) * normalizer
    if _WIDTH[name] >= _WIDTH.get(wide, 0):
        return g * _ops.astype(normalizer, name)
    return _ops.astype(_ops.astype(g, wide) * normalizer, name)


def clip_grad_norm(grads: Any, max_norm: float) -> tuple[Any, Any]:
    r"""Scales ``grads`` down so that their global L2 norm is at most ``max_norm``.

    .. math::

        n = \sqrt{\textstyle\sum_i \lVert g_i \rVert^2}, \qquad
        g_i \leftarrow g_i \min\!\left(1, \frac{\text{max\_norm}}{n + 10^{-6}}\right)

    float16 gradients are squared and summed in float32 (their squares overflow early) and
    scaled in float32 before the cast back, so small factors do not underflow.

    Args:
        grads: a tree (dicts, lists, tuples) of gradient arrays of any framework.
        max_norm: the largest global norm allowed (>= 0).

    Returns:
        ``(clipped gradients, the global norm before clipping)``.
    """
    if max_norm < 0:
        raise ValueError(f"clip_grad_norm: max_norm must be >= 0; got {max_norm}")
    leaves = [g for _, g in tree_flatten(grads)]
    if not leaves:
        return grads, scalar(0.0, "float32")
    norm_squared: Any = 0.0
    for g in leaves:
        norm_squared = norm_squared + _squared_norm(g)
    total_norm = _ops.sqrt(norm_squared)
    normalizer = _ops.minimum(max_norm / (total_norm + 1e-6), 1.0)
    return tree_map(lambda g: _scale(g, normalizer), grads), total_norm
