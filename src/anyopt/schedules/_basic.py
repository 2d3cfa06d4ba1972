"""Schedules: pure functions of the step count.

A schedule accepts a Python int or an int array of any framework and returns a
value of the same framework (a Python float for Python ints).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from anyopt import _ops, _validate
from anyopt._base import Schedule


def constant_schedule(value: Any) -> Schedule:
    """Always ``value``."""
    return lambda count: value


def polynomial_schedule(
    init_value: Any,
    end_value: Any,
    power: Any,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    """``(init - end) * (1 - t / transition_steps) ** power + end`` with ``t`` clipped.

    Non-positive ``transition_steps`` gives the constant ``init_value``; a negative
    ``transition_begin`` counts as 0 (as in optax).
    """
    if transition_steps <= 0:
        return lambda count: init_value
    transition_begin = max(transition_begin, 0)

    def schedule(count):
        count = _ops.clip(count - transition_begin, 0, transition_steps)
        frac = 1 - count / transition_steps
        return (init_value - end_value) * frac**power + end_value

    return schedule


def linear_schedule(
    init_value: Any, end_value: Any, transition_steps: int, transition_begin: int = 0
) -> Schedule:
    """Linear interpolation from ``init_value`` to ``end_value`` over ``transition_steps``."""
    return polynomial_schedule(init_value, end_value, 1, transition_steps, transition_begin)


def cosine_decay_schedule(
    init_value: Any, decay_steps: int, alpha: Any = 0.0, exponent: Any = 1.0
) -> Schedule:
    r"""``init_value * ((1 - alpha) * (0.5 (1 + cos(pi t / decay_steps)))**exponent + alpha)``
    with ``t = min(count, decay_steps)`` (Loshchilov & Hutter, 2016)."""
    _validate.positive("cosine_decay_schedule", "decay_steps", decay_steps)
    steps = float(decay_steps)

    def schedule(count):
        count = _ops.minimum(count * 1.0, steps)
        cosine = 0.5 * (1 + _ops.cos(math.pi * count / steps))
        return init_value * ((1 - alpha) * cosine**exponent + alpha)

    return schedule


def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """``schedules[i](count - boundaries[i-1])`` on ``[boundaries[i-1], boundaries[i])``."""
    for i, fn in enumerate(schedules):
        _validate.schedule("join_schedules", f"schedules[{i}]", fn)
    if len(schedules) != len(boundaries) + 1:
        raise ValueError(
            f"join_schedules: needs one more schedule than boundaries; got {len(schedules)} "
            f"schedules and {len(boundaries)} boundaries"
        )

    def schedule(step):
        output = schedules[0](step)
        for boundary, fn in zip(boundaries, schedules[1:]):
            output = _ops.where(step < boundary, output, fn(step - boundary))
        return output

    return schedule


def warmup_cosine_decay_schedule(
    init_value: Any,
    peak_value: Any,
    warmup_steps: int,
    decay_steps: int,
    end_value: Any = 0.0,
    exponent: Any = 1.0,
) -> Schedule:
    """Linear warmup from ``init_value`` to ``peak_value`` over ``warmup_steps``, then
    cosine decay to ``end_value`` at ``decay_steps`` (which counts the warmup)."""
    if isinstance(decay_steps, int) and isinstance(warmup_steps, int):
        if decay_steps <= warmup_steps:
            raise ValueError(
                "warmup_cosine_decay_schedule: decay_steps must be > warmup_steps (it counts "
                f"the warmup); got decay_steps={decay_steps}, warmup_steps={warmup_steps}"
            )
    alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
    return join_schedules(
        [
            linear_schedule(init_value, peak_value, warmup_steps),
            cosine_decay_schedule(peak_value, decay_steps - warmup_steps, alpha, exponent),
        ],
        [warmup_steps],
    )
