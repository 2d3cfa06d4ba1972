"""Reducing the learning rate when a monitored value stops improving.

``update(updates, state, value=loss)`` averages ``accumulation_size`` values; each
time that many have been seen, the average counts as an improvement if it is below
``(1 - rtol) * best - atol``. After ``patience`` averages without one, the scale is
multiplied by ``factor`` (down to ``min_scale``) and ``cooldown`` averages are ignored.
The updates are multiplied by the current scale.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformationExtraArgs
from anyopt.contrib._scalar_state import lowest_dtype, scalar


class ReduceLROnPlateauState(NamedTuple):
    """State of ``reduce_on_plateau``."""

    scale: Any  # shape=(), the parameters' lowest float dtype
    best_value: Any  # shape=(), the parameters' highest float dtype
    plateau_count: Any  # shape=(), dtype=int32
    cooldown_count: Any  # shape=(), dtype=int32
    count: Any  # shape=(), dtype=int32: values accumulated so far
    avg_value: Any  # shape=(), the parameters' highest float dtype


def _check(factor, patience, rtol, atol, cooldown, accumulation_size, min_scale) -> None:
    fn = "reduce_on_plateau"
    if _validate._concrete(factor) and not 0.0 < factor < 1.0:
        raise ValueError(f"{fn}: factor must be in (0, 1); got {factor!r}")
    _validate.non_negative(fn, "rtol", rtol)
    _validate.non_negative(fn, "atol", atol)
    if rtol == 0.0 and atol == 0.0:
        raise ValueError(f"{fn}: rtol or atol must be > 0; got rtol={rtol!r}, atol={atol!r}")
    if _validate._concrete(rtol) and rtol > 1.0:
        raise ValueError(f"{fn}: rtol must be <= 1; got {rtol!r}")
    _validate.non_negative(fn, "patience", patience)
    _validate.non_negative(fn, "cooldown", cooldown)
    _validate.positive(fn, "accumulation_size", accumulation_size)
    _validate.non_negative(fn, "min_scale", min_scale)


def _select(pred, new: NamedTuple, old: NamedTuple) -> NamedTuple:
    """Field-wise ``where(pred, new, old)`` (a branch-free ``lax.cond``)."""
    return type(old)(*(_ops.where(pred, n, o) for n, o in zip(new, old)))


def reduce_on_plateau(
    factor: float = 0.1,
    patience: Any = 10,
    rtol: float = 1e-4,
    atol: float = 0.0,
    cooldown: Any = 0,
    accumulation_size: Any = 1,
    min_scale: Any = 0.0,
) -> GradientTransformationExtraArgs:
    """Scales updates by a factor that drops by ``factor`` on each plateau of ``value``.

    Example:
        >>> import numpy as np, anyopt
        >>> params = {"w": np.ones(2, np.float32)}
        >>> tx = anyopt.contrib.reduce_on_plateau(factor=0.5, patience=1)
        >>> state = tx.init(params)
        >>> for loss in [1.0, 1.0, 1.0]:
        ...     updates, state = tx.update(params, state, value=loss)
        >>> float(state.scale)
        0.25
    """
    _check(factor, patience, rtol, atol, cooldown, accumulation_size, min_scale)

    def init_fn(params):
        low, like = lowest_dtype("reduce_on_plateau", params)  # no leaves: NumPy scalars
        high = _tree.dtype(params, "highest") if like is not None else low
        zero = _tree.count_init(params)
        return ReduceLROnPlateauState(
            scale=scalar(1.0, low, like),
            best_value=scalar(float("inf"), high, like),  # inf + 0j for complex
            plateau_count=zero,
            cooldown_count=zero + 0,
            count=zero + 0,
            avg_value=scalar(0.0, high, like),
        )

    def new_scale(state: ReduceLROnPlateauState) -> ReduceLROnPlateauState:
        avg, best = state.avg_value, state.best_value
        # complex parameters give complex-typed (real-valued) state: compare real parts
        improved = _ops.real_part(avg) < (1 - rtol) * _ops.real_part(best) - atol
        zero = state.count * 0
        plateau = _ops.where(improved, zero, _tree.safe_increment(state.plateau_count))
        hit = plateau == patience
        active = ReduceLROnPlateauState(
            scale=_ops.maximum(
                _ops.where(hit, state.scale * factor, state.scale),
                _ops.like(min_scale, state.scale),
            ),
            best_value=state.best_value,
            plateau_count=_ops.where(hit, zero, plateau),
            cooldown_count=_ops.astype(_ops.where(hit, zero + cooldown, zero), "int32"),
            count=zero,
            avg_value=state.avg_value,
        )
        # In cooldown: the plateau count stays at zero and the cooldown counts down.
        cooling = active._replace(
            scale=state.scale, plateau_count=zero, cooldown_count=state.cooldown_count - 1
        )
        out = _select(state.cooldown_count > 0, cooling, active)
        return out._replace(
            best_value=_ops.where(improved, _ops.like(avg, best), best),
            avg_value=_ops.zeros_like(avg),
        )

    def update_fn(updates, state, params=None, *, value: Any, **extra_args):
        del params, extra_args
        avg = state.avg_value
        count = _tree.safe_increment(state.count)
        total = _ops.astype(state.count, _ops.dtype(avg)) * avg + _ops.like(value, avg)
        avg = _ops.like(total / _ops.astype(count, _ops.dtype(avg)), state.avg_value)
        state = state._replace(avg_value=avg, count=count)
        state = _select(count == accumulation_size, new_scale(state), state)
        scale = state.scale
        return _tree.map(lambda g: _ops.like(scale, g) * g, updates), state

    return GradientTransformationExtraArgs(init_fn, update_fn)
