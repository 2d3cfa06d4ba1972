"""Applying a transformation to a masked subset of the parameters.

``masked(inner, mask)`` hands ``inner`` the parameters where the mask is True; masked-out
leaves are replaced by ``MaskedNode()``, a node with no leaves, so ``inner`` keeps no state
for them and never sees them. Their updates pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

from anyopt import _tree, backends
from anyopt._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    with_extra_args_support,
)

# A mask argument: a tree of booleans (a prefix of the parameters' tree), a function of
# the parameters returning one, or None.
MaskOrFn = Optional[Union[Any, Callable[[Any], Any]]]


class MaskedState(NamedTuple):
    """The inner transformation's state, built on the masked parameters."""

    inner_state: OptState


class MaskedNode(NamedTuple):
    """Stands in for a masked-out leaf: a node with no leaves, so no state is kept for it."""


def _mask_is_callable(mask: Any) -> bool:
    """Whether ``mask`` is a function (every leaf callable), not a tree of booleans.

    A callable tree node (an equinox module) holding booleans is a mask tree.
    """
    found = backends.flatten(mask)[0]
    return bool(found) and all(callable(m) for m in found)


def is_params_placeholder(params: Any) -> bool:
    """Whether ``init`` received the stand-in that ``tree.map_params`` passes to locate
    parameter-shaped parts of a state (optax's ``_ParamsPlaceholder``, or ours)."""
    return type(params).__name__ == "_ParamsPlaceholder"


def _describe(node: Any) -> str:
    if node is None:
        return "None"
    if isinstance(node, dict):
        return f"a dict with keys {sorted(map(str, node))}"
    if isinstance(node, (list, tuple)):
        return f"a {type(node).__name__} of length {len(node)}"
    return f"a {type(node).__name__}"


def _first_mismatch(mask: Any, tree: Any, path: str = "") -> Optional[str]:
    """Where ``mask`` (dict/list/tuple/None/MaskedNode nodes) stops being a prefix of
    ``tree``: ``"['c']['extra']: ..."``, or None if no mismatch is found."""
    if mask is None or isinstance(mask, MaskedNode):
        ok = tree is None if mask is None else isinstance(tree, MaskedNode)
        return (
            None
            if ok
            else f"{path or 'the root'}: mask has {_describe(mask)}, tree {_describe(tree)}"
        )
    if isinstance(mask, dict):
        if not isinstance(tree, dict) or set(mask) != set(tree):
            if isinstance(tree, dict):
                extra = sorted(map(repr, set(tree) - set(mask)))
                missing = sorted(map(repr, set(mask) - set(tree)))
                detail = f"keys only in the tree {extra}, only in the mask {missing}"
            else:
                detail = f"mask has {_describe(mask)}, tree {_describe(tree)}"
            return f"{path or 'the root'}: {detail}"
        children = [(f"{path}[{k!r}]", mask[k], tree[k]) for k in mask]
    elif isinstance(mask, (list, tuple)):
        if type(tree) is not type(mask) or len(tree) != len(mask):
            return f"{path or 'the root'}: mask has {_describe(mask)}, tree {_describe(tree)}"
        children = [(f"{path}[{i}]", m, t) for i, (m, t) in enumerate(zip(mask, tree))]
    else:  # a leaf (or a registered node) of the mask
        return None
    for child_path, m, t in children:
        found = _first_mismatch(m, t, child_path)
        if found is not None:
            return found
    return None


def _apply_mask(tree: Any, mask_tree: Any, what: str) -> Any:
    try:
        return _tree.map(lambda m, p: p if m else MaskedNode(), mask_tree, tree)
    except (ValueError, TypeError) as e:
        where = _first_mismatch(mask_tree, tree)
        detail = f"at {where}" if where else f"({e})"
        raise ValueError(
            f"masked: the mask must have the structure of the {what} (or of a prefix of it); "
            f"they differ {detail}"
        ) from None


def _adopt(state: Any, params: Any) -> Any:
    """``state`` with NumPy leaves moved to the parameters' framework.

    A mask with no True leaf gives an inner state built on a tree without leaves, whose
    step counts default to NumPy; optax's are the parameters' framework's arrays.
    """
    found = backends.flatten(params)[0]
    b = backends.check_one_framework(found, (params,))
    if b is None or b.NAME == "numpy":
        return state

    def move(x):
        if type(x).__module__.split(".")[0] != "numpy" or not hasattr(x, "dtype"):
            return x
        return b.asarray(x, b.dtype(backends.dtype_name(x.dtype)), like=found[0])

    leaves, treedef = backends.flatten(state)
    return backends.unflatten(treedef, [move(x) for x in leaves])


def masked(
    inner: GradientTransformation,
    mask: Union[Any, Callable[[Any], Any]],
    *,
    mask_compatible_extra_args: bool = False,
) -> GradientTransformationExtraArgs:
    """Applies ``inner`` where ``mask`` is True; other updates pass through unchanged.

    ``mask`` is a tree of booleans with the parameters' structure, or a prefix of it (a
    boolean then covers a whole subtree), or a function of the parameters (of the updates
    in ``update``) returning one. It must be static (Python booleans) under ``jax.jit``.
    ``inner`` keeps state only for the masked-in leaves. With
    ``mask_compatible_extra_args``, extra ``update`` arguments shaped like the updates are
    masked the same way.

    Example::

        decay = anyopt.masked(anyopt.add_decayed_weights(1e-4), lambda p: {
            "w": True, "b": False})
    """
    inner = with_extra_args_support(inner)

    def resolve(tree):
        return mask(tree) if _mask_is_callable(mask) else mask

    def init_fn(params):
        if is_params_placeholder(params):
            return MaskedState(inner_state=inner.init(params))
        inner_state = inner.init(_apply_mask(params, resolve(params), "params"))
        return MaskedState(inner_state=_adopt(inner_state, params))

    def update_fn(updates, state, params=None, **extra_args):
        mask_tree = resolve(updates)
        hidden = _apply_mask(updates, mask_tree, "updates")
        if mask_compatible_extra_args:
            structure = backends.flatten(updates)[1]
            extra_args = {
                k: _apply_mask(v, mask_tree, "updates")
                if backends.flatten(v)[1] == structure
                else v
                for k, v in extra_args.items()
            }
        hidden_params = None if params is None else _apply_mask(params, mask_tree, "params")
        new_updates, inner_state = inner.update(
            hidden, state.inner_state, hidden_params, **extra_args
        )
        merged = _tree.map(lambda m, new, old: new if m else old, mask_tree, new_updates, updates)
        return merged, MaskedState(inner_state=inner_state)

    return GradientTransformationExtraArgs(init_fn, update_fn)
