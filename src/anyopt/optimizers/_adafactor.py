"""``Adafactor``: factored second moments and relative step sizes, as
``mlx.optimizers.Adafactor`` defines them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional, Union

from anyopt import _ops
from anyopt.optimizers._base import Optimizer


def _rms(x: Any) -> Any:
    return _ops.sqrt(_ops.mean(_ops.square(x)))


def _rsqrt(x: Any) -> Any:
    return 1 / _ops.sqrt(x)


class Adafactor(Optimizer):
    r"""Adafactor (Shazeer and Stern, 2018): for parameters with two or more axes, the
    running average of the squared gradient is kept as its row and column means over the
    last two axes; the update is clipped in RMS, and the step size can be relative to the
    parameter's RMS and to the step count.

    With the step :math:`t` (counted from 1), :math:`\hat\beta_2 = 1 - t^{c}` (``c`` the
    ``decay_rate``), :math:`\rho_t = \min(10^{-6} t \text{ if warmup else } 10^{-2},
    1/\sqrt{t})` (or the learning rate when ``relative_step`` is off) and
    :math:`\alpha_t = \max(\epsilon_2, \text{RMS}(w_t))\, \rho_t` (no factor without
    ``scale_parameter``):

    .. math::

        R_t &= \hat\beta_2 R_{t-1} + (1 - \hat\beta_2)\, \text{mean}_{-1}(g_t^2 + \epsilon_1) \\
        C_t &= \hat\beta_2 C_{t-1} + (1 - \hat\beta_2)\, \text{mean}_{-2}(g_t^2 + \epsilon_1) \\
        u_t &= g_t / \sqrt{R_t C_t / \text{mean}_{-1}(R_t)}
        \quad (\text{unfactored: } g_t / \sqrt{V_t}) \\
        u_t &\leftarrow \alpha_t\, u_t / \max(1, \text{RMS}(u_t) / d) \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) u_t \quad (\text{with } \beta_1) \\
        w_{t+1} &= w_t - \lambda\, \alpha_t w_t - (m_t \text{ or } u_t)

    Args:
        learning_rate: the step size when ``relative_step`` is off (a number or a
            schedule). Default ``None``.
        eps: :math:`(\epsilon_1, \epsilon_2)`: added to the squared gradient, and the
            least parameter scale. Default ``(1e-30, 1e-3)``.
        clip_threshold: :math:`d`, the largest RMS of the unscaled update. Default ``1``.
        decay_rate: :math:`c`, the exponent of the second-moment decay. Default ``-0.8``.
        beta_1: keep a first moment with this coefficient. Default ``None`` (none).
        weight_decay: :math:`\lambda`, scaled by :math:`\alpha_t`. Default ``0``.
        scale_parameter: scale the step by the parameter's RMS. Default ``True``.
        relative_step: ignore ``learning_rate`` and use :math:`\rho_t`. Default ``True``.
        warmup_init: grow the relative step as :math:`10^{-6} t`. Default ``False``.
    """

    def __init__(
        self,
        learning_rate: Union[float, Callable[[Any], Any], None] = None,
        eps: tuple[float, float] = (1e-30, 1e-3),
        clip_threshold: float = 1.0,
        decay_rate: float = -0.8,
        beta_1: Optional[float] = None,
        weight_decay: float = 0.0,
        scale_parameter: bool = True,
        relative_step: bool = True,
        warmup_init: bool = False,
    ):
        super().__init__()
        if learning_rate is not None:
            self._maybe_schedule("learning_rate", learning_rate)
        self.eps = eps
        self.clip_threshold = clip_threshold
        self.decay_rate = decay_rate
        self.beta_1 = beta_1
        self.weight_decay = weight_decay
        self.scale_parameter = scale_parameter
        self.relative_step = relative_step
        self.warmup_init = warmup_init

    def init_single(self, parameter: Any, state: dict) -> None:
        shape, dtype = _ops.shape(parameter), _ops.dtype(parameter)
        if len(shape) >= 2:
            state["exp_avg_sq_row"] = _ops.zeros(shape[:-1], dtype, parameter)
            state["exp_avg_sq_col"] = _ops.zeros(shape[:-2] + shape[-1:], dtype, parameter)
        else:
            state["exp_avg_sq"] = _ops.zeros_like(parameter)
        if self.beta_1 is not None:
            state["exp_avg"] = _ops.zeros_like(parameter)

    def _step_size(self, step: Any, parameter_rms: Any) -> Any:
        """:math:`\\alpha_t`, in the parameter's dtype."""
        if self.relative_step:
            least = 1e-6 * step if self.warmup_init else 1e-2
            size = _ops.minimum(least, _rsqrt(step))
        else:
            size = self.learning_rate
        size = _ops.astype(size, _ops.dtype(parameter_rms))
        if self.scale_parameter:
            return _ops.maximum(self.eps[1], parameter_rms) * size
        return 1.0 * size

    def apply_single(self, gradient: Any, parameter: Any, state: dict) -> Any:
        step = _ops.astype(self.step, "float32")  # MLX promotes its uint64 step to float32
        parameter_rms = _rms(parameter)
        dtype = _ops.dtype(parameter_rms)
        alpha = self._step_size(step, parameter_rms)
        beta_2 = 1.0 - _ops.astype(step**self.decay_rate, dtype)
        update = _ops.square(gradient) + self.eps[0]

        if _ops.ndim(gradient) >= 2:
            row = beta_2 * state["exp_avg_sq_row"] + (1 - beta_2) * _ops.mean(update, axis=-1)
            col = beta_2 * state["exp_avg_sq_col"] + (1 - beta_2) * _ops.mean(update, axis=-2)
            state["exp_avg_sq_row"], state["exp_avg_sq_col"] = row, col
            r = _rsqrt(row / _ops.mean(row, axis=-1, keepdims=True))
            c = _rsqrt(col)
            update = _ops.expand_dims(r, -1) * _ops.expand_dims(c, -2) * gradient
        else:
            v = beta_2 * state["exp_avg_sq"] + (1 - beta_2) * update
            state["exp_avg_sq"] = v
            update = _rsqrt(v) * gradient

        update = update / _ops.maximum(1.0, _rms(update) / self.clip_threshold)
        update = alpha * update
        if self.beta_1 is not None:
            update = self.beta_1 * state["exp_avg"] + (1 - self.beta_1) * update
            state["exp_avg"] = update
        if self.weight_decay != 0:
            parameter = parameter + parameter * (-self.weight_decay * alpha)
        return parameter - update
