"""``anyopt.losses`` against optax 0.2.8's losses, on every framework.

* values equal optax's on random inputs (shapes with batch dimensions, ``axis``, ``where``
  and each loss's options), fp32 within 2e-6 relative; a float64 NumPy run equals optax's
  float32 numbers to float32 accuracy and stays float64;
* gradients from each framework's own autodiff (jax.grad, torch.func, mx.grad) equal
  ``jax.grad`` of optax's loss;
* extreme inputs (logits of +-1e4, ``-inf`` logits, masks): finite exactly where optax's are,
  and equal, gradients included;
* float16 / bfloat16 inputs give optax's output dtype;
* mismatched shapes raise optax's exception type, with a message naming the function and the
  shapes.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import anyopt
from anyopt import _autodiff, _ops, backends

F32 = np.float32


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return (e / e.sum(axis, keepdims=True)).astype(F32)


def _mask(rng, shape, axis=-1):
    m = rng.random(shape) > 0.3
    index = [slice(None)] * len(shape)
    index[axis] = 0
    m[tuple(index)] = True  # at least one class kept per row
    return m


def _one_hot(rng, shape):
    return np.eye(shape[-1], dtype=F32)[rng.integers(0, shape[-1], shape[:-1])]


def _cases():
    """(id, loss name, builder): builder(rng) -> (positional NumPy args, keyword args)."""
    n = lambda rng, *s: rng.standard_normal(s).astype(F32)  # noqa: E731
    ints = lambda rng, hi, *s: rng.integers(0, hi, s).astype(np.int32)  # noqa: E731
    binary = lambda rng, *s: (rng.random(s) > 0.5).astype(F32)  # noqa: E731
    uniform = lambda rng, *s: rng.random(s).astype(F32)  # noqa: E731
    logp = lambda rng, *s: np.log(_softmax(n(rng, *s))).astype(F32)  # noqa: E731
    c = [
        ("pair", "squared_error", lambda r: ((n(r, 4, 5), n(r, 4, 5)), {})),
        ("no_targets", "squared_error", lambda r: ((n(r, 3),), {})),
        ("batch", "l2_loss", lambda r: ((n(r, 2, 3, 4), n(r, 2, 3, 4)), {})),
        ("no_targets", "l2_loss", lambda r: ((n(r, 5),), {})),
        ("default", "huber_loss", lambda r: ((3 * n(r, 4, 5), n(r, 4, 5)), {})),
        ("delta", "huber_loss", lambda r: ((3 * n(r, 4, 5), n(r, 4, 5)), {"delta": 0.5})),
        ("broadcast", "huber_loss", lambda r: ((3 * n(r, 4, 5), n(r, 5)), {"delta": 2.0})),
        ("pair", "log_cosh", lambda r: ((3 * n(r, 4, 5), n(r, 4, 5)), {})),
        ("no_targets", "log_cosh", lambda r: ((5 * n(r, 6),), {})),
        ("default", "cosine_similarity", lambda r: ((n(r, 4, 5), n(r, 4, 5)), {})),
        (
            "eps_axis0",
            "cosine_similarity",
            lambda r: ((0.1 * n(r, 4, 5), n(r, 4, 5)), {"epsilon": 0.5, "axis": 0}),
        ),
        (
            "where",
            "cosine_similarity",
            lambda r: ((n(r, 3, 2, 5), n(r, 3, 2, 5)), {"where": _mask(r, (3, 2, 5))}),
        ),
        ("axes", "cosine_distance", lambda r: ((n(r, 3, 2, 5), n(r, 3, 2, 5)), {"axis": (1, 2)})),
        (
            "where",
            "cosine_distance",
            lambda r: ((n(r, 4, 5), n(r, 4, 5)), {"where": _mask(r, (4, 5))}),
        ),
        ("probs", "softmax_cross_entropy", lambda r: ((n(r, 4, 5), _softmax(n(r, 4, 5))), {})),
        (
            "batch_dims",
            "softmax_cross_entropy",
            lambda r: ((3 * n(r, 2, 3, 5), _one_hot(r, (2, 3, 5))), {}),
        ),
        (
            "axis0",
            "softmax_cross_entropy",
            lambda r: ((n(r, 4, 5), _softmax(n(r, 4, 5), 0)), {"axis": 0}),
        ),
        (
            "axes",
            "softmax_cross_entropy",
            lambda r: ((n(r, 2, 3, 4), uniform(r, 2, 3, 4)), {"axis": (1, 2)}),
        ),
        (
            "where",
            "softmax_cross_entropy",
            lambda r: ((n(r, 4, 5), uniform(r, 4, 5)), {"where": _mask(r, (4, 5))}),
        ),
        (
            "where_batch",
            "softmax_cross_entropy",
            lambda r: ((n(r, 4, 5), uniform(r, 4, 5)), {"where": np.array([1, 0, 1, 1], bool)}),
        ),
        (
            "labels_broadcast",
            "softmax_cross_entropy",
            lambda r: ((n(r, 4, 5), _softmax(n(r, 5))), {}),
        ),
        (
            "default",
            "softmax_cross_entropy_with_integer_labels",
            lambda r: ((n(r, 4, 5), ints(r, 5, 4)), {}),
        ),
        (
            "batch_dims",
            "softmax_cross_entropy_with_integer_labels",
            lambda r: ((3 * n(r, 2, 3, 7), ints(r, 7, 2, 3)), {}),
        ),
        (
            "axis0",
            "softmax_cross_entropy_with_integer_labels",
            lambda r: ((n(r, 4, 5), ints(r, 4, 5)), {"axis": 0}),
        ),
        (
            "axes",
            "softmax_cross_entropy_with_integer_labels",
            lambda r: ((n(r, 1, 2, 3, 4), ints(r, 12, 1, 2)), {"axis": (2, 3)}),
        ),
        (
            "axes_middle",
            "softmax_cross_entropy_with_integer_labels",
            lambda r: ((n(r, 3, 2, 4), ints(r, 12, 2)), {"axis": (0, -1)}),
        ),
        (
            "where",
            "softmax_cross_entropy_with_integer_labels",
            lambda r: ((n(r, 4, 5), ints(r, 5, 4)), {"where": _mask(r, (4, 5))}),
        ),
        (
            "where_batch",
            "softmax_cross_entropy_with_integer_labels",
            lambda r: ((n(r, 4, 5), ints(r, 5, 4)), {"where": np.array([1, 1, 0, 1], bool)}),
        ),
        (
            "negative_label",
            "softmax_cross_entropy_with_integer_labels",
            lambda r: ((n(r, 3, 5), np.array([-1, 0, -5], np.int32)), {}),
        ),
        ("probs", "safe_softmax_cross_entropy", lambda r: ((n(r, 4, 5), uniform(r, 4, 5)), {})),
        (
            "one_hot",
            "safe_softmax_cross_entropy",
            lambda r: ((n(r, 2, 3, 5), _one_hot(r, (2, 3, 5))), {}),
        ),
        ("binary", "sigmoid_binary_cross_entropy", lambda r: ((n(r, 4, 5), binary(r, 4, 5)), {})),
        ("soft", "sigmoid_binary_cross_entropy", lambda r: ((n(r, 4, 5), uniform(r, 4, 5)), {})),
        ("binary", "sigmoid_focal_loss", lambda r: ((3 * n(r, 4, 5), binary(r, 4, 5)), {})),
        (
            "alpha",
            "sigmoid_focal_loss",
            lambda r: ((n(r, 4, 5), binary(r, 4, 5)), {"alpha": 0.25, "gamma": 3.0}),
        ),
        (
            "soft_gamma",
            "sigmoid_focal_loss",
            lambda r: ((n(r, 4, 5), uniform(r, 4, 5)), {"gamma": 1.5, "alpha": 0.7}),
        ),
        ("gamma0", "sigmoid_focal_loss", lambda r: ((n(r, 6), binary(r, 6)), {"gamma": 0.0})),
        (
            "signs",
            "hinge_loss",
            lambda r: ((2 * n(r, 4, 5), 2 * binary(r, 4, 5) - 1), {}),
        ),
        ("default", "multiclass_hinge_loss", lambda r: ((n(r, 4, 5), ints(r, 5, 4)), {})),
        ("batch_dims", "multiclass_hinge_loss", lambda r: ((n(r, 2, 3, 5), ints(r, 5, 2, 3)), {})),
        ("default", "kl_divergence", lambda r: ((logp(r, 4, 5), _softmax(n(r, 4, 5))), {})),
        (
            "zero_target",
            "kl_divergence",
            lambda r: ((logp(r, 3, 4), np.array([[0.5, 0, 0.5, 0]] * 3, F32)), {}),
        ),
        (
            "where_axis0",
            "kl_divergence",
            lambda r: (
                (logp(r, 4, 5), _softmax(n(r, 4, 5))),
                {"axis": 0, "where": _mask(r, (4, 5), 0)},
            ),
        ),
        (
            "default",
            "kl_divergence_with_log_targets",
            lambda r: ((logp(r, 4, 5), logp(r, 4, 5)), {}),
        ),
        (
            "where",
            "kl_divergence_with_log_targets",
            lambda r: ((logp(r, 2, 3, 5), logp(r, 2, 3, 5)), {"where": _mask(r, (2, 3, 5))}),
        ),
        (
            "default",
            "generalized_kl_divergence",
            lambda r: ((n(r, 4, 5), uniform(r, 4, 5)), {}),
        ),
        (
            "axes",
            "generalized_kl_divergence",
            lambda r: ((n(r, 2, 3, 4), uniform(r, 2, 3, 4)), {"axis": (0, 2)}),
        ),
        (
            "where",
            "convex_kl_divergence",
            lambda r: ((n(r, 4, 5), uniform(r, 4, 5)), {"where": _mask(r, (4, 5))}),
        ),
        ("default", "poly_loss_cross_entropy", lambda r: ((n(r, 4, 5), _softmax(n(r, 4, 5))), {})),
        (
            "eps_axis0",
            "poly_loss_cross_entropy",
            lambda r: ((n(r, 4, 5), _one_hot(r, (4, 5))), {"epsilon": -1.0, "axis": 0}),
        ),
        (
            "where",
            "poly_loss_cross_entropy",
            lambda r: ((n(r, 2, 3, 5), uniform(r, 2, 3, 5)), {"where": _mask(r, (2, 3, 5))}),
        ),
        ("default", "smooth_labels", lambda r: ((_one_hot(r, (4, 5)), 0.1), {})),
        ("axis_none", "smooth_labels", lambda r: ((_one_hot(r, (4, 5)), 0.2), {"axis": None})),
        ("axes", "smooth_labels", lambda r: ((_one_hot(r, (2, 3, 5)), 0.3), {"axis": (0, 2)})),
        (
            "where",
            "smooth_labels",
            lambda r: ((_one_hot(r, (4, 5)), 0.1), {"where": _mask(r, (4, 5))}),
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


_CACHE: dict = {}


def _cached(key, compute):
    """optax's answer for one case, computed once per worker (JAX's eager dispatch compiles
    each operation, which dominates this file's run time)."""
    if key not in _CACHE:
        _CACHE[key] = compute()
    return _CACHE[key]


