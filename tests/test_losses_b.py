"""``anyopt.losses``' perceptron, sparsemax, contrastive, Dice, ranking and Fenchel-Young
losses against optax 0.2.8's, on every framework.

* values equal optax's on seeded random inputs (several shapes, ``axis``/``where``/weights
  and each loss's options), fp32 within 2e-6 relative (5e-6 for NT-Xent, whose temperature
  magnifies rounding); float64 NumPy equals optax's float32 numbers to float32 accuracy;
* gradients from each framework's own autodiff (jax.grad under jit, torch.func, mx.grad)
  equal ``jax.grad`` of optax's loss;
* independent float64 NumPy transcriptions (sparsemax by bisection, NT-Xent by loops,
  Dice per class) agree, and the sparsemax loss's gradient is ``sparsemax(s) - e_y``;
* extreme inputs (scores of +-1e4, ``-inf`` scores, fully masked lists, zero embeddings):
  finite exactly where optax's are, and equal, gradients included;
* float16 / bfloat16 inputs give optax's output dtype;
* bad input raises optax's exception type where optax raises a specific one, always with a
  message naming the function and what was wrong.
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.scipy.special import logsumexp as jax_logsumexp

import anyopt
from anyopt import _autodiff, _ops, backends

F32 = np.float32
NEW = [
    "binary_dice_loss",
    "dice_loss",
    "make_fenchel_young_loss",
    "multiclass_generalized_dice_loss",
    "multiclass_perceptron_loss",
    "multiclass_sparsemax_loss",
    "ntxent",
    "perceptron_loss",
    "ranking_softmax_loss",
    "sparsemax_loss",
    "triplet_margin_loss",
]


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return (e / e.sum(axis, keepdims=True)).astype(F32)


def _one_hot(rng, shape):
    return np.eye(shape[-1], dtype=F32)[rng.integers(0, shape[-1], shape[:-1])]


def _mask(rng, shape, empty_row=None):
    m = rng.random(shape) > 0.3
    m[..., 0] = True
    if empty_row is not None:
        m[empty_row] = False  # a list with no valid item
    return m


def _cases():
    """(id, loss name, builder): builder(rng) -> (positional NumPy args, keyword args)."""
    n = lambda rng, *s: rng.standard_normal(s).astype(F32)  # noqa: E731
    ints = lambda rng, hi, *s: rng.integers(0, hi, s).astype(np.int32)  # noqa: E731
    binary = lambda rng, *s: (rng.random(s) > 0.5).astype(F32)  # noqa: E731
    sign = lambda rng, *s: 2 * binary(rng, *s) - 1  # noqa: E731
    graded = lambda rng, *s: rng.integers(0, 4, s).astype(F32)  # noqa: E731
    i32 = lambda *v: np.array(v, np.int32)  # noqa: E731
    c = [
        ("pair", "perceptron_loss", lambda r: ((n(r, 4, 5), sign(r, 4, 5)), {})),
        ("vector", "perceptron_loss", lambda r: ((3 * n(r, 7), sign(r, 7)), {})),
        ("default", "multiclass_perceptron_loss", lambda r: ((n(r, 4, 5), ints(r, 5, 4)), {})),
        (
            "batch_dims",
            "multiclass_perceptron_loss",
            lambda r: ((n(r, 2, 3, 5), ints(r, 5, 2, 3)), {}),
        ),
        (
            "out_of_range",
            "multiclass_perceptron_loss",
            lambda r: ((n(r, 4, 3), i32(-1, 3, 0, 2)), {}),
        ),
        ("binary", "sparsemax_loss", lambda r: ((2 * n(r, 4, 5), ints(r, 2, 4, 5)), {})),
        ("broadcast", "sparsemax_loss", lambda r: ((3 * n(r, 4, 5), binary(r, 5)), {})),
        ("default", "multiclass_sparsemax_loss", lambda r: ((n(r, 6, 5), ints(r, 5, 6)), {})),
        ("wide", "multiclass_sparsemax_loss", lambda r: ((3 * n(r, 4, 9), ints(r, 9, 4)), {})),
        (
            "labels_wrap_clamp",
            "multiclass_sparsemax_loss",
            lambda r: ((n(r, 6, 4), i32(-1, -4, 4, 7, 0, 3)), {}),
        ),
        ("pairs", "ntxent", lambda r: ((n(r, 6, 3), i32(0, 0, 1, 1, 2, 2)), {})),
        (
            "groups_temperature",
            "ntxent",
            lambda r: ((n(r, 8, 4), ints(r, 3, 8)), {"temperature": 0.5}),
        ),
        ("default", "triplet_margin_loss", lambda r: ((n(r, 4, 5), n(r, 4, 5), n(r, 4, 5)), {})),
        (
            "axis0_degree4",
            "triplet_margin_loss",
            lambda r: (
                (n(r, 4, 5), n(r, 4, 5), n(r, 4, 5)),
                {"axis": 0, "norm_degree": 4, "margin": 0.3},
            ),
        ),
        (
            "broadcast_eps",
            "triplet_margin_loss",
            lambda r: ((n(r, 3, 4, 5), n(r, 4, 5), n(r, 1, 5)), {"eps": 1e-3, "margin": 2.0}),
        ),
        ("multiclass", "dice_loss", lambda r: ((n(r, 2, 4, 4, 3), _one_hot(r, (2, 4, 4, 3))), {})),
        (
            "tversky_weights_none",
            "dice_loss",
            lambda r: (
                (2 * n(r, 2, 5, 4), _one_hot(r, (2, 5, 4))),
                {
                    "alpha": 0.3,
                    "beta": 0.7,
                    "reduction": "none",
                    "ignore_background": True,
                    "class_weights": np.array([0.5, 1.0, 2.0, 1.5], F32),
                },
            ),
        ),
        (
            "sum_axis",
            "dice_loss",
            lambda r: (
                (n(r, 2, 3, 4, 3), _one_hot(r, (2, 3, 4, 3))),
                {"reduction": "sum", "axis": (1,), "smooth": 0.5},
            ),
        ),
        ("binary_trailing", "dice_loss", lambda r: ((n(r, 3, 6, 1), binary(r, 3, 6)), {})),
        ("batch_only", "dice_loss", lambda r: ((n(r, 4, 3), _one_hot(r, (4, 3))), {})),
        (
            "probabilities",
            "dice_loss",
            lambda r: ((_softmax(n(r, 2, 6, 3)), _one_hot(r, (2, 6, 3))), {"apply_softmax": False}),
        ),
        ("logits", "binary_dice_loss", lambda r: ((n(r, 2, 5, 5), binary(r, 2, 5, 5)), {})),
        (
            "channel_smooth",
            "binary_dice_loss",
            lambda r: ((n(r, 3, 6, 1), binary(r, 3, 6, 1)), {"smooth": 0.1}),
        ),
        (
            "default",
            "multiclass_generalized_dice_loss",
            lambda r: ((n(r, 2, 4, 4, 3), _one_hot(r, (2, 4, 4, 3))), {}),
        ),
        (
            "ignore_background",
            "multiclass_generalized_dice_loss",
            lambda r: (
                (n(r, 3, 5, 4), _one_hot(r, (3, 5, 4))),
                {"ignore_background": True, "smooth": 0.5},
            ),
        ),
        ("mean", "ranking_softmax_loss", lambda r: ((n(r, 3, 5), graded(r, 3, 5)), {})),
        ("vector", "ranking_softmax_loss", lambda r: ((n(r, 6), graded(r, 6)), {})),
        (
            "where_weights",
            "ranking_softmax_loss",
            lambda r: (
                (2 * n(r, 4, 5), graded(r, 4, 5)),
                {"where": _mask(r, (4, 5), 2), "weights": r.random((4, 5)).astype(F32)},
            ),
        ),
        (
            "sum_batch_dims",
            "ranking_softmax_loss",
            lambda r: ((n(r, 2, 3, 5), binary(r, 2, 3, 5)), {"reduce_fn": jnp.sum}),
        ),
        (
            "unreduced_where",
            "ranking_softmax_loss",
            lambda r: (
                (n(r, 4, 6), graded(r, 4, 6)),
                {"where": _mask(r, (4, 6), 1), "reduce_fn": None},
            ),
        ),
    ]
    return [pytest.param(name, build, id=f"{name}-{cid}") for cid, name, build in c]


CASES = _cases()  # every case is differentiated with respect to its first argument


def _inputs(build, seed=0):
    return build(np.random.default_rng(seed))


def _convert(backend, args, kwargs, dtype=None):
    def conv(a):
        if not isinstance(a, np.ndarray):
            return a
        if a.dtype.kind == "f" and dtype is not None:
            return backend.array(a, dtype)
        return backend.array(a)

    return [conv(a) for a in args], {k: conv(v) for k, v in kwargs.items()}


def _eager(kwargs) -> bool:
    """Dice with ``apply_softmax=False`` checks the data in Python: it cannot be jitted."""
    return kwargs.get("apply_softmax", True) is False or kwargs.get("apply_sigmoid") is False


_CACHE: dict = {}


def _cached(key, compute):
    """optax's answer for one case, computed once per worker."""
    if key not in _CACHE:
        _CACHE[key] = compute()
    return _CACHE[key]


