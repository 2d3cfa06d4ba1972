r"""torch.optim's Adam, AdamW and Adamax as anyopt transformations.

Each follows torch's single-tensor step: its defaults, its order of weight decay and
moments, its placement of :math:`\epsilon` and its bias corrections. The learning rate is
included and the updates are added to the parameters (``anyopt.apply_updates``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from anyopt import _ops, _tree
from anyopt._base import GradientTransformation, Updates
from anyopt.torch._shortcuts_common import (
    at,
    check_adam_family,
    decay_weights,
    gradient,
    per_dtype,
    power,
)


class AdamState(NamedTuple):
    """State of torch's Adam and AdamW (torch's per-parameter ``step`` is ``count``)."""

    count: Any  # shape=(), dtype=int32
    exp_avg: Updates  # first moment
    exp_avg_sq: Updates  # second moment
    max_exp_avg_sq: Updates  # running max of exp_avg_sq with amsgrad, else None


class AdamaxState(NamedTuple):
    """State of torch's Adamax."""

    count: Any  # shape=(), dtype=int32
    exp_avg: Updates  # first moment
    exp_inf: Updates  # exponentially weighted infinity norm


def _adam(fn, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled):
    check_adam_family(fn, lr, betas, eps, weight_decay)

    def init_fn(params):
        return AdamState(
            count=_tree.count_init(params),
            exp_avg=_tree.zeros_like(params),
            exp_avg_sq=_tree.zeros_like(params),
            max_exp_avg_sq=_tree.zeros_like(params) if amsgrad else None,
        )

    def update_fn(updates, state, params=None):
        count = state.count
        lr_t, eps_t, wd_t = at(lr, count), at(eps, count), at(weight_decay, count)
        b1, b2 = at(betas[0], count), at(betas[1], count)
        g = gradient(updates, params, 0 if decoupled else wd_t, maximize)
        count_inc = _tree.safe_increment(count)
        exp_avg = _tree.update_moment(g, state.exp_avg, b1, 1)
        exp_avg_sq = _tree.update_moment_per_elem_norm(g, state.exp_avg_sq, b2, 2)
        max_sq = _tree.map(_ops.maximum, state.max_exp_avg_sq, exp_avg_sq) if amsgrad else None

        def make(name):
            k = _ops.astype(count_inc, name)
            return _ops.like(lr_t, k) / power(b1, k)[1], _ops.sqrt(power(b2, k)[1])

        scalars = per_dtype(make)

        def direction(m, v):
            step_size, bc2_sqrt = scalars(m)
            denom = _ops.sqrt(v) / _ops.like(bc2_sqrt, v) + _ops.like(eps_t, v)
            return -_ops.like(step_size, m) * (m / denom)

        step = _tree.map(direction, exp_avg, max_sq if amsgrad else exp_avg_sq)
        if decoupled:
            step = decay_weights(step, params, lr_t, wd_t)
        return step, AdamState(count_inc, exp_avg, exp_avg_sq, max_sq)

    return GradientTransformation(init_fn, update_fn)


def adam(
    lr: Any = 1e-3,
    betas: tuple = (0.9, 0.999),
    eps: Any = 1e-8,
    weight_decay: Any = 0,
    amsgrad: bool = False,
    *,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
) -> GradientTransformation:
    r"""torch.optim.Adam: bias-corrected first and second moments of the gradient, with
    weight decay added to the gradient (L2) unless ``decoupled_weight_decay`` (then AdamW).

    .. math::
        g_t \mathrel{+}= \lambda \theta_{t-1}, \quad
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \quad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2,

        \hat v_t = \max(\hat v_{t-1}, v_t) \text{ (amsgrad) else } v_t, \quad
        \theta_t = \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t}
            \frac{m_t}{\sqrt{\hat v_t} / \sqrt{1 - \beta_2^t} + \epsilon}.

    Args:
        lr: learning rate :math:`\gamma` (number, 0-d array or schedule of the step count).
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1).
        eps: :math:`\epsilon`, added to the bias-corrected root of the second moment.
        weight_decay: :math:`\lambda` (L2, or decoupled: see ``adamw``).
        amsgrad: divide by the running maximum of the raw :math:`v_t` (state
            ``max_exp_avg_sq``); torch bias-corrects after the maximum.
        maximize: ascend instead (the gradient is negated first).
        decoupled_weight_decay: :math:`\theta \leftarrow \theta (1 - \gamma\lambda)` before
            the step instead of the L2 term.

    Deviations: torch's step count is one ``count`` (int32) for the whole tree; derived
    scalars are computed in float32 (float64 for float64 leaves) rather than Python floats,
    within an ulp or two (see ``power``); complex parameters use :math:`|g|^2` where torch
    treats real and imaginary parts as separate reals. Without amsgrad, the same formula
    as ``anyopt.scale_by_adam`` (which takes the max of the bias-corrected :math:`v_t` in
    ``anyopt.amsgrad``).
    """
    return _adam("adam", lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay)


