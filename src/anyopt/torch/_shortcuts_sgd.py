r"""torch.optim's SGD, RMSprop, Adagrad and Adadelta as anyopt transformations.

Each follows torch's single-tensor step: its defaults, its order of weight decay and
moments and its placement of :math:`\epsilon`. The learning rate is included and the
updates are added to the parameters (``anyopt.apply_updates``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformation, Updates
from anyopt.torch._shortcuts_common import (
    at,
    check_lr,
    check_non_negative,
    gradient,
    is_number,
    is_zero,
    lr_times,
    per_dtype,
)


class SGDState(NamedTuple):
    """State of torch's SGD (torch keeps no step count; ``count`` marks the first step)."""

    count: Any  # shape=(), dtype=int32
    momentum_buffer: Updates  # None when momentum == 0


class RMSpropState(NamedTuple):
    """State of torch's RMSprop."""

    count: Any  # shape=(), dtype=int32
    square_avg: Updates  # EMA of squared gradients
    momentum_buffer: Updates  # None when momentum == 0
    grad_avg: Updates  # EMA of gradients when centered, else None


class AdagradState(NamedTuple):
    """State of torch's Adagrad."""

    count: Any  # shape=(), dtype=int32
    sum: Updates  # sum of squared gradients (from initial_accumulator_value)


class AdadeltaState(NamedTuple):
    """State of torch's Adadelta."""

    count: Any  # shape=(), dtype=int32
    square_avg: Updates  # EMA of squared gradients
    acc_delta: Updates  # EMA of squared steps


def sgd(
    lr: Any = 1e-3,
    momentum: Any = 0,
    dampening: Any = 0,
    weight_decay: Any = 0,
    nesterov: bool = False,
    *,
    maximize: bool = False,
) -> GradientTransformation:
    r"""torch.optim.SGD: gradient descent with L2 weight decay and heavy-ball or Nesterov
    momentum whose buffer starts at the first gradient (not at zero) and is dampened after.

    .. math::
        g_t \mathrel{+}= \lambda \theta_{t-1}, \quad
        b_1 = g_1, \quad b_t = \mu b_{t-1} + (1 - \tau) g_t, \quad
        \theta_t = \theta_{t-1} - \gamma (g_t + \mu b_t \text{ (nesterov) else } b_t)

    (without momentum, :math:`\theta_t = \theta_{t-1} - \gamma g_t`).

    Args:
        lr: learning rate :math:`\gamma` (number, 0-d array or schedule of the step count).
        momentum: :math:`\mu` >= 0; a Python 0 keeps no buffer (torch's branch), an array or
            a schedule always keeps one.
        dampening: :math:`\tau`, applied from the second step on.
        weight_decay: :math:`\lambda` (L2, added to the gradient).
        nesterov: Nesterov momentum; needs a momentum and zero dampening, as in torch.
        maximize: ascend instead (the gradient is negated first).

    Deviations: the state has a ``count`` (torch keeps none for SGD). optax's ``sgd`` has
    no dampening and starts its ``trace`` at zero, which equals this with dampening 0.
    """
    fn = "sgd"
    check_lr(fn, lr)
    check_non_negative(fn, momentum=momentum, weight_decay=weight_decay)
    if nesterov and (
        (is_number(momentum) and momentum <= 0) or (is_number(dampening) and dampening != 0)
    ):
        raise ValueError(
            f"{fn}: Nesterov momentum requires a momentum and zero dampening; got "
            f"momentum={momentum!r}, dampening={dampening!r}"
        )
    buffered = not is_zero(momentum)

    def init_fn(params):
        buffer = _tree.zeros_like(params) if buffered else None
        return SGDState(_tree.count_init(params), buffer)

    def update_fn(updates, state, params=None):
        count = state.count
        g = gradient(updates, params, at(weight_decay, count), maximize)
        buffer = None
        if buffered:
            mu, tau = at(momentum, count), at(dampening, count)

            def make(name):  # torch's buffer starts as the first gradient: no dampening then
                later = _ops.astype(count > 0, name)
                return 1 - later * _ops.like(tau, later)

            damping = per_dtype(make)
            buffer = _tree.map(
                lambda b, x: _ops.like(mu, b) * b + _ops.like(damping(x), x) * x,
                state.momentum_buffer,
                g,
            )
            if nesterov:
                g = _tree.map(lambda x, b: x + _ops.like(mu, b) * b, g, buffer)
            else:
                g = buffer
        step = lr_times(at(lr, count), g)
        return step, SGDState(_tree.safe_increment(count), buffer)

    return GradientTransformation(init_fn, update_fn)


