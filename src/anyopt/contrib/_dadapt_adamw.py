r"""D-Adaptation AdamW (Defazio & Mishchenko, 2023): AdamW that estimates its step size.

With :math:`d_k` the distance estimate (``estim_lr``), :math:`\gamma_k` the schedule,
:math:`\lambda_k = d_k \gamma_k \sqrt{1 - \beta_2^{k}} / (1 - \beta_1^{k})` and
:math:`\sqrt{\beta_2}` the decay of the accumulators:

.. math::
    r \leftarrow \sqrt{\beta_2} r + (1 - \sqrt{\beta_2}) \lambda_k
        \langle g, s / (\sqrt{v} + \epsilon) \rangle,

    m \leftarrow \beta_1 m + (1 - \beta_1) \lambda_k g, \quad
    v \leftarrow \beta_2 v + (1 - \beta_2) g^2, \quad
    s \leftarrow \sqrt{\beta_2} s + (1 - \sqrt{\beta_2}) \lambda_k g,

    d_{k+1} = \max\big(d_k, r / ((1 - \sqrt{\beta_2}) \|s\|_1)\big), \quad
    u = -m / (\sqrt{v} + \epsilon) - w \lambda_k x

(the inner product uses :math:`s` and :math:`v` before this step's update).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from anyopt import _ops, _tree, _validate
from anyopt._base import NO_PARAMS_MSG, GradientTransformationExtraArgs, ScalarOrSchedule, Updates
from anyopt.contrib._scalar_state import lowest_dtype, scalar


class DAdaptAdamWState(NamedTuple):
    """State of D-Adaptation AdamW."""

    exp_avg: Updates  # m
    exp_avg_sq: Updates  # v
    grad_sum: Updates  # s: EMA of the scaled gradients
    estim_lr: Any  # shape=(): d, the distance estimate
    numerator_weighted: Any  # shape=(): r
    count: Any  # shape=(), dtype=int32


def dadapt_adamw(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple = (0.9, 0.999),
    eps: float = 1e-8,
    estim_lr0: float = 1e-6,
    weight_decay: float = 0.0,
) -> GradientTransformationExtraArgs:
    """Learning-rate-free AdamW by D-Adaptation; ``learning_rate`` scales the estimate
    (use 1.0 or a schedule peaking at 1.0).

    Example:
        >>> import numpy as np, anyopt
        >>> params = {"w": np.ones(3, np.float32)}
        >>> tx = anyopt.contrib.dadapt_adamw()
        >>> state = tx.init(params)
        >>> updates, state = tx.update({"w": np.full(3, 0.5, np.float32)}, state, params)
        >>> updates["w"] / 1e-6  # the first step is about estim_lr0
        array([-0.9999927, -0.9999927, -0.9999927], dtype=float32)
    """
    _validate.learning_rate("dadapt_adamw", learning_rate)
    beta1, beta2 = betas
    _validate.unit_interval("dadapt_adamw", "betas[0]", beta1)
    _validate.unit_interval("dadapt_adamw", "betas[1]", beta2)
    _validate.non_negative("dadapt_adamw", "eps", eps)
    _validate.positive("dadapt_adamw", "estim_lr0", estim_lr0)
    _validate.non_negative("dadapt_adamw", "weight_decay", weight_decay)
    sb2 = beta2**0.5

    def init_fn(params):
        dtype, leaf = lowest_dtype("dadapt_adamw", params)
        return DAdaptAdamWState(
            exp_avg=_tree.zeros_like(params),
            exp_avg_sq=_tree.zeros_like(params),
            grad_sum=_tree.zeros_like(params),
            estim_lr=scalar(estim_lr0, dtype, leaf),
            numerator_weighted=scalar(0.0, dtype, leaf),
            count=_tree.count_init(params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        nw = state.numerator_weighted
        sched = learning_rate(state.count) if callable(learning_rate) else learning_rate
        count_inc = _tree.safe_increment(state.count)
        den2 = _ops.bias_correction_denominator(beta2, count_inc, nw)
        den1 = _ops.bias_correction_denominator(beta1, count_inc, nw)
        dlr = _ops.astype(
            state.estim_lr * _ops.like(sched, nw) * (den2**0.5 / den1), _ops.dtype(nw)
        )
        s_weighted = _tree.map(
            lambda s, v: s / (_ops.sqrt(v) + eps), state.grad_sum, state.exp_avg_sq
        )
        numerator_acum = _tree.vdot(updates, s_weighted)

        def lr(x):
            return _ops.like(dlr, x)

        exp_avg = _tree.map(
            lambda m, g: beta1 * m + (1 - beta1) * lr(g) * g, state.exp_avg, updates
        )
        exp_avg_sq = _tree.map(
            lambda v, g: beta2 * v + (1 - beta2) * g * g, state.exp_avg_sq, updates
        )
        grad_sum = _tree.map(lambda s, g: sb2 * s + (1 - sb2) * lr(g) * g, state.grad_sum, updates)
        grad_sum_l1 = _tree.sum(_tree.map(_ops.abs, grad_sum))
        numerator = sb2 * nw + (1 - sb2) * dlr * numerator_acum
        numerator = _ops.astype(numerator, _ops.dtype(nw))
        d_estimate = numerator / ((1 - sb2) * grad_sum_l1)
        new_d = _ops.maximum(state.estim_lr, _ops.like(d_estimate, state.estim_lr))
        new_updates = _tree.map(
            lambda m, v, p: -weight_decay * lr(p) * p - m / (_ops.sqrt(v) + eps),
            exp_avg,
            exp_avg_sq,
            params,
        )
        new_state = DAdaptAdamWState(exp_avg, exp_avg_sq, grad_sum, new_d, numerator, count_inc)
        return new_updates, new_state

    return GradientTransformationExtraArgs(init_fn, update_fn)
