"""Composition: ``chain`` and ``named_chain``."""

from __future__ import annotations

from collections import OrderedDict

from anyopt._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    with_extra_args_support,
)


def chain(*args: GradientTransformation) -> GradientTransformationExtraArgs:
    """Applies transformations in order; extra args reach those that accept them."""
    transforms = [with_extra_args_support(t) for t in args]

    def init_fn(params):
        return tuple(t.init(params) for t in transforms)

    def update_fn(updates, state, params=None, **extra_args):
        if len(transforms) != len(state):
            raise ValueError(
                f"anyopt.chain: the state has {len(state)} entries but the chain has "
                f"{len(transforms)} transformations; build the state with this chain's init"
            )
        new_state = []
        for s, t in zip(state, transforms):
            updates, s = t.update(updates, s, params, **extra_args)
            new_state.append(s)
        return updates, tuple(new_state)

    return GradientTransformationExtraArgs(init_fn, update_fn)


def named_chain(*args: tuple[str, GradientTransformation]) -> GradientTransformationExtraArgs:
    """Like ``chain``, with each state stored under its name: ``state['adam']``."""
    names = [name for name, _ in args]
    if len(names) != len(set(names)):
        raise ValueError(f"anyopt.named_chain: names must be unique; got {names}")
    transforms = [(name, with_extra_args_support(t)) for name, t in args]

    def init_fn(params):
        return OrderedDict((name, t.init(params)) for name, t in transforms)

    def update_fn(updates, state, params=None, **extra_args):
        new_state = OrderedDict()
        for name, t in transforms:
            updates, new_state[name] = t.update(updates, state[name], params, **extra_args)
        return updates, new_state

    return GradientTransformationExtraArgs(init_fn, update_fn)
