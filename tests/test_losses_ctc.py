"""``anyopt.losses.ctc_loss`` and ``ctc_loss_with_forward_probs`` on every framework.

* the loss and both forward-probability outputs equal optax 0.2.8's on seeded random batches
  (paddings of varying lengths, repeated labels, a fully padded row, empty label rows,
  infeasible labels, a custom ``blank_id`` and ``log_epsilon``), fp32 within 2e-6 relative;
* gradients w.r.t. logits (torch autograd, ``mx.grad``, jitted ``jax.grad``) equal
  ``jax.grad`` of optax's loss; under JAX the recursion is one ``lax.scan``;
* independent checks: ``torch.nn.functional.ctc_loss`` (values and gradients), a float64
  textbook forward pass over the blank-extended labels (all three outputs) and, on tiny
  cases, a sum over every alignment;
* logits of +-1e4 stay finite and accurate; float16 gives float32, float64 stays float64;
* bad shapes and ``blank_id`` raise errors naming the function, the argument and the value.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import anyopt
from anyopt import _ops, backends

F32 = np.float32
LOG_EPSILON = -1e5


# --- batches ------------------------------------------------------------------------------
def _lengths_to_paddings(lengths, size):
    return (np.arange(size)[None, :] >= np.asarray(lengths)[:, None]).astype(F32)


def _batch(
    seed,
    *,
    logit_lengths,
    label_lengths,
    frames=12,
    classes=5,
    max_labels=5,
    blank=0,
    scale=2.0,
    repeat_rate=0.4,
):
    """Random logits and labels (never ``blank``), right-padded to the given lengths, with
    about ``repeat_rate`` of the labels copying their predecessor."""
    rng = np.random.default_rng(seed)
    batch = len(logit_lengths)
    logits = (scale * rng.standard_normal((batch, frames, classes))).astype(F32)
    others = np.array([k for k in range(classes) if k != blank])
    labels = others[rng.integers(0, len(others), (batch, max_labels))]
    copy = rng.random((batch, max_labels)) < repeat_rate
    for n in range(1, max_labels):
        labels[:, n] = np.where(copy[:, n], labels[:, n - 1], labels[:, n])
    return {
        "logits": logits,
        "logit_paddings": _lengths_to_paddings(logit_lengths, frames),
        "labels": labels.astype(np.int32),
        "label_paddings": _lengths_to_paddings(label_lengths, max_labels),
    }


def _with(case, **changes):
    return {**case, **changes}


def _cases():
    mixed = _batch(0, logit_lengths=[12, 10, 7, 4, 0, 12], label_lengths=[5, 4, 2, 1, 3, 0])
    feasible = _batch(1, logit_lengths=[12, 11, 9, 8, 12, 6], label_lengths=[5, 3, 4, 2, 0, 1])
    last_blank = _batch(
        2, logit_lengths=[12, 9, 12, 5, 7, 10], label_lengths=[4, 5, 3, 2, 1, 5], blank=4
    )
    infeasible = _batch(3, logit_lengths=[3, 2, 12, 1, 4, 5], label_lengths=[5, 5, 5, 2, 5, 4])
    big = _batch(4, logit_lengths=[12, 8, 11, 6, 12, 9], label_lengths=[5, 2, 4, 3, 5, 1])
    big["logits"] = big["logits"] * F32(5e3)
    labels = feasible["labels"].copy()
    labels[:, 3:] = labels[:, 2:3]  # padded labels equal to the last real one
    middle = feasible["logit_paddings"].copy()
    middle[:, 2] = 1.0  # a padded frame inside the sequence
    out_of_range = feasible["labels"].copy()
    out_of_range[0, 0], out_of_range[1, 1] = 7, -1
    for case in (mixed, feasible, last_blank, big):  # each batch has repeated labels
        assert (case["labels"][:, 1:] == case["labels"][:, :-1]).any()
    return {
        "mixed": (mixed, {}),
        "feasible": (feasible, {}),
        "blank_last": (last_blank, {"blank_id": 4}),
        "blank_middle": (
            _with(mixed, labels=np.where(mixed["labels"] == 2, 0, mixed["labels"])),
            {"blank_id": 2},
        ),
        "infeasible": (infeasible, {}),
        "log_epsilon": (infeasible, {"log_epsilon": -30.0}),
        "big_logits": (big, {}),
        "padding_repeats_last_label": (
            _with(feasible, labels=labels, label_paddings=_lengths_to_paddings([3] * 6, 5)),
            {},
        ),
        "padded_middle_frame": (_with(feasible, logit_paddings=middle), {}),
        "labels_out_of_range": (_with(feasible, labels=out_of_range), {}),
        "no_labels": (
            _with(
                mixed, labels=mixed["labels"][:, :0], label_paddings=mixed["label_paddings"][:, :0]
            ),
            {},
        ),
    }


CASES = _cases()
GRAD_CASES = [c for c in CASES if c not in ("infeasible", "log_epsilon", "no_labels")]
ARGS = ("logits", "logit_paddings", "labels", "label_paddings")


# --- jitted once per worker: one XLA compilation per shape and blank_id ----------------------
def _jit_grad(loss_fn):
    """(sum of losses, its gradient w.r.t. logits), jitted; the other inputs stay as given
    (NumPy arrays next to JAX logits, as optax accepts)."""

    def total(logits, *rest, blank_id=0, log_epsilon=LOG_EPSILON):
        return loss_fn(logits, *rest, blank_id=blank_id, log_epsilon=log_epsilon).sum()

    return jax.jit(jax.value_and_grad(total), static_argnames="blank_id")


OPTAX_FORWARD = jax.jit(optax.losses.ctc_loss_with_forward_probs, static_argnames="blank_id")
OPTAX_GRAD = _jit_grad(optax.losses.ctc_loss)
OURS_JAX_FORWARD = jax.jit(anyopt.losses.ctc_loss_with_forward_probs, static_argnames="blank_id")
OURS_JAX_GRAD = _jit_grad(anyopt.losses.ctc_loss)
_CACHE: dict = {}


def _cached(key, compute):
    if key not in _CACHE:
        _CACHE[key] = compute()
    return _CACHE[key]


def _optax_outputs(name):
    case, kwargs = CASES[name]
    compute = lambda: [np.asarray(o) for o in OPTAX_FORWARD(*(case[k] for k in ARGS), **kwargs)]  # noqa: E731
    return _cached(("value", name), compute)


def _optax_grad(name):
    case, kwargs = CASES[name]
    compute = lambda: np.asarray(OPTAX_GRAD(*(case[k] for k in ARGS), **kwargs)[1])  # noqa: E731
    return _cached(("grad", name), compute)


def _convert(backend, case):
    return [backend.array(case[k]) for k in ARGS]


def _ours(backend, case, kwargs=None, fn="ctc_loss_with_forward_probs"):
    kwargs = kwargs or {}
    args = _convert(backend, case)
    if backend.name == "jax":  # jitted: one compilation per shape (ctc_loss: the first output)
        out = OURS_JAX_FORWARD(*args, **kwargs)
        return out if fn == "ctc_loss_with_forward_probs" else out[0]
    return getattr(anyopt.losses, fn)(*args, **kwargs)


def _value_and_grad_ours(backend, case, kwargs=None):
    """sum(ctc_loss) and its gradient w.r.t. logits: torch autograd, ``mx.grad``, or jitted
    ``jax.grad`` (with NumPy labels and paddings next to the JAX logits)."""
    kwargs = kwargs or {}
    if backend.name == "jax":
        rest = (case[k] for k in ARGS[1:])
        return OURS_JAX_GRAD(jnp.asarray(case["logits"]), *rest, **kwargs)
    logits, *rest = _convert(backend, case)
    loss = lambda x: _ops.sum(anyopt.losses.ctc_loss(x, *rest, **kwargs))  # noqa: E731
    if backend.name == "torch":
        logits.requires_grad_(True)
        value = loss(logits)
        value.backward()
        return value.detach(), logits.grad
    import mlx.core as mx

    return mx.value_and_grad(loss)(logits)


# --- parity with optax ----------------------------------------------------------------------
@pytest.mark.parametrize("name", CASES)
def test_outputs_equal_optax(backend, name):
    case, kwargs = CASES[name]
    theirs = _optax_outputs(name)
    ours = _ours(backend, case, kwargs)
    assert len(ours) == 3
    for out, want in zip(ours, theirs):
        assert backends.of(out).NAME == backend.name
        assert backends.dtype_name(_ops.dtype(out)) == "float32"
        assert tuple(_ops.shape(out)) == want.shape
        if want.size:  # an empty output (no labels) has only its shape to check
            np.testing.assert_allclose(backend.numpy(out), want, rtol=2e-6, atol=2e-6)
    if backend.name != "jax":  # JAX's ctc_loss: in the gradient tests
        loss = _ours(backend, case, kwargs, fn="ctc_loss")
        np.testing.assert_allclose(backend.numpy(loss), theirs[0], rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("name", GRAD_CASES)
def test_gradient_equals_jax_grad_of_optax(backend, name):
    if backend.name == "numpy":
        pytest.skip("NumPy has no autodiff")
    case, kwargs = CASES[name]
    value, grad = _value_and_grad_ours(backend, case, kwargs)
    np.testing.assert_allclose(backend.numpy(value), _optax_outputs(name)[0].sum(), rtol=2e-6)
    grad = backend.numpy(grad)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, _optax_grad(name), rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("name", ["infeasible", "log_epsilon"])
def test_gradient_with_infeasible_labels_is_finite_and_close_to_optax(backend, name):
    """Infeasible labels score paths through ``log_epsilon`` (with -1e5, float32 steps there
    are 0.008): the gradients agree with optax's only to that resolution."""
    if backend.name == "numpy":
        pytest.skip("NumPy has no autodiff")
    case, kwargs = CASES[name]
    grad = backend.numpy(_value_and_grad_ours(backend, case, kwargs)[1])
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, _optax_grad(name), rtol=0, atol=2e-2)


