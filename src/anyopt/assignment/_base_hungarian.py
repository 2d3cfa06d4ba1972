"""The Hungarian algorithm after Crouse (2016), the shortest augmenting path of Jonker and
Volgenant as SciPy's ``linear_sum_assignment`` runs it.

For each row a Dijkstra search over the columns, kept in a ``remaining`` list, finds the
cheapest augmenting path; the duals ``u``, ``v`` are then updated and the path flipped.
The scan over the remaining columns is one vectorized step (it picks the same column
as a scan in list order would), so every loop is a ``while_loop`` over whole arrays.
"""

from __future__ import annotations

from typing import Any

from anyopt import _autodiff, _ops
from anyopt.assignment import _common

_INF = float("inf")


def _closest_column(spc, remaining, row4col, num_remaining, pos):
    """``(lowest, index)``: the least ``spc`` over ``remaining[:num_remaining]``, and the
    position in ``remaining`` a scan in list order settles on.

    Scanning, ``index`` moves to a position that strictly lowers the running minimum, or
    that equals it and holds a free column; so it ends on the last free position at the
    minimum, or else on the first position at the minimum (never on an infinite one).
    """
    n = _ops.shape(pos)[0]
    active = pos < num_remaining
    costs = _ops.where(active, spc[remaining], _INF)
    lowest = _ops.min(costs)
    at_min = active & (costs == lowest)
    first = _ops.min(_ops.where(at_min, pos, n))
    chosen = at_min & ((row4col[remaining] == -1) | ((pos == first) & (lowest < _INF)))
    return lowest, _ops.max(_ops.where(chosen, pos, -1))


def _augmenting_path(cost, u, v, path, row4col, current_row, ids):
    """The sink of the cheapest augmenting path from ``current_row`` and the search's
    ``(min_value, rows seen, columns scanned, shortest path costs, predecessors)``."""
    rows, cols = _ops.shape(cost)
    floats, ints = _common.dtypes(cost)
    row_ids, col_ids = ids

    def body(s):
        i, min_value, num_remaining, remaining, sr, sc, spc, path, sink = s
        sr = _common.put(sr, row_ids, i, True)
        r = min_value + cost[i] - u[i] - v  # reduced costs from row i
        open_ = ~sc
        path = _ops.where(open_ & (r < spc), i, path)
        spc = _ops.where(open_, _ops.minimum(spc, r), spc)
        min_value, index = _closest_column(spc, remaining, row4col, num_remaining, col_ids)
        index = _ops.where(index < 0, index + cols, index)  # -1 wraps, as in JAX indexing
        j = remaining[index]
        free = row4col[j] == -1
        sink = _ops.where(free, j, sink)
        i = _ops.where(free, i, row4col[j])
        sc = _common.put(sc, col_ids, j, True)
        num_remaining = num_remaining - 1
        remaining = _common.put(remaining, col_ids, index, remaining[num_remaining])
        return i, min_value, num_remaining, remaining, sr, sc, spc, path, sink

    minus_one = _ops.zeros((), ints, cost) - 1
    init = (
        current_row,
        _ops.zeros((), floats, cost),
        _ops.zeros((), ints, cost) + cols,
        (cols - 1) - col_ids,  # columns in reverse order
        _ops.zeros((rows,), "bool", cost),
        _ops.zeros((cols,), "bool", cost),
        _ops.full_like(_ops.zeros((cols,), floats, cost), _INF),
        path,
        minus_one,
    )
    out = _autodiff.while_loop(lambda s: s[-1] == -1, body, init)
    _, min_value, _, _, sr, sc, spc, path, sink = out
    return sink, min_value, sr, sc, spc, path


def _assign_row(cost, ids, state):
    u, v, path, row4col, col4row, current_row = state
    row_ids, col_ids = ids
    sink, min_value, sr, sc, spc, path = _augmenting_path(
        cost, u, v, path, row4col, current_row, ids
    )
    u = _ops.where(row_ids == current_row, u + min_value, u)
    seen = sr & (row_ids != current_row)
    u = _ops.where(seen, u + min_value - spc[col4row], u)
    v = _ops.where(sc, v + spc - min_value, v)

    def flip(s):
        sink, row4col, col4row, _ = s
        i = path[sink]
        row4col = _common.put(row4col, col_ids, sink, i)
        col4row, sink = _common.put(col4row, row_ids, i, sink), col4row[i]
        return sink, row4col, col4row, i == current_row

    done = _ops.zeros((), "bool", cost)
    _, row4col, col4row, _ = _autodiff.while_loop(
        lambda s: ~s[-1], flip, (sink, row4col, col4row, done)
    )
    return u, v, path, row4col, col4row, current_row + 1


def base_hungarian_algorithm(cost_matrix: Any) -> tuple[Any, Any]:
    r"""The Hungarian algorithm for the linear assignment problem (Crouse's form).

    Given an :math:`n \times m` cost matrix :math:`C`, find :math:`\min(n, m)` pairs
    (row, column), no row or column used twice, of least total cost:

    .. math::

      \min_{X \in \{0, 1\}^{n \times m}} \sum_{ij} C_{ij} X_{ij} \quad \text{s.t.} \quad
      \sum_i X_{ij} \le 1, \; \sum_j X_{ij} \le 1, \; \sum_{ij} X_{ij} = \min(n, m).

    This follows the pseudocode of Crouse (2016, pp. 1685-1686): one shortest
    augmenting path per row, with dual potentials, in cubic time. Under JAX the loops
    are ``jax.lax.while_loop`` (``jit`` and ``vmap`` work); elsewhere Python loops run
    the same array steps. :func:`hungarian_algorithm` is usually faster.

    Args:
      cost_matrix: an :math:`n \times m` matrix of costs.

    Returns:
      a pair ``(i, j)`` of integer arrays of length :math:`\min(n, m)`: row ``i[k]`` is
      assigned column ``j[k]``; ``i`` is increasing, and the cost of the assignment is
      ``cost_matrix[i, j].sum()``.

    Example:
      >>> import numpy as np
      >>> import anyopt
      >>> cost = np.array([[8, 4, 7], [5, 2, 3], [9, 6, 7], [9, 4, 8]])
      >>> i, j = anyopt.assignment.base_hungarian_algorithm(cost)
      >>> print("cost:", cost[i, j].sum(), "i:", i, "j:", j)
      cost: 15 i: [0 1 3] j: [0 2 1]

    References:
      David F. Crouse, `On implementing 2D rectangular assignment algorithms
      <https://ieeexplore.ieee.org/document/7738348>`_, 2016
    """
    rows, cols = _ops.shape(cost_matrix)
    if rows == 0 or cols == 0:
        return _common.empty(cost_matrix)
    cost, transpose = _common.start(cost_matrix)
    rows, cols = _ops.shape(cost)
    floats, ints = _common.dtypes(cost)
    ids = (_ops.arange(rows, ints, cost), _ops.arange(cols, ints, cost))
    minus_ones = _ops.zeros((cols,), ints, cost) - 1
    state = (
        _ops.zeros((rows,), floats, cost),  # u: row duals
        _ops.zeros((cols,), floats, cost),  # v: column duals
        minus_ones,  # path: predecessor row of each column
        minus_ones,  # row4col
        _ops.zeros((rows,), ints, cost) - 1,  # col4row
        _ops.zeros((), ints, cost),
    )
    _, _, _, _, col4row, _ = _autodiff.while_loop(
        lambda s: s[-1] < rows, lambda s: _assign_row(cost, ids, s), state
    )
    if transpose:
        order = _ops.argsort(col4row)
        return col4row[order], order
    return ids[0], col4row
