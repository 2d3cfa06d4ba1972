r"""Unit-wise norms and Adaptive Gradient Clipping (Brock et al., 2021).

A *unit* is one output slice of a weight: for a ``(fan_in, fan_out)`` matrix, a column.
AGC rescales every unit of the update whose norm exceeds ``clipping`` times its
parameter's unit norm:

.. math::
    g_i \leftarrow
    \begin{cases} g_i & \|g_i\| < \lambda \max(\|w_i\|, \epsilon) \\
    g_i \, \lambda \max(\|w_i\|, \epsilon) / \|g_i\| & \text{otherwise.} \end{cases}
"""

from __future__ import annotations

from typing import Any, Optional, Union

from anyopt import _ops, _tree, _validate
from anyopt._base import NO_PARAMS_MSG, EmptyState, GradientTransformation, init_empty_state
from anyopt.transforms._norms import abs_sq

# optax's name for AGC's (empty) state.
AdaptiveGradClipState = EmptyState

# Reduction axes by rank when ``axis`` is None: linear (in, out) and multi-head
# (in, heads, out) weights reduce over the inputs, conv kernels over all but outputs.
_DEFAULT_AXES = {2: (0,), 3: (0,), 4: (0, 1, 2), 5: (0, 1, 2, 3)}


def unitwise_norm(x: Any, axis: Optional[Union[int, tuple[int, ...]]] = None) -> Any:
    """The L2 norm of each unit of ``x``, broadcast back to ``x``'s shape.

    ``axis`` names the reduction axes; when None they follow from the rank: the
    whole array for scalars and (squeezed) vectors, axis 0 for rank 2 and 3,
    axes (0, 1, 2) for rank 4 and (0, 1, 2, 3) for rank 5.
    """
    shape = _ops.shape(x)
    if axis is not None:
        sq = _ops.sum(abs_sq(x), axis=axis, keepdims=True)
    elif sum(1 for d in shape if d != 1) <= 1:
        sq = _ops.sum(abs_sq(x), keepdims=True)
    elif len(shape) in _DEFAULT_AXES:
        sq = _ops.sum(abs_sq(x), axis=_DEFAULT_AXES[len(shape)], keepdims=True)
    else:
        raise ValueError(
            f"unitwise_norm: expected a parameter of rank 1 to 5, got shape {shape}; "
            "pass axis to name the reduction axes for other shapes"
        )
    return _ops.broadcast_to(_ops.sqrt(sq), shape)


def unitwise_clip(g_norm: Any, max_norm: Any, grad: Any, div_eps: Any = 1e-6) -> Any:
    """``grad`` where ``g_norm < max_norm``, else ``grad`` rescaled to norm ``max_norm``."""
    for name, other in (("max_norm", max_norm), ("grad", grad)):
        if _ops.shape(other) != _ops.shape(g_norm):
            raise ValueError(
                f"unitwise_clip: g_norm and {name} must have the same shape; got "
                f"{_ops.shape(g_norm)} and {_ops.shape(other)}"
            )
    clipped = grad * (max_norm / _ops.maximum(g_norm, div_eps))
    return _ops.where(g_norm < max_norm, grad, clipped)


def adaptive_grad_clip(
    clipping: Any,
    eps: Any = 1e-3,
    axis: Optional[Union[int, tuple[int, ...]]] = None,
) -> GradientTransformation:
    """Clips each unit of the updates to ``clipping`` times its parameter's unit norm.

    ``eps`` floors the parameter norm, so zero-initialised weights still move; ``axis``
    overrides the rank-based unit definition of ``unitwise_norm``.
    """
    _validate.non_negative("adaptive_grad_clip", "clipping", clipping)
    _validate.non_negative("adaptive_grad_clip", "eps", eps)

    def clip_leaf(g, p):
        g_norm = unitwise_norm(g, axis=axis)
        max_norm = _ops.like(clipping, p) * _ops.maximum(unitwise_norm(p, axis=axis), eps)
        return unitwise_clip(g_norm, max_norm, g)

    def update_fn(updates, state, params):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        return _tree.map(clip_leaf, updates, params), state

    return GradientTransformation(init_empty_state, update_fn)