def _theirs(name, args, kwargs):
    """optax's loss, jitted: one compilation per case instead of one per operation."""
    args = [jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
    kwargs = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return jax.jit(lambda: getattr(optax.losses, name)(*args, **kwargs))()


def _ours(name, args, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return getattr(anyopt.losses, name)(*args, **kwargs)


def _dtype_name(x) -> str:
    return backends.dtype_name(_ops.dtype(x))


@pytest.mark.parametrize("name, build", CASES)
def test_equals_optax(backend, name, build):
    args, kwargs = _inputs(build)
    theirs = _cached(("value", name, build), lambda: np.asarray(_theirs(name, args, kwargs)))
    ours = _ours(name, *_convert(backend, args, kwargs))
    assert backends.of(ours).NAME == backend.name
    assert _dtype_name(ours) == "float32"
    assert tuple(_ops.shape(ours)) == theirs.shape
    np.testing.assert_allclose(backend.numpy(ours), theirs, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("name, build", CASES)
def test_float64_numpy_equals_optax_float32(name, build):
    args, kwargs = _inputs(build)
    theirs = _cached(("value", name, build), lambda: np.asarray(_theirs(name, args, kwargs)))
    theirs = theirs.astype(np.float64)
    wide = [
        a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype == F32 else a for a in args
    ]
    ours = _ours(name, wide, kwargs)
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, theirs, rtol=2e-5, atol=2e-6)


def _grad_ours(backend, name, args, kwargs):
    args, kwargs = _convert(backend, args, kwargs)

    def total(x):
        return _ops.sum(_ours(name, [x, *args[1:]], kwargs))

    grad = _autodiff.grad(total, name=f"losses.{name}")
    if backend.name == "jax":  # also checks that the losses trace under jax.jit
        grad = jax.jit(grad)
    return grad(args[0])


def _grad_theirs(name, args, kwargs):
    rest = [jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args[1:]]
    jkw = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        fn = getattr(optax.losses, name)
        grad = jax.jit(jax.grad(lambda x: fn(x, *rest, **jkw).sum()))
        return np.asarray(grad(jnp.asarray(args[0])))


@pytest.mark.parametrize("name, build", CASES)
def test_gradient_equals_jax_grad_of_optax(backend, name, build):
    if backend.name == "numpy":
        pytest.skip("NumPy has no autodiff")
    args, kwargs = _inputs(build)
    theirs = _cached(("grad", name, build), lambda: _grad_theirs(name, args, kwargs))
    ours = _grad_ours(backend, name, args, kwargs)
    np.testing.assert_allclose(backend.numpy(ours), theirs, rtol=1e-5, atol=1e-6)


# --- extreme values -----------------------------------------------------------------------
INF = np.inf
BIG = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [3.0, 1e4, -2.0]], F32)
NEG_INF = np.array([[-INF, 1.0, 2.0], [0.5, -INF, -INF], [-INF, -INF, -INF]], F32)
PROBS = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5]], F32)
ONE_HOT = np.eye(3, dtype=F32)[[2, 0, 1]]
BITS = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 1]], F32)