def _jnp(a):
    return jnp.asarray(a) if isinstance(a, np.ndarray) else a


def _theirs(name, args, kwargs):
    """optax's loss, jitted (one compilation per case) unless the case checks data."""
    args, kwargs = [_jnp(a) for a in args], {k: _jnp(v) for k, v in kwargs.items()}
    call = lambda: getattr(optax.losses, name)(*args, **kwargs)  # noqa: E731
    return call() if _eager(kwargs) else jax.jit(call)()


def _ours(name, args, kwargs):
    return getattr(anyopt.losses, name)(*args, **kwargs)


def _run(backend, fn):
    """``fn()``; on JAX under ``jax.jit`` (it must trace, and one compilation per case is
    much faster than JAX's op-by-op dispatch)."""
    return jax.jit(fn)() if backend.name == "jax" else fn()


def _ours_on(backend, name, args, kwargs):
    args, kwargs = _convert(backend, args, kwargs)
    call = lambda: _ours(name, args, kwargs)  # noqa: E731
    return call() if _eager(kwargs) else _run(backend, call)


def _dtype_name(x) -> str:
    return backends.dtype_name(_ops.dtype(x))


def _rtol(name):
    return 5e-6 if name == "ntxent" else 2e-6


@pytest.mark.parametrize("name, build", CASES)
def test_equals_optax(backend, name, build):
    args, kwargs = _inputs(build)
    theirs = _cached(("optax", name, build), lambda: _optax_value_and_grad(name, args, kwargs))[0]
    ours = _ours_on(backend, name, args, kwargs)
    assert backends.of(ours).NAME == backend.name
    assert _dtype_name(ours) == "float32"
    assert tuple(_ops.shape(ours)) == theirs.shape
    np.testing.assert_allclose(backend.numpy(ours), theirs, rtol=_rtol(name), atol=1e-6)


