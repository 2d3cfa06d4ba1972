r"""MoMo (Schaipp et al., 2023): momentum with a Polyak-type adaptive step size.

With :math:`d_k` the momentum (MoMo) or the Adam-preconditioned momentum (MoMo-Adam),
:math:`\bar f_k, \gamma_k` EMAs of the loss and of :math:`\langle g_k, x_k \rangle`,
:math:`f_*` the loss lower bound and :math:`\lambda` the weight decay:

.. math::
    h_k = (1 + \alpha_k \lambda)(\bar f_k - f_* - \gamma_k) + \langle d_k, x_k \rangle,
    \quad \tau_k = \min\left(\alpha_k, \frac{\max(h_k, 0)}{\|d_k\|^2}\right),

    u_k = -\frac{\alpha_k \lambda}{1 + \alpha_k \lambda} x_k - \tau_k d_k.

The loss must be passed to ``update`` as ``value=``; with ``adapt_lower_bound`` the
lower bound :math:`f_*` is re-estimated every step, as in the paper's section 4.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

from anyopt import _ops, _tree, _validate
from anyopt._base import NO_PARAMS_MSG, GradientTransformationExtraArgs, ScalarOrSchedule, Updates
from anyopt.contrib._scalar_state import lowest_dtype, scalar

_EPS64 = 2.220446049250313e-16  # float64 machine epsilon: below it, ||d||^2 counts as zero


class MomoState(NamedTuple):
    """State of MoMo."""

    exp_avg: Updates  # the momentum d_k
    barf: Any  # shape=(), the loss EMA, the parameters' lowest float dtype
    gamma: Any  # shape=(), the EMA of <g_k, x_k>
    lb: Any  # shape=(), the loss lower bound in use
    count: Any  # shape=(), dtype=int32


class MomoAdamState(NamedTuple):
    """State of MoMo-Adam."""

    exp_avg: Updates
    exp_avg_sq: Updates
    barf: Any  # shape=(), the parameters' lowest float dtype
    gamma: Any
    lb: Any
    count: Any  # shape=(), dtype=int32


def _scalars(params, lower_bound):
    """``barf``, ``gamma`` and ``lb`` as 0-d arrays of the parameters' lowest float dtype."""
    dtype, like = lowest_dtype("momo", params)
    barf, gamma = scalar(0.0, dtype, like), scalar(0.0, dtype, like)
    lb = scalar(0.0, dtype, like) + _ops.like(lower_bound, barf)
    return barf, gamma, lb


def _check_call(fn, params, value):
    if params is None:
        raise ValueError(NO_PARAMS_MSG)
    if value is None:
        raise ValueError(f"{fn}: pass the latest loss to update as value= (from value_and_grad)")


def _in_dtype(value, ref):
    """``value`` (a number or a 0-d array) as a 0-d array in ``ref``'s dtype."""
    return _ops.zeros_like(ref) + _ops.like(value, ref)


def _safe_ratio(num, den):
    """``num / den``, or 0 where ``den`` is (numerically) zero: then no step is taken."""
    tiny = _ops.real_part(den) <= _EPS64  # complex parameters: compare real parts
    return _ops.where(tiny, 0.0, num / _ops.where(tiny, 1.0, den))


def _adapt_lb(adapt, cap, threshold, candidate, lb, lower_bound):
    """Resets the lower bound to ``max(candidate, lower_bound)`` when ``cap < threshold``."""
    if not adapt:
        return lb
    below = _ops.real_part(cap) < _ops.real_part(threshold)
    return _ops.where(below, _ops.maximum(candidate, lower_bound), lb)


def momo(
    learning_rate: ScalarOrSchedule = 1.0,
    beta: Any = 0.9,
    lower_bound: Any = 0.0,
    weight_decay: Any = 0.0,
    adapt_lower_bound: bool = False,
) -> GradientTransformationExtraArgs:
    """MoMo: SGD with momentum and a step ``min(learning_rate, Polyak step)``.

    ``update(grads, state, params, value=loss)`` returns the full update (no extra
    learning rate is needed). The first step uses the gradient itself as momentum.

    Example:
        >>> import numpy as np, anyopt
        >>> params = np.array([1.0, 2.0, 3.0], np.float32)
        >>> tx = anyopt.contrib.momo()
        >>> state = tx.init(params)
        >>> updates, state = tx.update(2 * params, state, params, value=np.sum(params**2))
        >>> float(np.sum(anyopt.apply_updates(params, updates) ** 2))
        3.5

    References:
        Schaipp et al., `MoMo: Momentum Models for Adaptive Learning Rates
        <https://arxiv.org/abs/2305.07583>`_, 2023.
    """
    _validate.learning_rate("momo", learning_rate)
    _validate.unit_interval("momo", "beta", beta)
    _validate.non_negative("momo", "weight_decay", weight_decay)

    def init_fn(params):
        barf, gamma, lb = _scalars(params, lower_bound)
        return MomoState(_tree.zeros_like(params), barf, gamma, lb, _tree.count_init(params))

    def update_fn(updates, state, params: Optional[Any], *, value: Any, **extra_args):
        del extra_args
        _check_call("momo", params, value)
        count = state.count
        later = count != 0  # the first step starts the EMAs at the first values

        def ema(old, new):
            bt = _ops.astype(later, _ops.dtype(old)) * beta
            return bt * old + (1 - bt) * _ops.like(new, old)

        barf = ema(state.barf, _in_dtype(value, state.barf))
        exp_avg = _tree.map(ema, state.exp_avg, updates)
        gamma = ema(state.gamma, _tree.vdot(updates, params))
        exp_avg_norm = _tree.norm(exp_avg, squared=True)
        iprod = _tree.vdot(exp_avg, params)
        alpha = learning_rate(count) if callable(learning_rate) else learning_rate
        decay = 1 + alpha * weight_decay
        cap = decay * (barf - gamma) + iprod
        this_lb = _adapt_lb(
            adapt_lower_bound, cap, decay * state.lb, cap / (2 * decay), state.lb, lower_bound
        )
        t1 = _safe_ratio(_ops.maximum(decay * (barf - this_lb - gamma) + iprod, 0.0), exp_avg_norm)
        tau = _ops.minimum(alpha, t1)
        shrink = -(alpha * weight_decay) / decay
        new_updates = _tree.map(
            lambda ea, p: _ops.like(shrink, p) * p - _ops.like(tau, ea) * ea, exp_avg, params
        )
        if adapt_lower_bound:
            candidate = (barf + iprod - gamma) - 0.5 * tau * exp_avg_norm
            new_lb = _ops.like(_ops.maximum(candidate, lower_bound), state.lb)
        else:
            new_lb = state.lb
        new_state = MomoState(
            exp_avg=exp_avg,
            barf=barf,
            gamma=_ops.like(gamma, state.gamma),
            lb=new_lb,
            count=_tree.safe_increment(count),
        )
        return new_updates, new_state

    return GradientTransformationExtraArgs(init_fn, update_fn)


