"""Applying a transformation to a masked subset of the parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Union

from anyopt import _tree, backends
from anyopt._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    with_extra_args_support,
)


class MaskedState(NamedTuple):
    """The inner transformation's state, built on the masked parameters."""

    inner_state: OptState


class MaskedNode(NamedTuple):
    """Stands in for a masked-out leaf: a node with no leaves, so no state is kept for it."""


def _mask_is_callable(mask: Any) -> bool:
    found = backends.flatten(mask)[0]
    return callable(mask) or (bool(found) and all(callable(m) for m in found))


def masked(
    inner: GradientTransformation,
    mask: Union[Any, Callable[[Any], Any]],
    *,
    mask_compatible_extra_args: bool = False,
) -> GradientTransformationExtraArgs:
    """Applies ``inner`` where ``mask`` is True; other updates pass through unchanged.

    ``mask`` is a tree of booleans (a prefix of the parameters' tree) or a function of
    the parameters returning one.
    """
    inner = with_extra_args_support(inner)

    def resolve(tree):
        return mask(tree) if _mask_is_callable(mask) else mask

    def hide(tree, mask_tree):
        return _tree.map(lambda m, p: p if m else MaskedNode(), mask_tree, tree)

    def init_fn(params):
        return MaskedState(inner_state=inner.init(hide(params, resolve(params))))

    def update_fn(updates, state, params=None, **extra_args):
        mask_tree = resolve(updates)
        if mask_compatible_extra_args:
            structure = backends.flatten(updates)[1]
            extra_args = {
                k: hide(v, mask_tree) if backends.flatten(v)[1] == structure else v
                for k, v in extra_args.items()
            }
        hidden_params = None if params is None else hide(params, mask_tree)
        new_updates, inner_state = inner.update(
            hide(updates, mask_tree), state.inner_state, hidden_params, **extra_args
        )
        merged = _tree.map(lambda m, new, old: new if m else old, mask_tree, new_updates, updates)
        return merged, MaskedState(inner_state=inner_state)

    return GradientTransformationExtraArgs(init_fn, update_fn)