@pytest.mark.parametrize("name, build", CASES)
def test_float64_numpy_equals_optax_float32(name, build):
    args, kwargs = _inputs(build)
    theirs = _cached(("optax", name, build), lambda: _optax_value_and_grad(name, args, kwargs))[0]
    wide = [
        a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype == F32 else a for a in args
    ]
    ours = _ours(name, wide, kwargs)
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, theirs.astype(np.float64), rtol=2e-5, atol=2e-6)


def _grad_ours(backend, name, args, kwargs):
    args, kwargs = _convert(backend, args, kwargs)

    def total(x):
        return _ops.sum(_ours(name, [x, *args[1:]], kwargs))

    grad = _autodiff.grad(total, name=f"losses.{name}")
    if backend.name == "jax" and not _eager(kwargs):  # also checks that the loss traces
        grad = jax.jit(grad)
    return grad(args[0])


def _optax_value_and_grad(name, args, kwargs):
    """optax's loss and ``jax.grad`` of its sum with respect to the first argument, from one
    compilation (cached per case)."""
    rest = [_jnp(a) for a in args[1:]]
    jkw = {k: _jnp(v) for k, v in kwargs.items()}
    fn = getattr(optax.losses, name)

    def both(x):
        return fn(x, *rest, **jkw), jax.grad(lambda x: fn(x, *rest, **jkw).sum())(x)

    value, grad = (both if _eager(kwargs) else jax.jit(both))(jnp.asarray(args[0]))
    return np.asarray(value), np.asarray(grad)


@pytest.mark.parametrize("name, build", CASES)
def test_gradient_equals_jax_grad_of_optax(backend, name, build):
    if backend.name == "numpy":
        pytest.skip("NumPy has no autodiff")
    args, kwargs = _inputs(build)
    theirs = _cached(("optax", name, build), lambda: _optax_value_and_grad(name, args, kwargs))[1]
    assert np.any(theirs != 0)  # the case exercises the gradient
    ours = _grad_ours(backend, name, args, kwargs)
    np.testing.assert_allclose(backend.numpy(ours), theirs, rtol=1e-5, atol=1e-6)


