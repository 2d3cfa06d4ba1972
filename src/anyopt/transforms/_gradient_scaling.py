"""``scale_gradient``: identity on the forward pass, scaled gradient on the backward pass."""

from __future__ import annotations

import numbers
from typing import Any

from anyopt import _ops, _tree


def scale_gradient(inputs: Any, scale: Any) -> Any:
    """``inputs`` unchanged, except that gradients flowing back through them are
    multiplied by ``scale`` (0 stops them).

    Uses the framework's autodiff (``jax.custom_vjp``, a ``torch.autograd.Function``,
    ``mx.custom_function``); NumPy has no autodiff, so there it returns ``inputs``.
    """
    if isinstance(scale, numbers.Real) and scale == 1.0:
        return inputs
    return _tree.map(lambda x: _ops.scale_gradient(x, scale), inputs)
