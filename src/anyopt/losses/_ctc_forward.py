"""The CTC forward (alpha) recursion in log space, written once for every framework.

It runs over the time axis with ``jax.lax.scan`` under JAX (so that it jits and
differentiates as optax's does) and as a Python loop over time steps elsewhere, vectorised
over the batch and the label positions; torch autograd and ``mx.grad`` differentiate the loop.
"""

from __future__ import annotations

from anyopt import _ops, backends
from anyopt.losses import _math


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


def _scan_alphas(step, init, frames):
    """Runs ``step`` over the leading (time) axis of ``frames``; returns the stacked carries."""
    scan = getattr(backends.of(frames[0]), "scan", None)  # JAX's lax.scan: traceable
    if scan is not None:
        _, stacked = scan(lambda carry, frame: (step(carry, frame),) * 2, init, frames)
        return stacked
    carry, phis, emits = init, [], []
    for t in range(_math.shape_of(frames[0])[0]):
        carry = step(carry, tuple(x[t] for x in frames))
        phis.append(carry[0])
        emits.append(carry[1])
    return _ops.stack(phis), _ops.stack(emits)


def forward_probs(logits, logit_paddings, labels, label_paddings, blank_id, log_epsilon):
    """``(per_seq_loss, logalpha_phi, logalpha_emit)`` for checked inputs with at least one
    label column (see ``anyopt.losses.ctc_loss_with_forward_probs``)."""
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
    final_phi = _with_tail(logalpha_phi[-1], logalpha_emit[-1])
    logalpha_phi = _ops.concatenate([logalpha_phi[:-1], _ops.expand_dims(final_phi, 0)], 0)

    padded = _ops.astype(_ops.sum(label_paddings, axis=1), "int32")
    label_lengths = num_labels - padded
    at_length = _ops.astype(_math.one_hot_mask(label_lengths, num_labels + 1, -1), compute)
    per_seq_loss = -_ops.sum(final_phi * at_length, axis=1)
    return per_seq_loss, logalpha_phi, logalpha_emit
