r"""RMSProp (Hinton, 2012) and its centered form (Graves, 2013).

.. math::
    v_k = \rho v_{k-1} + (1 - \rho) |g_k|^2, \quad u_k = g_k / \sqrt{v_k + \epsilon}

(``eps_in_sqrt=False``: :math:`g_k / (\sqrt{v_k} + \epsilon)`). The centered form also
tracks :math:`m_k = \rho m_{k-1} + (1 - \rho) g_k` and divides by
:math:`\sqrt{v_k - |m_k|^2 + \epsilon}`. ``bias_correction`` divides moments by
:math:`1 - \rho^k`; ``momentum`` adds heavy-ball (or Nesterov) momentum after the lr.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformation, ScalarOrSchedule, Updates, identity
from anyopt._combine import chain
from anyopt.algorithms._common import check_betas_eps
from anyopt.transforms._accumulation import trace
from anyopt.transforms._scaling import scale_by_learning_rate


class ScaleByRmsState(NamedTuple):
    """State of RMSProp without bias correction."""

    nu: Updates


class ScaleByRmsWithCountState(NamedTuple):
    """State of RMSProp with bias correction."""

    count: Any  # shape=(), dtype=int32
    nu: Updates


class ScaleByRStdDevState(NamedTuple):
    """State of centered RMSProp without bias correction."""

    mu: Updates
    nu: Updates


class ScaleByRStdDevWithCountState(NamedTuple):
    """State of centered RMSProp with bias correction."""

    count: Any  # shape=(), dtype=int32
    mu: Updates
    nu: Updates


def _inverse_root(eps, eps_in_sqrt):
    if eps_in_sqrt:
        return lambda v: 1 / _ops.sqrt(v + eps)
    return lambda v: 1 / (_ops.sqrt(v) + eps)


def scale_by_rms(
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> GradientTransformation:
    """Rescales updates by the root of an EMA of their squares."""
    check_betas_eps("scale_by_rms", decay=decay, eps=eps)
    _validate.non_negative("scale_by_rms", "initial_scale", initial_scale)
    inverse_root = _inverse_root(eps, eps_in_sqrt)

    def init_fn(params):
        nu = _tree.full_like(params, initial_scale)
        if bias_correction:
            return ScaleByRmsWithCountState(count=_tree.count_init(params), nu=nu)
        return ScaleByRmsState(nu=nu)

    def update_fn(updates, state, params=None):
        del params
        nu = _tree.update_moment_per_elem_norm(updates, state.nu, decay, 2)
        if bias_correction:
            count_inc = _tree.safe_increment(state.count)
            nu_hat = _tree.bias_correction(nu, decay, count_inc)
        else:
            nu_hat = nu
        updates = _tree.map(lambda v, g: inverse_root(v) * g, nu_hat, updates)
        if bias_correction:
            return updates, ScaleByRmsWithCountState(count=count_inc, nu=nu)
        return updates, ScaleByRmsState(nu=nu)

    return GradientTransformation(init_fn, update_fn)


def scale_by_stddev(
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> GradientTransformation:
    """Rescales updates by the root of a centered EMA of their squares."""
    check_betas_eps("scale_by_stddev", decay=decay, eps=eps)
    _validate.non_negative("scale_by_stddev", "initial_scale", initial_scale)
    inverse_root = _inverse_root(eps, eps_in_sqrt)

    def init_fn(params):
        mu = _tree.zeros_like(params)
        nu = _tree.full_like(params, initial_scale)
        if bias_correction:
            return ScaleByRStdDevWithCountState(count=_tree.count_init(params), mu=mu, nu=nu)
        return ScaleByRStdDevState(mu=mu, nu=nu)

    def update_fn(updates, state, params=None):
        del params
        mu = _tree.update_moment(updates, state.mu, decay, 1)
        nu = _tree.update_moment_per_elem_norm(updates, state.nu, decay, 2)
        if bias_correction:
            count_inc = _tree.safe_increment(state.count)
            mu_hat = _tree.bias_correction(mu, decay, count_inc)
            nu_hat = _tree.bias_correction(nu, decay, count_inc)
        else:
            mu_hat, nu_hat = mu, nu
        updates = _tree.map(
            lambda m, v, g: inverse_root(v - _ops.abs_sq(m)) * g, mu_hat, nu_hat, updates
        )
        if bias_correction:
            return updates, ScaleByRStdDevWithCountState(count=count_inc, mu=mu, nu=nu)
        return updates, ScaleByRStdDevState(mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: Optional[float] = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> GradientTransformation:
    """RMSProp: ``scale_by_rms`` (or ``scale_by_stddev`` if centered), ``-lr``, then momentum."""
    _validate.learning_rate("rmsprop", learning_rate)
    check_betas_eps("rmsprop", decay=decay, eps=eps)
    if momentum is not None:
        _validate.non_negative("rmsprop", "momentum", momentum)
    scaler = scale_by_stddev if centered else scale_by_rms
    return chain(
        scaler(decay, eps, initial_scale, eps_in_sqrt, bias_correction),
        scale_by_learning_rate(learning_rate),
        trace(decay=momentum, nesterov=nesterov) if momentum is not None else identity(),
    )
