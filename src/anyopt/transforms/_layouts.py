"""``flatten``: run a transformation on one vector holding every leaf.

Many small leaves then cost one set of operations instead of one per leaf, at the price
of a concatenated copy. The inner state is that of the flat vector.
"""

from __future__ import annotations

from anyopt import _ops, _tree, backends
from anyopt._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    with_extra_args_support,
)


def _to_vector(tree):
    found = _tree.leaves(tree)
    if not found:
        raise ValueError("flatten: the tree has no leaves to concatenate")
    return _ops.concatenate([_ops.reshape(x, (-1,)) for x in found])


def _like_tree(tree, vector):
    """``vector`` cut into ``tree``'s leaves (shapes and structure; the vector's dtype)."""
    found, treedef = backends.flatten(tree)
    pieces, start = [], 0
    for x in found:
        stop = start + _ops.size(x)
        pieces.append(_ops.reshape(vector[start:stop], _ops.shape(x)))
        start = stop
    return backends.unflatten(treedef, pieces)


def flatten(inner: GradientTransformation) -> GradientTransformationExtraArgs:
    """Applies ``inner`` to the concatenation of all leaves, raveled, then cuts its
    updates back into the input's tree. Leaves of mixed dtypes are promoted together."""
    inner = with_extra_args_support(inner)

    def init_fn(params):
        return inner.init(_to_vector(params))

    def update_fn(updates, state, params=None, **extra_args):
        flat_params = None if params is None else _to_vector(params)
        flat_updates, state = inner.update(_to_vector(updates), state, flat_params, **extra_args)
        return _like_tree(updates, flat_updates), state

    return GradientTransformationExtraArgs(init_fn, update_fn)