# --- independent float64 references -------------------------------------------------------
def _sparsemax_bisection(s):
    """Projection onto the simplex by bisection on the threshold tau: sum max(s - tau, 0) = 1."""
    lo, hi = s.max(-1, keepdims=True) - 1.0, s.max(-1, keepdims=True)
    for _ in range(200):
        mid = (lo + hi) / 2
        too_big = np.maximum(s - mid, 0).sum(-1, keepdims=True) > 1
        lo, hi = np.where(too_big, mid, lo), np.where(too_big, hi, mid)
    return np.maximum(s - (lo + hi) / 2, 0)


def test_multiclass_sparsemax_loss_and_gradient_match_float64_reference(backend):
    rng = np.random.default_rng(1)
    scores = (2 * rng.standard_normal((5, 7))).astype(F32)
    labels = rng.integers(0, 7, 5).astype(np.int32)
    s = scores.astype(np.float64)
    p = _sparsemax_bisection(s)
    e_y = np.eye(7)[labels]
    expected = (p * (s - (s * e_y).sum(-1, keepdims=True))).sum(-1) + 0.5 * (1 - (p * p).sum(-1))
    x, y = backend.array(scores), backend.array(labels)
    ours = _run(backend, lambda: anyopt.losses.multiclass_sparsemax_loss(x, y))
    np.testing.assert_allclose(backend.numpy(ours), expected, rtol=1e-5, atol=1e-6)
    if backend.name != "numpy":  # the Fenchel-Young gradient: sparsemax(s) - e_y
        grad = _grad_ours(backend, "multiclass_sparsemax_loss", [scores, labels], {})
        np.testing.assert_allclose(backend.numpy(grad), p - e_y, rtol=1e-5, atol=1e-6)


def _ntxent_loops(x, labels, temperature):
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), np.sqrt(2.0**-23))
    sim = unit @ unit.T / temperature
    terms = []
    for i in range(len(x)):
        negatives = [sim[i, k] for k in range(len(x)) if labels[k] != labels[i]]
        for j in range(len(x)):
            if j != i and labels[j] == labels[i]:
                logits = np.array([sim[i, j], *negatives])
                terms.append(sim[i, j] - np.log(np.exp(logits).sum()))
    return -np.mean(terms)


def test_ntxent_matches_float64_loops(backend):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((7, 3)).astype(F32)
    labels = np.array([0, 1, 0, 2, 1, 1, 0], np.int32)
    expected = _ntxent_loops(x.astype(np.float64), labels, 0.2)
    emb, y = backend.array(x), backend.array(labels)
    ours = _run(backend, lambda: anyopt.losses.ntxent(emb, y, 0.2))
    assert _ops.shape(ours) == ()
    np.testing.assert_allclose(backend.numpy(ours), expected, rtol=1e-5)


def test_dice_loss_matches_float64_per_class_formula(backend):
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((2, 6, 3)).astype(F32)
    targets = _one_hot(rng, (2, 6, 3))
    z = logits.astype(np.float64)
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    expected = np.zeros((2, 3))
    for b in range(2):
        for c in range(3):
            inter = (p[b, :, c] * targets[b, :, c]).sum()
            fp, fn = p[b, :, c].sum() - inter, targets[b, :, c].sum() - inter
            expected[b, c] = 1 - (inter + 1) / (inter + 0.2 * fp + 0.8 * fn + 1)
    x, t = backend.array(logits), backend.array(targets)
    ours = _run(
        backend, lambda: anyopt.losses.dice_loss(x, t, alpha=0.2, beta=0.8, reduction="none")
    )
    np.testing.assert_allclose(backend.numpy(ours), expected, rtol=1e-5, atol=1e-7)


# --- extreme values -----------------------------------------------------------------------
INF = np.inf
BIG = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [3.0, 1e4, -2.0]], F32)
NEG_INF = np.array([[-INF, 1.0, 2.0], [0.5, -INF, -INF], [-INF, 3.0, -INF]], F32)
LABELS = np.array([0, 2, 1], np.int32)
GRADED = np.array([[0, 1, 2], [2, 0, 1], [1, 1, 0]], F32)
BITS = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 1]], F32)
SIGNS = 2 * BITS - 1
ONE_HOT = np.eye(3, dtype=F32)[LABELS][None]
ROWS = np.array([[1, 1, 1], [0, 0, 0], [1, 0, 0]], bool)  # a list with no valid item
EMB = np.array([[1e4, -2e4, 0.0], [3e4, 1e4, -1e4], [0.0, 0.0, 0.0], [-1e4, 5e3, 2e4]], F32)

