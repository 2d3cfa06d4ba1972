"""Classification losses: cross entropies, focal, hinge and poly losses (optax.losses')."""

from __future__ import annotations

import math
from typing import Any

from anyopt import _ops
from anyopt.losses import _math

Array = Any
Axis = int | tuple[int, ...] | None


@_math.quiet
def softmax_cross_entropy(
    logits: Array, labels: Array, axis: Axis = -1, where: Array | None = None
) -> Array:
    r"""Cross entropy between ``softmax(logits)`` and the distributions ``labels``.

    .. math::
        \ell = -\sum_j y_j \log \frac{e^{x_j}}{\sum_k e^{x_k}}

    summed over ``axis`` (restricted to ``where``; a ``where`` of the batch's shape is
    expanded along ``axis``). The log-softmax subtracts the max first, so large logits stay
    finite. As in optax, a ``-inf`` logit with label 0 gives NaN (``0 \cdot \log 0``): mask it
    with ``where`` or use :func:`safe_softmax_cross_entropy`. Returns shape ``[...]``.

    Example:
        >>> import numpy as np, anyopt
        >>> logits = np.array([[1.2, -0.8, -0.5], [0.9, -1.2, 1.1]], np.float32)
        >>> labels = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32)
        >>> anyopt.losses.softmax_cross_entropy(logits, labels).round(4)
        array([0.2761, 2.9518], dtype=float32)
    """
    fn = "softmax_cross_entropy"
    _math.check_floating(fn, "logits", logits)
    _math.check_broadcast(fn, "labels", labels, "logits", logits)
    if where is not None and _ops.ndim(where) != _ops.ndim(logits):
        where = _math.expand_dims(where, axis)
    _math.check_where(fn, where, logits)
    log_probs = _math.log_softmax(logits, axis, where)
    return -_math.masked_sum(labels * log_probs, axis, where)


@_math.quiet
def safe_softmax_cross_entropy(logits: Array, labels: Array) -> Array:
    r""":func:`softmax_cross_entropy` over the last axis with :math:`0 \log 0 = 0`: a
    ``-inf`` logit whose label is 0 contributes nothing (and no NaN gradient).

    .. math::
        \ell = -\sum_{j : y_j \ne 0} y_j \log \mathrm{softmax}(x)_j
    """
    fn = "safe_softmax_cross_entropy"
    _math.check_floating(fn, "logits", logits)
    _math.check_broadcast(fn, "labels", labels, "logits", logits)
    weighted = _ops.where(labels != 0.0, labels * _math.log_softmax(logits, -1), 0.0)
    return -_ops.sum(weighted, axis=-1)


def _flatten_class_axes(logits, where, axis):
    """optax's handling of ``axis``: an int is canonicalized; a tuple of class axes is moved
    last and flattened into one (labels then index the flattened slice)."""
    ndim = _ops.ndim(logits)
    if isinstance(axis, int):
        return logits, where, _math.canonicalize_axis(axis, ndim)
    if not isinstance(axis, tuple):
        raise ValueError(
            "Keyword argument 'axis' must be of type 'int' or 'tuple[int, ...]' but actual "
            f"type is {type(axis)}."
        )
    logit_axes = tuple(_math.canonicalize_axis(a, ndim) for a in axis)
    batch_axes = tuple(a for a in range(ndim) if a not in logit_axes)
    perm = batch_axes + logit_axes
    logits = _math.transpose(logits, perm)
    logits = _ops.reshape(logits, _math.shape_of(logits)[: len(batch_axes)] + (-1,))
    if where is not None:
        where = _math.transpose(where, perm)
        where = _ops.reshape(where, _math.shape_of(where)[: len(batch_axes)] + (-1,))
    return logits, where, len(batch_axes)


@_math.quiet
def softmax_cross_entropy_with_integer_labels(
    logits: Array, labels: Array, axis: int | tuple[int, ...] = -1, where: Array | None = None
) -> Array:
    r"""Cross entropy between ``softmax(logits)`` and integer class ``labels``.

    .. math::
        \ell = \log \sum_j e^{x_j} - x_{y}

    ``labels`` has ``logits``' shape without ``axis``; with a tuple ``axis`` a label is a
    flat index into the slice over those axes. ``where`` (the batch's shape or logits')
    restricts the normalizer; fully masked rows give 0. Negative labels count from the end
    and labels out of range give NaN, as in optax. Returns shape ``[...]``.
    """
    fn = "softmax_cross_entropy_with_integer_labels"
    _math.check_floating(fn, "logits", logits)
    _math.check_integer(fn, "labels", labels)
    if where is not None and _ops.ndim(where) != _ops.ndim(logits):
        where = _math.expand_dims(where, axis)
    _math.check_where(fn, where, logits)
    logits, where, axis = _flatten_class_axes(logits, where, axis)
    shape, label_shape = _math.shape_of(logits), _math.shape_of(labels)
    batch_shape = shape[:axis] + shape[axis + 1 :]
    if len(label_shape) != len(batch_shape) or _math._broadcast(label_shape, batch_shape) is None:
        raise ValueError(
            f"{fn}: labels of shape {label_shape} do not match logits of shape "
            f"{_math.shape_of(logits)} without axis {axis} (shape {batch_shape})"
        )
    num_classes = shape[axis]
    labels = _ops.where(labels < 0, labels + num_classes, labels)
    in_range = (labels >= 0) & (labels < num_classes)
    chosen = _math.one_hot_mask(labels, num_classes, axis)
    label_logits = _ops.sum(_ops.where(chosen, logits, 0.0), axis=axis)
    label_logits = _ops.where(in_range, label_logits, math.nan)
    out = _math.logsumexp(logits, axis, where) - label_logits
    if where is not None:
        out = _ops.where(_ops.any(where, axis=axis), out, 0.0)
    return out


