r"""COCOB-Backprop (Orabona & Tommasi, 2017, Algorithm 2): learning-rate-free coin betting.

Per coordinate, with :math:`x_0` the initial point and :math:`g_t` the gradient:

.. math::
    L_t = \max(L_{t-1}, |g_t|), \quad G_t = G_{t-1} + |g_t|, \quad
    R_t = \max(R_{t-1} - g_t (x_t - x_0), 0), \quad \theta_t = \theta_{t-1} - g_t,

    x_{t+1} = x_0 + \frac{\theta_t}{L_t \max(G_t + L_t, \alpha L_t)} (L_t + R_t),

with :math:`L_0 = \epsilon`. The update is :math:`x_{t+1} - x_t`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

from anyopt import _ops, _tree, _validate
from anyopt._base import NO_PARAMS_MSG, GradientTransformation, ScalarOrSchedule, Updates
from anyopt._combine import chain
from anyopt.contrib._scalar_state import copy
from anyopt.transforms._adding import add_decayed_weights
from anyopt.transforms._scaling import scale_by_learning_rate


class COCOBState(NamedTuple):
    """State of COCOB."""

    init_particles: Updates  # x_0
    cumulative_gradients: Updates  # theta: minus the sum of gradients
    scale: Updates  # L: the largest |g| seen
    subgradients: Updates  # G: the sum of |g|
    reward: Updates  # R: the wealth won so far


def scale_by_cocob(alpha: float = 100.0, eps: float = 1e-8) -> GradientTransformation:
    """COCOB's update from the (already scaled) gradients; see ``cocob``."""
    _validate.positive("scale_by_cocob", "alpha", alpha)
    _validate.non_negative("scale_by_cocob", "eps", eps)

    def init_fn(params):
        return COCOBState(  # distinct arrays: fast paths update states in place
            init_particles=copy(params),
            cumulative_gradients=_tree.zeros_like(params),
            scale=_tree.full_like(params, eps),
            subgradients=_tree.zeros_like(params),
            reward=_tree.zeros_like(params),
        )

    def update_fn(updates, state, params):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        m = _tree.map
        scale = m(lambda L, c: _ops.maximum(L, _ops.abs(c)), state.scale, updates)
        subgradients = m(lambda G, c: G + _ops.abs(c), state.subgradients, updates)
        reward = m(
            lambda R, c, p, p0: _ops.maximum(R - c * (p - p0), 0),
            state.reward,
            updates,
            params,
            state.init_particles,
        )
        theta = m(lambda C, c: C - c, state.cumulative_gradients, updates)

        def step(p, p0, C, L, G, R):
            return -p + (p0 + C / (L * _ops.maximum(G + L, alpha * L)) * (L + R))

        new_updates = m(step, params, state.init_particles, theta, scale, subgradients, reward)
        return new_updates, COCOBState(state.init_particles, theta, scale, subgradients, reward)

    return GradientTransformation(init_fn, update_fn)


def cocob(
    learning_rate: ScalarOrSchedule = 1.0,
    alpha: float = 100.0,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
) -> GradientTransformation:
    """COCOB: weight decay, then gradients scaled by ``+learning_rate``, then ``scale_by_cocob``.

    Example:
        >>> import numpy as np, anyopt
        >>> params = {"w": np.ones(3, np.float32)}
        >>> tx = anyopt.contrib.cocob()
        >>> state = tx.init(params)
        >>> updates, state = tx.update({"w": np.full(3, 0.5, np.float32)}, state, params)
        >>> np.round(updates["w"], 6)
        array([-0.01, -0.01, -0.01], dtype=float32)
    """
    _validate.learning_rate("cocob", learning_rate)
    _validate.positive("cocob", "alpha", alpha)
    _validate.non_negative("cocob", "eps", eps)
    return chain(
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate, flip_sign=False),
        scale_by_cocob(alpha, eps),
    )