STABILITY = [
    ("softmax_cross_entropy", (BIG, PROBS), {}),
    ("softmax_cross_entropy", (BIG, ONE_HOT), {}),
    ("softmax_cross_entropy", (NEG_INF, PROBS), {}),  # 0 * log 0: NaN, as in optax
    ("softmax_cross_entropy", (NEG_INF[:2], PROBS[:2]), {"where": np.isfinite(NEG_INF[:2])}),
    ("safe_softmax_cross_entropy", (BIG, PROBS), {}),
    ("safe_softmax_cross_entropy", (NEG_INF[:2], PROBS[:2]), {}),  # finite: 0 log 0 = 0
    ("safe_softmax_cross_entropy", (NEG_INF, PROBS), {}),
    ("softmax_cross_entropy_with_integer_labels", (BIG, np.array([0, 1, 2], np.int32)), {}),
    ("softmax_cross_entropy_with_integer_labels", (NEG_INF[:2], np.array([2, 0], np.int32)), {}),
    ("softmax_cross_entropy_with_integer_labels", (BIG, np.array([3, -4, 0], np.int32)), {}),
    (
        "softmax_cross_entropy_with_integer_labels",
        (BIG, np.array([0, 1, 2], np.int32)),
        {"where": np.array([[1, 1, 0], [0, 0, 0], [1, 0, 1]], bool)},
    ),
    ("poly_loss_cross_entropy", (BIG, PROBS), {}),
    ("poly_loss_cross_entropy", (NEG_INF, PROBS), {}),
    ("sigmoid_binary_cross_entropy", (BIG, BITS), {}),
    ("sigmoid_binary_cross_entropy", (NEG_INF, BITS), {}),
    ("sigmoid_focal_loss", (BIG, BITS), {}),
    ("sigmoid_focal_loss", (BIG, PROBS), {"gamma": 0.5, "alpha": 0.3}),
    ("sigmoid_focal_loss", (NEG_INF, BITS), {}),
    ("log_cosh", (BIG,), {}),
    ("huber_loss", (BIG,), {}),
    ("kl_divergence", (NEG_INF, PROBS), {}),
    ("kl_divergence_with_log_targets", (NEG_INF, BIG), {}),
    ("generalized_kl_divergence", (BIG[:, 1:], PROBS[:, 1:]), {}),
    ("multiclass_hinge_loss", (BIG, np.array([0, 1, 2], np.int32)), {}),
    ("cosine_similarity", (BIG, PROBS), {}),
]


