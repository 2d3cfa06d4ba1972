r"""Control variates: lower-variance Jacobians from a function ``h`` with a known mean.

For any :math:`h(x;\theta)` whose expectation is known in closed form,

.. math::
    \nabla_\theta \mathbb E_p f
    = \underbrace{\nabla_\theta \textstyle\int p(x;\theta)\,(f(x) - h(x;\bar\theta))\,dx}
        _{\text{any estimator, on } f - h}
    \;-\; \mathbb E_p\big[\nabla_\theta h(x;\theta)\big]
    \;+\; \nabla_\theta \mathbb E_p\big[h(x;\theta)\big]

(:math:`\bar\theta`: :math:`\theta` held fixed). When :math:`h` tracks :math:`f`, the first
term varies much less than the plain estimator. A control variate is the triple
``(cv(params, sample, state), expected_cv(params, state), update_state(params, samples,
state))``; ``control_delta_method`` and ``moving_avg_baseline`` build one from ``f``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from anyopt import _autodiff, _ops, capabilities
from anyopt.monte_carlo import _common

ControlVariate = tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]

_DELTA = "monte_carlo.control_delta_method"
_JACOBIANS = "monte_carlo.control_variates_jacobians"


def control_delta_method(function: Callable[[Any], Any]) -> ControlVariate:
    r"""The delta-method control variate: ``f``'s second-order Taylor expansion at the mean.

    .. math::
        h(x) = f(\mu) + \nabla f(\mu)^\top (x - \mu)
             + \tfrac12 (x - \mu)^\top \nabla^2 f(\mu) (x - \mu), \qquad
        \mathbb E[h] = f(\mu) + \tfrac12 \sum_d \sigma_d^2 \, \partial_d^2 f(\mu)

    for a Gaussian with diagonal covariance ``exp(2 * log_scale)`` (params
    ``[mean, log_scale]``). Exact for quadratic ``f``. Keeps no state (``None``). The
    Hessian enters through Hessian-vector products (the framework's autodiff; JAX, PyTorch
    or MLX). See J. Paisley, D. Blei and M. Jordan, *Variational Bayesian Inference with
    Stochastic Search*, ICML 2012.
    """

    def cv(params: Sequence[Any], sample: Any, state: Any = None) -> Any:
        del state
        mean = params[0]
        centred = sample - mean
        slope = _autodiff.grad(function, name=_DELTA)(mean)
        curvature = _autodiff.hvp(function, mean, centred, name=_DELTA)
        return function(mean) + _ops.sum(slope * centred) + _ops.sum(curvature * centred) / 2

    def expected_cv(params: Sequence[Any], state: Any = None) -> Any:
        del state
        mean, log_scale = params[0], params[1]
        size = _ops.size(mean)
        scale = _ops.reshape(_ops.broadcast_to(_ops.exp(log_scale), _ops.shape(mean)), (size,))
        # the rows sigma_d e_d: sum_d (sigma_d e_d)^T H (sigma_d e_d) = sum_d sigma_d^2 H_dd
        directions = _ops.reshape(
            _ops.eye(size, _ops.dtype(mean), like=mean) * scale, (size, *_ops.shape(mean))
        )

        def quadratic_form(v):
            return _ops.sum(_autodiff.hvp(function, mean, v, name=_DELTA) * v)

        return function(mean) + _ops.sum(_common.map_samples(quadratic_form, directions)) / 2

    def update_state(params: Sequence[Any], samples: Any, state: Any = None) -> Any:
        del params, samples
        return state

    return cv, expected_cv, update_state


def moving_avg_baseline(
    function: Callable[[Any], Any],
    decay: float = 0.99,
    zero_debias: bool = True,
    use_decay_early_training_heuristic: bool = True,
) -> ControlVariate:
    r"""A moving average of ``f`` over past samples, as a constant baseline.

    The state is ``(value, i)`` (start from ``(0.0, 0)``); ``update_state`` computes

    .. math::
        \beta_i = \min\!\big(\text{decay}, \tfrac{1 + i}{10 + i}\big) \text{ (heuristic) or
        decay}, \qquad
        v \leftarrow \frac{\beta_i v + (1 - \beta_i)\,\overline{f(x)}}
                          {1 - \beta_i^{\,i+1} \text{ (zero\_debias) or } 1},

    with :math:`\overline{f(x)}` the mean over the new samples. As in optax 0.1, the
    debiasing divides the stored value at every step (it is not the usual bias correction
    applied on read). The baseline does not depend on :math:`\theta`, so it changes only
    the score-function estimator (the pathwise and measure-valued ones ignore it).
    """

    def cv(params: Sequence[Any], sample: Any, state: Any) -> Any:
        del params, sample
        return state[0]

    def expected_cv(params: Sequence[Any], state: Any) -> Any:
        del params
        return state[0]

    def update_state(params: Sequence[Any], samples: Any, state: Any) -> Any:
        del params
        value, i = state
        beta = decay
        if use_decay_early_training_heuristic:
            beta = _minimum(decay, (1.0 + i) / (10.0 + i))
        new_value = beta * value + (1 - beta) * _ops.mean(_common.map_samples(function, samples))
        if zero_debias:
            new_value = new_value / (1 - beta ** (i + 1))
        return _autodiff.stop_gradient(new_value), i + 1

    return cv, expected_cv, update_state


def _minimum(a: Any, b: Any) -> Any:
    numbers = (int, float)
    return min(a, b) if isinstance(a, numbers) and isinstance(b, numbers) else _ops.minimum(a, b)


def control_variates_jacobians(
    function: Callable[[Any], Any],
    control_variate_from_function: Callable[[Callable[[Any], Any]], ControlVariate],
    grad_estimator: Callable[..., Sequence[Any]],
    params: Sequence[Any],
    dist_builder: Callable[..., Any],
    rng: Any,
    num_samples: int,
    control_variate_state: Any = None,
    estimate_cv_coeffs: bool = False,
    estimate_cv_coeffs_num_samples: int = 20,
) -> tuple[list, Any]:
    r"""Jacobians of ``grad_estimator`` with the control variate built from ``function``.

    Row ``i`` of each Jacobian is (module docstring; :math:`c` the coefficient, 1 unless
    ``estimate_cv_coeffs``):

    .. math::
        J_i = J^f_i - c\, J^h_i - c\, \frac1N \sum_j \nabla_\theta h(x_j;\theta)
              + c\, \nabla_\theta \mathbb E_p[h]

    where :math:`J^f, J^h` come from ``grad_estimator`` on ``f`` and on ``h`` (with the same
    ``rng``, hence the same samples). The state is updated once, from these samples,
    before ``h`` is used. ``estimate_cv_coeffs`` picks :math:`c` per parameter with
    ``estimate_control_variate_coefficients`` on ``estimate_cv_coeffs_num_samples`` fresh
    samples. Note that a control variate need not lower every estimator's variance:
    ``moving_avg_baseline`` leaves the pathwise and measure-valued ones unchanged.

    Returns:
      ``(jacobians, control_variate_state)``: one ``(num_samples, *param.shape)`` Jacobian
      per parameter and the updated state.
    """
    capabilities.check(_JACOBIANS, _common.params_backend(params, _JACOBIANS).NAME)
    key = _common.as_key(rng, params, _JACOBIANS)
    cv, expected_cv, update_state = control_variate_from_function(function)
    if estimate_cv_coeffs:
        coeffs = estimate_control_variate_coefficients(
            function,
            control_variate_from_function,
            grad_estimator,
            params,
            dist_builder,
            key,
            estimate_cv_coeffs_num_samples,
            control_variate_state,
        )
    else:
        coeffs = [1.0] * len(params)

    function_jacobians = grad_estimator(function, params, dist_builder, key, num_samples)
    samples = _autodiff.stop_gradient(dist_builder(*params).sample((num_samples,), key))
    state = update_state(params, samples, control_variate_state)

    fixed = _autodiff.stop_gradient(list(params))
    cv_jacobians = grad_estimator(
        lambda x: cv(fixed, x, state), params, dist_builder, key, num_samples
    )

    def mean_cv(p):
        return _ops.mean(_common.map_samples(lambda x: cv(p, x, state), samples))

    cv_param_grads = _common.grad(mean_cv, params, _JACOBIANS)
    expected_grads = _common.grad(lambda p: expected_cv(p, state), params, _JACOBIANS)

    jacobians = [
        f_jac - c * cv_jac - c * cv_grad + c * expected_grad
        for f_jac, cv_jac, cv_grad, expected_grad, c in zip(
            function_jacobians, cv_jacobians, cv_param_grads, expected_grads, coeffs
        )
    ]
    return jacobians, state


def estimate_control_variate_coefficients(
    function: Callable[[Any], Any],
    control_variate_from_function: Callable[[Callable[[Any], Any]], ControlVariate],
    grad_estimator: Callable[..., Sequence[Any]],
    params: Sequence[Any],
    dist_builder: Callable[..., Any],
    rng: Any,
    num_samples: int,
    control_variate_state: Any = None,
    eps: float = 1e-3,
) -> list:
    r"""Variance-minimising control-variate coefficients, one scalar per parameter.

    .. math::
        c = \frac{\sum_k \operatorname{Cov}(J^f_{\cdot k}, J^h_{\cdot k})}
                 {\sum_k \operatorname{Var}(J^h_{\cdot k}) + \epsilon}

    over the elements ``k`` of the parameter, from ``num_samples`` samples drawn with a
    key split from ``rng`` (fresh samples keep the final estimate unbiased). The state is
    not updated.
    """
    key = _common.as_key(rng, params, _JACOBIANS)
    cv_key = _autodiff.split(key)[0]
    cv, _, _ = control_variate_from_function(function)
    cv_jacobians = grad_estimator(
        lambda x: cv(params, x, control_variate_state), params, dist_builder, cv_key, num_samples
    )
    function_jacobians = grad_estimator(function, params, dist_builder, cv_key, num_samples)

    def coefficient(cv_jac, f_jac):
        cv_centred = cv_jac - _ops.mean(cv_jac, axis=0)
        f_centred = f_jac - _ops.mean(f_jac, axis=0)
        covariance = _ops.sum(_ops.mean(f_centred * cv_centred, axis=0))
        variance = _ops.sum(_ops.mean(cv_centred * cv_centred, axis=0))
        return _autodiff.stop_gradient(covariance / (variance + eps))

    return [coefficient(c, f) for c, f in zip(cv_jacobians, function_jacobians)]