def test_jax_runs_one_scan_over_time():
    case, _ = CASES["mixed"]
    args = [jnp.asarray(case[k]) for k in ARGS]
    jaxpr = jax.make_jaxpr(anyopt.losses.ctc_loss_with_forward_probs)(*args)
    scans = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "scan"]
    assert len(scans) == 1
    assert scans[0].params["length"] == case["logits"].shape[1]


# --- independent references -----------------------------------------------------------------
def _log_softmax64(logits):
    x = np.asarray(logits, np.float64)
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _textbook_alphas(case, blank):
    """Graves et al.'s forward pass in float64 over ``blank, y1, blank, ..., yN, blank`` (all
    N labels, padded ones too, as optax's outputs cover them), laid out as optax's outputs:
    blank states give ``phi[t, b, n]``, label states ``emit[t, b, n]``; padded frames repeat
    the previous row and the last row's phi also counts paths ending on the label before."""
    logprobs = _log_softmax64(case["logits"])
    labels, batch, frames = case["labels"], *case["logits"].shape[:2]
    num_labels = labels.shape[1]
    phi = np.full((frames, batch, num_labels + 1), -np.inf)
    emit = np.full((frames, batch, num_labels), -np.inf)
    loss = np.zeros(batch)
    for b in range(batch):
        states = np.full(2 * num_labels + 1, blank)
        states[1::2] = labels[b]
        skip = np.zeros(2 * num_labels + 1, bool)  # s-2 -> s allowed: a label unlike the last
        skip[3::2] = labels[b, 1:] != labels[b, :-1]
        alpha = np.full(2 * num_labels + 1, -np.inf)
        alpha[0] = 0.0  # before the first frame: in the leading blank, probability 1
        for t in range(frames):
            if case["logit_paddings"][b, t] == 0:
                stay_or_step = np.logaddexp(alpha, np.r_[-np.inf, alpha[:-1]])
                jump = np.where(skip, np.r_[-np.inf, -np.inf, alpha[:-2]], -np.inf)
                alpha = np.logaddexp(stay_or_step, jump) + logprobs[b, t, states]
            phi[t, b], emit[t, b] = alpha[0::2], alpha[1::2]
        phi[-1, b, 1:] = np.logaddexp(phi[-1, b, 1:], emit[-1, b])
        length = num_labels - int(case["label_paddings"][b].sum())
        loss[b] = -phi[-1, b, length]
    return loss, phi, emit


