"""Tree maths beyond ``anyopt._tree``: min (and max, folded without promoting NumPy's
bfloat16), complex parts, batch shapes, and the norm of complex trees
(``|x|**2 = re(x)**2 + im(x)**2``)."""

from __future__ import annotations

from typing import Any

from anyopt import _ops, _tree


def tree_min(tree: Any) -> Any:
    """The smallest element of all leaves (``inf`` for a tree without elements)."""
    return _reduce(_ops.min, _ops.minimum, tree, float("inf"))


def tree_max(tree: Any) -> Any:
    """The largest element of all leaves (``-inf`` for a tree without elements)."""
    return _reduce(_ops.max, _ops.maximum, tree, -float("inf"))


def _reduce(reduce_leaf, combine, tree: Any, empty: float) -> Any:
    # folding from the leaves (not from +-inf) keeps NumPy's bfloat16 from promoting
    out = None
    for x in _tree.leaves(tree):
        if _ops.size(x):
            out = reduce_leaf(x) if out is None else combine(reduce_leaf(x), out)
    return empty if out is None else out


def tree_conj(tree: Any) -> Any:
    """The complex conjugate of every leaf (real leaves unchanged)."""
    return _tree.map(_ops.conj, tree)


def tree_real(tree: Any) -> Any:
    """The real part of every leaf."""
    return _tree.map(_ops.real, tree)


def tree_batch_shape(tree: Any, shape: tuple[int, ...] = ()) -> Any:
    """Every leaf broadcast to ``(*shape, *leaf.shape)``: leading batch dimensions."""
    return _tree.map(lambda x: _ops.broadcast_to(x, (*shape, *_ops.shape(x))), tree)


def _abs_sq(x: Any) -> Any:
    if _is_complex(x):
        re, im = _ops.real(x), _ops.imag(x)
        return re * re + im * im
    return x * x


def _is_complex(x: Any) -> bool:
    return isinstance(x, complex) or "complex" in str(getattr(x, "dtype", ""))


def tree_norm(tree: Any, ord: Any = None, squared: bool = False) -> Any:  # noqa: A002
    """The ``ord`` norm (None or 2, 1, ``inf``/'inf'/'infinity') of the tree seen as one flat
    vector; complex leaves count by their modulus. ``squared`` returns the norm squared."""
    if ord is None or ord == 2:
        sq = _tree.sum(_tree.map(_abs_sq, tree))
        sq = _as_array(sq, tree)
        return sq if squared else _ops.sqrt(sq)
    if ord == 1:
        out = _tree.sum(_tree.map(_ops.abs, tree))
    elif ord == float("inf") or ord in ("inf", "infinity"):
        out = tree_max(_tree.map(_ops.abs, tree))
    else:
        raise ValueError(f"anyopt.tree.norm: ord must be None, 1, 2 or 'inf'; got {ord!r}")
    out = _as_array(out, tree)
    return _abs_sq(out) if squared else out


def _as_array(value: Any, tree: Any) -> Any:
    if isinstance(value, (int, float)):
        return _tree.backend_of(tree).asarray(value)
    return value
