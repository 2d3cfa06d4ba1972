"""Connectionist temporal classification (CTC) losses (optax.losses' ``ctc_loss`` pair).

Input checks and the public functions; the recursion itself is in ``_ctc_forward``.
"""

from __future__ import annotations

import operator
from typing import Any

from anyopt import _ops, backends
from anyopt.losses import _ctc_forward, _math

Array = Any


def _on_one_framework(fn, arrays):
    """The inputs as arrays of one framework: NumPy arrays (or lists) next to JAX arrays
    become JAX arrays, as JAX accepts them; two other frameworks raise a ``TypeError``."""
    try:
        b = backends.check_one_framework([x for x in arrays if hasattr(x, "dtype")])
    except TypeError as e:
        raise TypeError(f"{fn}: {e}") from None
    b = b or backends.load("numpy")
    like = next((x for x in arrays if hasattr(x, "dtype") and backends.of(x) is b), None)
    return [
        x if hasattr(x, "dtype") and backends.of(x) is b else b.asarray(x, None, like=like)
        for x in arrays
    ]


def _check_inputs(fn, logits, logit_paddings, labels, label_paddings, blank_id):
    shape = _math.shape_of(logits)
    if len(shape) != 3:
        raise ValueError(f"{fn}: logits must have rank 3 (batch, time, classes); got {shape}")
    batch, frames, num_classes = shape
    label_shape = _math.shape_of(labels)
    if len(label_shape) != 2:
        raise ValueError(f"{fn}: labels must have rank 2 (batch, labels); got {label_shape}")
    if label_shape[0] != batch:
        raise ValueError(
            f"{fn}: labels must have logits' batch size {batch}; got labels of shape "
            f"{label_shape} for logits of shape {shape}"
        )
    if _math.shape_of(logit_paddings) != (batch, frames):
        raise ValueError(
            f"{fn}: logit_paddings must have logits' (batch, time) shape {(batch, frames)}; "
            f"got {_math.shape_of(logit_paddings)}"
        )
    _math.check_same_shape(fn, "label_paddings", label_paddings, "labels", labels)
    if frames == 0:
        raise ValueError(f"{fn}: logits must have at least one time step; got shape {shape}")
    try:
        blank_id = operator.index(blank_id)
    except TypeError:
        raise TypeError(
            f"{fn}: blank_id must be an integer; got {blank_id!r} of type {type(blank_id)}"
        ) from None
    if not 0 <= blank_id < num_classes:
        raise ValueError(
            f"{fn}: blank_id must be in [0, {num_classes}) (the number of classes in logits); "
            f"got {blank_id}"
        )
    return blank_id