STABILITY = [
    ("perceptron_loss", (BIG, SIGNS), {}),
    ("multiclass_perceptron_loss", (BIG, LABELS), {}),
    ("sparsemax_loss", (BIG, BITS), {}),
    ("multiclass_sparsemax_loss", (BIG, LABELS), {}),
    ("multiclass_sparsemax_loss", (NEG_INF, np.array([2, 0, 1], np.int32)), {}),
    ("ntxent", (EMB, np.array([0, 0, 1, 1], np.int32)), {}),  # a zero embedding: eps
    ("ntxent", (EMB, np.array([0, 1, 0, 1], np.int32)), {"temperature": 1e-3}),
    ("triplet_margin_loss", (BIG, BIG[::-1].copy(), 0.5 * BIG), {}),
    ("dice_loss", (BIG[None], ONE_HOT), {}),
    ("dice_loss", (BIG[..., None], BITS[..., None]), {}),
    ("binary_dice_loss", (BIG, BITS), {}),
    ("multiclass_generalized_dice_loss", (BIG[None], ONE_HOT), {}),
    ("ranking_softmax_loss", (BIG, GRADED), {"reduce_fn": None}),
    ("ranking_softmax_loss", (NEG_INF, BITS), {"where": np.isfinite(NEG_INF)}),
    ("ranking_softmax_loss", (BIG, GRADED), {"where": np.zeros((3, 3), bool)}),  # no list: 0
    ("ranking_softmax_loss", (BIG, GRADED), {"where": ROWS, "reduce_fn": None}),
    ("ranking_softmax_loss", (np.where(BITS > 0, np.nan, BIG), GRADED), {"where": BITS == 0}),
]


@pytest.mark.parametrize(
    "name, args, kwargs",
    [pytest.param(*case, id=f"{case[0]}-{i}") for i, case in enumerate(STABILITY)],
)
def test_extreme_values_match_optax(backend, name, args, kwargs):
    key = (name, repr(args), repr(kwargs))
    theirs, g_theirs = _cached(key, lambda: _optax_value_and_grad(name, args, kwargs))
    ours = backend.numpy(_ours_on(backend, name, args, kwargs))
    np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=2e-6, atol=1e-6, equal_nan=True)
    if backend.name == "numpy" or not np.all(np.isfinite(theirs)):
        return
    g_ours = backend.numpy(_grad_ours(backend, name, list(args), kwargs))
    np.testing.assert_array_equal(np.isfinite(g_ours), np.isfinite(g_theirs))
    np.testing.assert_allclose(g_ours, g_theirs, rtol=1e-5, atol=1e-6, equal_nan=True)


# --- make_fenchel_young_loss --------------------------------------------------------------
def _native(backend, kind):
    """A max function written for ``backend``'s arrays: 'logsumexp' or 'max' of a 1-D row."""
    if backend.name == "jax":
        return jax_logsumexp if kind == "logsumexp" else jnp.max
    if backend.name == "torch":
        import torch

        return (lambda s: torch.logsumexp(s, -1)) if kind == "logsumexp" else torch.max
    if backend.name == "mlx":
        import mlx.core as mx

        return (lambda s: mx.logsumexp(s, axis=-1)) if kind == "logsumexp" else mx.max
    if kind == "max":
        return np.max
    return lambda s: s.max() + np.log(np.sum(np.exp(s - s.max())))


FY_SHAPES = [((4, 5), (4, 5)), ((2, 3, 5), (3, 5)), ((6,), (6,)), ((3, 1, 4), (2, 4))]


