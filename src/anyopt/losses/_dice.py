"""Segmentation losses: soft Dice / Tversky, binary and generalized Dice (optax.losses')."""

from __future__ import annotations

from typing import Any

from anyopt import _ops, backends
from anyopt.losses import _math

Array = Any
_REDUCTIONS = ("mean", "sum", "none")


def _sigmoid(x):
    r""":math:`1 / (1 + e^{-x})`, as :math:`1/(1 + e^{-|x|})` or :math:`e^{-|x|}/(1 +
    e^{-|x|})` by sign, so that nothing overflows (nor its gradient)."""
    nonneg = x >= 0
    e = _ops.exp(_ops.where(nonneg, -x, x))
    return _ops.where(nonneg, 1.0, e) / (1.0 + e)


def _sum_over(x, axis):
    """``jnp.sum(x, axis)``; an empty tuple of axes sums over nothing."""
    if isinstance(axis, list):
        axis = tuple(axis)
    return x if axis == () else _ops.sum(x, axis=axis)


def _check_probabilities(fn: str, flag: str, predictions) -> None:
    """``jnp.allclose(predictions.sum(-1), 1, rtol=1e-5)``, or a ``ValueError`` (a
    data-dependent check: under ``jax.jit`` it raises JAX's concretization error)."""
    sums = _ops.sum(predictions, axis=-1)
    close = _ops.abs(sums - 1.0) <= 1e-8 + 1e-5
    if not bool(_ops.all(close)):
        low, high = _ops.to_float(_ops.min(sums)), _ops.to_float(_ops.max(sums))
        raise ValueError(
            f"{fn}: with {flag}=False, predictions must be probability distributions that sum "
            f"to 1 along the last (class) axis; got sums in [{low:.6f}, {high:.6f}]"
        )


