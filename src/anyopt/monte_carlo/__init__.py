r"""Monte Carlo gradient estimators with control variates (optax 0.1's ``monte_carlo``).

Estimates :math:`\nabla_\theta \mathbb E_{p(x;\theta)} f(x)` per sample: every estimator
takes ``(function, params, dist_builder, rng, num_samples)`` and returns one Jacobian of
shape ``(num_samples, *param.shape)`` per parameter (the mean over rows is the gradient).
``params`` is ``[mean, log_scale]`` for ``multi_normal``.

``rng`` is the framework's own randomness: a JAX key on JAX; a ``torch.Generator`` (advanced
by one draw) or an anyopt torch key on PyTorch; an ``mx.random.key`` on MLX; an anyopt
NumPy key or a ``numpy.random.Generator`` on NumPy; or an integer seed on any of them.
Estimators that need autodiff run on JAX, PyTorch and MLX; ``measure_valued_jacobians``
also runs on NumPy. See docs/monte_carlo.md.
"""

from anyopt._multi_normal import multi_normal
from anyopt.monte_carlo._control_variates import (
    control_delta_method,
    control_variates_jacobians,
    estimate_control_variate_coefficients,
    moving_avg_baseline,
)
from anyopt.monte_carlo._estimators import pathwise_jacobians, score_function_jacobians
from anyopt.monte_carlo._measure_valued import (
    measure_valued_estimation_mean,
    measure_valued_estimation_std,
    measure_valued_jacobians,
)

__all__ = [
    "control_delta_method",
    "control_variates_jacobians",
    "estimate_control_variate_coefficients",
    "measure_valued_estimation_mean",
    "measure_valued_estimation_std",
    "measure_valued_jacobians",
    "moving_avg_baseline",
    "multi_normal",
    "pathwise_jacobians",
    "score_function_jacobians",
]