@pytest.mark.parametrize(
    "name, args, kwargs",
    [pytest.param(*case, id=f"{case[0]}-{i}") for i, case in enumerate(STABILITY)],
)
def test_extreme_values_match_optax(backend, name, args, kwargs):
    key = (name, repr(args), repr(kwargs))
    theirs = _cached(("value",) + key, lambda: np.asarray(_theirs(name, args, kwargs)))
    ours = backend.numpy(_ours(name, *_convert(backend, args, kwargs)))
    np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=2e-6, atol=1e-6, equal_nan=True)
    if backend.name == "numpy" or not np.all(np.isfinite(theirs)):
        return
    g_theirs = _cached(("grad",) + key, lambda: _grad_theirs(name, args, kwargs))
    g_ours = backend.numpy(_grad_ours(backend, name, list(args), kwargs))
    np.testing.assert_array_equal(np.isfinite(g_ours), np.isfinite(g_theirs))
    np.testing.assert_allclose(g_ours, g_theirs, rtol=1e-5, atol=1e-6, equal_nan=True)


# --- dtypes -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name, build", CASES[::5] + [CASES[-1]])
def test_low_precision_dtype_like_optax(backend, name, build, dtype):
    if backend.name == "numpy" and dtype == "bfloat16":
        pytest.skip("NumPy has no bfloat16")
    args, kwargs = _inputs(build)
    jdt = getattr(jnp, dtype)
    jargs = [
        jnp.asarray(a, jdt) if isinstance(a, np.ndarray) and a.dtype == F32 else a for a in args
    ]
    theirs = _theirs(name, jargs, kwargs)
    ours = _ours(name, *_convert(backend, args, kwargs, dtype))
    assert _dtype_name(ours) == np.dtype(theirs.dtype).name
    np.testing.assert_allclose(
        backend.numpy(ours), np.asarray(theirs, np.float64), rtol=3e-2, atol=3e-2
    )


