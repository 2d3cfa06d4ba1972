r"""Piecewise schedules and the one-cycle policy built on them.

With boundaries :math:`0 = b_0 < b_1 < \dots < b_n` and scales :math:`s_i`, the values
:math:`v_i = v_0 \prod_{j \le i} s_j` are reached at :math:`b_i`:

* ``piecewise_constant_schedule``: :math:`v(t) = v_i` on :math:`[b_i, b_{i+1})`;
* ``piecewise_interpolate_schedule``: :math:`v(t)` moves from :math:`v_i` to
  :math:`v_{i+1}` on :math:`[b_i, b_{i+1})`, linearly or along a half cosine, and stays at
  :math:`v_n` after :math:`b_n` (0 before :math:`b_0`).

One-cycle (Smith & Topin, 2017, https://arxiv.org/abs/1708.07120) warms up from
``peak_value / div_factor`` to ``peak_value`` and anneals far below the start.
"""

from __future__ import annotations

import math
from typing import Any, Optional

from anyopt import _ops
from anyopt._base import Schedule


def _check_scales(fn: str, scales) -> None:
    bad = [s for s in scales if not s >= 0.0]
    if bad:
        raise ValueError(f"{fn}: every scale in boundaries_and_scales must be >= 0; got {bad}")


def piecewise_constant_schedule(
    init_value: Any, boundaries_and_scales: Optional[dict[int, float]] = None
) -> Schedule:
    """``init_value`` times every scale whose boundary step ``count`` has reached.

    Example:
        >>> import anyopt
        >>> schedule = anyopt.piecewise_constant_schedule(1.0, {10: 0.1, 20: 0.5})
        >>> schedule(5), schedule(10), round(schedule(25), 6)
        (1.0, 0.1, 0.05)
    """
    items = sorted((boundaries_and_scales or {}).items())
    _check_scales("piecewise_constant_schedule", [s for _, s in items])

    def schedule(count):
        value = init_value
        for boundary, scale in items:
            value = _ops.where(count < boundary, value, scale * value)
        return value

    return schedule


def _linear(start, end, pct):
    return (end - start) * pct + start


def _cosine(start, end, pct):
    return end + (start - end) / 2.0 * (_ops.cos(math.pi * pct) + 1)


def piecewise_interpolate_schedule(
    interpolate_type: str,
    init_value: Any,
    boundaries_and_scales: Optional[dict[int, float]] = None,
) -> Schedule:
    """Interpolates (``'linear'`` or ``'cosine'``) between the accumulated values
    ``init_value * s_1 * ... * s_i`` reached at the boundaries.

    Example:
        >>> import anyopt
        >>> schedule = anyopt.piecewise_interpolate_schedule("linear", 1.0, {4: 0.5})
        >>> schedule(0), schedule(2), schedule(9)
        (1.0, 0.75, 0.5)
    """
    interpolations = {"linear": _linear, "cosine": _cosine}
    if interpolate_type not in interpolations:
        raise ValueError(
            "piecewise_interpolate_schedule: interpolate_type must be 'linear' or 'cosine'; "
            f"got {interpolate_type!r}"
        )
    interpolate = interpolations[interpolate_type]
    items = sorted((boundaries_and_scales or {}).items())
    _check_scales("piecewise_interpolate_schedule", [s for _, s in items])
    bounds = [0] + [b for b, _ in items]
    values = [init_value]
    for _, scale in items:
        values.append(values[-1] * scale)

    def schedule(count):
        value = (bounds[-1] <= count) * values[-1]  # after the last boundary (0 before 0)
        for i in range(len(items)):
            lo, hi = bounds[i], bounds[i + 1]
            pct = (count - lo) / max(hi - lo, 1)
            inside = (lo <= count) & (count < hi)
            value = _ops.where(inside, interpolate(values[i], values[i + 1], pct), value)
        return value

    return schedule


def linear_onecycle_schedule(
    transition_steps: int,
    peak_value: Any,
    pct_start: float = 0.3,
    pct_final: float = 0.85,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    """Three linear phases: ``peak / div_factor`` up to ``peak`` at ``pct_start``, back
    down at ``pct_final``, then down to ``peak / div_factor / final_div_factor`` at
    ``transition_steps``."""
    if transition_steps <= 0:
        raise ValueError(
            f"linear_onecycle_schedule: transition_steps must be > 0; got {transition_steps}"
        )
    return piecewise_interpolate_schedule(
        "linear",
        peak_value / div_factor,
        {
            int(pct_start * transition_steps): div_factor,
            int(pct_final * transition_steps): 1.0 / div_factor,
            transition_steps: 1.0 / final_div_factor,
        },
    )


def cosine_onecycle_schedule(
    transition_steps: int,
    peak_value: Any,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    """Cosine from ``peak / div_factor`` up to ``peak`` at ``pct_start``, then cosine down
    to ``peak / (div_factor * final_div_factor)`` at ``transition_steps``."""
    if transition_steps <= 0:
        raise ValueError(
            f"cosine_onecycle_schedule: transition_steps must be > 0; got {transition_steps}"
        )
    return piecewise_interpolate_schedule(
        "cosine",
        peak_value / div_factor,
        {
            int(pct_start * transition_steps): div_factor,
            int(transition_steps): 1.0 / (div_factor * final_div_factor),
        },
    )