def _sum_over_alignments(case, blank):
    """-log of the summed probability of every frame-by-frame path that collapses (merge
    repeats, drop blanks) to the labels: brute force, float64."""
    logprobs = _log_softmax64(case["logits"])
    batch, _, classes = logprobs.shape
    loss = np.zeros(batch)
    for b in range(batch):
        frames = np.flatnonzero(case["logit_paddings"][b] == 0)
        length = case["labels"].shape[1] - int(case["label_paddings"][b].sum())
        target = tuple(case["labels"][b, :length])
        total = -np.inf
        for path in itertools.product(range(classes), repeat=len(frames)):
            merged = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
            if tuple(k for k in merged if k != blank) == target:
                total = np.logaddexp(total, logprobs[b, frames, path].sum())
        loss[b] = -total
    return loss


@pytest.mark.parametrize("name", ["mixed", "feasible", "blank_last", "padded_middle_frame"])
def test_float64_equals_textbook_forward_pass(name):
    case, kwargs = CASES[name]
    wide = _with(case, logits=case["logits"].astype(np.float64))
    ours = anyopt.losses.ctc_loss_with_forward_probs(*(wide[k] for k in ARGS), **kwargs)
    ref = _textbook_alphas(wide, kwargs.get("blank_id", 0))
    for out, want in zip(ours, ref):
        assert out.dtype == np.float64 and out.shape == want.shape
        reachable = np.isfinite(want)
        np.testing.assert_allclose(out[reachable], want[reachable], rtol=1e-12, atol=1e-10)
        # unreachable states sit near log_epsilon or below (the loss: near -log_epsilon or
        # above), far from any real log-probability
        assert np.all(np.abs(out[~reachable]) > -LOG_EPSILON / 2)
        assert np.all(np.sign(out[~reachable]) == np.sign(want[~reachable]))


