"""Scaling by a constant, a schedule or a learning rate."""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

from anyopt import _ops, _tree, _validate
from anyopt._base import (
    GradientTransformation,
    ScalarOrSchedule,
    Schedule,
    identity,
    init_empty_state,
)


class ScaleByScheduleState(NamedTuple):
    """The step counter of a schedule."""

    count: Any  # shape=(), dtype=int32


def scale(step_size: Any) -> GradientTransformation:
    """Multiplies updates by a fixed scalar ``step_size``."""

    def update_fn(updates, state, params=None):
        del params
        return _tree.scale(step_size, updates), state

    return GradientTransformation(init_empty_state, update_fn)


def scale_by_schedule(step_size_fn: Schedule) -> GradientTransformation:
    """Multiplies updates by ``step_size_fn(count)``, ``count`` starting at 0."""
    _validate.schedule("scale_by_schedule", "step_size_fn", step_size_fn)

    def init_fn(params):
        return ScaleByScheduleState(count=_tree.count_init(params))

    def update_fn(updates, state, params=None):
        del params
        step_size = step_size_fn(state.count)
        updates = _tree.map(lambda g: _ops.like(step_size, g) * g, updates)
        return updates, ScaleByScheduleState(count=_tree.safe_increment(state.count))

    return GradientTransformation(init_fn, update_fn)


def scale_by_learning_rate(
    learning_rate: Optional[ScalarOrSchedule] = None, *, flip_sign: bool = True
) -> GradientTransformation:
    """Multiplies updates by ``-learning_rate`` (``+learning_rate`` if not ``flip_sign``).

    ``learning_rate`` is a number, a 0-d array, a schedule, or None (no scaling).
    """
    if learning_rate is None:
        return identity()
    _validate.learning_rate("scale_by_learning_rate", learning_rate)
    m = -1 if flip_sign else 1
    if callable(learning_rate):
        return scale_by_schedule(lambda count: m * learning_rate(count))
    return scale(m * learning_rate)