def rmsprop(
    lr: Any = 1e-2,
    alpha: Any = 0.99,
    eps: Any = 1e-8,
    weight_decay: Any = 0,
    momentum: Any = 0,
    centered: bool = False,
    *,
    maximize: bool = False,
) -> GradientTransformation:
    r"""torch.optim.RMSprop: divide by the root of an EMA of squared gradients (centered:
    minus the squared EMA of the gradients), :math:`\epsilon` outside the root, optional
    momentum on the scaled gradient with the learning rate applied after it.

    .. math::
        g_t \mathrel{+}= \lambda \theta_{t-1}, \quad
        v_t = \alpha v_{t-1} + (1 - \alpha) g_t^2, \quad
        \bar g_t = \alpha \bar g_{t-1} + (1 - \alpha) g_t, \quad
        d_t = \sqrt{v_t - \bar g_t^2 \text{ (centered) or } v_t} + \epsilon,

        b_t = \mu b_{t-1} + g_t / d_t, \quad
        \theta_t = \theta_{t-1} - \gamma b_t \quad
        (\mu = 0: \theta_t = \theta_{t-1} - \gamma g_t / d_t).

    Args:
        lr: :math:`\gamma`; alpha: :math:`\alpha` >= 0 (torch checks no upper bound);
        eps: :math:`\epsilon`; weight_decay: :math:`\lambda` (L2); momentum: :math:`\mu`,
        buffered unless a Python 0 as in ``sgd`` (from zero here); centered: subtract
        :math:`\bar g_t^2`; maximize: ascend instead.

    Deviations: none beyond the single ``count``. optax's ``rmsprop`` defaults differ
    (decay 0.9, :math:`\epsilon` inside the root) and its momentum ``trace`` runs after the
    learning rate, which differs from this when the learning rate changes between steps.
    """
    fn = "rmsprop"
    check_lr(fn, lr)
    check_non_negative(fn, eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
    buffered = not is_zero(momentum)

    def init_fn(params):
        zeros = _tree.zeros_like
        return RMSpropState(
            count=_tree.count_init(params),
            square_avg=zeros(params),
            momentum_buffer=zeros(params) if buffered else None,
            grad_avg=zeros(params) if centered else None,
        )

    def update_fn(updates, state, params=None):
        count = state.count
        a, eps_t = at(alpha, count), at(eps, count)
        g = gradient(updates, params, at(weight_decay, count), maximize)
        square_avg = _tree.update_moment_per_elem_norm(g, state.square_avg, a, 2)
        grad_avg = _tree.update_moment(g, state.grad_avg, a, 1) if centered else None
        if centered:
            var = _tree.map(lambda v, m: v - _ops.abs_sq(m), square_avg, grad_avg)
        else:
            var = square_avg
        scaled = _tree.map(lambda x, v: x / (_ops.sqrt(v) + _ops.like(eps_t, v)), g, var)
        buffer = None
        if buffered:
            mu = at(momentum, count)
            buffer = _tree.map(lambda b, s: _ops.like(mu, b) * b + s, state.momentum_buffer, scaled)
            scaled = buffer
        step = lr_times(at(lr, count), scaled)
        new_state = RMSpropState(_tree.safe_increment(count), square_avg, buffer, grad_avg)
        return step, new_state

    return GradientTransformation(init_fn, update_fn)


def adagrad(
    lr: Any = 1e-2,
    lr_decay: Any = 0,
    weight_decay: Any = 0,
    initial_accumulator_value: Any = 0,
    eps: Any = 1e-10,
    *,
    maximize: bool = False,
) -> GradientTransformation:
    r"""torch.optim.Adagrad: divide by the root of the sum of all squared gradients, with
    :math:`\epsilon` outside the root and a learning rate decaying as :math:`1 / (1 + (t -
    1) \eta)`.

    .. math::
        g_t \mathrel{+}= \lambda \theta_{t-1}, \quad
        \tilde\gamma_t = \frac{\gamma}{1 + (t - 1) \eta}, \quad
        s_t = s_{t-1} + g_t^2 \;(s_0 = \text{initial\_accumulator\_value}), \quad
        \theta_t = \theta_{t-1} - \tilde\gamma_t \frac{g_t}{\sqrt{s_t} + \epsilon}.

    Args:
        lr: :math:`\gamma`; lr_decay: :math:`\eta`; weight_decay: :math:`\lambda` (L2);
        initial_accumulator_value: :math:`s_0`; eps: :math:`\epsilon`; maximize: ascend
        instead. All >= 0.

    Deviations: sparse gradients are not supported. optax's ``adagrad`` puts
    :math:`\epsilon` inside the root, defaults :math:`s_0` to 0.1 and has no lr_decay.
    """
    fn = "adagrad"
    check_lr(fn, lr)
    check_non_negative(
        fn,
        lr_decay=lr_decay,
        weight_decay=weight_decay,
        initial_accumulator_value=initial_accumulator_value,
        eps=eps,
    )

    def init_fn(params):
        count = _tree.count_init(params)
        s0 = at(initial_accumulator_value, count)
        total = _tree.map(lambda p: _ops.zeros_like(p) + _ops.like(s0, p), params)
        return AdagradState(count, total)

    def update_fn(updates, state, params=None):
        count = state.count
        lr_t, decay, eps_t = at(lr, count), at(lr_decay, count), at(eps, count)
        g = gradient(updates, params, at(weight_decay, count), maximize)
        total = _tree.map(lambda s, x: s + _ops.abs_sq(x), state.sum, g)

        def make(name):
            steps_before = _ops.astype(count, name)  # t - 1
            return _ops.like(lr_t, steps_before) / (
                1 + steps_before * _ops.like(decay, steps_before)
            )

        clr = per_dtype(make)
        step = _tree.map(
            lambda x, s: -_ops.like(clr(x), x) * (x / (_ops.sqrt(s) + _ops.like(eps_t, s))),
            g,
            total,
        )
        return step, AdagradState(_tree.safe_increment(count), total)

    return GradientTransformation(init_fn, update_fn)


def adadelta(
    lr: Any = 1.0,
    rho: Any = 0.9,
    eps: Any = 1e-6,
    weight_decay: Any = 0,
    *,
    maximize: bool = False,
) -> GradientTransformation:
    r"""torch.optim.Adadelta: steps scaled by the ratio of the RMS of past steps to the RMS
    of the gradients (Zeiler, 2012), times a learning rate (torch's default 1.0).

    .. math::
        g_t \mathrel{+}= \lambda \theta_{t-1}, \quad
        v_t = \rho v_{t-1} + (1 - \rho) g_t^2, \quad
        \Delta_t = \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}} g_t, \quad
        u_t = \rho u_{t-1} + (1 - \rho) \Delta_t^2, \quad
        \theta_t = \theta_{t-1} - \gamma \Delta_t.

    Args:
        lr: :math:`\gamma`; rho: :math:`\rho` in [0, 1]; eps: :math:`\epsilon`;
        weight_decay: :math:`\lambda` (L2); maximize: ascend instead.
        State: ``square_avg`` (:math:`v`) and ``acc_delta`` (:math:`u`).

    Deviations: none beyond the single ``count``. The formula is
    ``anyopt.scale_by_adadelta``'s, which requires :math:`\rho < 1` (torch allows 1).
    """
    fn = "adadelta"
    check_lr(fn, lr)
    _validate.unit_interval(fn, "rho", rho, closed=True)
    check_non_negative(fn, eps=eps, weight_decay=weight_decay)

    def init_fn(params):
        zeros = _tree.zeros_like
        return AdadeltaState(_tree.count_init(params), zeros(params), zeros(params))

    def update_fn(updates, state, params=None):
        count = state.count
        r, eps_t = at(rho, count), at(eps, count)
        g = gradient(updates, params, at(weight_decay, count), maximize)
        square_avg = _tree.update_moment_per_elem_norm(g, state.square_avg, r, 2)
        delta = _tree.map(
            lambda x, v, u: (
                _ops.sqrt(u + _ops.like(eps_t, u)) / _ops.sqrt(v + _ops.like(eps_t, v)) * x
            ),
            g,
            square_avg,
            state.acc_delta,
        )
        acc_delta = _tree.update_moment_per_elem_norm(delta, state.acc_delta, r, 2)
        step = lr_times(at(lr, count), delta)
        return step, AdadeltaState(_tree.safe_increment(count), square_avg, acc_delta)

    return GradientTransformation(init_fn, update_fn)
