r"""Noisy SGD (Neelakantan et al., 2015): SGD on gradients with annealed Gaussian noise.

.. math::
    u_t = -\alpha_t \big(g_t + \mathcal N(0, \sigma_t^2)\big), \quad
    \sigma_t^2 = \eta / t^\gamma \quad (t = 1, 2, \dots).
"""

from __future__ import annotations

from typing import Any, Optional

from anyopt import _validate
from anyopt._base import GradientTransformation, ScalarOrSchedule
from anyopt._combine import chain
from anyopt.transforms._noise import add_noise
from anyopt.transforms._scaling import scale_by_learning_rate


def noisy_sgd(
    learning_rate: ScalarOrSchedule,
    eta: Any = 0.01,
    gamma: Any = 0.55,
    key: Optional[Any] = None,
    *,
    seed: Optional[int] = None,
) -> GradientTransformation:
    """``add_noise(eta, gamma, key)`` followed by ``-learning_rate``.

    ``key`` is an int seed or a random key of the parameters' framework; the noise is
    then reproducible (on JAX, equal to optax's for the same seed).
    """
    _validate.learning_rate("noisy_sgd", learning_rate)
    _validate.non_negative("noisy_sgd", "eta", eta)
    _validate.non_negative("noisy_sgd", "gamma", gamma)
    return chain(add_noise(eta, gamma, key, seed=seed), scale_by_learning_rate(learning_rate))
