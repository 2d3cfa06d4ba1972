"""Scalars kept in contrib states: 0-d arrays in the parameters' lowest float dtype.

optax keeps step sizes and distance estimates of its parameter-free optimizers in the
lowest float dtype of the parameters, so that they never promote the updates.
"""

from __future__ import annotations

from typing import Any

from anyopt import _ops, _tree, backends


def lowest_dtype(fn: str, params: Any) -> tuple[Any, Any]:
    """``(lowest float dtype of params, a leaf of params)``; with no leaves (optax's
    ``tree_map_params`` inits on a placeholder) ``("float32", None)``: NumPy scalars."""
    del fn
    leaves = _tree.leaves(params)
    if not leaves:
        return "float32", None
    return _tree.dtype(params, "lowest"), leaves[0]


def scalar(value: Any, dtype: Any, like: Any) -> Any:
    """``value`` (a number or a 0-d array) as a 0-d array of ``dtype`` next to ``like``
    (a NumPy scalar when ``like`` is None)."""
    if like is None:
        return _ops.astype(backends.load("numpy").asarray(value), dtype)
    return _ops.astype(_ops.zeros((), dtype, like) + value, dtype)


def vector(values: Any, dtype: Any, like: Any) -> Any:
    """A 1-d array of ``dtype`` holding the Python numbers ``values``, next to ``like``."""
    return _ops.stack([scalar(v, dtype, like) for v in values])


def copy(tree: Any) -> Any:
    """A copy of the tree's arrays: a state never aliases (or, on torch, tracks) params."""
    return _tree.map(_ops.copy, tree)
