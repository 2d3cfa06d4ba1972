"""The Hungarian algorithm for the linear assignment problem (Scenic's shortest-path form).

Rows are added one at a time; for each, a Dijkstra-like search over columns with dual
potentials ``u`` (rows) and ``v`` (columns) finds the cheapest augmenting path, then the
path is flipped. Loops go through ``anyopt._autodiff.while_loop``: ``jax.lax.while_loop``
under JAX (so it runs under ``jit`` and ``vmap``), plain Python loops elsewhere.
"""

from __future__ import annotations

from typing import Any

from anyopt import _autodiff, _ops
from anyopt.assignment import _common

_INF = float("inf")


def _assign_row(cost, row_ids, col_ids, state):
    """Adds row ``state[3]`` to the matching: one shortest augmenting path, then flips it."""
    u, v, parent, row = state
    rows, cols = _ops.shape(cost)
    floats, ints = _common.dtypes(cost)
    parent = _common.put(parent, col_ids, 0, row + 1)  # column 0 is the virtual source

    def search_cond(s):
        return parent[s[-1]] != 0  # stop at a column no row holds yet

    def search_body(s):
        u, v, used, row_used, minv, path, col = s
        used = _common.put(used, col_ids, col, True)
        i = parent[col]  # 1-based row that holds column ``col``
        row_used = _common.put(row_used, row_ids, i, True)
        unused = ~used[1:]
        cur = _ops.where(unused, cost[i - 1] - u[i] - v[1:], _INF)
        better = cur < minv
        path = _ops.where(better, col, path)
        minv = _ops.where(better, cur, minv)
        delta, nearest = _common.argmin(_ops.where(unused, minv, _INF), col_ids[:-1])
        u = _ops.where(row_used, u + delta, u)  # the rows reached so far
        v = _ops.where(used, v - delta, v)
        minv = _ops.where(unused, minv - delta, minv)
        return u, v, used, row_used, minv, path, nearest + 1

    search = (
        u,
        v,
        _ops.zeros((cols + 1,), "bool", cost),
        _ops.zeros((rows + 2,), "bool", cost),
        _ops.full_like(_ops.zeros((cols,), floats, cost), _INF),
        _ops.zeros((cols,), ints, cost),
        _ops.zeros((), ints, cost),
    )
    u, v, _, _, _, path, col = _autodiff.while_loop(search_cond, search_body, search)

    def flip_body(s):
        parent, col = s
        previous = path[col - 1]
        return _common.put(parent, col_ids, col, parent[previous]), previous

    parent, _ = _autodiff.while_loop(lambda s: s[1] != 0, flip_body, (parent, col))
    return u, v, parent, row + 1


def hungarian_algorithm(cost_matrix: Any) -> tuple[Any, Any]:
    r"""The Hungarian algorithm for the linear assignment problem.

    Given an :math:`n \times m` cost matrix :math:`C`, find :math:`\min(n, m)` pairs
    (row, column), no row or column used twice, of least total cost:

    .. math::

      \min_{X \in \{0, 1\}^{n \times m}} \sum_{ij} C_{ij} X_{ij} \quad \text{s.t.} \quad
      \sum_i X_{ij} \le 1, \; \sum_j X_{ij} \le 1, \; \sum_{ij} X_{ij} = \min(n, m).

    This is the shortest-augmenting-path form used by the Scenic library, in
    :math:`O(n^2 m)` time: each row is added through a Dijkstra-like search over the
    columns that maintains dual potentials. Under JAX every loop is a
    ``jax.lax.while_loop``, so the function works under ``jax.jit`` and ``jax.vmap``; on
    NumPy, PyTorch and MLX it runs the same steps as Python loops over the arrays.

    Args:
      cost_matrix: an :math:`n \times m` matrix of costs.

    Returns:
      a pair ``(i, j)`` of integer arrays of length :math:`\min(n, m)`: row ``i[k]`` is
      assigned column ``j[k]``, and the cost of the assignment is
      ``cost_matrix[i, j].sum()``.

    Example:
      >>> import numpy as np
      >>> import anyopt
      >>> cost = np.array([[8, 4, 7], [5, 2, 3], [9, 6, 7], [9, 4, 8]])
      >>> i, j = anyopt.assignment.hungarian_algorithm(cost)
      >>> print("cost:", cost[i, j].sum())
      cost: 15

    References:
      Dehghani et al., `Scenic: A JAX Library for Computer Vision Research and Beyond
      <https://arxiv.org/abs/2110.11403>`_, 2022
    """
    rows, cols = _ops.shape(cost_matrix)
    if rows == 0 or cols == 0:
        return _common.empty(cost_matrix)
    cost, transpose = _common.start(cost_matrix)
    rows, cols = _ops.shape(cost)
    floats, ints = _common.dtypes(cost)
    row_ids = _ops.arange(rows + 2, ints, cost)
    col_ids = _ops.arange(cols + 1, ints, cost)
    state = (
        _ops.zeros((rows + 2,), floats, cost),  # row potentials (1-based, one spare slot)
        _ops.zeros((cols + 1,), floats, cost),  # column potentials (column 0: the source)
        _ops.zeros((cols + 1,), ints, cost),  # parent[c]: the 1-based row holding column c
        _ops.zeros((), ints, cost),
    )
    _, _, parent, _ = _autodiff.while_loop(
        lambda s: s[3] < rows,
        lambda s: _assign_row(cost, row_ids, col_ids, s),
        state,
    )
    holders = parent[1:]
    if rows == cols:
        i, j = holders - 1, col_ids[:-1]
    else:  # the assigned columns, by decreasing row (as jax.lax.top_k orders them)
        j = _ops.argsort(-holders)[:rows]
        i = holders[j] - 1
    return (j, i) if transpose else (i, j)