@_math.quiet
def sigmoid_binary_cross_entropy(logits: Array, labels: Array) -> Array:
    r"""Element-wise cross entropy of independent binary predictions.

    .. math::
        \ell = -y \log \sigma(x) - (1 - y) \log \sigma(-x)

    with :math:`\log\sigma(x) = -\log(1 + e^{-x})` computed stably. ``labels`` are 0/1 or
    probabilities, cast to ``logits``' dtype.
    """
    fn = "sigmoid_binary_cross_entropy"
    _math.check_floating(fn, "logits", logits)
    _math.check_broadcast(fn, "labels", labels, "logits", logits)
    return _sigmoid_bce(logits, _ops.astype(labels, _ops.dtype(logits)))


def _sigmoid_bce(logits, labels):
    log_p = _math.log_sigmoid(logits)
    log_not_p = _math.log_sigmoid(-logits)
    return -labels * log_p - (1.0 - labels) * log_not_p


@_math.quiet
def sigmoid_focal_loss(
    logits: Array, labels: Array, *, alpha: Array | None = None, gamma: Array = 2.0
) -> Array:
    r"""Element-wise focal loss (Lin et al, `Focal Loss for Dense Object Detection
    <https://arxiv.org/abs/1708.02002>`_, 2017).

    .. math::
        \ell = \alpha_t (1 - p_t)^\gamma \, \mathrm{BCE}(x, y), \quad
        \log(1 - p_t) = \log\left((1 - y)\, \sigma(x) + y\, \sigma(-x)\right)

    with the focal weight computed in log space (stable for any ``gamma`` and extreme
    logits) and :math:`\alpha_t = \alpha y + (1 - \alpha)(1 - y)` when ``alpha`` is given.
    """
    fn = "sigmoid_focal_loss"
    _math.check_floating(fn, "logits", logits)
    _math.check_broadcast(fn, "labels", labels, "logits", logits)
    labels = _ops.astype(labels, _ops.dtype(logits))
    ce_loss = _sigmoid_bce(logits, labels)
    log_p = _math.log_sigmoid(logits)
    log_q = _math.log_sigmoid(-logits)
    log_one_minus_p_t = _math.logaddexp_weighted(log_p, 1 - labels, log_q, labels)
    loss = ce_loss * _ops.exp(gamma * log_one_minus_p_t)
    if alpha is None:
        return loss
    return (alpha * labels + (1.0 - alpha) * (1.0 - labels)) * loss


@_math.quiet
def hinge_loss(predictor_outputs: Array, targets: Array) -> Array:
    r"""Binary hinge loss :math:`\max(0, 1 - s\,t)` for targets in :math:`\{-1, 1\}`."""
    fn = "hinge_loss"
    _math.check_broadcast(fn, "predictor_outputs", predictor_outputs, "targets", targets)
    return _ops.maximum(0, 1 - predictor_outputs * targets)


@_math.quiet
def multiclass_hinge_loss(scores: Array, labels: Array) -> Array:
    r"""Multiclass hinge loss :math:`\max_j (s_j + 1 - [j = y]) - s_y` over the last axis.

    As in optax the one-hot labels are float32, so float16/bfloat16 scores give float32.
    """
    fn = "multiclass_hinge_loss"
    num_classes = _math.shape_of(scores)[-1]
    one_hot = _math.one_hot_mask(labels, num_classes, -1)
    _math.check_broadcast(fn, "scores", scores, "one-hot labels", one_hot)
    one_hot = _ops.astype(one_hot, "float32")
    return _ops.max(scores + 1.0 - one_hot, axis=-1) - _ops.sum(scores * one_hot, axis=-1)


@_math.quiet
def poly_loss_cross_entropy(
    logits: Array,
    labels: Array,
    *,
    epsilon: Array = 2.0,
    axis: Axis = -1,
    where: Array | None = None,
) -> Array:
    r"""Poly-1 loss (Leng et al, `PolyLoss <https://arxiv.org/pdf/2204.12511.pdf>`_, 2022):
    cross entropy plus ``epsilon`` times the first polynomial term.

    .. math::
        \ell = \mathrm{CE}(x, y) + \epsilon \sum_j y_j (1 - \mathrm{softmax}(x)_j)
    """
    fn = "poly_loss_cross_entropy"
    _math.check_floating(fn, "logits", logits)
    _math.check_floating(fn, "labels", labels)
    _math.check_broadcast(fn, "labels", labels, "logits", logits)
    _math.check_where(fn, where, logits)
    p = _math.softmax(logits, axis, where)
    one_minus_pt = _math.masked_sum(labels * (1 - p), axis, where)
    cross_entropy = softmax_cross_entropy(logits, labels, axis=axis, where=where)
    return cross_entropy + epsilon * one_minus_pt
