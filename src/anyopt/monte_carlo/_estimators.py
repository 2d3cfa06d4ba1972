r"""Score-function and pathwise estimators of :math:`\nabla_\theta \mathbb E_{p(x;\theta)} f(x)`.

Both return, per parameter, the ``(num_samples, *param.shape)`` Jacobian whose row ``i`` is
the estimate from sample ``i`` alone: its mean over rows is the gradient estimate, its
spread the estimator's variance. ``f`` must not depend on :math:`\theta` (apply the chain
rule outside otherwise). See S. Mohamed, M. Rosca, M. Figurnov and A. Mnih, *Monte Carlo
Gradient Estimation in Machine Learning*, JMLR 2020.

Row ``i`` is computed as the gradient of a sum over samples with respect to parameters
tiled to one copy per sample (``_common.tile``): ``dist_builder`` must therefore accept
parameters with a leading ``num_samples`` axis, and ``sample((), rng)`` of such a
distribution must give one draw per copy, as ``multi_normal`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from anyopt import _autodiff, _ops, capabilities
from anyopt.monte_carlo import _common

_SCORE = "monte_carlo.score_function_jacobians"
_PATHWISE = "monte_carlo.pathwise_jacobians"


def score_function_jacobians(
    function: Callable[[Any], Any],
    params: Sequence[Any],
    dist_builder: Callable[..., Any],
    rng: Any,
    num_samples: int,
) -> list:
    r"""Score-function (REINFORCE, likelihood-ratio) Jacobians.

    .. math::
        \nabla_\theta \mathbb E_{p(x;\theta)} f(x)
        = \mathbb E_{p(x;\theta)}\big[f(x) \nabla_\theta \log p(x;\theta)\big],
        \qquad J_i = f(x_i) \nabla_\theta \log p(x_i;\theta), \quad x_i \sim p(x;\theta).

    Needs ``log_prob`` differentiable in :math:`\theta`; ``f`` may be anything (not
    differentiable, discrete). Unbiased, often of high variance.

    Args:
      function: ``f``, taking one sample and returning a scalar.
      params: the distribution's parameters, e.g. ``[mean, log_scale]``.
      dist_builder: ``dist_builder(*params)`` returns a distribution with ``sample(shape,
        rng)`` and ``log_prob(x)``, e.g. ``anyopt.multi_normal``.
      rng: a key of the parameters' framework or an integer seed (see ``anyopt.monte_carlo``).
      num_samples: the number of samples (rows of each Jacobian).

    Returns:
      One Jacobian of shape ``(num_samples, *param.shape)`` per parameter.

    Example (JAX; torch and MLX take their own arrays and keys)::

      >>> import jax, jax.numpy as jnp, anyopt
      >>> jac = anyopt.monte_carlo.score_function_jacobians(
      ...     jnp.sum, [jnp.zeros(2), jnp.zeros(2)], anyopt.multi_normal,
      ...     jax.random.PRNGKey(0), 10)
      >>> [j.shape for j in jac]
      [(10, 2), (10, 2)]
    """
    capabilities.check(_SCORE, _common.params_backend(params, _SCORE).NAME)
    key = _common.as_key(rng, params, _SCORE)
    samples = _autodiff.stop_gradient(dist_builder(*params).sample((num_samples,), key))
    values = _autodiff.stop_gradient(_common.map_samples(function, samples))

    def total_log_prob(tiled):
        return _ops.sum(dist_builder(*tiled).log_prob(samples))

    scores = _common.grad(total_log_prob, _common.tile(params, num_samples), _SCORE)
    return [_per_row(values, score) * score for score in scores]


def pathwise_jacobians(
    function: Callable[[Any], Any],
    params: Sequence[Any],
    dist_builder: Callable[..., Any],
    rng: Any,
    num_samples: int,
) -> list:
    r"""Pathwise (reparameterisation) Jacobians.

    .. math::
        \nabla_\theta \mathbb E_{p(x;\theta)} f(x)
        = \mathbb E_{p(\epsilon)}\big[\nabla_\theta f(g(\epsilon, \theta))\big],
        \qquad J_i = \nabla_\theta f(g(\epsilon_i, \theta)),

    where :math:`x = g(\epsilon, \theta)` is the distribution's sampling path (for
    ``multi_normal``, :math:`x = \mu + e^{\text{log\_scale}} \odot \epsilon`,
    :math:`\epsilon \sim \mathcal N(0, I)`). Needs a reparameterisable distribution and a
    differentiable ``f``; usually of low variance. Arguments and result as in
    ``score_function_jacobians``.
    """
    capabilities.check(_PATHWISE, _common.params_backend(params, _PATHWISE).NAME)
    key = _common.as_key(rng, params, _PATHWISE)

    def total_value(tiled):
        samples = dist_builder(*tiled).sample((), key)
        return _ops.sum(_common.map_samples(function, samples))

    return _common.grad(total_value, _common.tile(params, num_samples), _PATHWISE)


def _per_row(values: Any, like: Any) -> Any:
    """``values`` (one per sample) shaped to broadcast against ``like`` row by row."""
    extra = _ops.ndim(like) - 1
    return _ops.reshape(values, (_ops.shape(values)[0],) + (1,) * extra)
