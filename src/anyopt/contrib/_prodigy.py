r"""Prodigy (Mishchenko & Defazio, 2023): AdamW whose step size estimates D = ||x_0 - x*||.

With :math:`d_k` the estimate (``estim_lr``), :math:`d_0` = ``estim_lr0``,
:math:`\gamma_k` the learning-rate schedule and
:math:`\lambda_k = d_k \gamma_k \sqrt{1 - \beta_2^{k}} / (1 - \beta_1^{k})`:

.. math::
    m \leftarrow \beta_1 m + (1 - \beta_1) d_k g, \quad
    v \leftarrow \beta_2 v + (1 - \beta_2) d_k^2 g^2,

    r \leftarrow \beta_3 r + (d_k / d_0) \lambda_k \langle g, x_0 - x \rangle, \quad
    s \leftarrow \beta_3 s + (\lambda_k / d_0) d_k g,

    d_{k+1} = \max(d_k, c\, r / \|s\|_1), \quad
    u = -\lambda_k \big(m / (\sqrt{v} + d_{k+1} \epsilon) + w x\big)

(``safeguard_warmup`` uses :math:`d_k` instead of :math:`\lambda_k` in :math:`s`;
:math:`\beta_3 = \sqrt{\beta_2}` by default, :math:`c` = ``estim_lr_coef``).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

from anyopt import _ops, _tree, _validate
from anyopt._base import NO_PARAMS_MSG, GradientTransformationExtraArgs, ScalarOrSchedule, Updates
from anyopt.contrib._scalar_state import copy, lowest_dtype, scalar


class ProdigyState(NamedTuple):
    """State of Prodigy."""

    exp_avg: Updates  # m
    exp_avg_sq: Updates  # v
    grad_sum: Updates  # s: weighted EMA of the scaled gradients
    params0: Updates  # x_0
    estim_lr: Any  # shape=(): d, the distance estimate
    numerator_weighted: Any  # shape=(): r
    count: Any  # shape=(), dtype=int32


def _like(s, x):
    return _ops.like(s, x)


def prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple = (0.9, 0.999),
    beta3: Optional[float] = None,
    eps: float = 1e-8,
    estim_lr0: float = 1e-6,
    estim_lr_coef: float = 1.0,
    weight_decay: float = 0.0,
    safeguard_warmup: bool = False,
) -> GradientTransformationExtraArgs:
    """Learning-rate-free AdamW by Prodigy; ``learning_rate`` scales the estimate (use 1.0
    or a schedule peaking at 1.0).

    Example:
        >>> import numpy as np, anyopt
        >>> params = {"w": np.ones(3, np.float32)}
        >>> tx = anyopt.contrib.prodigy()
        >>> state = tx.init(params)
        >>> updates, state = tx.update({"w": np.full(3, 0.5, np.float32)}, state, params)
        >>> updates["w"] / 1e-6  # the first step is about estim_lr0
        array([-0.9999926, -0.9999926, -0.9999926], dtype=float32)
    """
    _validate.learning_rate("prodigy", learning_rate)
    beta1, beta2 = betas
    _validate.unit_interval("prodigy", "betas[0]", beta1)
    _validate.unit_interval("prodigy", "betas[1]", beta2)
    if beta3 is None:
        beta3 = beta2**0.5
    _validate.unit_interval("prodigy", "beta3", beta3)
    _validate.non_negative("prodigy", "eps", eps)
    _validate.positive("prodigy", "estim_lr0", estim_lr0)
    _validate.non_negative("prodigy", "estim_lr_coef", estim_lr_coef)
    _validate.non_negative("prodigy", "weight_decay", weight_decay)

    def init_fn(params):
        dtype, leaf = lowest_dtype("prodigy", params)
        return ProdigyState(
            exp_avg=_tree.zeros_like(params),
            exp_avg_sq=_tree.zeros_like(params),
            grad_sum=_tree.zeros_like(params),
            params0=copy(params),
            estim_lr=scalar(estim_lr0, dtype, leaf),
            numerator_weighted=scalar(0.0, dtype, leaf),
            count=_tree.count_init(params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        d = state.estim_lr
        count_inc = _tree.safe_increment(state.count)
        sched = learning_rate(state.count) if callable(learning_rate) else learning_rate
        den2 = _ops.bias_correction_denominator(beta2, count_inc, d)
        den1 = _ops.bias_correction_denominator(beta1, count_inc, d)
        dlr = d * _like(sched, d) * (den2**0.5 / den1)
        dg = _tree.map(lambda g: _like(d, g) * g, updates)
        numerator_acum = _tree.vdot(updates, _tree.sub(state.params0, params))
        exp_avg = _tree.map(lambda m, x: beta1 * m + (1 - beta1) * x, state.exp_avg, dg)
        exp_avg_sq = _tree.map(lambda v, x: beta2 * v + (1 - beta2) * x * x, state.exp_avg_sq, dg)
        weight = d if safeguard_warmup else dlr
        grad_sum = _tree.map(
            lambda s, x: beta3 * s + _like(weight, x) * x / estim_lr0, state.grad_sum, dg
        )
        numerator = beta3 * state.numerator_weighted + (d / estim_lr0) * dlr * numerator_acum
        numerator = _ops.astype(numerator, _ops.dtype(d))
        denominator = _tree.sum(_tree.map(_ops.abs, grad_sum))
        new_d = _ops.maximum(d, _like(estim_lr_coef * numerator / denominator, d))

        def step(m, v, p):
            lr, eps_d = _like(dlr, p), _like(new_d * eps, p)
            return -weight_decay * lr * p - lr * m / (_ops.sqrt(v) + eps_d)

        new_updates = _tree.map(step, exp_avg, exp_avg_sq, params)
        new_state = ProdigyState(
            exp_avg, exp_avg_sq, grad_sum, state.params0, new_d, numerator, count_inc
        )
        return new_updates, new_state

    return GradientTransformationExtraArgs(init_fn, update_fn)
