r"""Exponential decay, continuous or in stairs.

.. math::
    v(t) = \begin{cases} v_0 & t \le B \\
    v_0 \, r^{(t - B) / T} & t > B \end{cases}

with :math:`(t - B) / T` floored when ``staircase`` and the result clipped at ``end_value``
(a lower bound when :math:`r < 1`, an upper bound otherwise).
"""

from __future__ import annotations

import math
from typing import Any, Optional

from anyopt import _ops
from anyopt._base import Schedule

_PYTHON = (int, float)


def exponential_decay(
    init_value: Any,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: Optional[Any] = None,
) -> Schedule:
    """``init_value * decay_rate ** ((count - transition_begin) / transition_steps)``.

    Before ``transition_begin`` the value is ``init_value``. A non-positive
    ``transition_steps`` or a zero ``decay_rate`` gives the constant ``init_value``, and a
    negative ``transition_begin`` counts as 0 (as in optax).

    Example:
        >>> import anyopt
        >>> schedule = anyopt.exponential_decay(1.0, transition_steps=10, decay_rate=0.5)
        >>> float(schedule(20))
        0.25
    """
    if transition_steps <= 0 or decay_rate == 0:
        return lambda count: init_value
    transition_begin = max(transition_begin, 0)
    clip_fn = _ops.maximum if decay_rate < 1.0 else _ops.minimum

    def schedule(count):
        elapsed = count - transition_begin
        p = elapsed / transition_steps
        if isinstance(elapsed, _PYTHON):  # plain numbers: only the branch taken is computed
            p = math.floor(p) if staircase else p
            value = init_value if elapsed <= 0 else init_value * decay_rate**p
        else:
            p = _ops.floor(p) if staircase else p
            value = _ops.where(elapsed <= 0, init_value, init_value * decay_rate**p)
        if end_value is not None:
            value = clip_fn(value, end_value)
        return value

    return schedule
