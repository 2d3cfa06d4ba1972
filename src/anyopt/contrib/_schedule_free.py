r"""Schedule-Free learning (Defazio et al., 2024): averaging and interpolation replace momentum.

The base optimizer (without momentum) steps a sequence :math:`z`; gradients are taken at
:math:`y` (the parameters) and evaluations use the average :math:`x`:

.. math::
    z_{t+1} = z_t + u^{base}_t, \quad
    c_{t+1} = \frac{\gamma_{max}^{p}}{\sum_{k \le t} \gamma_{max,k}^{p}}, \quad
    x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1}, \quad
    y_{t+1} = \beta_1 x_{t+1} + (1 - \beta_1) z_{t+1},

with :math:`x_t = (y_t - (1 - \beta_1) z_t) / \beta_1` recomputed from the parameters,
:math:`\gamma_{max}` the largest learning rate so far and :math:`p` = ``weight_lr_power``.
``b1`` must be > 0.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

from anyopt import _ops, _tree, _validate
from anyopt._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    ScalarOrSchedule,
    with_extra_args_support,
)
from anyopt._combine import chain
from anyopt.algorithms.rmsprop import scale_by_rms
from anyopt.algorithms.sgd import sgd
from anyopt.contrib._scalar_state import copy, lowest_dtype, scalar
from anyopt.schedules import linear_schedule
from anyopt.transforms._adding import add_decayed_weights
from anyopt.transforms._scaling import scale_by_learning_rate


class ScheduleFreeState(NamedTuple):
    """State of Schedule-Free."""

    b1: Any  # shape=(): beta_1, in the parameters' lowest dtype
    weight_sum: Any  # shape=(): the sum of averaging weights
    step_count: Any  # shape=(), dtype=int32, starts at 1
    max_lr: Any  # shape=(): the largest learning rate so far
    base_optimizer_state: OptState
    z: Any  # the base optimizer's iterate


def schedule_free_eval_params(state: Any, params: Any) -> Any:
    """The averaged parameters :math:`x` to evaluate a ``schedule_free`` model at."""
    b1, z = getattr(state, "b1", None), getattr(state, "z", None)
    if b1 is None or z is None:
        raise ValueError("schedule_free_eval_params requires a ScheduleFreeState as input.")
    return _tree.map(
        lambda y, z_: (y - (1.0 - _ops.like(b1, y)) * z_) / _ops.like(b1, y), params, z
    )


def _ratio(weight, total):
    """``weight / total``, or 0 when that is 0/0 (both >= 0); NaN if either is NaN."""
    ratio = weight / total
    ratio = _ops.where(_ops.isnan(ratio), 0.0, ratio)
    return _ops.where(_ops.isnan(weight + total), weight + total, ratio)


def schedule_free(
    base_optimizer: GradientTransformation,
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    weight_lr_power: float = 2.0,
    state_dtype: Optional[Any] = None,
) -> GradientTransformationExtraArgs:
    """Makes ``base_optimizer`` (with its momentum off) schedule-free; ``learning_rate`` is
    the base optimizer's (warmup, no decay). Evaluate at ``schedule_free_eval_params``.

    Example:
        >>> import numpy as np, anyopt
        >>> params = {"w": np.ones(3, np.float32)}
        >>> tx = anyopt.contrib.schedule_free(anyopt.sgd(0.1), 0.1)
        >>> state = tx.init(params)
        >>> updates, state = tx.update({"w": np.full(3, 0.5, np.float32)}, state, params)
        >>> np.round(updates["w"], 6)
        array([-0.05, -0.05, -0.05], dtype=float32)
    """
    _validate.learning_rate("schedule_free", learning_rate)
    _validate.positive("schedule_free", "b1", b1)
    _validate.float_dtype("schedule_free", "state_dtype", state_dtype)
    base_optimizer = with_extra_args_support(base_optimizer)

    def init_fn(params):
        dtype, leaf = lowest_dtype("schedule_free", params)
        return ScheduleFreeState(
            b1=scalar(b1, dtype, leaf),
            weight_sum=scalar(0.0, dtype, leaf),
            step_count=_tree.safe_increment(_tree.count_init(params)),
            max_lr=scalar(0.0, dtype, leaf),
            base_optimizer_state=base_optimizer.init(params),
            z=copy(_tree.cast(params, state_dtype)),
        )

    def update_fn(grads, state, params=None, **extra_args):
        lr = learning_rate(state.step_count) if callable(learning_rate) else learning_rate
        max_lr = _ops.maximum(state.max_lr, _ops.like(lr, state.max_lr))
        weight = max_lr**weight_lr_power
        total = state.weight_sum + weight
        ck = _ratio(weight, total)
        base_updates, base_state = base_optimizer.update(
            grads, state.base_optimizer_state, params, **extra_args
        )
        z = _tree.map(lambda z_, u: _ops.astype(z_ + u, _ops.dtype(z_)), state.z, base_updates)

        def step(y, z_old, z_new):
            b, c = _ops.like(b1, z_new), _ops.like(ck, z_new)
            x_old = (y - (1.0 - b) * z_old) / b
            x = (1.0 - c) * x_old + c * z_new
            return _ops.astype(b * x + (1.0 - b) * z_new - y, _ops.dtype(y))

        updates = _tree.map(step, params, state.z, z)
        new_state = ScheduleFreeState(
            b1=state.b1,
            weight_sum=total,
            step_count=_tree.safe_increment(state.step_count),
            max_lr=max_lr,
            base_optimizer_state=base_state,
            z=z,
        )
        return updates, new_state

    return GradientTransformationExtraArgs(init_fn, update_fn)


def _warmup(learning_rate, warmup_steps):
    if warmup_steps is None:
        return learning_rate
    return linear_schedule(0, learning_rate, warmup_steps)  # optax's warmup_constant_schedule


def schedule_free_sgd(
    learning_rate: float = 1.0,
    warmup_steps: Optional[int] = None,
    b1: float = 0.9,
    weight_decay: Optional[float] = None,
    weight_lr_power: float = 2.0,
    state_dtype: Optional[Any] = None,
) -> GradientTransformationExtraArgs:
    """Schedule-Free SGD, with an optional linear warmup and weight decay (added to the
    gradients before the step)."""
    _validate.learning_rate("schedule_free_sgd", learning_rate)
    learning_rate = _warmup(learning_rate, warmup_steps)
    optimizer = sgd(learning_rate)
    if weight_decay is not None:
        optimizer = chain(add_decayed_weights(weight_decay), optimizer)
    return schedule_free(optimizer, learning_rate, b1, weight_lr_power, state_dtype)


def schedule_free_adamw(
    learning_rate: float = 0.0025,
    warmup_steps: Optional[int] = None,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    weight_lr_power: float = 2.0,
    state_dtype: Optional[Any] = None,
) -> GradientTransformationExtraArgs:
    """Schedule-Free AdamW: AdamW without its first moment (``scale_by_rms`` with Adam's
    bias correction and eps outside the root), with an optional linear warmup."""
    _validate.learning_rate("schedule_free_adamw", learning_rate)
    _validate.unit_interval("schedule_free_adamw", "b2", b2)
    _validate.non_negative("schedule_free_adamw", "eps", eps)
    learning_rate = _warmup(learning_rate, warmup_steps)
    optimizer = chain(
        scale_by_rms(decay=b2, eps=eps, eps_in_sqrt=False, bias_correction=True),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(learning_rate),
    )
    return schedule_free(optimizer, learning_rate, b1, weight_lr_power, state_dtype)
