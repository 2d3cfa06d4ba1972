"""Perceptron losses, binary and multiclass (optax.losses')."""

from __future__ import annotations

from typing import Any

from anyopt import _ops
from anyopt.losses import _math

Array = Any


def relu(x):
    r""":math:`\max(x, 0)` whose derivative at 0 is 1/2 on every framework, as
    ``jnp.maximum(x, 0)``'s (MLX gives 1 there, and a zero score is a common tie); NaN
    stays NaN."""
    return _ops.where(x < 0, 0.0, _ops.where(x == 0, 0.5 * x, x))


@_math.quiet
def perceptron_loss(predictor_outputs: Array, targets: Array) -> Array:
    r"""Element-wise binary perceptron loss for targets in :math:`\{-1, 1\}`.

    .. math::
        \ell = \max(0, -s\,t)

    ``predictor_outputs`` (scores :math:`s`) and ``targets`` must have the same shape.
    Reference: `Perceptron <https://en.wikipedia.org/wiki/Perceptron>`_, Wikipedia.

    Example:
        >>> import numpy as np, anyopt
        >>> anyopt.losses.perceptron_loss(np.array([0.5, -2.0]), np.array([-1.0, -1.0]))
        array([0.5, 0. ])
    """
    _math.check_same_shape(
        "perceptron_loss", "predictor_outputs", predictor_outputs, "targets", targets
    )
    return relu(-predictor_outputs * targets)


@_math.quiet
def multiclass_perceptron_loss(scores: Array, labels: Array) -> Array:
    r"""Multiclass perceptron loss over the last axis, for integer ``labels``.

    .. math::
        \ell = \max_j s_j - s_y

    ``scores`` has shape ``[..., num_classes]`` and ``labels`` ``[...]``. As in optax the
    labels go through a float32 one-hot encoding: a label outside ``0 .. num_classes - 1``
    selects nothing (:math:`s_y = 0`), and float16/bfloat16 scores give float32. Reference:
    Collins, `Discriminative training methods for Hidden Markov Models
    <https://aclanthology.org/W02-1001/>`_, EMNLP 2002.
    """
    fn = "multiclass_perceptron_loss"
    if _ops.ndim(scores) == 0:
        raise ValueError(f"{fn}: scores must have a class axis (rank >= 1); got shape ()")
    shape, label_shape = _math.shape_of(scores), _math.shape_of(labels)
    if _math._broadcast(shape[:-1], label_shape) is None:
        raise ValueError(
            f"{fn}: labels of shape {label_shape} do not broadcast with scores of shape {shape} "
            f"without its last (class) axis, {shape[:-1]}"
        )
    one_hot = _math.one_hot_mask(labels, shape[-1], -1)
    one_hot = _ops.astype(one_hot, "float32")
    return _ops.max(scores, axis=-1) - _ops.sum(scores * one_hot, axis=-1)
