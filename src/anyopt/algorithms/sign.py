"""Sign-based descent: signSGD and Signum (Bernstein et al., 2018)."""

from __future__ import annotations

from typing import Any, Optional

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformation, ScalarOrSchedule, init_empty_state
from anyopt._combine import chain
from anyopt.transforms._accumulation import ema
from anyopt.transforms._scaling import scale_by_learning_rate


def scale_by_sign() -> GradientTransformation:
    """Replaces every update element by its sign."""

    def update_fn(updates, state, params=None):
        del params
        return _tree.map(_ops.sign, updates), state

    return GradientTransformation(init_empty_state, update_fn)


def sign_sgd(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    r"""signSGD: :math:`u_k = -\eta \operatorname{sign}(g_k)`."""
    _validate.learning_rate("sign_sgd", learning_rate)
    return chain(scale_by_sign(), scale_by_learning_rate(learning_rate))


def signum(
    learning_rate: ScalarOrSchedule, beta: float = 0.9, accumulator_dtype: Optional[Any] = None
) -> GradientTransformation:
    r"""Signum: :math:`m_k = \beta m_{k-1} + (1 - \beta) g_k`, :math:`u_k = -\eta\,
    \operatorname{sign}(m_k)`."""
    _validate.learning_rate("signum", learning_rate)
    _validate.unit_interval("signum", "beta", beta)
    _validate.float_dtype("signum", "accumulator_dtype", accumulator_dtype)
    return chain(
        ema(beta, debias=False, accumulator_dtype=accumulator_dtype),
        scale_by_sign(),
        scale_by_learning_rate(learning_rate),
    )
