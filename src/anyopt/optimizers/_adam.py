"""``Adam``, ``AdamW`` and ``Adamax``, as ``mlx.optimizers`` defines them: no bias
correction unless asked for (``bias_correction=True``), eps outside the square root, and
AdamW's decay ``w * (1 - lr * wd)`` applied before the Adam step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

from anyopt import _ops
from anyopt.optimizers._base import Optimizer


def _lr(optimizer: Optimizer, gradient: Any) -> Any:
    return _ops.astype(optimizer.learning_rate, _ops.dtype(gradient))


def _power(beta: float, step: Any) -> Any:
    """``beta ** step`` in float32, as MLX computes a float to the power of its uint64 step."""
    return beta ** _ops.astype(step, "float32")


class Adam(Optimizer):
    r"""Adam (Kingma and Ba, 2015): running averages of the gradient ``m`` and of its
    square ``v``; MLX's default leaves out the bias correction.

    .. math::

        m_{t+1} &= \beta_1 m_t + (1 - \beta_1) g_t \\
        v_{t+1} &= \beta_2 v_t + (1 - \beta_2) g_t^2 \\
        w_{t+1} &= w_t - \lambda \frac{m_{t+1}}{\sqrt{v_{t+1}} + \epsilon}

    With ``bias_correction``, :math:`m_{t+1}` is divided by :math:`1 - \beta_1^{t+1}` and
    :math:`\sqrt{v_{t+1}}` by :math:`\sqrt{1 - \beta_2^{t+1}}` (the count in float32).

    Args:
        learning_rate: the step size :math:`\lambda`, a number or a schedule of the step.
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1). Default ``[0.9, 0.999]``.
        eps: :math:`\epsilon` (>= 0), added to the root. Default ``1e-8``.
        bias_correction: correct the averages' bias towards zero. Default ``False``.
    """

    def __init__(
        self,
        learning_rate: Union[float, Callable[[Any], Any]],
        betas: list[float] = [0.9, 0.999],  # noqa: B006 (MLX's signature)
        eps: float = 1e-8,
        bias_correction: bool = False,
    ):
        super().__init__()
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Adam: beta{i + 1} must be in [0, 1); got {beta}")
        if not 0.0 <= eps:
            raise ValueError(f"Adam: eps must be >= 0; got {eps}")
        self._maybe_schedule("learning_rate", learning_rate)
        self.betas = betas
        self.eps = eps
        self.bias_correction = bias_correction

    def init_single(self, parameter: Any, state: dict) -> None:
        state["m"] = _ops.zeros_like(parameter)
        state["v"] = _ops.zeros_like(parameter)

    def apply_single(self, gradient: Any, parameter: Any, state: dict) -> Any:
        lr = _lr(self, gradient)
        b1, b2 = self.betas
        m = b1 * state["m"] + (1 - b1) * gradient
        v = b2 * state["v"] + (1 - b2) * _ops.square(gradient)
        state["m"], state["v"] = m, v
        if not self.bias_correction:
            return parameter - lr * m / (_ops.sqrt(v) + self.eps)
        dtype = _ops.dtype(gradient)
        c1 = _ops.astype(lr / (1 - _power(b1, self.step)), dtype)
        c2 = _ops.astype(1 / _ops.sqrt(1 - _power(b2, self.step)), dtype)
        return parameter - c1 * m / (_ops.sqrt(v) * c2 + self.eps)


class AdamW(Adam):
    r"""AdamW (Loshchilov and Hutter, 2019): Adam with decoupled weight decay, applied to
    the parameter before the Adam step.

    .. math::

        w_t' &= w_t (1 - \lambda\, \text{wd}) \\
        w_{t+1} &= w_t' - \lambda \frac{m_{t+1}}{\sqrt{v_{t+1}} + \epsilon}

    Args:
        learning_rate: the step size :math:`\lambda`, a number or a schedule of the step.
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1). Default ``[0.9, 0.999]``.
        eps: :math:`\epsilon` (>= 0), added to the root. Default ``1e-8``.
        weight_decay: the decay :math:`\text{wd}`. Default ``0.01``.
        bias_correction: correct the averages' bias towards zero. Default ``False``.
    """

    def __init__(
        self,
        learning_rate: Union[float, Callable[[Any], Any]],
        betas: list[float] = [0.9, 0.999],  # noqa: B006 (MLX's signature)
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        bias_correction: bool = False,
    ):
        super().__init__(
            learning_rate=learning_rate, betas=betas, eps=eps, bias_correction=bias_correction
        )
        self.weight_decay = weight_decay

    def apply_single(self, gradient: Any, parameter: Any, state: dict) -> Any:
        lr = _lr(self, gradient)
        return super().apply_single(gradient, parameter * (1 - lr * self.weight_decay), state)


class Adamax(Adam):
    r"""Adamax (Kingma and Ba, 2015): Adam with the infinity norm in place of the root of
    the squared-gradient average; no bias correction.

    .. math::

        m_{t+1} &= \beta_1 m_t + (1 - \beta_1) g_t \\
        v_{t+1} &= \max(\beta_2 v_t, |g_t|) \\
        w_{t+1} &= w_t - \lambda \frac{m_{t+1}}{v_{t+1} + \epsilon}

    Args:
        learning_rate: the step size :math:`\lambda`, a number or a schedule of the step.
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1). Default ``[0.9, 0.999]``.
        eps: :math:`\epsilon` (>= 0), added to the denominator. Default ``1e-8``.
    """

    def __init__(
        self,
        learning_rate: Union[float, Callable[[Any], Any]],
        betas: list[float] = [0.9, 0.999],  # noqa: B006 (MLX's signature)
        eps: float = 1e-8,
    ):
        super().__init__(learning_rate, betas, eps)

    def apply_single(self, gradient: Any, parameter: Any, state: dict) -> Any:
        lr = _lr(self, gradient)
        b1, b2 = self.betas
        m = b1 * state["m"] + (1 - b1) * gradient
        v = _ops.maximum(b2 * state["v"], _ops.abs(gradient))
        state["m"], state["v"] = m, v
        return parameter - lr * m / (v + self.eps)
