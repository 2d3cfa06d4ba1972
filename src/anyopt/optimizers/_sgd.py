"""``SGD``: stochastic gradient descent with optional momentum, dampening, Nesterov
momentum and an L2 penalty, as ``mlx.optimizers.SGD`` defines it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

from anyopt import _ops
from anyopt.optimizers._base import Optimizer


class SGD(Optimizer):
    r"""Stochastic gradient descent.

    The L2 penalty is added to the gradient; with a momentum the velocity ``v`` (in the
    state) accumulates the damped gradients, and Nesterov's variant looks one momentum step
    ahead. Without a momentum the state's ``v`` stays zero.

    .. math::

        g_t &\leftarrow g_t + \text{wd}\, w_t \\
        v_{t+1} &= \mu v_t + (1 - \tau) g_t \\
        w_{t+1} &= w_t - \lambda\, (g_t + \mu v_{t+1} \text{ if nesterov else } v_{t+1})

    Args:
        learning_rate: the step size :math:`\lambda`, a number or a schedule of the step.
        momentum: the momentum :math:`\mu` (0: plain SGD). Default ``0``.
        weight_decay: the L2 penalty added to the gradient. Default ``0``.
        dampening: :math:`\tau`, scales down the gradient added to ``v``. Default ``0``.
        nesterov: use Nesterov momentum (needs ``momentum > 0`` and no dampening).
            Default ``False``.
    """

    def __init__(
        self,
        learning_rate: Union[float, Callable[[Any], Any]],
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
    ):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                "SGD: Nesterov momentum requires a momentum > 0 and zero dampening; "
                f"got momentum={momentum}, dampening={dampening}"
            )
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.dampening = dampening
        self.nesterov = nesterov

    def init_single(self, parameter: Any, state: dict) -> None:
        state["v"] = _ops.zeros_like(parameter)

    def apply_single(self, gradient: Any, parameter: Any, state: dict) -> Any:
        lr = _ops.astype(self.learning_rate, _ops.dtype(gradient))
        if self.weight_decay != 0:
            gradient = gradient + self.weight_decay * parameter
        if self.momentum <= 0:
            return parameter - lr * gradient

        v = self.momentum * state["v"]
        v = v + ((1 - self.dampening) * gradient if self.dampening > 0 else gradient)
        state["v"] = v
        update = gradient + self.momentum * v if self.nesterov else v
        return parameter - lr * update
