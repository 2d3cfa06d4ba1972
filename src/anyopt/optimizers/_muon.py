"""``Muon``: momentum orthogonalised by a Newton-Schulz iteration, as
``mlx.optimizers.Muon`` defines it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

from anyopt import _ops
from anyopt.optimizers._base import Optimizer

# The quintic Newton-Schulz coefficients (Keller Jordan's), tuned to push every singular
# value into roughly [0.7, 1.2] within a few iterations.
_NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def newton_schulz(x: Any, steps: int) -> Any:
    """An approximation of the orthogonal factor ``U V^T`` of the matrix ``x = U S V^T``:
    ``x`` scaled to a Frobenius norm of at most one, then ``steps`` quintic iterations
    ``X <- a X + (b A + c A^2) X`` with ``A = X X^T``, on the wide orientation of ``x``."""
    a, b, c = _NS_COEFFICIENTS
    rows, cols = _ops.shape(x)
    tall = rows > cols
    if tall:
        x = _ops.swapaxes(x, -1, -2)
    x = x / (_ops.sqrt(_ops.sum(_ops.square(x), keepdims=True)) + 1e-7)
    for _ in range(steps):
        gram = _ops.matmul(x, _ops.swapaxes(x, -1, -2))
        poly = b * gram + c * _ops.matmul(gram, gram)
        x = a * x + _ops.matmul(poly, x)
    return _ops.swapaxes(x, -1, -2) if tall else x


class Muon(Optimizer):
    r"""Muon (MomentUm Orthogonalized by Newton-Schulz; Jordan et al., 2024): SGD momentum
    whose update, for parameters with two or more axes, is replaced by an approximately
    orthogonal matrix with the same singular vectors (parameters with more than two axes
    are flattened to ``(shape[0], -1)`` first). 0-d and 1-d parameters, and usually the
    embedding and output layers, are better served by another optimizer such as AdamW.

    .. math::

        g_t &\leftarrow g_t + \text{wd}\, w_t \\
        v_{t+1} &= \mu v_t + (1 - \mu) g_t \\
        u_t &= (1 - \mu) g_t + \mu v_{t+1} \text{ if nesterov else } v_{t+1} \\
        w_{t+1} &= w_t - \lambda \sqrt{\max(1, r / c)}\; \text{NS}(u_t)

    where :math:`r \times c` are the last two axes of the parameter.

    Args:
        learning_rate: the step size :math:`\lambda`, a number or a schedule of the step.
        momentum: the momentum :math:`\mu`. Default ``0.95``.
        weight_decay: the L2 penalty added to the gradient. Default ``0.01``.
        nesterov: use Nesterov momentum. Default ``True``.
        ns_steps: the number of Newton-Schulz iterations. Default ``5``.
    """

    def __init__(
        self,
        learning_rate: Union[float, Callable[[Any], Any]],
        momentum: float = 0.95,
        weight_decay: float = 0.01,
        nesterov: bool = True,
        ns_steps: int = 5,
    ):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.nesterov = nesterov
        self.ns_steps = ns_steps

    def init_single(self, parameter: Any, state: dict) -> None:
        state["v"] = _ops.zeros_like(parameter)

    def apply_single(self, gradient: Any, parameter: Any, state: dict) -> Any:
        mu = self.momentum
        if self.weight_decay != 0:
            gradient = gradient + self.weight_decay * parameter
        v = mu * state["v"] + (1 - mu) * gradient
        state["v"] = v
        update = gradient * (1 - mu) + v * mu if self.nesterov else v

        lr = _ops.astype(self.learning_rate, _ops.dtype(gradient))
        shape = _ops.shape(update)
        if len(shape) >= 2:
            flat = _ops.reshape(update, (shape[0], -1)) if len(shape) > 2 else update
            update = _ops.reshape(newton_schulz(flat, self.ns_steps), shape)
            lr = lr * max(1, shape[-2] / shape[-1]) ** 0.5
        return parameter - lr * update
