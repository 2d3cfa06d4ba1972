r"""torch.optim's NAdam and RAdam as anyopt transformations.

Each follows torch's single-tensor step: its defaults, its order of weight decay and
moments, its placement of :math:`\epsilon` and its bias corrections. The learning rate is
included and the updates are added to the parameters (``anyopt.apply_updates``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from anyopt import _ops, _tree, backends
from anyopt._base import GradientTransformation, Updates
from anyopt.torch._shortcuts_common import (
    at,
    check_adam_family,
    compute_dtype,
    decay_weights,
    gradient,
    per_dtype,
    power,
    wide,
)


class NAdamState(NamedTuple):
    """State of torch's NAdam."""

    count: Any  # shape=(), dtype=int32
    mu_product: Any  # shape=(), float32 (float64 with float64 parameters): prod of mu_t
    exp_avg: Updates  # first moment
    exp_avg_sq: Updates  # second moment


class RAdamState(NamedTuple):
    """State of torch's RAdam."""

    count: Any  # shape=(), dtype=int32
    exp_avg: Updates  # first moment
    exp_avg_sq: Updates  # second moment


def nadam(
    lr: Any = 2e-3,
    betas: tuple = (0.9, 0.999),
    eps: Any = 1e-8,
    weight_decay: Any = 0,
    momentum_decay: Any = 4e-3,
    decoupled_weight_decay: bool = False,
    *,
    maximize: bool = False,
) -> GradientTransformation:
    r"""torch.optim.NAdam: Adam with Nesterov momentum through Dozat's momentum schedule
    :math:`\mu_t`, whose running product is kept in the state (``mu_product``).

    .. math::
        \mu_t = \beta_1 (1 - \tfrac12 0.96^{t \psi}), \quad
        \mu_{t+1} = \beta_1 (1 - \tfrac12 0.96^{(t + 1) \psi}), \quad
        m_t, v_t \text{ as Adam's}, \quad
        d_t = \sqrt{v_t / (1 - \beta_2^t)} + \epsilon,

        \theta_t = \theta_{t-1}
            - \gamma \frac{1 - \mu_t}{1 - \prod_{i \le t} \mu_i} \frac{g_t}{d_t}
            - \gamma \frac{\mu_{t+1}}{1 - \prod_{i \le t + 1} \mu_i} \frac{m_t}{d_t}.

    Args:
        lr: :math:`\gamma`; betas: :math:`(\beta_1, \beta_2)` in [0, 1); eps: :math:`\epsilon`;
        weight_decay: :math:`\lambda`, L2 on the gradient, or with ``decoupled_weight_decay``
        :math:`\theta \leftarrow \theta(1 - \gamma\lambda)` first (NAdamW);
        momentum_decay: :math:`\psi`; maximize: ascend instead.

    Deviations: as ``adam``'s; ``mu_product`` is one scalar for the tree (torch keeps one
    per parameter, all equal), float32 unless a leaf is float64 (torch: the default dtype).
    optax's ``nadam`` is this formula with a constant :math:`\mu_t = \beta_1` (products
    :math:`\beta_1^t`), which no ``momentum_decay`` reproduces.
    """
    check_adam_family("nadam", lr, betas, eps, weight_decay, momentum_decay=momentum_decay)

    def init_fn(params):
        count = _tree.count_init(params)
        wide = any(compute_dtype(x) == "float64" for x in _tree.leaves(params))
        return NAdamState(
            count=count,
            mu_product=_ops.full_like(count, 1, "float64" if wide else "float32"),
            exp_avg=_tree.zeros_like(params),
            exp_avg_sq=_tree.zeros_like(params),
        )

    def update_fn(updates, state, params=None):
        count = state.count
        lr_t, eps_t, wd_t = at(lr, count), at(eps, count), at(weight_decay, count)
        b1, b2 = at(betas[0], count), at(betas[1], count)
        g = gradient(updates, params, 0 if decoupled_weight_decay else wd_t, maximize)
        count_inc = _tree.safe_increment(count)
        k = _ops.astype(count_inc, backends.dtype_name(_ops.dtype(state.mu_product)))
        psi, beta1, gamma = (
            _ops.like(at(momentum_decay, count), k),
            _ops.like(b1, k),
            _ops.like(lr_t, k),
        )
        mu = beta1 * (1 - 0.5 * 0.96 ** (k * psi))
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((k + 1) * psi))
        mu_product = state.mu_product * mu
        c_grad = -gamma * (1 - mu) / (1 - mu_product)
        c_avg = -gamma * mu_next / (1 - mu_product * mu_next)
        exp_avg = _tree.update_moment(g, state.exp_avg, b1, 1)
        exp_avg_sq = _tree.update_moment_per_elem_norm(g, state.exp_avg_sq, b2, 2)
        bc2 = per_dtype(lambda name: power(b2, _ops.astype(count_inc, name))[1])

        def direction(x, m, v):
            denom = _ops.sqrt(v / _ops.like(bc2(v), v)) + _ops.like(eps_t, v)
            return _ops.like(c_grad, x) * (x / denom) + _ops.like(c_avg, m) * (m / denom)

        step = _tree.map(direction, g, exp_avg, exp_avg_sq)
        if decoupled_weight_decay:
            step = decay_weights(step, params, lr_t, wd_t)
        return step, NAdamState(count_inc, mu_product, exp_avg, exp_avg_sq)

    return GradientTransformation(init_fn, update_fn)


