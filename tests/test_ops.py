"""``anyopt._ops`` gives NumPy's results, in NumPy's spelling, on every framework."""

from __future__ import annotations

import numpy as np
import pytest

from anyopt import _ops, backends
from anyopt.backends import _fused, _trace

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4)).astype(np.float32)
SYM = X[:, :3] @ X[:, :3].T + 3 * np.eye(3, dtype=np.float32)

UNARY = ["exp", "log1p", "sin", "floor", "isnan", "real", "imag", "conj", "abs", "sqrt"]
REDUCTIONS = ["sum", "mean", "max", "min"]


def check(backend, actual, expected, rtol=1e-5):
    assert backends.of(actual).NAME == backend.name
    np.testing.assert_allclose(backend.numpy(actual), expected, rtol=rtol, atol=1e-6)


@pytest.mark.parametrize("name", UNARY)
def test_unary(backend, name):
    x = np.abs(X) if name in ("sqrt", "log1p") else X
    check(backend, getattr(_ops, name)(backend.array(x)), getattr(np, name)(x))


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("axis, keepdims", [(None, False), (None, True), (0, False), (1, True)])
def test_reductions(backend, name, axis, keepdims):
    out = getattr(_ops, name)(backend.array(X), axis=axis, keepdims=keepdims)
    expected = getattr(np, name)(X, axis=axis, keepdims=keepdims)
    assert _ops.shape(out) == np.shape(expected)
    check(backend, out, expected)


def test_boolean_reductions(backend):
    b = backend.array(X > 0)
    check(backend, _ops.any(b, axis=1), np.any(X > 0, axis=1))
    check(backend, _ops.all(b), np.all(X > 0))


def test_shapes(backend):
    x = backend.array(X)
    assert _ops.shape(x) == (3, 4) and _ops.ndim(x) == 2
    check(backend, _ops.reshape(x, (4, 3)), X.reshape(4, 3))
    check(backend, _ops.swapaxes(x, 0, 1), X.T)
    check(backend, _ops.expand_dims(x, 0), X[None])
    check(backend, _ops.broadcast_to(_ops.reshape(x, (1, 3, 4)), (2, 3, 4)), np.stack([X, X]))
    check(backend, _ops.stack([x, x], 1), np.stack([X, X], 1))
    check(backend, _ops.concatenate([x, x], 0), np.concatenate([X, X]))


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_sort_argsort_cumsum(backend, axis):
    x = backend.array(X)
    check(backend, _ops.sort(x, axis), np.sort(X, axis))
    order = _ops.argsort(x, axis)
    assert "int" in backends.dtype_name(_ops.dtype(order))
    np.testing.assert_array_equal(backend.numpy(order), np.argsort(X, axis))
    check(backend, _ops.cumsum(x, axis), np.cumsum(X, axis))
    check(backend, _ops.cumsum(x), np.cumsum(X))
    assert backends.dtype_name(_ops.dtype(_ops.sort(x))) == "float32"


def test_linear_algebra(backend):
    x = backend.array(X)
    check(backend, _ops.matmul(x, _ops.swapaxes(x, 0, 1)), X @ X.T, rtol=1e-4)
    u, s, vh = _ops.svd(x)
    assert _ops.shape(u) == (3, 3) and _ops.shape(s) == (3,) and _ops.shape(vh) == (3, 4)
    rebuilt = backend.numpy(u) @ np.diag(backend.numpy(s)) @ backend.numpy(vh)
    np.testing.assert_allclose(rebuilt, X, atol=1e-4)
    w, v = _ops.eigh(backend.array(SYM))
    np.testing.assert_allclose(backend.numpy(w), np.linalg.eigvalsh(SYM), rtol=1e-4)
    v = backend.numpy(v)
    np.testing.assert_allclose(v @ np.diag(backend.numpy(w)) @ v.T, SYM, atol=1e-4)


def test_creation(backend):
    like = backend.array(X)
    z = _ops.zeros((2, 5), "float32", like)
    assert _ops.shape(z) == (2, 5) and backend.numpy(z).sum() == 0
    assert backends.dtype_name(_ops.dtype(z)) == "float32"
    check(backend, _ops.eye(3, "float32", like), np.eye(3))
    check(backend, _ops.arange(4, "int32", like), np.arange(4))


def test_copy_is_a_distinct_equal_array(backend):
    x = backend.array(X)
    y = _ops.copy(x)
    assert y is not x and backends.dtype_name(_ops.dtype(y)) == "float32"
    check(backend, y, X)


@pytest.mark.parametrize("scale", [0.0, 0.5])
def test_scale_gradient_is_the_identity_forward(backend, scale):
    # the backward pass (gradients times scale) is checked in tests/test_alias_b.py
    y = _ops.scale_gradient(backend.array(X), scale)
    assert backends.dtype_name(_ops.dtype(y)) == "float32"
    check(backend, y, X, rtol=0)


def test_uniform_draws_are_in_range_reproducible_and_jaxs_own_on_jax(backend):
    b = backends.load(backend.name)
    draw = b.uniform(b.key(3), (400,), b.dtype("float32"), -1.0, 1.0)
    again = backend.numpy(b.uniform(b.key(3), (400,), b.dtype("float32"), -1.0, 1.0))
    values = backend.numpy(draw)
    assert backends.dtype_name(_ops.dtype(draw)) == "float32" and values.shape == (400,)
    assert values.min() >= -1.0 and values.max() < 1.0 and abs(values.mean()) < 0.15
    np.testing.assert_array_equal(values, again)
    if backend.name == "jax":
        import jax

        expected = jax.random.uniform(jax.random.PRNGKey(3), (400,), minval=-1.0, maxval=1.0)
        np.testing.assert_array_equal(values, np.asarray(expected))


def test_remainder_of_int32_counts(backend):
    counts = backend.array(np.array([-1, 0, 3, 7, 10], np.int32))
    out = _ops.remainder(counts, 4)
    assert backends.dtype_name(_ops.dtype(out)) == "int32"
    np.testing.assert_array_equal(backend.numpy(out), [3, 0, 3, 3, 2])
    zero_d = _ops.remainder(backend.array(np.int32(-1)), 10)
    assert int(backend.numpy(zero_d)) == 9 and _ops.shape(zero_d) == ()
    with pytest.raises(_trace.Unsupported):
        _ops.remainder(_trace.Sym("input", (), False, np.dtype("int32")), 3)


def test_trace_rejects_what_it_cannot_fuse():
    # importing _fused registers Sym as the tracer's array type
    assert backends.of_type(_trace.Sym) is _trace and _fused.Unsupported is _trace.Unsupported
    x = _trace.Sym("input", (), False, np.dtype("float32"))
    with pytest.raises(_trace.Unsupported):
        _ops.matmul(x, x)
    with pytest.raises(_trace.Unsupported):
        _ops.sum(x, axis=0)
    assert _ops.sum(x).scalar


def test_trace_records_equality():
    x = _trace.Sym("input", (), False, np.dtype("float32"))
    for op, out in [("eq", x == 0), ("ne", x != 0)]:
        assert isinstance(out, _trace.Sym) and out.op == op and out.dtype == np.bool_


def test_trace_rejects_indexing_and_modulo():
    x = _trace.Sym("input", (), False, np.dtype("float32"))
    for attempt in (lambda: x % 2, lambda: 2 % x, lambda: x // 2, lambda: x[0], lambda: x @ x):
        with pytest.raises(_trace.Unsupported):
            attempt()