@pytest.mark.parametrize("shapes", FY_SHAPES, ids=str)
def test_fenchel_young_loss_equals_optax(backend, shapes):
    rng = np.random.default_rng(4)
    scores = (2 * rng.standard_normal(shapes[0])).astype(F32)
    targets = _softmax(rng.standard_normal(shapes[1]))
    theirs_fn = optax.losses.make_fenchel_young_loss(jax_logsumexp)
    value_and_grad = jax.jit(jax.value_and_grad(lambda s, t: theirs_fn(s, t).sum()))
    theirs = _cached(
        ("fy", shapes),
        lambda: np.asarray(jax.jit(theirs_fn)(jnp.asarray(scores), jnp.asarray(targets))),
    )
    ours_fn = anyopt.losses.make_fenchel_young_loss(_native(backend, "logsumexp"))
    s, t = backend.array(scores), backend.array(targets)
    ours = _run(backend, lambda: ours_fn(s, t))
    assert backends.of(ours).NAME == backend.name
    assert tuple(_ops.shape(ours)) == theirs.shape
    np.testing.assert_allclose(backend.numpy(ours), theirs, rtol=2e-6, atol=1e-6)
    if backend.name == "numpy":
        return
    g_theirs = _cached(
        ("fy_grad", shapes), lambda: value_and_grad(jnp.asarray(scores), jnp.asarray(targets))[1]
    )
    grad = _autodiff.grad(lambda x: _ops.sum(ours_fn(x, t)), name="fenchel_young_loss")
    g_ours = _run(backend, lambda: grad(s))
    np.testing.assert_allclose(backend.numpy(g_ours), np.asarray(g_theirs), rtol=1e-5, atol=1e-6)


def test_fenchel_young_loss_of_known_max_functions(backend):
    """logsumexp gives the softmax cross entropy, max the multiclass perceptron loss."""
    rng = np.random.default_rng(5)
    scores = (3 * rng.standard_normal((4, 6))).astype(F32)
    labels = rng.integers(0, 6, 4).astype(np.int32)
    targets = np.eye(6, dtype=F32)[labels]
    s, t = backend.array(scores), backend.array(targets)
    lse_loss = anyopt.losses.make_fenchel_young_loss(_native(backend, "logsumexp"))
    lse, cross_entropy = _run(
        backend, lambda: (lse_loss(s, t), anyopt.losses.softmax_cross_entropy(s, t))
    )
    np.testing.assert_allclose(backend.numpy(lse), backend.numpy(cross_entropy), rtol=1e-5)
    max_loss = anyopt.losses.make_fenchel_young_loss(_native(backend, "max"))
    perceptron = _run(backend, lambda: max_loss(s, t))
    expected = scores.max(-1) - scores[np.arange(4), labels]
    np.testing.assert_allclose(backend.numpy(perceptron), expected, rtol=1e-6)


def test_fenchel_young_loss_passes_extra_arguments_to_max_fun(backend):
    """A documented deviation: optax 0.2.8 drops keyword arguments (jnp.vectorize)."""
    calls = []

    def scaled_max(row, scale, *, shift=0.0):
        calls.append((scale, shift))
        return _ops.max(row) * scale + shift

    scores = np.arange(6, dtype=F32).reshape(2, 3)
    targets = np.ones((2, 3), F32)
    loss = anyopt.losses.make_fenchel_young_loss(scaled_max)
    ours = loss(backend.array(scores), backend.array(targets), 2.0, shift=1.0)
    np.testing.assert_allclose(backend.numpy(ours), 2 * scores.max(-1) + 1 - scores.sum(-1))
    assert set(calls) == {(2.0, 1.0)}


def test_fenchel_young_loss_rejects_bad_max_functions(backend):
    with pytest.raises(TypeError, match="make_fenchel_young_loss: max_fun must be callable"):
        anyopt.losses.make_fenchel_young_loss(3.0)
    loss = anyopt.losses.make_fenchel_young_loss(lambda row: row * 2)  # not a scalar
    s = backend.array(np.ones((2, 3), F32))
    with pytest.raises(ValueError, match=r"max_fun must return a scalar.*\(3,\)"):
        loss(s, s)
    lse = anyopt.losses.make_fenchel_young_loss(_native(backend, "logsumexp"))
    with pytest.raises(ValueError, match=r"same last axis.*\(2, 4\).*\(2, 3\)"):
        lse(s, backend.array(np.ones((2, 4), F32)))


# --- ranking_softmax_loss's reductions ----------------------------------------------------
def _framework_reductions(backend):
    if backend.name == "torch":
        import torch

        return torch.mean, torch.sum
    if backend.name == "mlx":
        import mlx.core as mx

        return mx.mean, mx.sum
    xp = jnp if backend.name == "jax" else np
    return xp.mean, xp.sum


