"""Adaptive per-coordinate step sizes from running squared gradients: ``RMSprop``,
``Adagrad`` and ``AdaDelta``, as ``mlx.optimizers`` defines them (eps outside the square
root for RMSprop and Adagrad, inside it for AdaDelta)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

from anyopt import _ops
from anyopt.optimizers._base import Optimizer


def _lr(optimizer: Optimizer, gradient: Any) -> Any:
    return _ops.astype(optimizer.learning_rate, _ops.dtype(gradient))


class RMSprop(Optimizer):
    r"""RMSprop (Tieleman and Hinton, 2012): the gradient divided by the root of a running
    average ``v`` of its square.

    .. math::

        v_{t+1} &= \alpha v_t + (1 - \alpha) g_t^2 \\
        w_{t+1} &= w_t - \lambda \frac{g_t}{\sqrt{v_{t+1}} + \epsilon}

    Args:
        learning_rate: the step size :math:`\lambda`, a number or a schedule of the step.
        alpha: the smoothing constant :math:`\alpha` (>= 0). Default ``0.99``.
        eps: :math:`\epsilon` (> 0), added to the root for stability. Default ``1e-8``.
    """

    def __init__(
        self,
        learning_rate: Union[float, Callable[[Any], Any]],
        alpha: float = 0.99,
        eps: float = 1e-8,
    ):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.alpha = alpha
        self.eps = eps
        if self.alpha < 0.0:
            raise ValueError(f"RMSprop: alpha must be >= 0; got {self.alpha}")
        if self.eps <= 0.0:
            raise ValueError(f"RMSprop: eps must be > 0; got {self.eps}")

    def init_single(self, parameter: Any, state: dict) -> None:
        state["v"] = _ops.zeros_like(parameter)

    def apply_single(self, gradient: Any, parameter: Any, state: dict) -> Any:
        lr = _lr(self, gradient)
        v = self.alpha * state["v"] + (1 - self.alpha) * _ops.square(gradient)
        state["v"] = v
        return parameter - lr * gradient / (_ops.sqrt(v) + self.eps)


class Adagrad(Optimizer):
    r"""Adagrad (Duchi, Hazan and Singer, 2011): the gradient divided by the root of the
    sum ``v`` of all squared gradients so far.

    .. math::

        v_{t+1} &= v_t + g_t^2 \\
        w_{t+1} &= w_t - \lambda \frac{g_t}{\sqrt{v_{t+1}} + \epsilon}

    Args:
        learning_rate: the step size :math:`\lambda`, a number or a schedule of the step.
        eps: :math:`\epsilon` (> 0), added to the root for stability. Default ``1e-8``.
    """

    def __init__(self, learning_rate: Union[float, Callable[[Any], Any]], eps: float = 1e-8):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.eps = eps
        if self.eps <= 0.0:
            raise ValueError(f"Adagrad: eps must be > 0; got {self.eps}")

    def init_single(self, parameter: Any, state: dict) -> None:
        state["v"] = _ops.zeros_like(parameter)

    def apply_single(self, gradient: Any, parameter: Any, state: dict) -> Any:
        lr = _lr(self, gradient)
        v = state["v"] + _ops.square(gradient)
        state["v"] = v
        return parameter - lr * gradient / (_ops.sqrt(v) + self.eps)


class AdaDelta(Optimizer):
    r"""AdaDelta (Zeiler, 2012) with a learning rate: the step is the gradient scaled by
    the ratio of the running RMS of past steps ``u`` to that of the gradients ``v``.

    .. math::

        v_{t+1} &= \rho v_t + (1 - \rho) g_t^2 \\
        \Delta_t &= \frac{\sqrt{u_t + \epsilon}}{\sqrt{v_{t+1} + \epsilon}}\, g_t \\
        u_{t+1} &= \rho u_t + (1 - \rho) \Delta_t^2 \\
        w_{t+1} &= w_t - \lambda \Delta_t

    Args:
        learning_rate: the step size :math:`\lambda`, a number or a schedule of the step.
        rho: the averaging coefficient :math:`\rho` (>= 0). Default ``0.9``.
        eps: :math:`\epsilon` (> 0), inside both roots. Default ``1e-6``.
    """

    def __init__(
        self,
        learning_rate: Union[float, Callable[[Any], Any]],
        rho: float = 0.9,
        eps: float = 1e-6,
    ):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.rho = rho
        self.eps = eps
        if self.rho < 0.0:
            raise ValueError(f"AdaDelta: rho must be >= 0; got {self.rho}")
        if self.eps <= 0.0:
            raise ValueError(f"AdaDelta: eps must be > 0; got {self.eps}")

    def init_single(self, parameter: Any, state: dict) -> None:
        state["v"] = _ops.zeros_like(parameter)
        state["u"] = _ops.zeros_like(parameter)

    def apply_single(self, gradient: Any, parameter: Any, state: dict) -> Any:
        lr = _lr(self, gradient)
        rho, eps = self.rho, self.eps
        v = rho * state["v"] + (1 - rho) * _ops.square(gradient)
        d = _ops.sqrt(state["u"] + eps) / _ops.sqrt(v + eps) * gradient
        state["u"] = rho * state["u"] + (1 - rho) * _ops.square(d)
        state["v"] = v
        return parameter - lr * d
