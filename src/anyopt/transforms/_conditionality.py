"""Wrappers that call their inner transformation only when a condition holds.

- ``conditionally_transform``: otherwise the updates pass through unchanged;
- ``conditionally_mask``: otherwise the updates are zeroed;
- ``apply_if_finite``: the condition is "the updates are finite", with a give-up count.

The inner state is kept unchanged whenever the inner transformation is not applied.
``conditionally_*`` skip the inner computation (``jax.lax.cond`` under JAX, a Python branch
elsewhere: on torch and MLX reading the 0-d condition synchronises with the device, which
is the point when the inner step is expensive). ``apply_if_finite``, called at every step,
avoids that synchronisation on torch and MLX by computing both results and selecting.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from anyopt import _autodiff, _ops, _tree, _validate
from anyopt._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    with_extra_args_support,
)
from anyopt.transforms._select import all_finite, cond, true_like


class ConditionFn(Protocol):
    """``(step, **extra_args) -> 0-d bool``: whether to apply the inner transformation."""

    def __call__(self, step: Any, **extra_args: Any) -> Any: ...


class ConditionallyTransformState(NamedTuple):
    """State of ``conditionally_transform``."""

    inner_state: Any
    step: Any  # shape=(), dtype=int32: calls to update so far


class ConditionallyMaskState(NamedTuple):
    """State of ``conditionally_mask``."""

    step: Any  # shape=(), dtype=int32: calls to update so far
    inner_state: OptState


def _conditional(inner, should_transform_fn, forward_extra_args, reject):
    def update(updates, step, inner_state, params, extra_args):
        def do_update(_):
            return inner.update(updates, inner_state, params, **extra_args)

        def reject_update(_):
            return reject(updates), inner_state

        condition_kwargs = extra_args if forward_extra_args else {}
        pred = should_transform_fn(step, **condition_kwargs)
        return _autodiff.cond(pred, do_update, reject_update, updates)

    return update


def conditionally_transform(
    inner: GradientTransformation,
    should_transform_fn: ConditionFn,
    forward_extra_args: bool = False,
) -> GradientTransformationExtraArgs:
    """Applies ``inner`` at the steps where ``should_transform_fn(step)`` is true; at the
    others the updates pass through unchanged and ``inner``'s state is kept.

    ``step`` counts calls to ``update`` from 0. With ``forward_extra_args`` the extra
    keyword arguments of ``update`` (e.g. ``loss=``) are passed to the condition too.
    """
    inner = with_extra_args_support(inner)
    run = _conditional(inner, should_transform_fn, forward_extra_args, lambda u: u)

    def init_fn(params):
        return ConditionallyTransformState(
            inner_state=inner.init(params), step=_tree.count_init(params)
        )

    def update_fn(updates, state, params=None, **extra_args):
        new_updates, inner_state = run(updates, state.step, state.inner_state, params, extra_args)
        return new_updates, ConditionallyTransformState(
            inner_state=inner_state, step=_tree.safe_increment(state.step)
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)


def conditionally_mask(
    inner: GradientTransformation,
    should_transform_fn: ConditionFn,
    forward_extra_args: bool = False,
) -> GradientTransformationExtraArgs:
    """Applies ``inner`` at the steps where ``should_transform_fn(step)`` is true; at the
    others the updates are zeros and ``inner``'s state is kept."""
    inner = with_extra_args_support(inner)
    run = _conditional(inner, should_transform_fn, forward_extra_args, _tree.zeros_like)

    def init_fn(params):
        return ConditionallyMaskState(step=_tree.count_init(params), inner_state=inner.init(params))

    def update_fn(updates, state, params=None, **extra_args):
        new_updates, inner_state = run(updates, state.step, state.inner_state, params, extra_args)
        return new_updates, ConditionallyMaskState(
            step=_tree.safe_increment(state.step), inner_state=inner_state
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)


class ApplyIfFiniteState(NamedTuple):
    """State of ``apply_if_finite``."""

    notfinite_count: Any  # shape=(), dtype=int32: consecutive non-finite updates
    last_finite: Any  # shape=(), dtype=bool: whether the last updates were finite
    total_notfinite: Any  # shape=(), dtype=int32: non-finite updates ever seen
    inner_state: Any


def apply_if_finite(
    inner: GradientTransformation, max_consecutive_errors: int
) -> GradientTransformation:
    """Skips updates holding a NaN or Inf (zeros out, ``inner``'s state kept), unless
    more than ``max_consecutive_errors`` such updates came in a row: then it gives up
    and applies them."""
    _validate.non_negative("apply_if_finite", "max_consecutive_errors", max_consecutive_errors)
    inner = with_extra_args_support(inner)

    def init_fn(params):
        return ApplyIfFiniteState(
            notfinite_count=_tree.count_init(params),
            last_finite=true_like(params),
            total_notfinite=_tree.count_init(params),
            inner_state=inner.init(params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        finite = all_finite(updates)
        count = state.notfinite_count
        notfinite_count = _ops.where(finite, _ops.zeros_like(count), _tree.safe_increment(count))

        def do_update():
            return inner.update(updates, state.inner_state, params, **extra_args)

        def reject_update():
            return _tree.zeros_like(updates), state.inner_state

        apply = finite | (notfinite_count > max_consecutive_errors)
        new_updates, inner_state = cond(apply, do_update, reject_update)
        total = state.total_notfinite
        return new_updates, ApplyIfFiniteState(
            notfinite_count=notfinite_count,
            last_finite=finite,
            total_notfinite=_ops.where(finite, total, _tree.safe_increment(total)),
            inner_state=inner_state,
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)
