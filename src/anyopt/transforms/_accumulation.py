"""Accumulating past updates: momentum (``trace``) and moving averages (``ema``)."""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

from anyopt import _tree, _validate
from anyopt._base import GradientTransformation, Params


class TraceState(NamedTuple):
    """The momentum buffer."""

    trace: Params


def trace(
    decay: float, nesterov: bool = False, accumulator_dtype: Optional[Any] = None
) -> GradientTransformation:
    r"""Momentum: :math:`t_k = g_k + \text{decay}\, t_{k-1}`; returns :math:`t_k`
    (Nesterov: :math:`g_k + \text{decay}\, t_k`)."""
    _validate.non_negative("trace", "decay", decay)
    _validate.float_dtype("trace", "accumulator_dtype", accumulator_dtype)

    def init_fn(params):
        return TraceState(trace=_tree.zeros_like(params, dtype=accumulator_dtype))

    def update_fn(updates, state, params=None):
        del params
        new_trace = _tree.map(
            lambda g, t: None if g is None else g + decay * t,
            updates,
            state.trace,
            is_leaf=_tree.is_none,
        )
        if nesterov:
            updates = _tree.map(lambda g, t: g + decay * t, updates, new_trace)
        else:
            updates = new_trace
        return updates, TraceState(trace=_tree.cast(new_trace, accumulator_dtype))

    return GradientTransformation(init_fn, update_fn)


class EmaState(NamedTuple):
    """An exponential moving average of past updates and its step counter."""

    count: Any  # shape=(), dtype=int32
    ema: Params


def ema(
    decay: float, debias: bool = True, accumulator_dtype: Optional[Any] = None
) -> GradientTransformation:
    r""":math:`e_k = (1 - \text{decay})\, g_k + \text{decay}\, e_{k-1}`, optionally
    debiased by :math:`1 - \text{decay}^k`."""
    _validate.unit_interval("ema", "decay", decay, closed=True)
    _validate.float_dtype("ema", "accumulator_dtype", accumulator_dtype)

    def init_fn(params):
        return EmaState(
            count=_tree.count_init(params),
            ema=_tree.zeros_like(params, dtype=accumulator_dtype),
        )

    def update_fn(updates, state, params=None):
        del params
        updates = new_ema = _tree.update_moment(updates, state.ema, decay, order=1)
        count_inc = _tree.safe_increment(state.count)
        if debias:
            updates = _tree.bias_correction(new_ema, decay, count_inc)
        return updates, EmaState(count=count_inc, ema=_tree.cast(new_ema, accumulator_dtype))

    return GradientTransformation(init_fn, update_fn)