def _tiny(seed, blank=0):
    return _batch(
        seed,
        logit_lengths=[5, 4, 3, 5],
        label_lengths=[3, 2, 1, 0],
        frames=5,
        classes=3,
        max_labels=3,
        blank=blank,
        repeat_rate=0.5,
    )


def test_loss_equals_sum_over_all_alignments(backend):
    blank = 1  # between the other two classes
    case = _tiny(10, blank)
    want = _sum_over_alignments(case, blank)
    assert np.all(np.isfinite(want))
    ours = _ours(backend, case, {"blank_id": blank}, fn="ctc_loss")
    np.testing.assert_allclose(backend.numpy(ours), want, rtol=2e-6, atol=2e-6)


def _torch_reference(case, blank):
    """``torch.nn.functional.ctc_loss`` (log-softmax inputs, time first, lengths) and its
    gradient w.r.t. the logits."""
    logits = torch.tensor(case["logits"], dtype=torch.float64, requires_grad=True)
    log_probs = torch.log_softmax(logits, -1).transpose(0, 1)
    loss = torch.nn.functional.ctc_loss(
        log_probs,
        torch.tensor(case["labels"], dtype=torch.long),
        torch.tensor(case["logits"].shape[1] - case["logit_paddings"].sum(1), dtype=torch.long),
        torch.tensor(case["labels"].shape[1] - case["label_paddings"].sum(1), dtype=torch.long),
        blank=blank,
        reduction="none",
    )
    loss.sum().backward()
    return loss.detach().numpy(), logits.grad.numpy()


TORCH_CASES = {
    "feasible": (CASES["feasible"][0], 0),
    "blank_last": (CASES["blank_last"][0], 4),
    "big_logits": (CASES["big_logits"][0], 0),
}


@pytest.mark.parametrize("name", TORCH_CASES)
def test_equals_torch_ctc_loss(backend, name):
    case, blank = TORCH_CASES[name]
    want_loss, want_grad = _cached(("torch", name), lambda: _torch_reference(case, blank))
    assert np.all(np.isfinite(want_loss))
    ours = _ours(backend, case, {"blank_id": blank}, fn="ctc_loss")
    np.testing.assert_allclose(backend.numpy(ours), want_loss, rtol=2e-6, atol=2e-6)
    if backend.name == "numpy":
        return
    grad = backend.numpy(_value_and_grad_ours(backend, case, {"blank_id": blank})[1])
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=2e-6)


def test_no_labels_gradient_is_softmax_minus_blank(backend):
    """With no labels the only alignment is all blanks: the loss is -sum_t log p_t(blank)
    and its gradient softmax(logits) - onehot(blank) on unpadded frames, 0 on padded ones."""
    if backend.name == "numpy":
        pytest.skip("NumPy has no autodiff")
    case, _ = CASES["no_labels"]
    logprobs = _log_softmax64(case["logits"])
    unpadded = 1.0 - case["logit_paddings"][..., None]
    want_grad = unpadded * (np.exp(logprobs) - np.eye(logprobs.shape[-1])[0])
    want_loss = -(unpadded[..., 0] * logprobs[..., 0]).sum()
    value, grad = _value_and_grad_ours(backend, case)
    np.testing.assert_allclose(backend.numpy(value), want_loss, rtol=2e-6)
    np.testing.assert_allclose(backend.numpy(grad), want_grad, rtol=1e-5, atol=2e-6)


