r"""A diagonal Gaussian parameterised by its mean and the log of its standard deviation.

.. math::
    \log p(x) = \sum_i -\tfrac12 \left( \log(2 \pi \sigma_i^2)
        + (x_i - \mu_i)^2 / \sigma_i^2 \right), \quad \sigma = e^{\text{log\_scale}}

(the sum runs over the parameter axes; leading sample axes are kept).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from anyopt import _ops, backends


def _broadcast_shapes(a: tuple, b: tuple) -> tuple:
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise ValueError(
                f"multi_normal: Incompatible shapes for broadcasting: loc {a}, log_scale {b}"
            )
        out.append(y if x == 1 else x)
    return tuple(out)


class MultiNormalDiagFromLogScale:
    """Samples and log-densities of :math:`\\mathcal N(\\text{loc}, \\text{diag}(e^{2
    \\text{log\\_scale}}))` on the framework of ``loc`` / ``log_scale``."""

    def __init__(self, loc: Any, log_scale: Any):
        arrays = [v for v in (loc, log_scale) if hasattr(v, "dtype")]
        b = backends.of(arrays[0]) if arrays else backends.load("numpy")
        self._log_scale = b.asarray(log_scale) if not hasattr(log_scale, "dtype") else log_scale
        self._mean = b.asarray(loc) if not hasattr(loc, "dtype") else loc
        self._scale = _ops.exp(self._log_scale)
        self._param_shape = _broadcast_shapes(_ops.shape(self._mean), _ops.shape(self._scale))

    def sample(self, shape: Sequence[int], key: Any) -> Any:
        """``shape + param_shape`` draws from ``key`` (a key of the parameters' framework)."""
        noise = backends.of(key).normal(key, tuple(shape) + self._param_shape)
        noise = backends.of(self._scale).asarray(noise, like=self._scale)  # its device
        return noise * self._scale + self._mean

    def log_prob(self, x: Any) -> Any:
        """The log-density of ``x``, summed over the parameter axes."""
        variance = self._scale * self._scale
        centred = x - self._mean
        log_pdf = (_ops.log(2 * math.pi * variance) + centred * centred / variance) / -2
        axes = tuple(-(i + 1) for i in range(len(self._param_shape)))
        return _ops.sum(log_pdf, axis=axes) if axes else log_pdf

    @property
    def log_scale(self) -> Any:
        return self._log_scale

    @property
    def params(self) -> Sequence[Any]:
        return [self._mean, self._log_scale]


def multi_normal(loc: Any, log_scale: Any) -> MultiNormalDiagFromLogScale:
    """A diagonal Gaussian with mean ``loc`` and standard deviation ``exp(log_scale)``."""
    return MultiNormalDiagFromLogScale(loc=loc, log_scale=log_scale)
