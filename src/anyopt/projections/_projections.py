"""Euclidean projections onto boxes, balls, spheres, hyperplanes and halfspaces.

Every function returns ``argmin_p ||x - p||_2^2`` over its set, for a tree ``x`` seen as
one flat vector. Leaves keep their dtype: array-valued radii and bounds are cast to each
leaf's dtype (``_ops.like``) before they meet it.
"""

from __future__ import annotations

from typing import Any

from anyopt import _ops, _tree, backends


def _leafwise(bound: Any, tree: Any) -> Any:
    """``bound`` as a tree shaped like ``tree``: a single number or array goes to every leaf."""
    found = backends.flatten(bound)[0]
    if len(found) == 1 and found[0] is bound:
        return _tree.map(lambda _: bound, tree)
    return bound


def projection_non_negative(tree: Any) -> Any:
    r"""Projection onto the non-negative orthant.

    .. math::

      \operatorname{argmin}_{p \ge 0} \|x - p\|_2^2 = \max(x, 0)
      \quad \text{(element-wise)}

    Args:
      tree: tree to project.

    Returns:
      the projected tree, with the structure of ``tree``.
    """
    return _tree.map(lambda x: _ops.maximum(x, 0), tree)


def projection_box(tree: Any, lower: Any, upper: Any) -> Any:
    r"""Projection onto the box ``lower <= p <= upper``: element-wise clipping.

    .. math::

      \operatorname{argmin}_{l \le p \le u} \|x - p\|_2^2 = \min(\max(x, l), u)

    Args:
      tree: tree to project.
      lower: lower bound: a scalar, an array, or a tree with the structure of ``tree``.
      upper: upper bound: a scalar, an array, or a tree with the structure of ``tree``.

    Returns:
      the projected tree, with the structure of ``tree``.
    """

    def clip(x, lo, hi):
        return _ops.clip(x, _ops.like(lo, x), _ops.like(hi, x))

    return _tree.map(clip, tree, _leafwise(lower, tree), _leafwise(upper, tree))


def projection_hypercube(tree: Any, scale: Any = 1) -> Any:
    r"""Projection onto the hypercube ``0 <= p <= scale`` (the unit cube by default).

    A shorthand for ``projection_box(tree, lower=0, upper=scale)``.

    Args:
      tree: tree to project.
      scale: side of the hypercube, a scalar or a tree (default: 1).

    Returns:
      the projected tree, with the structure of ``tree``.
    """
    return projection_box(tree, lower=0, upper=scale)


def projection_linf_ball(tree: Any, scale: Any = 1) -> Any:
    r"""Projection onto the l-infinity ball of radius ``scale``: clipping to ``[-scale, scale]``.

    .. math::

      \operatorname{argmin}_{\|p\|_\infty \le s} \|x - p\|_2^2 = \min(\max(x, -s), s)

    Args:
      tree: tree to project.
      scale: radius of the ball.

    Returns:
      the projected tree, with the structure of ``tree``.
    """

    def clip(x):
        s = _ops.like(scale, x)
        return _ops.clip(x, -s, s)

    return _tree.map(clip, tree)


def projection_l2_sphere(tree: Any, scale: Any = 1) -> Any:
    r"""Projection onto the l2 sphere of radius ``scale``: ``p = scale * x / ||x||_2``.

    Args:
      tree: tree to project.
      scale: radius of the sphere.

    Returns:
      the projected tree, with the structure of ``tree``.
    """
    factor = scale / _tree.norm(tree)
    return _tree.scale(factor, tree)


def projection_l2_ball(tree: Any, scale: Any = 1) -> Any:
    r"""Projection onto the l2 ball of radius ``scale``.

    .. math::

      p = \frac{s}{\sqrt{\max(\|x\|_2^2, s^2)}} \, x

    so points inside the ball are returned unchanged (and the gradient at ``x = 0`` is
    the identity, not NaN).

    Args:
      tree: tree to project.
      scale: radius of the ball.

    Returns:
      the projected tree, with the structure of ``tree``.
    """
    squared_norm = _tree.norm(tree, squared=True)
    factor = scale / _ops.sqrt(_ops.maximum(squared_norm, scale**2))
    return _tree.scale(factor, tree)


def projection_vector(x: Any, a: Any) -> Any:
    r"""Projection of the tree ``x`` onto the line spanned by the tree ``a``.

    .. math::

      \operatorname{proj}_a x = \frac{\langle x, a \rangle}{\langle a, a \rangle} \, a

    Args:
      x: tree to project.
      a: direction, a tree with the structure of ``x``.

    Returns:
      a tree with the structure of ``x``.
    """
    scalar = _tree.vdot(x, a) / _tree.vdot(a, a)
    return _tree.scale(scalar, a)


def _hyperplane_step(x: Any, a: Any, b: Any) -> Any:
    """``(b - <x, a>) / <a, a>``: the multiple of ``a`` that moves ``x`` onto ``<a, y> = b``."""
    xa = _tree.vdot(x, a)
    return (_ops.like(b, xa) - xa) / _tree.vdot(a, a)


def projection_hyperplane(x: Any, a: Any, b: Any) -> Any:
    r"""Projection onto the hyperplane ``{y : <a, y> = b}``.

    .. math::

      p = x + \frac{b - \langle a, x \rangle}{\langle a, a \rangle} \, a

    Args:
      x: tree to project.
      a: normal of the hyperplane, a tree with the structure of ``x``.
      b: offset of the hyperplane, a scalar.

    Returns:
      a tree with the structure of ``x``.
    """
    return _tree.add_scale(x, _hyperplane_step(x, a, b), a)


def projection_halfspace(x: Any, a: Any, b: Any) -> Any:
    r"""Projection onto the halfspace ``{y : <a, y> <= b}``.

    .. math::

      p = x + \min\left(\frac{b - \langle a, x \rangle}{\langle a, a \rangle}, 0\right) a

    Points already in the halfspace are returned unchanged.

    Args:
      x: tree to project.
      a: outward normal of the halfspace, a tree with the structure of ``x``.
      b: offset of the halfspace, a scalar.

    Returns:
      a tree with the structure of ``x``.
    """
    return _tree.add_scale(x, _ops.minimum(_hyperplane_step(x, a, b), 0), a)
