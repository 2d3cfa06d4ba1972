"""Core types: a gradient transformation is a pair of pure functions ``(init, update)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Protocol, Union, runtime_checkable

from anyopt import _tree

NO_PARAMS_MSG = (
    "You are using a transformation that requires the current value of parameters, "
    "but you are not passing `params` when calling `update`."
)

ArrayTree = Any
PyTree = Any
Shape = tuple
PRNGKey = Any
OptState = ArrayTree  # nested containers of arrays
Params = ArrayTree
Updates = Params
Schedule = Callable[[Any], Any]
ScheduleState = Any
ScalarOrSchedule = Union[float, Any, Schedule]


@runtime_checkable
class StatefulSchedule(Protocol):
    """A schedule with state: ``init()``, ``update(state, **extra)`` and ``__call__``."""

    def init(self) -> ScheduleState: ...

    def update(self, state: ScheduleState, **extra_args: Any) -> ScheduleState: ...

    def __call__(self, state: ScheduleState, **extra_args: Any) -> Any: ...


class TransformInitFn(Protocol):
    def __call__(self, params: Params) -> OptState: ...


class TransformUpdateFn(Protocol):
    def __call__(
        self, updates: Updates, state: OptState, params: Optional[Params] = None
    ) -> tuple[Updates, OptState]: ...


class TransformUpdateExtraArgsFn(Protocol):
    def __call__(
        self,
        updates: Updates,
        state: OptState,
        params: Optional[Params] = None,
        **extra_args: Any,
    ) -> tuple[Updates, OptState]: ...


class GradientTransformation(NamedTuple):
    """``init(params) -> state`` and ``update(updates, state, params=None) -> (updates, state)``.

    Both are pure: the state carries everything that changes between steps.
    """

    init: TransformInitFn
    update: TransformUpdateFn


class GradientTransformationExtraArgs(GradientTransformation):
    """A transformation whose ``update`` also accepts (and may ignore) keyword arguments."""

    update: TransformUpdateExtraArgsFn


class EmptyState(NamedTuple):
    """The state of a stateless transformation."""


def init_empty_state(params: Params) -> EmptyState:
    """``init`` of a transformation with no state."""
    del params
    return EmptyState()


def identity() -> GradientTransformation:
    """Passes updates through unchanged."""

    def update_fn(updates, state, params=None):
        del params
        return updates, state

    return GradientTransformation(init_empty_state, update_fn)


def set_to_zero() -> GradientTransformation:
    """Maps updates to zeros, so applying them leaves parameters unchanged."""

    def update_fn(updates, state, params=None):
        del params
        return _tree.zeros_like(updates), state

    return GradientTransformation(init_empty_state, update_fn)


def stateless(f: Callable[[Updates, Optional[Params]], Updates]) -> GradientTransformation:
    """A transformation from ``f(updates, params) -> updates`` (params may be None)."""

    def update_fn(updates, state, params=None):
        del state
        return f(updates, params), EmptyState()

    return GradientTransformation(init_empty_state, update_fn)


def stateless_with_tree_map(f: Callable[[Any, Any], Any]) -> GradientTransformation:
    """A transformation from a per-leaf ``f(update, param) -> update`` (param may be None)."""

    def update_fn(updates, state, params=None):
        del state
        if params is not None:
            return _tree.map(f, updates, params), EmptyState()
        return _tree.map(lambda u: f(u, None), updates), EmptyState()

    return GradientTransformation(init_empty_state, update_fn)


def with_extra_args_support(tx: GradientTransformation) -> GradientTransformationExtraArgs:
    """Wraps ``tx`` so that its ``update`` accepts and ignores extra keyword arguments."""
    if isinstance(tx, GradientTransformationExtraArgs):
        return tx

    def update(updates, state, params=None, **extra_args):
        del extra_args
        return tx.update(updates, state, params)

    return GradientTransformationExtraArgs(tx.init, update)
