r"""Stochastic gradient descent, optionally with (Nesterov) momentum.

.. math::
    t_k = g_k + \mu t_{k-1}, \quad u_k = -\eta t_k
    \quad (\text{Nesterov: } u_k = -\eta (g_k + \mu t_k)).
"""

from __future__ import annotations

from typing import Any, Optional

from anyopt import _validate
from anyopt._base import GradientTransformation, ScalarOrSchedule, identity
from anyopt._combine import chain
from anyopt.transforms._accumulation import trace
from anyopt.transforms._scaling import scale_by_learning_rate


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: Optional[float] = None,
    nesterov: bool = False,
    accumulator_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """SGD: optional ``trace`` momentum followed by ``-learning_rate``."""
    _validate.learning_rate("sgd", learning_rate)
    _validate.float_dtype("sgd", "accumulator_dtype", accumulator_dtype)
    if momentum is not None:
        _validate.non_negative("sgd", "momentum", momentum)
        first = trace(decay=momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype)
    else:
        first = identity()
    return chain(first, scale_by_learning_rate(learning_rate))