def radam(
    lr: Any = 1e-3,
    betas: tuple = (0.9, 0.999),
    eps: Any = 1e-8,
    weight_decay: Any = 0,
    decoupled_weight_decay: bool = False,
    *,
    maximize: bool = False,
) -> GradientTransformation:
    r"""torch.optim.RAdam: Adam whose adaptive step is switched on, and rectified, once the
    length of the approximated simple moving average :math:`\rho_t` exceeds 5; before that
    it is SGD with momentum on the bias-corrected :math:`m_t`.

    .. math::
        \rho_\infty = \frac{2}{1 - \beta_2} - 1, \quad
        \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t}, \quad
        \hat m_t = \frac{m_t}{1 - \beta_1^t},

        \theta_t = \theta_{t-1} - \gamma \hat m_t \, r_t
            \frac{\sqrt{1 - \beta_2^t}}{\sqrt{v_t} + \epsilon}
        \text{ if } \rho_t > 5, \text{ else } \theta_{t-1} - \gamma \hat m_t, \quad
        r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}
                         {(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}}.

    Args:
        lr: :math:`\gamma`; betas: :math:`(\beta_1, \beta_2)` in [0, 1); eps: :math:`\epsilon`;
        weight_decay: :math:`\lambda`, L2 on the gradient, or with ``decoupled_weight_decay``
        :math:`\theta \leftarrow \theta(1 - \gamma\lambda)` first; maximize: ascend instead.

    Deviations: as ``adam``'s; :math:`\rho_t` in float32 is within about 2e-4 of torch's
    float64 value. optax's ``radam`` differs: threshold ``>= 5`` and :math:`\epsilon` added
    to :math:`\sqrt{\hat v_t}` (torch's is :math:`\epsilon / \sqrt{1 - \beta_2^t}` there).
    """
    check_adam_family("radam", lr, betas, eps, weight_decay)

    def init_fn(params):
        zeros = _tree.zeros_like
        return RAdamState(_tree.count_init(params), zeros(params), zeros(params))

    def update_fn(updates, state, params=None):
        count = state.count
        lr_t, eps_t, wd_t = at(lr, count), at(eps, count), at(weight_decay, count)
        b1, b2 = at(betas[0], count), at(betas[1], count)
        g = gradient(updates, params, 0 if decoupled_weight_decay else wd_t, maximize)
        count_inc = _tree.safe_increment(count)
        exp_avg = _tree.update_moment(g, state.exp_avg, b1, 1)
        exp_avg_sq = _tree.update_moment_per_elem_norm(g, state.exp_avg_sq, b2, 2)

        def make(name):
            k = _ops.astype(count_inc, name)
            beta2k, bc2 = power(b2, k)
            rho_inf = _ops.like(2 / (1 - wide(b2, k)) - 1, k)
            rho = rho_inf - 2 * k * beta2k / bc2
            tractable = rho > 5
            ratio = (rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)
            rect = _ops.sqrt(_ops.where(tractable, ratio, 1.0))  # no root of a negative
            return power(b1, k)[1], _ops.like(lr_t, k), _ops.sqrt(bc2), rect, tractable

        scalars = per_dtype(make)

        def direction(m, v):
            bc1, gamma, bc2_sqrt, rect, tractable = scalars(m)
            momentum = m / _ops.like(bc1, m) * _ops.like(gamma, m)
            adaptive = _ops.like(bc2_sqrt, v) / (_ops.sqrt(v) + _ops.like(eps_t, v))
            return -_ops.where(tractable, momentum * adaptive * _ops.like(rect, m), momentum)

        step = _tree.map(direction, exp_avg, exp_avg_sq)
        if decoupled_weight_decay:
            step = decay_weights(step, params, lr_t, wd_t)
        return step, RAdamState(count_inc, exp_avg, exp_avg_sq)

    return GradientTransformation(init_fn, update_fn)
