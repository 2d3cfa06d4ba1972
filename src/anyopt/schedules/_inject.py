"""Hyperparameters that live in the optimizer state: schedules, or values users change.

``inject_hyperparams(adam)(learning_rate=schedule, b1=0.9)`` builds ``adam`` anew at every
step from ``state.hyperparams``, a dict of 0-d arrays of the parameters' framework: scheduled
entries are recomputed each step, the others may be set by hand
(``state.hyperparams["b1"] = 0.95``). Since they are arrays in the state, a jitted step
never retraces when they change.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Optional, Union

from anyopt import _ops, _tree, _validate, backends
from anyopt._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    Schedule,
    StatefulSchedule,
    with_extra_args_support,
)

_FLOAT_RANK = {"float16": 0, "bfloat16": 1, "float32": 2, "float64": 3}


class InjectHyperparamsState(NamedTuple):
    """Kept for optax compatibility; ``inject_hyperparams`` returns
    :class:`InjectStatefulHyperparamsState`."""

    count: Any  # shape=(), dtype=int32
    hyperparams: dict[str, Any]
    inner_state: OptState


class InjectStatefulHyperparamsState(NamedTuple):
    """State of ``inject_hyperparams``: the step, the current hyperparameters, the state of
    each scheduled one and the inner transformation's state."""

    count: Any  # shape=(), dtype=int32
    hyperparams: dict[str, Any]  # name -> 0-d array (Python ints stay ints)
    hyperparams_states: dict[str, Any]  # name -> the schedule's state
    inner_state: OptState


class WrappedScheduleState(NamedTuple):
    """State of a :class:`WrappedSchedule`: its step count."""

    count: Any  # shape=(), dtype=int32


class WrappedSchedule:
    """A plain schedule ``fn(count)`` as a stateful schedule that counts its own steps."""

    def __init__(self, schedule_fn: Schedule):
        self.schedule_fn = schedule_fn

    def init(self) -> WrappedScheduleState:
        # No parameters here to take a framework from: inject_hyperparams moves it to theirs.
        return WrappedScheduleState(count=backends.load("numpy").count_zero())

    def update(self, state: WrappedScheduleState, **extra_args: Any) -> WrappedScheduleState:
        del extra_args
        return WrappedScheduleState(count=_tree.safe_increment(state.count))

    def __call__(self, state: WrappedScheduleState, **extra_args: Any) -> Any:
        del extra_args
        return self.schedule_fn(state.count)


def _highest_float(tree: Any) -> Optional[str]:
    names = {backends.dtype_name(x.dtype) for x in _tree.leaves(tree) if hasattr(x, "dtype")}
    floats = sorted(names & _FLOAT_RANK.keys(), key=_FLOAT_RANK.get)
    return floats[-1] if floats else None


def _to(value: Any, like: Any, dtype: Optional[str]) -> Any:
    """``value`` as an array of ``like``'s framework (and ``dtype``, if given)."""
    b = backends.of(like)
    if hasattr(value, "dtype") and backends.of(value) is not b:
        if dtype is None:
            dtype = backends.dtype_name(value.dtype)
        value = backends.of(value).to_numpy(value)
    return b.asarray(value, None if dtype is None else b.dtype(dtype), like=like)


def _convert_floats(value: Any, dtype: str, like: Any) -> Any:
    """Float values (Python floats, 0-d arrays of any framework) as ``dtype`` arrays of
    ``like``'s framework; anything else unchanged."""
    if isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return _to(value, like, dtype)
    if _is_array(value) and backends.dtype_name(value.dtype) in _FLOAT_RANK:
        return _to(value, like, dtype)
    return value


def _initial(value: Any, dtype: str, like: Any) -> Any:
    """A numeric hyperparameter as a 0-d array of ``like``'s framework (ints as int32)."""
    if isinstance(value, int):
        return _to(value, like, "int32")
    return _to(_convert_floats(value, dtype, like), like, None)


def _adopt(tree: Any, like: Any) -> Any:
    """A schedule's state with its arrays moved to ``like``'s framework."""
    b = backends.of(like)
    leaves, treedef = backends.flatten(tree)
    moved = [_to(x, like, None) if _is_array(x) and backends.of(x) is not b else x for x in leaves]
    return backends.unflatten(treedef, moved)