def _dice(
    fn,
    predictions,
    targets,
    *,
    normalize,
    flag,
    class_weights=None,
    smooth=1.0,
    alpha=0.5,
    beta=0.5,
    reduction="mean",
    ignore_background=False,
    axis=None,
):
    """:func:`dice_loss`; ``fn`` and ``flag`` (the name of ``normalize``) for messages."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be one of {_REDUCTIONS}; got {reduction!r}")
    if _ops.ndim(predictions) == _ops.ndim(targets) - 1:
        predictions = _ops.expand_dims(predictions, -1)
    if _ops.ndim(targets) == _ops.ndim(predictions) - 1:
        targets = _ops.expand_dims(targets, -1)
    _math.check_same_shape(fn, "predictions", predictions, "targets", targets)
    if _ops.ndim(predictions) == 0:
        raise ValueError(f"{fn}: predictions must have a class axis (rank >= 1); got shape ()")
    num_classes = _math.shape_of(predictions)[-1]
    if not normalize:
        _check_probabilities(fn, flag, predictions)
        probs = predictions
    elif num_classes == 1:
        probs = _sigmoid(predictions)
    else:
        probs = _math.softmax(predictions, -1)

    if axis is None:  # every axis but the first (batch) and the last (classes)
        axis = tuple(range(1, _ops.ndim(probs) - 1))
    intersection = _sum_over(probs * targets, axis)
    pred_sum = _sum_over(probs, axis)
    target_sum = _sum_over(targets, axis)
    false_pos, false_neg = pred_sum - intersection, target_sum - intersection
    denominator = intersection + alpha * false_pos + beta * false_neg + smooth
    loss = 1.0 - (intersection + smooth) / denominator

    if class_weights is not None:
        if isinstance(class_weights, (list, tuple)):
            class_weights = backends.of(loss).asarray(class_weights, _ops.dtype(loss), like=loss)
        if _ops.ndim(class_weights) != 1:
            raise ValueError(
                f"{fn}: class_weights must have rank 1 (one weight per class); got shape "
                f"{_math.shape_of(class_weights)}"
            )
        _math.check_broadcast(fn, "per-class losses", loss, "class_weights", class_weights)
        loss = loss * class_weights
    if ignore_background and num_classes > 1:
        loss = loss[..., 1:]
    if reduction == "mean":
        return _ops.mean(loss, axis=-1)
    if reduction == "sum":
        return _ops.sum(loss, axis=-1)
    return loss


@_math.quiet
def dice_loss(
    predictions: Array,
    targets: Array,
    *,
    class_weights: Array | None = None,
    smooth: Array = 1.0,
    alpha: Array = 0.5,
    beta: Array = 0.5,
    apply_softmax: bool = True,
    reduction: str = "mean",
    ignore_background: bool = False,
    axis: int | tuple[int, ...] | None = None,
) -> Array:
    r"""Soft Dice loss (Tversky loss for :math:`\alpha \ne \beta`), per class then reduced.

    With :math:`p` the probabilities (softmax of ``predictions`` over the last axis; sigmoid
    when that axis has size 1; ``predictions`` as given with ``apply_softmax=False``) and
    :math:`t` the one-hot ``targets``, summing over ``axis`` (default: every axis but the
    first and the last):

    .. math::
        I_c = \sum_i p_{ic} t_{ic}, \quad
        \ell_c = 1 - \frac{I_c + s}{I_c + \alpha (P_c - I_c) + \beta (T_c - I_c) + s}

    with :math:`P_c = \sum_i p_{ic}`, :math:`T_c = \sum_i t_{ic}`, :math:`s` = ``smooth``.
    :math:`\ell_c` is multiplied by ``class_weights``, class 0 dropped with
    ``ignore_background`` and the classes reduced by ``reduction`` ('mean', 'sum' or
    'none'). Inputs ``[...]`` and ``[..., 1]`` pair up. With ``apply_softmax=False`` the
    predictions must sum to 1 over the last axis (a ``ValueError`` otherwise; a
    data-dependent check that cannot run under ``jax.jit``). Reference: Milletari et al,
    `V-Net <https://arxiv.org/abs/1606.04797>`_, 2016.
    """
    return _dice(
        "dice_loss",
        predictions,
        targets,
        normalize=apply_softmax,
        flag="apply_softmax",
        class_weights=class_weights,
        smooth=smooth,
        alpha=alpha,
        beta=beta,
        reduction=reduction,
        ignore_background=ignore_background,
        axis=axis,
    )


@_math.quiet
def binary_dice_loss(
    predictions: Array, targets: Array, *, smooth: Array = 1.0, apply_sigmoid: bool = True
) -> Array:
    r""":func:`dice_loss` of binary ``predictions`` (logits; probabilities with
    ``apply_sigmoid=False``) against 0/1 ``targets``, shapes ``[...]`` or ``[..., 1]``:

    .. math::
        \ell = 1 - \frac{\sum_i \sigma(x_i) t_i + s}
        {\tfrac12 \sum_i \sigma(x_i) + \tfrac12 \sum_i t_i + s}

    summed over every axis but the first and the last. As in optax, inputs of one shape
    whose last axis is not 1 get a class axis appended, and ``apply_sigmoid=False`` checks
    that the (single-class) predictions sum to 1, so it accepts only predictions of 1.
    Reference: Milletari et al, `V-Net <https://arxiv.org/abs/1606.04797>`_, 2016.
    """
    fn = "binary_dice_loss"
    same_rank = _ops.ndim(predictions) == _ops.ndim(targets)
    if same_rank and _math.shape_of(predictions)[-1:] != (1,):
        predictions = _ops.expand_dims(predictions, -1)
        targets = _ops.expand_dims(targets, -1)
    return _dice(
        fn, predictions, targets, normalize=apply_sigmoid, flag="apply_sigmoid", smooth=smooth
    )


@_math.quiet
def multiclass_generalized_dice_loss(
    predictions: Array,
    targets: Array,
    *,
    smooth: Array = 1.0,
    apply_softmax: bool = True,
    ignore_background: bool = False,
) -> Array:
    r"""Generalized Dice loss: :func:`dice_loss` weighted by inverse squared class
    frequencies, averaged over batch and classes into a scalar.

    .. math::
        f_c = \sum_{i} t_{ic}, \quad
        w_c = C \frac{1 / (f_c^2 + 10^{-7})}{\sum_k 1 / (f_k^2 + 10^{-7})}, \quad
        \ell = \operatorname{mean}_{b, c}\, w_c \ell_{bc}

    with :math:`f_c` summed over every axis but the last, :math:`C` the number of classes
    and :math:`\ell_{bc}` :func:`dice_loss` per example and class (the weights are computed
    over every class, before ``ignore_background`` drops class 0). Reference: Sudre et al,
    `Generalised Dice overlap as a deep learning loss function for highly unbalanced
    segmentations <https://arxiv.org/abs/1707.03237>`_, 2017.
    """
    fn = "multiclass_generalized_dice_loss"
    _math.check_same_shape(fn, "predictions", predictions, "targets", targets)
    if _ops.ndim(targets) == 0:
        raise ValueError(f"{fn}: targets must have a class axis (rank >= 1); got shape ()")
    frequencies = _sum_over(targets, tuple(range(_ops.ndim(targets) - 1)))
    weights = 1.0 / (frequencies**2 + 1e-7)
    weights = weights / _ops.sum(weights) * _math.shape_of(weights)[0]
    loss = _dice(
        fn,
        predictions,
        targets,
        normalize=apply_softmax,
        flag="apply_softmax",
        class_weights=weights,
        smooth=smooth,
        reduction="none",
        ignore_background=ignore_background,
    )
    return _ops.mean(loss)
