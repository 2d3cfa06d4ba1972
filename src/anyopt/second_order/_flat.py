"""One flat vector for a tree of arrays, and back (``jax.flatten_util.ravel_pytree``'s layout).

The leaves are concatenated in tree order (the order ``backends.flatten`` gives) into one
1-D array of their common dtype; ``unravel`` cuts a vector of that length back into the
tree, each piece cast to its leaf's dtype. The functions of ``anyopt.second_order`` that
take or return flat vectors (``hvp``'s ``v``, ``hessian_diag``, ``fisher_diag``) use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from anyopt import _ops, backends


def ravel(tree: Any) -> tuple[Any, Callable[[Any], Any]]:
    """``(flat, unravel)``: the tree's array leaves as one 1-D array, and its inverse."""
    leaves, treedef = backends.flatten(tree)
    if not leaves:
        raise ValueError("anyopt.second_order: params has no array leaves to differentiate")
    shapes = [_ops.shape(x) for x in leaves]
    dtypes = [_ops.dtype(x) for x in leaves]
    pieces = [_ops.reshape(x, (-1,)) for x in leaves]
    flat = pieces[0] if len(pieces) == 1 else _ops.concatenate(pieces)

    def unravel(vector: Any) -> Any:
        n = _ops.size(flat)
        if _ops.shape(vector) != (n,):
            raise ValueError(
                f"anyopt.second_order: expected a flat vector of shape ({n},), the size of "
                f"the raveled params; got shape {_ops.shape(vector)}"
            )
        out, start = [], 0
        for shape, dtype in zip(shapes, dtypes):
            stop = start + _prod(shape)
            piece = _ops.reshape(vector[start:stop], shape)
            out.append(piece if _ops.dtype(piece) == dtype else _ops.astype(piece, dtype))
            start = stop
        return backends.unflatten(treedef, out)

    return flat, unravel


def _prod(shape: tuple) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n
