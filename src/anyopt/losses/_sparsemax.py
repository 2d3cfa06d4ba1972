"""Sparsemax losses: the Fenchel-Young losses of the Gini negentropy (optax.losses')."""

from __future__ import annotations

from typing import Any

from anyopt import _autodiff, _ops, backends
from anyopt.losses import _math

Array = Any


def _sparse_plus(x):
    r""":math:`0` for :math:`x \le -1`, :math:`(x + 1)^2 / 4` on :math:`(-1, 1)`, :math:`x`
    for :math:`x \ge 1` (``jax.nn.sparse_plus``)."""
    return _ops.where(x <= -1.0, 0.0, _ops.where(x >= 1.0, x, (x + 1.0) ** 2 / 4))


@_math.quiet
def sparsemax_loss(logits: Array, labels: Array) -> Array:
    r"""Element-wise binary sparsemax loss, zero exactly when ``sparse_sigmoid(logits)``
    equals ``labels``.

    .. math::
        \ell = \mathrm{sparse\_plus}(-x) \text{ if } y \ne 0 \text{ else }
        \mathrm{sparse\_plus}(x), \quad
        \mathrm{sparse\_plus}(z) = \begin{cases} 0 & z \le -1 \\ (z + 1)^2/4 & |z| < 1 \\
        z & z \ge 1 \end{cases}

    ``labels`` are 0/1 (any nonzero value counts as 1, as in optax) and broadcast with
    ``logits``. Reference: Blondel et al, `Learning with Fenchel-Young Losses
    <https://arxiv.org/abs/1901.02324>`_, JMLR 2020, section 4.4.
    """
    shape, label_shape = _math.shape_of(logits), _math.shape_of(labels)
    if _math._broadcast(shape, label_shape) is None:  # a ValueError, as jnp.where's
        raise ValueError(
            f"sparsemax_loss: labels of shape {label_shape} and logits of shape {shape} do not "
            "broadcast together"
        )
    return _sparse_plus(_ops.where(labels != 0, -logits, logits))


def _sparsemax(values):
    r"""Euclidean projection of each slice along the last axis onto
    :math:`\{p \ge 0, \sum_j p_j = 1\}` (sparsemax).

    With :math:`u` the slice sorted in decreasing order, :math:`c_j = \sum_{i \le j} u_i`
    and :math:`k = \#\{j : 1/j + u_j - c_j / j > 0\}`:
    :math:`p = \max(1/k + v - c_k / k, 0)`. Differentiating through the sort gives
    :math:`\partial p = s \odot \partial v - s\, (s^\top \partial v) / |s|` with :math:`s`
    the support, as optax's custom JVP does.
    """
    n = _math.shape_of(values)[-1]
    dtype = _ops.dtype(values)
    # As optax: the reciprocals 1/j and 1/k in float32 (float64 for float64 values), so
    # that float16/bfloat16 scores give a float32 projection.
    wide = "float64" if backends.dtype_name(dtype) == "float64" else "float32"
    u = -_ops.sort(-values, -1)
    cumsum_u = _ops.cumsum(u, -1)
    positions = _ops.arange(n, None, values) + 1
    cond = 1 / _ops.astype(positions, wide) + (u - cumsum_u / _ops.astype(positions, dtype)) > 0
    k = _autodiff.stop_gradient(_ops.sum(cond, axis=-1, keepdims=True))  # an index
    kth_cumsum = _ops.sum(_ops.where(positions == k, cumsum_u, 0.0), axis=-1, keepdims=True)
    z = 1 / _ops.astype(k, wide) + (values - kth_cumsum / _ops.astype(k, dtype))
    return _ops.where(z > 0, z, 0.0)  # gradient 0 off the support, as optax's JVP


@_math.quiet
def multiclass_sparsemax_loss(scores: Array, labels: Array) -> Array:
    r"""Multiclass sparsemax loss over the last axis, for integer ``labels``.

    With :math:`p = \mathrm{sparsemax}(s)`, the projection of the scores onto the simplex:

    .. math::
        \ell = \sum_j p_j (s_j - s_y) + \tfrac12 \left(1 - \|p\|^2\right)

    (the Fenchel-Young loss of the Gini negentropy; its gradient is :math:`p - e_y`).
    ``scores`` has shape ``[..., num_classes]`` and ``labels`` the shape ``[...]``; optax
    accepts exactly one batch axis (it maps over axis 0), any number works here. Labels
    index as JAX does: negative ones count from the end, the rest clamp to the valid range.
    Reference: Martins and Astudillo, `From Softmax to Sparsemax
    <https://arxiv.org/abs/1602.02068>`_, 2016.
    """
    fn = "multiclass_sparsemax_loss"
    shape, label_shape = _math.shape_of(scores), _math.shape_of(labels)
    if len(shape) == 0:
        raise ValueError(f"{fn}: scores must have a class axis (rank >= 1); got shape ()")
    _math.check_integer(fn, "labels", labels)
    if label_shape != shape[:-1]:
        raise ValueError(
            f"{fn}: labels must have the shape of scores without its last (class) axis, "
            f"{shape[:-1]}; got labels of shape {label_shape} for scores of shape {shape}"
        )
    num_classes = shape[-1]
    labels = _ops.where(labels < 0, labels + num_classes, labels)
    labels = _ops.clip(labels, 0, num_classes - 1)
    chosen = _math.one_hot_mask(labels, num_classes, -1)
    label_scores = _ops.sum(_ops.where(chosen, scores, 0.0), axis=-1, keepdims=True)
    proba = _sparsemax(scores)
    shifted = _ops.where(chosen, 0.0, scores - label_scores)
    linear = _ops.sum(proba * _ops.where(proba != 0, shifted, 0.0), axis=-1)
    return linear + 0.5 * (1.0 - _ops.sum(proba * proba, axis=-1))
