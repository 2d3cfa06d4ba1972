"""Projections onto the simplex and the l1 sphere and ball (sort-based, O(n log n)).

The tree is flattened into one vector (leaves concatenated in tree order, Python numbers
taking the dtype of the array leaves), projected, and split back; each array leaf keeps
its float dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from anyopt import _autodiff, _ops, _tree, backends

_NUMBERS = (int, float, bool)


def _ravel(tree: Any) -> tuple[Any, Callable[[Any], Any]]:
    """The tree's leaves as one 1-D array, and the function that splits it back."""
    leaves, treedef = backends.flatten(tree)
    arrays = [x for x in leaves if not isinstance(x, _NUMBERS)]
    backends.check_one_framework(arrays, (tree,))
    if arrays:
        ref = arrays[0]
        leaves = [
            _ops.full_like(_ops.zeros((), _ops.dtype(ref), ref), x)
            if isinstance(x, _NUMBERS)
            else x
            for x in leaves
        ]
    else:
        leaves = [backends.load("numpy").xp.asarray(x) for x in leaves]
    shapes = [_ops.shape(x) for x in leaves]
    pieces = [_ops.reshape(x, (-1,)) for x in leaves]
    flat = pieces[0] if len(pieces) == 1 else _ops.concatenate(pieces)

    def unravel(vector: Any) -> Any:
        out, start = [], 0
        for x, shape in zip(leaves, shapes):
            stop = start + _ops.size(x)
            piece = _ops.reshape(vector[start:stop], shape)
            if _ops.is_floating(x) and _ops.dtype(x) != _ops.dtype(piece):
                piece = _ops.astype(piece, _ops.dtype(x))
            out.append(piece)
            start = stop
        return backends.unflatten(treedef, out)

    return flat, unravel


def _projection_unit_simplex(values: Any) -> Any:
    """Projection of a 1-D array onto ``{p >= 0, sum(p) = 1}`` (Held et al.; Condat 2016).

    With ``u`` the values sorted in decreasing order and ``c`` their cumulative sums,
    ``k = #{j : 1/j + u_j - c_j/j > 0}`` and ``p = max(values + (1 - c_k) / k, 0)``.
    """
    n = _ops.shape(values)[0]
    dtype = _ops.dtype(values)
    u = -_ops.sort(-values)  # decreasing
    cumsum_u = _ops.cumsum(u)
    ind = _ops.astype(_ops.arange(n, None, values) + 1, dtype)
    cond = 1 / ind + (u - cumsum_u / ind) > 0
    idx = _autodiff.stop_gradient(_ops.sum(cond))  # an index: MLX must not differentiate it
    k = _ops.astype(idx, dtype)
    return _ops.maximum(1 / k + (values - cumsum_u[idx - 1] / k), 0)


def projection_simplex(tree: Any, scale: Any = 1) -> Any:
    r"""Projection onto the simplex of size ``scale``.

    .. math::

      \operatorname{argmin}_p \|x - p\|_2^2 \quad \text{subject to} \quad
      p \ge 0, \; p^\top 1 = \text{scale}

    computed as ``scale * P(x / scale)`` with ``P`` the projection onto the unit
    (probability) simplex. The whole tree is one vector: its leaves sum to ``scale``
    together.

    Args:
      tree: tree to project.
      scale: the sum of the projected tree's elements (default: 1).

    Returns:
      the projected tree, with the structure of ``tree``.

    Example:
      >>> import numpy as np
      >>> import anyopt
      >>> data = {"w": np.array([2.5, 3.2], np.float32), "b": 0.5}
      >>> new = anyopt.projections.projection_simplex(data)
      >>> print(round(float(anyopt.tree.sum(new)), 5))
      1.0
    """
    values, unravel = _ravel(tree)
    if not _ops.is_floating(values):
        values = values / 1  # true division: the framework's default float dtype
    s = _ops.like(scale, values)
    return unravel(s * _projection_unit_simplex(values / s))


def projection_l1_sphere(tree: Any, scale: Any = 1) -> Any:
    r"""Projection onto the l1 sphere of radius ``scale``.

    .. math::

      \operatorname{argmin}_y \|x - y\|_2^2 \quad \text{subject to} \quad
      \|y\|_1 = \text{scale}

    computed as ``sign(x) * projection_simplex(|x|, scale)``.

    Args:
      tree: tree to project.
      scale: radius of the sphere.

    Returns:
      the projected tree, with the structure of ``tree``.
    """
    magnitudes = projection_simplex(_tree.map(_ops.abs, tree), scale)
    return _tree.mul(_tree.map(_ops.sign, tree), magnitudes)


def projection_l1_ball(tree: Any, scale: Any = 1) -> Any:
    r"""Projection onto the l1 ball of radius ``scale``.

    .. math::

      \operatorname{argmin}_y \|x - y\|_2^2 \quad \text{subject to} \quad
      \|y\|_1 \le \text{scale}

    Points inside the ball are returned unchanged; others go to the l1 sphere. Under
    JAX the branch is a ``jax.lax.cond``, so the function traces under ``jit``.

    Args:
      tree: tree to project.
      scale: radius of the ball.

    Returns:
      the projected tree, with the structure of ``tree``.

    Example:
      >>> import numpy as np
      >>> import anyopt
      >>> data = {"w": np.array([2.5, 3.2], np.float32), "b": 0.5}
      >>> new = anyopt.projections.projection_l1_ball(data)
      >>> print(round(float(anyopt.tree.norm(new, ord=1)), 5))
      1.0
    """
    l1_norm = _tree.norm(tree, ord=1)
    return _autodiff.cond(
        l1_norm <= _ops.like(scale, l1_norm),
        lambda t: t,
        lambda t: projection_l1_sphere(t, scale),
        tree,
    )