@pytest.mark.parametrize("where", ["some", "none_valid"])
def test_ranking_reduce_fn_of_any_framework_matches_optax(backend, where):
    rng = np.random.default_rng(6)
    logits = rng.standard_normal((4, 5)).astype(F32)
    labels = rng.integers(0, 3, (4, 5)).astype(F32)
    mask = _mask(rng, (4, 5), 1) if where == "some" else np.zeros((4, 5), bool)
    mean, total = _framework_reductions(backend)
    x, y, m = backend.array(logits), backend.array(labels), backend.array(mask)
    for ours_fn, theirs_fn in [(mean, jnp.mean), (total, jnp.sum), (jnp.mean, jnp.mean)]:
        theirs = optax.losses.ranking_softmax_loss(
            jnp.asarray(logits), jnp.asarray(labels), where=jnp.asarray(mask), reduce_fn=theirs_fn
        )
        ours = _run(
            backend, lambda: anyopt.losses.ranking_softmax_loss(x, y, where=m, reduce_fn=ours_fn)
        )
        assert backends.of(ours).NAME == backend.name and _ops.shape(ours) == ()
        np.testing.assert_allclose(backend.numpy(ours), np.asarray(theirs), rtol=2e-6, atol=1e-6)
    if where == "none_valid":  # the mean over no list is 0, not NaN
        assert backend.numpy(anyopt.losses.ranking_softmax_loss(x, y, where=m)) == 0.0


def test_ranking_custom_reduce_fn_gets_the_valid_lists(backend):
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((3, 4)).astype(F32)
    labels = rng.integers(0, 3, (3, 4)).astype(F32)
    mask = _mask(rng, (3, 4), 0)
    seen = {}

    def keep(a, where=None):
        seen["where"] = where
        return a

    ours = anyopt.losses.ranking_softmax_loss(
        backend.array(logits), backend.array(labels), where=backend.array(mask), reduce_fn=keep
    )
    theirs = optax.losses.ranking_softmax_loss(
        jnp.asarray(logits), jnp.asarray(labels), where=jnp.asarray(mask), reduce_fn=keep
    )
    np.testing.assert_allclose(backend.numpy(ours), np.asarray(theirs), rtol=2e-6, atol=1e-6)
    np.testing.assert_array_equal(backend.numpy(seen["where"]), mask.any(-1))


# --- dtypes -------------------------------------------------------------------------------
def _first_case_of_each_loss():
    seen, out = set(), []
    for case in CASES:
        if case.values[0] not in seen and "probabilities" not in case.id:
            seen.add(case.values[0])
            out.append(case)
    return out


WEIGHTED = ("dice_loss-tversky_weights_none", "ranking_softmax_loss-where_weights")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize(
    "name, build", _first_case_of_each_loss() + [c for c in CASES if c.id in WEIGHTED]
)
def test_low_precision_dtype_like_optax(backend, name, build, dtype):
    """Positional float inputs in ``dtype``; keyword arrays (weights) stay float32."""
    if backend.name == "numpy" and dtype == "bfloat16":
        pytest.skip("NumPy has no bfloat16")
    args, kwargs = _inputs(build)
    jdt = getattr(jnp, dtype)
    jargs = [
        jnp.asarray(a, jdt) if isinstance(a, np.ndarray) and a.dtype == F32 else a for a in args
    ]
    theirs = _cached(("low", dtype, name, build), lambda: _theirs(name, jargs, kwargs))
    ours_args = _convert(backend, args, {}, dtype)[0]
    ours_kwargs = _convert(backend, [], kwargs)[1]
    ours = _run(backend, lambda: _ours(name, ours_args, ours_kwargs))
    assert _dtype_name(ours) == np.dtype(theirs.dtype).name
    tol = 0.3 if name == "ntxent" else 3e-2  # temperature 0.07 magnifies rounding
    np.testing.assert_allclose(
        backend.numpy(ours), np.asarray(theirs, np.float64), rtol=tol, atol=tol
    )


# --- bad input ----------------------------------------------------------------------------
def _f(*shape):
    return np.ones(shape, F32)


def _i(*shape):
    return np.zeros(shape, np.int32)