def inject_hyperparams(
    inner_factory: Callable[..., GradientTransformation],
    static_args: Union[str, Iterable[str]] = (),
    hyperparam_dtype: Optional[Any] = None,
) -> Callable[..., GradientTransformationExtraArgs]:
    """Wraps ``inner_factory`` so that its numeric arguments may be schedules (plain or
    :class:`StatefulSchedule`) and are kept in the state as ``state.hyperparams``.

    Booleans and ``static_args`` are passed through as given; every other callable is taken
    for a schedule of the step count. Float hyperparameters are stored in
    ``hyperparam_dtype``, by default the widest float dtype of the parameters.

    As in optax, bfloat16 parameters give bfloat16 hyperparameters, in which Adam's
    ``b2=0.999`` rounds to 1.0 (and the update to NaN): pass ``hyperparam_dtype="float32"``.

    Deviations from optax: optax leaves strongly typed JAX arrays (e.g. a float32 schedule
    value next to float16 parameters) in their own dtype; here every float hyperparameter
    is cast, so the state's floats have one dtype on every framework. Parameters without a
    float leaf give float32 hyperparameters (optax would use their integer dtype).

    Example:
        >>> import numpy as np, anyopt
        >>> params = {"w": np.ones(2, np.float32)}
        >>> tx = anyopt.inject_hyperparams(anyopt.sgd)(
        ...     learning_rate=anyopt.linear_schedule(0.1, 0.0, 10))
        >>> state = tx.init(params)
        >>> state.hyperparams["learning_rate"].item()
        0.10000000149011612
    """
    static = {static_args} if isinstance(static_args, str) else set(static_args)
    signature = inspect.signature(inner_factory)
    if not static <= signature.parameters.keys():
        raise ValueError(
            f"inject_hyperparams: static_args must name parameters of the inner factory; "
            f"got {sorted(static)}, its parameters are {list(signature.parameters)}"
        )
    _validate.float_dtype("inject_hyperparams", "hyperparam_dtype", hyperparam_dtype)
    fixed_dtype = backends.dtype_name(hyperparam_dtype)

    @functools.wraps(inner_factory)
    def wrapped_transform(*args: Any, **kwargs: Any) -> GradientTransformationExtraArgs:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        scheduled, numeric, other = {}, {}, {}
        for name, value in bound.arguments.items():
            if name in static or isinstance(value, bool):
                other[name] = value
            elif isinstance(value, StatefulSchedule):
                scheduled[name] = value
            elif callable(value):
                scheduled[name] = WrappedSchedule(value)
            elif isinstance(value, (int, float)) or _is_array(value):
                numeric[name] = value
            else:
                other[name] = value

        def init_fn(params):
            count = _tree.count_init(params)
            dtype = fixed_dtype or _highest_float(params) or "float32"
            hyperparams = {k: _initial(v, dtype, count) for k, v in numeric.items()}
            states = {k: _adopt(f.init(), count) for k, f in scheduled.items()}
            hyperparams.update(
                {k: _convert_floats(f(states[k]), dtype, count) for k, f in scheduled.items()}
            )
            inner_state = inner_factory(**other, **hyperparams).init(params)
            # The inner state may hold a hyperparameter itself (full_like of a 0-d leaf);
            # one buffer in two places of the state cannot be donated to a jitted step.
            held = {id(x) for x in _tree.leaves(inner_state)}
            hyperparams = {
                k: _ops.copy(v) if id(v) in held and _is_array(v) else v
                for k, v in hyperparams.items()
            }
            return InjectStatefulHyperparamsState(count, hyperparams, states, inner_state)

        def update_fn(updates, state, params=None, **extra_args):
            like = state.count
            found = _highest_float(params if params is not None else state.hyperparams)
            dtype = fixed_dtype or found or "float32"
            hyperparams = {k: _convert_floats(v, dtype, like) for k, v in state.hyperparams.items()}
            old = state.hyperparams_states
            hyperparams.update(
                {
                    k: _convert_floats(f(old[k], **extra_args), dtype, like)
                    for k, f in scheduled.items()
                }
            )
            states = {k: f.update(old[k], **extra_args) for k, f in scheduled.items()}
            inner = with_extra_args_support(inner_factory(**other, **hyperparams))
            updates, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
            count = _tree.safe_increment(state.count)
            return updates, InjectStatefulHyperparamsState(count, hyperparams, states, inner_state)

        return GradientTransformationExtraArgs(init_fn, update_fn)

    return wrapped_transform


def _is_array(value: Any) -> bool:
    if not hasattr(value, "dtype"):
        return False
    try:
        backends.of(value)
    except TypeError:
        return False
    return True


def inject_stateful_hyperparams(
    inner_factory: Callable[..., GradientTransformation],
    static_args: Union[str, Iterable[str]] = (),
    hyperparam_dtype: Optional[Any] = None,
) -> Callable[..., GradientTransformationExtraArgs]:
    """Deprecated alias of :func:`inject_hyperparams` (which takes stateful schedules too)."""
    warnings.warn(
        "inject_stateful_hyperparams is deprecated, use inject_hyperparams instead",
        DeprecationWarning,
        stacklevel=2,
    )
    return inject_hyperparams(inner_factory, static_args, hyperparam_dtype)