# --- stability and dtypes -------------------------------------------------------------------
def test_large_logits_stay_finite_and_accurate(backend):
    case, _ = CASES["big_logits"]
    assert np.abs(case["logits"]).max() > 1e4
    want = _textbook_alphas(_with(case, logits=case["logits"].astype(np.float64)), 0)[0]
    loss, phi, emit = _ours(backend, case)
    assert np.all(np.isfinite(backend.numpy(phi))) and np.all(np.isfinite(backend.numpy(emit)))
    np.testing.assert_allclose(backend.numpy(loss), want, rtol=2e-6)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_logits_give_float32(backend, dtype):
    """As in optax (whose one-hot and initial alphas are float32): float32 outputs, close to
    the float64 loss of the rounded logits."""
    if backend.name == "numpy" and dtype == "bfloat16":
        pytest.skip("NumPy has no bfloat16")
    case, _ = CASES["feasible"]
    low = _with(case, logits=backend.array(case["logits"], dtype))
    rounded = _with(case, logits=backend.numpy(low["logits"]))
    want = _textbook_alphas(rounded, 0)[0]
    args = [low["logits"], *_convert(backend, case)[1:]]
    if backend.name == "jax":
        outputs = OURS_JAX_FORWARD(*args)
    else:
        outputs = anyopt.losses.ctc_loss_with_forward_probs(*args)
    for out in outputs:
        assert backends.dtype_name(_ops.dtype(out)) == "float32"
    np.testing.assert_allclose(backend.numpy(outputs[0]), want, rtol=1e-2)


# --- bad input ------------------------------------------------------------------------------
def _bad_inputs():
    case, _ = CASES["feasible"]
    logits, logit_paddings, labels, label_paddings = (case[k] for k in ARGS)
    return [
        (
            "logits_rank",
            (logits[0], logit_paddings, labels, label_paddings),
            {},
            ValueError,
            ["logits", "rank 3", "(12, 5)"],
        ),
        (
            "labels_rank",
            (logits, logit_paddings, labels[0], label_paddings),
            {},
            ValueError,
            ["labels", "rank 2", "(5,)"],
        ),
        (
            "labels_batch",
            (logits, logit_paddings, labels[:2], label_paddings[:2]),
            {},
            ValueError,
            ["labels", "batch size 6", "(2, 5)"],
        ),
        (
            "logit_paddings",
            (logits, logit_paddings[:, :-1], labels, label_paddings),
            {},
            ValueError,
            ["logit_paddings", "(6, 12)", "(6, 11)"],
        ),
        (
            "label_paddings",
            (logits, logit_paddings, labels, label_paddings[:, :3]),
            {},
            ValueError,
            ["label_paddings", "same shape", "(6, 3)"],
        ),
        (
            "no_frames",
            (logits[:, :0], logit_paddings[:, :0], labels, label_paddings),
            {},
            ValueError,
            ["logits", "at least one time step", "(6, 0, 5)"],
        ),
        (
            "blank_too_big",
            (logits, logit_paddings, labels, label_paddings),
            {"blank_id": 5},
            ValueError,
            ["blank_id", "[0, 5)", "got 5"],
        ),
        (
            "blank_negative",
            (logits, logit_paddings, labels, label_paddings),
            {"blank_id": -1},
            ValueError,
            ["blank_id", "[0, 5)", "got -1"],
        ),
        (
            "blank_float",
            (logits, logit_paddings, labels, label_paddings),
            {"blank_id": 1.0},
            TypeError,
            ["blank_id", "integer", "1.0"],
        ),
    ]


@pytest.mark.parametrize("fn", ["ctc_loss", "ctc_loss_with_forward_probs"])
@pytest.mark.parametrize(
    "args, kwargs, error, words", [pytest.param(*c[1:], id=c[0]) for c in _bad_inputs()]
)
def test_bad_input_raises_a_clear_error(backend, fn, args, kwargs, error, words):
    args = [backend.array(a) for a in args]
    with pytest.raises(error) as info:
        getattr(anyopt.losses, fn)(*args, **kwargs)
    message = str(info.value)
    assert message.startswith(f"{fn}: ")
    for word in words:
        assert word in message


def test_arrays_of_two_frameworks_raise_a_type_error():
    import mlx.core as mx

    case, _ = CASES["feasible"]
    args = [torch.tensor(case["logits"]), *(mx.array(case[k]) for k in ARGS[1:])]
    with pytest.raises(TypeError) as info:
        anyopt.losses.ctc_loss(*args)
    message = str(info.value)
    assert message.startswith("ctc_loss: ") and "different frameworks" in message
    assert "torch" in message and "mlx" in message