# --- bad input ----------------------------------------------------------------------------
BAD = [
    ("squared_error", ((3, 4), (4,)), {}),
    ("l2_loss", ((3, 4), (3, 5)), {}),
    ("huber_loss", ((3, 4), (5,)), {}),
    ("huber_loss", ((3, 4), (3, 5)), {}),
    ("log_cosh", ((3, 4), (3, 5)), {}),
    ("cosine_similarity", ((3, 4), (3, 5)), {}),
    ("cosine_distance", ((3, 4), (5,)), {}),
    ("softmax_cross_entropy", ((3, 4), (3, 5)), {}),
    ("softmax_cross_entropy", ((3, 4), (3, 4)), {"where": (5,)}),
    ("safe_softmax_cross_entropy", ((3, 4), (3, 5)), {}),
    ("softmax_cross_entropy_with_integer_labels", ((3, 4), "int(4,)"), {}),
    ("softmax_cross_entropy_with_integer_labels", ((3, 4), "int(3, 2)"), {}),
    ("softmax_cross_entropy_with_integer_labels", ((3, 4), "int(3,)"), {"where": (3, 5)}),
    ("sigmoid_binary_cross_entropy", ((3, 4), (3, 5)), {}),
    ("sigmoid_focal_loss", ((3, 4), (2, 4)), {}),
    ("hinge_loss", ((3, 4), (3, 5)), {}),
    ("multiclass_hinge_loss", ((3, 4), "int(2,)"), {}),
    ("kl_divergence", ((3, 4), (3, 5)), {}),
    ("kl_divergence", ((3, 4), (3, 4)), {"where": (3, 5)}),
    ("kl_divergence_with_log_targets", ((3, 4), (4, 4)), {}),
    ("generalized_kl_divergence", ((3, 4), (3, 5)), {}),
    ("poly_loss_cross_entropy", ((3, 4), (3, 5)), {}),
]


