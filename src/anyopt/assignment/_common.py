"""Helpers shared by the two Hungarian algorithms: dtypes, functional indexed writes and
argmin written with ``_ops`` (so they trace under ``jax.jit`` and ``jax.vmap``)."""

from __future__ import annotations

from typing import Any

from anyopt import _ops, backends


def dtypes(cost_matrix: Any) -> tuple[Any, Any]:
    """``(float dtype of the dual potentials, integer dtype of the indices)``.

    Potentials are float64 for a float64 cost matrix, float32 otherwise (as optax on JAX
    computes them); indices take the framework's default integer dtype.
    """
    name = backends.dtype_name(_ops.dtype(cost_matrix))
    floats = "float64" if name == "float64" else "float32"
    return floats, _ops.dtype(_ops.arange(1, None, cost_matrix))


def empty(cost_matrix: Any) -> tuple[Any, Any]:
    """The assignment of a matrix with no rows or no columns: two empty index arrays."""
    ints = dtypes(cost_matrix)[1]
    return _ops.zeros((0,), ints, cost_matrix), _ops.zeros((0,), ints, cost_matrix)


def put(x: Any, ids: Any, index: Any, value: Any) -> Any:
    """``x`` with ``x[index] = value`` (``ids`` is ``arange(len(x))``); nothing is mutated."""
    return _ops.where(ids == index, value, x)


def argmin(x: Any, ids: Any) -> Any:
    """``(min(x), index of its first occurrence)``, as ``jnp.argmin`` picks it."""
    lowest = _ops.min(x)
    return lowest, _ops.min(_ops.where(x == lowest, ids, _ops.shape(x)[0]))


def start(cost_matrix: Any) -> tuple[Any, bool]:
    """The cost matrix with at most as many rows as columns (transposed if needed)."""
    rows, cols = _ops.shape(cost_matrix)
    transpose = rows > cols
    if transpose:
        cost_matrix = _ops.swapaxes(cost_matrix, 0, 1)
    return _ops.astype(cost_matrix, dtypes(cost_matrix)[0]), transpose
