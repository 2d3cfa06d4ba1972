"""mlx.optimizers' learning-rate schedules, on the step arrays of any framework.

Each function returns ``schedule(step)``; pass it as an optimizer's ``learning_rate``
(``anyopt.optimizers.SGD(learning_rate=cosine_decay(0.1, 1000))``). An integer step array
is promoted to float32 as MLX promotes its uint64 step, so the values are MLX's float32
numbers on every framework.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from anyopt import _ops

__all__ = ["cosine_decay", "exponential_decay", "join_schedules", "linear_schedule", "step_decay"]


def _as_float(step: Any) -> Any:
    """An integer step array as float32 (arrays of floats and Python numbers unchanged)."""
    if hasattr(step, "dtype") and not _ops.is_floating(step):
        return _ops.astype(step, "float32")
    return step


def exponential_decay(init: float, decay_rate: float) -> Callable:
    r"""``init * decay_rate ** step``.

    Args:
        init: the value at step 0.
        decay_rate: the factor applied at every step.

    Example::

        >>> optimizer = SGD(learning_rate=exponential_decay(1e-1, 0.9))
    """

    def schedule(step):
        return init * decay_rate ** _as_float(step)

    return schedule


def step_decay(init: float, decay_rate: float, step_size: int) -> Callable:
    r"""``init * decay_rate ** (step // step_size)``: constant for ``step_size`` steps,
    then multiplied by ``decay_rate``.

    Args:
        init: the value at step 0.
        decay_rate: the factor applied every ``step_size`` steps.
        step_size: the number of steps between decays (>= 1).
    """
    if step_size < 1:
        raise ValueError(f"step_decay: step_size must be >= 1; got {step_size}")

    def schedule(step):
        return init * (decay_rate ** _as_float(step // step_size))

    return schedule


def cosine_decay(init: float, decay_steps: int, end: float = 0.0) -> Callable:
    r"""Half a cosine from ``init`` down to ``end`` over ``decay_steps`` steps, then
    ``end``:

    .. math::

        \text{end} + \tfrac12 (1 + \cos(\pi \min(t, T) / T))\, (\text{init} - \text{end})

    Args:
        init: the value at step 0.
        decay_steps: :math:`T`, the length of the decay (>= 1).
        end: the final value. Default ``0``.
    """
    if decay_steps < 1:
        raise ValueError(f"cosine_decay: decay_steps must be >= 1; got {decay_steps}")

    def schedule(step):
        s = _as_float(_ops.minimum(step, decay_steps))
        decay = 0.5 * (1.0 + _ops.cos((math.pi / decay_steps) * s))
        return end + decay * (init - end)

    return schedule


def join_schedules(schedules: list[Callable], boundaries: list[int]) -> Callable:
    r"""``schedules[0]`` until ``boundaries[0]``, then ``schedules[1]`` counted from that
    boundary, and so on.

    Args:
        schedules: the schedules, in order (at least one).
        boundaries: the ``len(schedules) - 1`` steps at which the next schedule starts;
            schedule ``i + 1`` sees ``step - boundaries[i]``.

    Example::

        >>> warmup = linear_schedule(0, 1e-1, steps=10)
        >>> schedule = join_schedules([warmup, cosine_decay(1e-1, 200)], [10])
    """
    if len(schedules) == 0:
        raise ValueError("join_schedules: give at least one schedule")
    if len(schedules) != len(boundaries) + 1:
        raise ValueError(
            f"join_schedules: {len(schedules)} schedules need {len(schedules) - 1} "
            f"boundaries; got {len(boundaries)}"
        )

    def schedule(step):
        output = schedules[0](step)
        for boundary, later in zip(boundaries, schedules[1:]):
            # max() keeps unsigned steps from wrapping below the boundary, where the
            # later schedule's value is not used anyway.
            since = _ops.maximum(step, boundary) - boundary
            output = _ops.where(step < boundary, output, later(since))
        return output

    return schedule


def linear_schedule(init: float, end: float, steps: int) -> Callable:
    r"""From ``init`` to ``end`` in a straight line over ``steps`` steps, then ``end``.

    Args:
        init: the value at step 0.
        end: the value from step ``steps`` on.
        steps: the length of the ramp (>= 1).
    """
    if steps < 1:
        raise ValueError(f"linear_schedule: steps must be >= 1; got {steps}")

    def schedule(step):
        step = _as_float(_ops.minimum(step, steps))
        return step * ((end - init) / steps) + init

    return schedule