def _bad_args(shapes, kwargs):
    def make(s):
        if isinstance(s, str):
            return np.zeros(eval(s[3:]), np.int32)
        return np.ones(s, F32)

    args = [make(s) for s in shapes]
    kw = {k: np.ones(v, bool) for k, v in kwargs.items()}
    return args, kw


@pytest.mark.parametrize("name, shapes, kwargs", BAD, ids=lambda v: str(v))
def test_mismatched_shapes_raise_optax_exception_type(backend, name, shapes, kwargs):
    args, kw = _bad_args(shapes, kwargs)
    with pytest.raises(Exception) as theirs:
        _theirs(name, args, kw)
    with pytest.raises(theirs.type) as ours:
        _ours(name, *_convert(backend, args, kw))
    message = str(ours.value)
    assert name in message
    shapes_in = [str(tuple(a.shape)) for a in args]
    assert any(s in message for s in shapes_in), message


@pytest.mark.parametrize(
    "name, args",
    [
        ("squared_error", [np.ones(3, np.int32)]),
        ("smooth_labels", [np.ones((2, 3), np.int32), 0.1]),
        ("softmax_cross_entropy_with_integer_labels", [np.ones((2, 3), F32), np.ones(2, F32)]),
        ("softmax_cross_entropy", [np.ones((2, 3), np.int32), np.ones((2, 3), F32)]),
    ],
)
def test_wrong_dtype_raises_type_error(backend, name, args):
    with pytest.raises(TypeError):
        _theirs(name, args, {})
    with pytest.raises(TypeError, match=name):
        _ours(name, [backend.array(a) if isinstance(a, np.ndarray) else a for a in args], {})


def test_integer_labels_axis_must_be_int_or_tuple():
    with pytest.raises(ValueError, match="axis"):
        anyopt.losses.softmax_cross_entropy_with_integer_labels(
            np.ones((2, 3), F32), np.zeros(2, np.int32), axis=None
        )


# --- namespace ----------------------------------------------------------------------------
def test_convex_kl_divergence_warns_like_optax():
    x = np.zeros((2, 3), F32)
    with pytest.warns(DeprecationWarning, match="generalized_kl_divergence"):
        anyopt.losses.convex_kl_divergence(x, x + 0.5)


def test_losses_namespace_and_flat_names():
    for name in anyopt.losses.__all__:
        assert hasattr(optax.losses, name), name
        if hasattr(optax, name):
            assert getattr(anyopt, name) is getattr(anyopt.losses, name)
            assert name in anyopt.__all__
    assert sorted(anyopt.losses.__all__) == anyopt.losses.__all__
