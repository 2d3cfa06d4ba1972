r"""MADGRAD (Defazio & Jelassi, 2021): momentumized, adaptive, dual-averaged gradients.

With :math:`\lambda_k = (\eta_k + \epsilon) \sqrt{k + 1}` (``k`` counted from 0):

.. math::
    G_{k+1} = G_k + \lambda_k g_k^2, \quad s_{k+1} = s_k + \lambda_k g_k, \quad
    z_{k+1} = x_0 - s_{k+1} / (G_{k+1}^{1/3} + \epsilon),

    x_{k+1} = (1 - c) z_{k+1} + c\, x_k, \quad u_k = x_{k+1} - x_k.

As in optax (and the authors' PyTorch code), ``eps`` is also added to the learning rate.
Complex parameters raise ``ValueError`` (optax's cube root fails on them).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from anyopt import _ops, _tree, _validate, backends
from anyopt._base import NO_PARAMS_MSG, GradientTransformation, Params, ScalarOrSchedule, Updates
from anyopt._combine import chain
from anyopt.transforms._adding import add_decayed_weights


class MadgradState(NamedTuple):
    """State of MADGRAD."""

    count: Any  # shape=(), dtype=int32
    grad_sum_sq: Updates  # G_k: the lambda-weighted sum of squared gradients
    s: Updates  # s_k: the lambda-weighted sum of gradients
    x0: Params  # the initial parameters (a copy)


def _check(fn: str, learning_rate: Any, momentum: Any, eps: Any) -> None:
    _validate.learning_rate(fn, learning_rate)
    _validate.unit_interval(fn, "momentum", momentum)
    _validate.non_negative(fn, "eps", eps)


def scale_by_madgrad(
    learning_rate: ScalarOrSchedule,
    momentum: float = 0.9,
    eps: float = 1e-6,
) -> GradientTransformation:
    """MADGRAD's update ``x_{k+1} - x_k`` (the learning rate is part of the method)."""
    _check("scale_by_madgrad", learning_rate, momentum, eps)

    def init_fn(params):
        _validate.real_leaves("scale_by_madgrad", params)  # cube roots (optax fails too)
        return MadgradState(
            count=_tree.count_init(params),
            grad_sum_sq=_tree.zeros_like(params),
            s=_tree.zeros_like(params),
            x0=_tree.map(_ops.copy, params),  # a copy: in-place steps must not move x0
        )

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        count = state.count
        lr = learning_rate(count) if callable(learning_rate) else learning_rate
        lambdas: dict = {}

        def accumulate(acc, v, like):  # acc + lambda_k * v, kept in the gradient's dtype
            # lambda_k in float32 as optax computes it (float64 for float64 leaves).
            wide = backends.dtype_name(_ops.dtype(like)) == "float64"
            if wide not in lambdas:
                k1 = _ops.astype(count + 1, "float64" if wide else "float32")
                lambdas[wide] = (lr + eps) * _ops.sqrt(k1)
            return acc + _ops.astype(lambdas[wide] * v, _ops.dtype(like))

        grad_sum_sq = _tree.map(lambda a, g: accumulate(a, g * g, g), state.grad_sum_sq, updates)
        s = _tree.map(lambda a, g: accumulate(a, g, g), state.s, updates)

        def step(x0, s_k, g_sq, x):
            z = x0 - s_k / (g_sq ** (1.0 / 3.0) + eps)  # G >= 0: the power is the cube root
            return (1 - momentum) * z + momentum * x - x

        new_updates = _tree.map(step, state.x0, s, grad_sum_sq, params)
        new_state = MadgradState(
            count=_tree.safe_increment(count), grad_sum_sq=grad_sum_sq, s=s, x0=state.x0
        )
        return new_updates, new_state

    return GradientTransformation(init_fn, update_fn)


def madgrad(
    learning_rate: ScalarOrSchedule,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    eps: float = 1e-6,
) -> GradientTransformation:
    """MADGRAD with L2 weight decay added to the gradients first.

    Example:
        >>> import numpy as np, anyopt
        >>> params = {"w": np.ones(3, np.float32)}
        >>> tx = anyopt.contrib.madgrad(1e-2)
        >>> state = tx.init(params)
        >>> updates, state = tx.update({"w": np.full(3, 0.5, np.float32)}, state, params)
        >>> bool(np.all(anyopt.apply_updates(params, updates)["w"] < 1))
        True

    References:
        Defazio & Jelassi, `Adaptivity without Compromise: A Momentumized, Adaptive, Dual
        Averaged Gradient Method for Stochastic Optimization
        <https://arxiv.org/abs/2101.11075>`_, 2021.
    """
    _check("madgrad", learning_rate, momentum, eps)
    _validate.non_negative("madgrad", "weight_decay", weight_decay)
    return chain(
        add_decayed_weights(weight_decay),
        scale_by_madgrad(learning_rate=learning_rate, momentum=momentum, eps=eps),
    )
