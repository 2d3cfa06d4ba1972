r"""Measure-valued Jacobians for Gaussians: weak derivatives as differences of expectations.

For :math:`x \sim \mathcal N(\mu, \sigma^2)` (per coordinate ``d``, the others held at the
base sample :math:`x_i`):

.. math::
    \partial_{\mu_d} \mathbb E f = \frac{1}{\sigma_d \sqrt{2\pi}}
        \Big(\mathbb E f(x_{i, d \leftarrow \mu_d + \sigma_d w})
           - \mathbb E f(x_{i, d \leftarrow \mu_d - \sigma_d w'})\Big),
        \quad w, w' \sim \mathrm{Weibull}(\sqrt 2, 2),

    \partial_{\sigma_d} \mathbb E f = \frac{1}{\sigma_d}
        \Big(\mathbb E f(x_{i, d \leftarrow \mu_d + \sigma_d m})
           - \mathbb E f(x_{i, d \leftarrow \mu_d + \sigma_d z})\Big),
        \quad m \sim \text{double-sided Maxwell}, \; z \sim \mathcal N(0, 1),

and :math:`\partial_{\log \sigma_d} = \sigma_d \partial_{\sigma_d}`. With ``coupling`` the
negative sample reuses the positive one (:math:`w' = w`; :math:`z = u m` with
:math:`u \sim U(0, 1)`, which is standard normal), which lowers the variance. Only
function values are needed: no autodiff, so this runs on NumPy too. Each Jacobian costs
``2 * num_samples * D`` evaluations of ``f`` (``D`` the parameter size).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from anyopt import _ops, backends
from anyopt._multi_normal import MultiNormalDiagFromLogScale, multi_normal
from anyopt.monte_carlo import _common

_NAME = "monte_carlo.measure_valued_jacobians"


def measure_valued_jacobians(
    function: Callable[[Any], Any],
    params: Sequence[Any],
    dist_builder: Callable[..., Any],
    rng: Any,
    num_samples: int,
    coupling: bool = True,
) -> list:
    r"""Measure-valued Jacobians ``[d/d mean, d/d log_scale]`` of a Gaussian expectation.

    ``dist_builder`` must be ``anyopt.multi_normal`` (``ValueError`` otherwise) and
    ``params`` its ``[mean, log_scale]`` of one shape. ``coupling`` couples the positive
    and negative samples (recommended: lower variance). Other arguments and the result as
    in ``score_function_jacobians``; see the module docstring for the estimator.
    """
    if dist_builder not in (multi_normal, MultiNormalDiagFromLogScale):
        raise ValueError(
            "measure_valued_jacobians supports only Gaussians: pass "
            f"dist_builder=anyopt.multi_normal, not {dist_builder!r}"
        )
    key = _common.as_key(rng, params, _NAME)
    dist = dist_builder(*params)
    mean, log_scale = params
    if _ops.shape(mean) != _ops.shape(log_scale):
        raise ValueError(
            f"measure_valued_jacobians: mean and log_scale must share a shape; got "
            f"{_ops.shape(mean)} and {_ops.shape(log_scale)}"
        )
    mean_jac = measure_valued_estimation_mean(function, dist, key, num_samples, coupling)
    std_jac = measure_valued_estimation_std(function, dist, key, num_samples, coupling)
    return [mean_jac, _ops.exp(log_scale) * std_jac]  # chain rule: d/dlog s = s d/ds


def measure_valued_estimation_mean(
    function: Callable[[Any], Any], dist: Any, rng: Any, num_samples: int, coupling: bool = True
) -> Any:
    """The ``(num_samples, *mean.shape)`` measure-valued Jacobian with respect to the mean
    (Weibull coupling; see the module docstring)."""
    mean, log_scale = dist.params
    scale = _ops.exp(log_scale)
    key = _common.as_key(rng, dist.params, _NAME)
    base = dist.sample((num_samples,), key)
    pos_key, neg_key = _split(key)
    shape = _ops.shape(base)
    positive = _weibull(pos_key, shape, mean)
    negative = positive if coupling else _weibull(neg_key, shape, mean)
    difference = _coordinate_differences(
        function, base, mean + scale * positive, mean - scale * negative
    )
    return difference / (math.sqrt(2 * math.pi) * scale)


def measure_valued_estimation_std(
    function: Callable[[Any], Any], dist: Any, rng: Any, num_samples: int, coupling: bool = True
) -> Any:
    """The ``(num_samples, *scale.shape)`` measure-valued Jacobian with respect to the
    standard deviation (not its log; doubled-Maxwell coupling; see the module docstring)."""
    mean, log_scale = dist.params
    scale = _ops.exp(log_scale)
    key = _common.as_key(rng, dist.params, _NAME)
    base = dist.sample((num_samples,), key)
    pos_key, neg_key = _split(key)
    shape = _ops.shape(base)
    positive = _double_sided_maxwell(pos_key, shape, mean)
    if coupling:
        negative = _uniform(neg_key, shape, mean) * positive
    else:
        negative = _normal(neg_key, shape, mean)
    difference = _coordinate_differences(
        function, base, mean + scale * positive, mean + scale * negative
    )
    return difference / scale


def _coordinate_differences(function, base, positive, negative):
    r"""``f(x_i with coordinate d := positive[i, d]) - f(x_i with d := negative[i, d])``
    for every sample ``i`` and coordinate ``d``, shaped like ``base``."""
    shape = _ops.shape(base)
    n, size = shape[0], math.prod(shape[1:])
    flat = _ops.reshape(base, (n, 1, size))
    eye = _ops.eye(size, _ops.dtype(base), like=base)  # eye[d] selects coordinate d

    def evaluate(diagonal):
        points = flat * (1 - eye) + _ops.reshape(diagonal, (n, size, 1)) * eye
        values = _common.map_samples(function, _ops.reshape(points, (n * size, *shape[1:])))
        return _ops.reshape(values, shape)

    return evaluate(positive) - evaluate(negative)


def _split(key):
    keys = backends.of(key).split(key, 2)
    return keys[0], keys[1]


def _draw(kind: str, key, shape, like):
    b = backends.of(key)
    sample = getattr(b, kind)(key, tuple(shape), b.dtype(backends.dtype_name(_ops.dtype(like))))
    return backends.of(like).asarray(sample, like=like)  # like's framework and device


def _uniform(key, shape, like):
    return _draw("uniform", key, shape, like)


def _normal(key, shape, like):
    return _draw("normal", key, shape, like)


def _weibull(key, shape, like):
    r"""Weibull(scale :math:`\sqrt 2`, concentration 2), i.e. Rayleigh(1):
    :math:`\sqrt{-2 \log u}` with :math:`u \sim U(0, 1]`."""
    return _ops.sqrt(-2 * _ops.log(1 - _uniform(key, shape, like)))


def _double_sided_maxwell(key, shape, like):
    r"""A random sign times a Maxwell(1) draw, the norm of three standard normals."""
    z = _normal(key, (4, *shape), like)
    magnitude = _ops.sqrt(z[0] * z[0] + z[1] * z[1] + z[2] * z[2])
    return _ops.where(z[3] < 0, -magnitude, magnitude)