@_math.quiet
def ctc_loss_with_forward_probs(
    logits: Array,
    logit_paddings: Array,
    labels: Array,
    label_paddings: Array,
    *,
    blank_id: int = 0,
    log_epsilon: Array = -1e5,
) -> tuple[Array, Array, Array]:
    r"""CTC loss (Graves et al, `Connectionist temporal classification
    <https://dl.acm.org/doi/abs/10.1145/1143844.1143891>`_, 2006) and the log forward
    probabilities it is computed from.

    With :math:`p_t = \mathrm{log\_softmax}(x_t)`, blank :math:`\phi`, labels
    :math:`y_1 .. y_N` and :math:`r_n = [y_n = y_{n+1}]`, two log-alphas are carried over time:
    :math:`\Phi_t(n)`, "n labels emitted, now in a blank", and :math:`E_t(n)`, "emitting label
    :math:`y_{n+1}`" (0-based :math:`n`). With :math:`\oplus` the log-add
    :math:`\log(e^a + e^b)` and :math:`\varepsilon` = ``log_epsilon`` standing in for
    :math:`\log 0`, from :math:`\Phi_0 = (0, \varepsilon, \ldots)`, :math:`E_0 = \varepsilon`:

    .. math::
        \tilde\Phi_{t-1}(n{+}1) &= \Phi_{t-1}(n{+}1) \oplus (E_{t-1}(n) + \varepsilon r_n) \\
        E_t(n) &= (\tilde\Phi_{t-1}(n) + p_t(y_{n+1})) \oplus (E_{t-1}(n) + p_t(y_{n+1})) \\
        \Phi_t(n{+}1) &= (\tilde\Phi_{t-1}(n{+}1) + p_t(\phi)) \oplus
            (E_{t-1}(n) + p_t(\phi) + \varepsilon (1 - r_n))

    (:math:`\tilde\Phi(0) = \Phi(0)`, :math:`\Phi_t(0) = \Phi_{t-1}(0) + p_t(\phi)`). A padded
    frame keeps :math:`\Phi, E` unchanged; after the last frame
    :math:`\Phi_T(n{+}1) \mathrel{\oplus}= E_T(n)`, and the loss is :math:`-\Phi_T(L)` with
    :math:`L` the unpadded label length.

    Args:
        logits: ``(B, T, K)`` logits, the blank class included.
        logit_paddings: ``(B, T)``, 1.0 for padded frames (skipped), else 0.0.
        labels: ``(B, N)`` integer labels, right-padded.
        label_paddings: ``(B, N)``, 1.0 for padded labels, else 0.0.
        blank_id: the blank's class index, in ``[0, K)``.
        log_epsilon: the finite stand-in for :math:`\log 0`.

    Returns:
        ``(per_seq_loss, logalpha_phi, logalpha_emit)``: shapes ``(B,)``, ``(T, B, N + 1)``
        and ``(T, B, N)``, time first. As in optax: float32 for float16/bfloat16/float32
        logits (float64 stays float64); labels outside ``[0, K)`` have log-probability 0;
        a label sequence no alignment fits gives a loss near ``-log_epsilon`` instead of
        ``inf``; a ``-inf`` logit makes that frame's emissions NaN.

    Example:
        >>> import numpy as np, anyopt
        >>> logits = np.zeros((1, 3, 3), np.float32)
        >>> labels, no_pad = np.array([[1, 2]]), np.zeros((1, 2), np.float32)
        >>> anyopt.losses.ctc_loss(logits, np.zeros((1, 3), np.float32), labels, no_pad)
        array([1.686399], dtype=float32)
    """
    return _ctc(
        "ctc_loss_with_forward_probs",
        logits,
        logit_paddings,
        labels,
        label_paddings,
        blank_id,
        log_epsilon,
    )


def _ctc(fn, logits, logit_paddings, labels, label_paddings, blank_id, log_epsilon):
    arrays = _on_one_framework(fn, [logits, logit_paddings, labels, label_paddings])
    logits, logit_paddings, labels, label_paddings = arrays
    blank_id = _check_inputs(fn, logits, logit_paddings, labels, label_paddings, blank_id)
    if _math.shape_of(labels)[1] > 0:
        return _ctc_forward.forward_probs(
            logits, logit_paddings, labels, label_paddings, blank_id, log_epsilon
        )
    # No labels: one padded label changes none of the outputs kept, and keeps empty arrays
    # out of the recursion (MLX 0.32 can hang evaluating a graph of empty arrays).
    batch = _math.shape_of(logits)[0]
    labels = _ops.zeros((batch, 1), "int32", like=logits)
    label_paddings = _ops.zeros((batch, 1), "float32", like=logits) + 1.0
    loss, phi, emit = _ctc_forward.forward_probs(
        logits, logit_paddings, labels, label_paddings, blank_id, log_epsilon
    )
    return loss, phi[:, :, :1], emit[:, :, :0]


@_math.quiet
def ctc_loss(
    logits: Array,
    logit_paddings: Array,
    labels: Array,
    label_paddings: Array,
    *,
    blank_id: int = 0,
    log_epsilon: Array = -1e5,
) -> Array:
    r"""CTC loss per sequence, shape ``(B,)``: :math:`-\log p(y \mid x)` summed over every
    alignment of the labels with the frames (blanks between and around them, repeats
    collapsed), computed by the forward recursion of :func:`ctc_loss_with_forward_probs`
    (arguments as there).
    """
    loss, _, _ = _ctc(
        "ctc_loss", logits, logit_paddings, labels, label_paddings, blank_id, log_epsilon
    )
    return loss
