"""Freezing parameters: zero updates for a masked subset."""

from __future__ import annotations

from typing import Any, Union

from anyopt import backends
from anyopt._base import GradientTransformation, GradientTransformationExtraArgs, set_to_zero
from anyopt.transforms._masking import masked
from anyopt.transforms._partition import partition
from anyopt.transforms._prefix import check_prefix


def freeze(mask: Union[bool, Any]) -> GradientTransformation:
    """Zero updates where ``mask`` is True: those parameters stay where they are.

    ``mask`` is static: one bool (or 0-d bool array) for all parameters, or a tree of
    bools, the parameters' tree or a prefix of it. The state is
    ``MaskedState(inner_state=EmptyState())``. To also keep an optimizer from storing
    state for frozen parameters, use ``selective_transform``.
    """
    tx = masked(set_to_zero(), mask)

    def init_fn(params):
        check_prefix(mask, params, "mask", "anyopt.freeze")
        return tx.init(params)

    def update_fn(updates, state, params=None, **extra_args):
        check_prefix(mask, updates, "mask", "anyopt.freeze")
        return tx.update(updates, state, params, **extra_args)

    return GradientTransformationExtraArgs(init_fn, update_fn)


def selective_transform(
    optimizer: GradientTransformation,
    *,
    freeze_mask: Union[bool, Any],
) -> GradientTransformation:
    """``optimizer`` on the parameters where ``freeze_mask`` is False, zero updates elsewhere.

    Built as ``partition({"train": optimizer, "freeze": set_to_zero()}, labels)``, so the
    optimizer keeps no state for frozen parameters. ``freeze_mask`` is static, as in
    ``freeze``.
    """

    def label_fn(params):
        check_prefix(freeze_mask, params, "freeze_mask", "anyopt.selective_transform")
        leaves, treedef = backends.flatten(freeze_mask)
        return backends.unflatten(treedef, ["freeze" if m else "train" for m in leaves])

    return partition({"train": optimizer, "freeze": set_to_zero()}, param_labels=label_fn)