# (loss, args, kwargs, whether optax raises the same type, a regex our message must match)
BAD = [
    ("perceptron_loss", (_f(3), _f(2)), {}, True, r"perceptron_loss.*\(3,\).*\(2,\)"),
    ("perceptron_loss", (_f(3), _f(1, 3)), {}, True, r"same shape"),
    ("multiclass_perceptron_loss", (_f(3, 4), _i(2)), {}, True, r"\(3, 4\)"),
    ("multiclass_perceptron_loss", (np.float32(1.0), _i()), {}, False, r"class axis.*\(\)"),
    ("sparsemax_loss", (_f(3, 4), _f(3, 5)), {}, True, r"sparsemax_loss.*\(3, 5\).*\(3, 4\)"),
    ("multiclass_sparsemax_loss", (_f(3, 4), _i(2)), {}, False, r"labels.*\(3,\).*\(2,\)"),
    ("multiclass_sparsemax_loss", (_f(3, 4), _f(3)), {}, False, r"labels.*integer.*float32"),
    ("ntxent", (_f(4, 2), _i(3)), {}, True, r"ntxent: labels.*\(4,\).*\(3,\)"),
    ("ntxent", (_f(4), _i(4)), {}, False, r"ntxent: embeddings.*\[batch, features\].*\(4,\)"),
    ("ntxent", (np.ones((4, 2), np.int32), _i(4)), {}, True, r"ntxent: embeddings.*floating"),
    ("triplet_margin_loss", (_f(3, 4), _f(3, 5), _f(3, 4)), {}, True, r"\(3, 4\).*\(3, 5\)"),
    ("triplet_margin_loss", (_f(3, 4), _f(3, 4), _f(3, 4)), {"axis": 2}, False, r"axis.*2"),
    ("triplet_margin_loss", (_f(3), _f(3), _i(3)), {}, True, r"negatives.*floating.*int32"),
    ("dice_loss", (_f(2, 4, 3), _f(2, 4, 2)), {}, True, r"dice_loss.*\(2, 4, 3\).*\(2, 4, 2\)"),
    ("dice_loss", (_f(2, 3), _f(2, 3)), {"reduction": "max"}, True, r"reduction.*'max'"),
    (
        "dice_loss",
        (_f(2, 3), _f(2, 3)),
        {"class_weights": _f(1, 3)},
        True,
        r"class_weights.*rank 1.*\(1, 3\)",
    ),
    (
        "dice_loss",
        (np.full((2, 3), 0.5, F32), _f(2, 3)),
        {"apply_softmax": False},
        True,
        r"dice_loss: with apply_softmax=False.*sum to 1.*1\.5",
    ),
    (
        "binary_dice_loss",
        (np.full((2, 3), 0.5, F32), _f(2, 3)),
        {"apply_sigmoid": False},
        True,
        r"binary_dice_loss: with apply_sigmoid=False",
    ),
    ("binary_dice_loss", (_f(2, 3), _f(2, 4)), {}, True, r"binary_dice_loss.*\(2, 3, 1\)"),
    ("multiclass_generalized_dice_loss", (_f(2, 3), _f(2, 1, 3)), {}, True, r"\(2, 1, 3\)"),
    ("ranking_softmax_loss", (_i(2, 3), _f(2, 3)), {}, True, r"ranking.*logits.*floating"),
    ("ranking_softmax_loss", (_f(2, 3), _f(2, 4)), {}, False, r"ranking.*\(2, 4\).*\(2, 3\)"),
    ("ranking_softmax_loss", (_f(2, 3), _f(2, 3)), {"where": np.ones(4, bool)}, False, r"where"),
]


@pytest.mark.parametrize(
    "name, args, kwargs, same_type, pattern",
    [pytest.param(*case, id=f"{case[0]}-{i}") for i, case in enumerate(BAD)],
)
def test_bad_input_raises_a_clear_error(backend, name, args, kwargs, same_type, pattern):
    def optax_error():
        with pytest.raises(Exception) as theirs:
            np.asarray(_theirs(name, list(args), kwargs))
        return theirs.type

    theirs = _cached(("error", name, repr(args), repr(kwargs)), optax_error)
    expected = theirs if same_type else (ValueError, TypeError)
    with pytest.raises(expected, match=pattern):
        _ours(name, *_convert(backend, list(args), kwargs))


# --- namespace ----------------------------------------------------------------------------
def test_new_losses_are_exported_with_optax_signatures():
    for name in NEW:
        assert name in anyopt.losses.__all__, name
        ours, theirs = getattr(anyopt.losses, name), getattr(optax.losses, name)
        p_ours = list(inspect.signature(ours).parameters.values())
        p_theirs = list(inspect.signature(theirs).parameters.values())
        assert [(p.name, p.kind) for p in p_ours] == [(p.name, p.kind) for p in p_theirs], name
        for a, b in zip(p_ours, p_theirs):
            if (name, a.name) == ("ranking_softmax_loss", "reduce_fn"):
                assert a.default.__name__ == b.default.__name__ == "mean"  # jnp.mean for JAX
            else:
                assert a.default == b.default, (name, a.name)