def adamw(
    lr: Any = 1e-3,
    betas: tuple = (0.9, 0.999),
    eps: Any = 1e-8,
    weight_decay: Any = 1e-2,
    amsgrad: bool = False,
    *,
    maximize: bool = False,
) -> GradientTransformation:
    r"""torch.optim.AdamW: Adam with decoupled weight decay, the parameters shrunk by
    :math:`1 - \gamma\lambda` before the Adam step (torch's default :math:`\lambda` is 1e-2;
    optax's ``adamw`` defaults to 1e-4 and scales the decay by its learning rate the same way).

    .. math::
        \theta_t = \theta_{t-1} (1 - \gamma \lambda) - \frac{\gamma}{1 - \beta_1^t}
            \frac{m_t}{\sqrt{\hat v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    with :math:`m_t, v_t, \hat v_t` as in :func:`adam`.

    Args:
        lr, betas, eps, amsgrad, maximize: as in :func:`adam`.
        weight_decay: :math:`\lambda`, multiplied by the learning rate.

    Deviations: as :func:`adam`.
    """
    return _adam("adamw", lr, betas, eps, weight_decay, amsgrad, maximize, True)


def adamax(
    lr: Any = 2e-3,
    betas: tuple = (0.9, 0.999),
    eps: Any = 1e-8,
    weight_decay: Any = 0,
    *,
    maximize: bool = False,
) -> GradientTransformation:
    r"""torch.optim.Adamax: Adam with an exponentially weighted infinity norm in place of
    the second moment, :math:`\epsilon` inside the maximum, only the first moment
    bias-corrected.

    .. math::
        g_t \mathrel{+}= \lambda \theta_{t-1}, \quad
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \quad
        u_t = \max(\beta_2 u_{t-1}, |g_t| + \epsilon), \quad
        \theta_t = \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t} \frac{m_t}{u_t}.

    Args:
        lr: learning rate :math:`\gamma`; betas: :math:`(\beta_1, \beta_2)` in [0, 1);
        eps: :math:`\epsilon`; weight_decay: :math:`\lambda` (L2, added to the gradient);
        maximize: ascend instead. State: ``exp_avg``, ``exp_inf``.

    Deviations: as :func:`adam`. The formula is ``anyopt.scale_by_adamax``'s.
    """
    check_adam_family("adamax", lr, betas, eps, weight_decay)

    def init_fn(params):
        zeros = _tree.zeros_like
        return AdamaxState(_tree.count_init(params), zeros(params), zeros(params))

    def update_fn(updates, state, params=None):
        count = state.count
        lr_t, eps_t = at(lr, count), at(eps, count)
        b1, b2 = at(betas[0], count), at(betas[1], count)
        g = gradient(updates, params, at(weight_decay, count), maximize)
        count_inc = _tree.safe_increment(count)
        exp_avg = _tree.update_moment(g, state.exp_avg, b1, 1)
        exp_inf = _tree.map(
            lambda u, x: _ops.maximum(_ops.like(b2, u) * u, _ops.abs(x) + _ops.like(eps_t, x)),
            state.exp_inf,
            g,
        )

        def make(name):
            k = _ops.astype(count_inc, name)
            return _ops.like(lr_t, k) / power(b1, k)[1]

        clr = per_dtype(make)
        step = _tree.map(lambda m, u: -_ops.like(clr(m), m) * (m / u), exp_avg, exp_inf)
        return step, AdamaxState(count_inc, exp_avg, exp_inf)

    return GradientTransformation(init_fn, update_fn)
