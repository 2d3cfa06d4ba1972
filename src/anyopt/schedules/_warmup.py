"""Schedules that join a linear warmup (or several cosine cycles) end to end."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional

from anyopt._base import Schedule
from anyopt.schedules._basic import join_schedules, linear_schedule, warmup_cosine_decay_schedule
from anyopt.schedules._exponential import exponential_decay


def warmup_constant_schedule(init_value: Any, peak_value: Any, warmup_steps: int) -> Schedule:
    """Linear warmup from ``init_value`` to ``peak_value`` over ``warmup_steps``, then
    ``peak_value`` for ever."""
    return linear_schedule(init_value, peak_value, warmup_steps)


def warmup_exponential_decay_schedule(
    init_value: Any,
    peak_value: Any,
    warmup_steps: int,
    transition_steps: int,
    decay_rate: Any,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: Optional[Any] = None,
) -> Schedule:
    """Linear warmup to ``peak_value`` over ``warmup_steps``, then
    ``exponential_decay(peak_value, transition_steps, decay_rate, transition_begin,
    staircase, end_value)`` counted from the end of the warmup."""
    return join_schedules(
        [
            linear_schedule(init_value, peak_value, warmup_steps),
            exponential_decay(
                peak_value, transition_steps, decay_rate, transition_begin, staircase, end_value
            ),
        ],
        [warmup_steps],
    )


def sgdr_schedule(cosine_kwargs: Iterable[dict[str, Any]]) -> Schedule:
    """SGD with warm restarts (Loshchilov & Hutter, 2017, https://arxiv.org/abs/1608.03983):
    one ``warmup_cosine_decay_schedule(**kwargs)`` cycle per entry of ``cosine_kwargs``,
    each lasting its ``decay_steps``.

    Example:
        >>> import anyopt
        >>> cycle = dict(init_value=0.0, peak_value=1.0, warmup_steps=2, decay_steps=10)
        >>> schedule = anyopt.sgdr_schedule([cycle, cycle])
        >>> float(schedule(2)), float(schedule(12))
        (1.0, 1.0)
    """
    schedules, boundaries, step = [], [], 0
    for kwargs in cosine_kwargs:
        schedules.append(warmup_cosine_decay_schedule(**kwargs))
        step += kwargs["decay_steps"]
        boundaries.append(step)
    return join_schedules(schedules, boundaries[:-1])
