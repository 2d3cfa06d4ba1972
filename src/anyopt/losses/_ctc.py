"""Connectionist temporal classification (CTC) losses (optax.losses' ``ctc_loss`` pair).

The forward (alpha) recursion of Graves et al. runs in log space over the time axis:
``jax.lax.scan`` under JAX (so it jits and differentiates as optax does), a Python loop over
time steps elsewhere, vectorised over the batch and the label positions on every framework.
"""

from __future__ import annotations

import operator
import sys
from typing import Any

from anyopt import _ops, backends
from anyopt.losses import _math

Array = Any


def _log_add(a, b):
    r""":math:`\log(e^a + e^b) = h + \log(1 + e^{l - h})` with :math:`h, l` the larger and
    smaller operand (``jnp.logaddexp``'s numbers). Choosing ``h`` with a ``where`` gives each
    operand its exact weight, 1/2 each at a tie, on every framework; a NaN gap (both operands
    the same infinity, or a NaN) gives ``a + b``."""
    a_larger = a >= b
    high = _ops.where(a_larger, a, b)
    low = _ops.where(a_larger, b, a)
    gap = low - high
    return _ops.where(_ops.isnan(gap), a + b, high + _ops.log1p(_ops.exp(gap)))


def _with_tail(phi, tail_score):
    """``phi`` with ``phi[:, 1:]`` log-added to ``tail_score`` (``phi[:, 0]`` unchanged)."""
    tail = _log_add(phi[:, 1:], tail_score)
    return _ops.concatenate([phi[:, :1], tail], axis=1)


def _alpha_step(carry, frame, skip_penalty, blank_penalty):
    """One time step of the forward recursion (see :func:`ctc_loss_with_forward_probs`)."""
    phi, emit = carry
    emit_logprob, blank_logprob, pad = frame
    # Leaving label n for the "after n + 1 labels" state costs no frame, unless the next
    # label repeats label n (then a blank must come between them).
    phi_reached = _with_tail(phi, emit + skip_penalty)
    next_emit = _log_add(phi_reached[:, :-1] + emit_logprob, emit + emit_logprob)
    next_phi = phi_reached + blank_logprob
    # Before a repeated label the blank after label n is reached only from emitting n.
    next_phi = _with_tail(next_phi, emit + blank_logprob + blank_penalty)
    # A padded frame leaves the state as it was.
    next_emit = pad * emit + (1.0 - pad) * next_emit
    next_phi = pad * phi + (1.0 - pad) * next_phi
    return next_phi, next_emit


def _native_scan(b):
    """``jax.lax.scan`` for JAX arrays (a backend ``scan`` hook wins once one exists), else
    None. JAX is already imported whenever its arrays reach us: nothing is imported here."""
    scan = getattr(b, "scan", None)
    if scan is None and b.NAME == "jax":
        scan = sys.modules["jax"].lax.scan
    return scan


def _at_time(x, t: int):
    """``x[t]``, written as a slice and a reshape: MLX 0.32's gradient of an integer index
    into an empty array (no labels) dies with a floating-point exception."""
    return _ops.reshape(x[t : t + 1], _math.shape_of(x)[1:])


def _scan_alphas(step, init, frames):
    """Runs ``step`` over the leading (time) axis of ``frames``; returns the stacked carries."""
    scan = _native_scan(backends.of(frames[0]))
    if scan is not None:
        _, stacked = scan(lambda carry, frame: (step(carry, frame),) * 2, init, frames)
        return stacked
    carry, phis, emits = init, [], []
    for t in range(_math.shape_of(frames[0])[0]):
        carry = step(carry, tuple(_at_time(x, t) for x in frames))
        phis.append(carry[0])
        emits.append(carry[1])
    return _ops.stack(phis), _ops.stack(emits)


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
    batch, _, num_classes = _math.shape_of(logits)
    num_labels = _math.shape_of(labels)[1]
    wide = backends.dtype_name(_ops.dtype(logits)) == "float64"
    compute = "float64" if wide else "float32"
    if not _ops.is_floating(logits):
        logits = _ops.astype(logits, "float32")  # as jax.nn.log_softmax promotes integers
    logprobs = _ops.astype(_math.log_softmax(logits, -1), compute)  # [B, T, K]

    # Per frame: log-probabilities of each label (a one-hot product) and of the blank.
    one_hot = _ops.astype(_math.one_hot_mask(labels, num_classes, -1), compute)  # [B, N, K]
    emit_logprobs = _ops.matmul(logprobs, _ops.swapaxes(one_hot, 1, 2))  # [B, T, N]
    blank_logprobs = logprobs[:, :, blank_id : blank_id + 1]  # [B, T, 1]
    pads = _ops.expand_dims(_ops.astype(logit_paddings, compute), -1)  # [B, T, 1]
    frames = tuple(_ops.swapaxes(x, 0, 1) for x in (emit_logprobs, blank_logprobs, pads))

    zeros = _ops.zeros((batch, 1), compute, like=logprobs)
    log_epsilon = _ops.like(log_epsilon, zeros)
    repeats = _ops.astype(labels[:, :-1] == labels[:, 1:], compute)
    repeats = _ops.concatenate([repeats, zeros], axis=1)  # [B, N]: r_n, 0 for the last
    skip_penalty, blank_penalty = log_epsilon * repeats, log_epsilon * (1.0 - repeats)

    impossible = _ops.zeros((batch, num_labels), compute, like=logprobs) + log_epsilon
    init = (_ops.concatenate([zeros, impossible], axis=1), impossible)

    def step(carry, frame):
        return _alpha_step(carry, frame, skip_penalty, blank_penalty)

    logalpha_phi, logalpha_emit = _scan_alphas(step, init, frames)
    last = _math.shape_of(logalpha_phi)[0] - 1
    final_phi = _with_tail(_at_time(logalpha_phi, last), _at_time(logalpha_emit, last))
    logalpha_phi = _ops.concatenate([logalpha_phi[:-1], _ops.expand_dims(final_phi, 0)], 0)

    padded = _ops.astype(_ops.sum(label_paddings, axis=1), "int32")
    label_lengths = num_labels - padded
    at_length = _ops.astype(_math.one_hot_mask(label_lengths, num_labels + 1, -1), compute)
    per_seq_loss = -_ops.sum(final_phi * at_length, axis=1)
    return per_seq_loss, logalpha_phi, logalpha_emit


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
