"""``Lion``: the sign of an interpolated momentum, as ``mlx.optimizers.Lion`` defines it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

from anyopt import _ops
from anyopt.optimizers._base import Optimizer


class Lion(Optimizer):
    r"""Lion (Chen et al., 2023): every coordinate moves by the learning rate, in the
    direction of the sign of an interpolation ``c`` between the momentum ``m`` and the
    gradient; decoupled weight decay. Its steps are large: use a learning rate 3-10x
    smaller and a weight decay 3-10x larger than for AdamW.

    .. math::

        c_{t+1} &= \beta_1 m_t + (1 - \beta_1) g_t \\
        m_{t+1} &= \beta_2 m_t + (1 - \beta_2) g_t \\
        w_{t+1} &= w_t (1 - \eta \lambda) - \eta\, \text{sign}(c_{t+1})

    Args:
        learning_rate: the step size :math:`\eta`, a number or a schedule of the step.
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1). Default ``[0.9, 0.99]``.
        weight_decay: the decay :math:`\lambda` (applied when > 0). Default ``0``.
    """

    def __init__(
        self,
        learning_rate: Union[float, Callable[[Any], Any]],
        betas: list[float] = [0.9, 0.99],  # noqa: B006 (MLX's signature)
        weight_decay: float = 0.0,
    ):
        super().__init__()
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Lion: beta{i + 1} must be in [0, 1); got {beta}")
        self._maybe_schedule("learning_rate", learning_rate)
        self.betas = betas
        self.weight_decay = weight_decay

    def init_single(self, parameter: Any, state: dict) -> None:
        state["m"] = _ops.zeros_like(parameter)

    def apply_single(self, gradient: Any, parameter: Any, state: dict) -> Any:
        lr = _ops.astype(self.learning_rate, _ops.dtype(gradient))
        b1, b2 = self.betas
        m = state["m"]
        c = b1 * m + (1 - b1) * gradient
        state["m"] = b2 * m + (1 - b2) * gradient
        if self.weight_decay > 0:
            parameter = (1 - lr * self.weight_decay) * parameter
        return parameter - lr * _ops.sign(c)
