r"""Lion (Chen et al., 2023): the sign of an interpolation of momentum and gradient.

.. math::
    u_k = \operatorname{sign}(\beta_1 m_{k-1} + (1 - \beta_1) g_k), \quad
    m_k = \beta_2 m_{k-1} + (1 - \beta_2) g_k.

``mode='smooth'`` uses :math:`\tanh(\beta_s x)` and ``mode='refined'`` keeps
:math:`|x| < 1` linear, as in optax.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformation, ScalarOrSchedule, Updates
from anyopt._combine import chain
from anyopt.algorithms._common import check_betas_eps
from anyopt.transforms._adding import add_decayed_weights
from anyopt.transforms._scaling import scale_by_learning_rate

_MODES = ("hard", "smooth", "refined")


class ScaleByLionState(NamedTuple):
    """State of Lion."""

    count: Any  # shape=(), dtype=int32
    mu: Updates


def scale_by_lion(
    b1: float = 0.9,
    b2: float = 0.99,
    mu_dtype: Optional[Any] = None,
    *,
    mode: str = "hard",
    smooth_beta: float = 1.0,
) -> GradientTransformation:
    """Lion's update direction (no learning rate, no weight decay)."""
    check_betas_eps("scale_by_lion", b1=b1, b2=b2)
    _validate.float_dtype("scale_by_lion", "mu_dtype", mu_dtype)
    _validate.choice("scale_by_lion", "mode", mode, _MODES)

    def direction(g, m):
        x = (1.0 - b1) * g + b1 * m
        if mode == "hard":
            return _ops.sign(x)
        if mode == "smooth":
            return _ops.tanh(smooth_beta * x)
        return _ops.where(_ops.abs(x) < 1.0, x, _ops.sign(x))

    def init_fn(params):
        return ScaleByLionState(
            count=_tree.count_init(params), mu=_tree.zeros_like(params, dtype=mu_dtype)
        )

    def update_fn(updates, state, params=None):
        del params
        new_updates = _tree.map(direction, updates, state.mu)
        mu = _tree.cast(_tree.update_moment(updates, state.mu, b2, 1), mu_dtype)
        return new_updates, ScaleByLionState(count=_tree.safe_increment(state.count), mu=mu)

    return GradientTransformation(init_fn, update_fn)


def lion(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.99,
    mu_dtype: Optional[Any] = None,
    weight_decay: ScalarOrSchedule = 1e-3,
    mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
) -> GradientTransformation:
    """Lion with decoupled weight decay: ``-lr * (sign(...) + wd * p)``."""
    _validate.learning_rate("lion", learning_rate)
    check_betas_eps("lion", b1=b1, b2=b2)
    _validate.float_dtype("lion", "mu_dtype", mu_dtype)
    return chain(
        scale_by_lion(b1, b2, mu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