def momo_adam(
    learning_rate: ScalarOrSchedule = 1e-2,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    lower_bound: Any = 0.0,
    weight_decay: Any = 0.0,
    adapt_lower_bound: bool = False,
) -> GradientTransformationExtraArgs:
    """MoMo-Adam: Adam(W)'s direction with MoMo's adaptive step size.

    ``update(grads, state, params, value=loss)``; bias corrections as in Adam.

    References:
        Schaipp et al., `MoMo: Momentum Models for Adaptive Learning Rates
        <https://arxiv.org/abs/2305.07583>`_, 2023.
    """
    _validate.learning_rate("momo_adam", learning_rate)
    _validate.unit_interval("momo_adam", "b1", b1)
    _validate.unit_interval("momo_adam", "b2", b2)
    _validate.non_negative("momo_adam", "eps", eps)
    _validate.non_negative("momo_adam", "weight_decay", weight_decay)

    def init_fn(params):
        barf, gamma, lb = _scalars(params, lower_bound)
        zeros, count = _tree.zeros_like, _tree.count_init(params)
        return MomoAdamState(zeros(params), zeros(params), barf, gamma, lb, count)

    def update_fn(updates, state, params: Optional[Any], *, value: Any, **extra_args):
        del extra_args
        _check_call("momo_adam", params, value)
        count = state.count
        count_inc = _tree.safe_increment(count)
        barf = b1 * state.barf + (1 - b1) * _in_dtype(value, state.barf)
        exp_avg = _tree.map(lambda ea, g: b1 * ea + (1 - b1) * g, state.exp_avg, updates)
        exp_avg_sq = _tree.map(lambda s, g: b2 * s + (1 - b2) * g * g, state.exp_avg_sq, updates)
        bc2 = _ops.bias_correction_denominator(b2, count_inc, barf)
        precond = _tree.map(lambda s: eps + _ops.sqrt(s / _ops.like(bc2, s)), exp_avg_sq)
        exp_avg_norm = _tree.vdot(exp_avg, _tree.map(lambda ea, p: ea / p, exp_avg, precond))
        gamma = b1 * state.gamma + (1 - b1) * _ops.like(_tree.vdot(updates, params), state.gamma)
        iprod = _tree.vdot(exp_avg, params)
        alpha = learning_rate(count) if callable(learning_rate) else learning_rate
        bc1 = _ops.bias_correction_denominator(b1, count_inc, barf)
        decay = 1 + alpha * weight_decay
        cap = decay * (barf - gamma) + iprod
        this_lb = _adapt_lb(
            adapt_lower_bound,
            cap,
            decay * bc1 * state.lb,
            cap / (2 * bc1 * decay),
            state.lb,
            lower_bound,
        )
        num = _ops.maximum(decay * (barf - bc1 * this_lb - gamma) + iprod, 0.0)
        tau = _ops.minimum(alpha / bc1, _safe_ratio(num, exp_avg_norm))
        shrink = -(alpha * weight_decay) / decay
        new_updates = _tree.map(
            lambda ea, pc, p: _ops.like(shrink, p) * p - _ops.like(tau, ea) * ea / pc,
            exp_avg,
            precond,
            params,
        )
        if adapt_lower_bound:
            candidate = ((barf + iprod - gamma) - 0.5 * tau * exp_avg_norm) / bc1
            new_lb = _ops.like(_ops.maximum(candidate, lower_bound), state.lb)
        else:
            new_lb = state.lb
        new_state = MomoAdamState(
            exp_avg=exp_avg,
            exp_avg_sq=exp_avg_sq,
            barf=barf,
            gamma=gamma,
            lb=new_lb,
            count=count_inc,
        )
        return new_updates, new_state

    return GradientTransformationExtraArgs(init_fn, update_fn)
