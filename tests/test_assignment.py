"""``anyopt.assignment``'s Hungarian algorithms against optax.assignment and SciPy.

On every framework, for square and rectangular cost matrices (continuous costs, integer
costs full of ties, constant matrices), both algorithms must return exactly optax's
``(i, j)`` (optax run under ``jax.jit(jax.vmap(...))``) and an assignment whose cost is
the optimum found by ``scipy.optimize.linear_sum_assignment``. Also: empty matrices,
every cost dtype, the documented examples, and ``jit``/``vmap`` on JAX.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.optimize

import anyopt
from anyopt import _ops, backends

FUNCTIONS = ["hungarian_algorithm", "base_hungarian_algorithm"]
SHAPES = [(1, 1), (1, 4), (4, 1), (2, 3), (3, 2), (5, 5), (4, 7), (7, 4), (8, 8), (12, 9)]
BATCH = 4


def costs(kind: str, shape: tuple, seed: int = 0) -> np.ndarray:
    """A batch of ``BATCH`` cost matrices of one kind."""
    rng = np.random.default_rng([seed, *shape])
    size = (BATCH, *shape)
    if kind == "normal":
        return rng.standard_normal(size).astype(np.float32)
    if kind == "ties":  # small integers: many optimal assignments
        return rng.integers(0, 3, size).astype(np.int32)
    return np.full(size, 2.5, np.float32)  # constant: every assignment is optimal


@functools.cache
def optax_result(name: str, kind: str, shape: tuple):
    fn = jax.jit(jax.vmap(getattr(optax.assignment, name)))
    i, j = fn(jnp.asarray(costs(kind, shape)))
    return np.asarray(i), np.asarray(j)


def optimal_cost(c: np.ndarray) -> float:
    rows, cols = scipy.optimize.linear_sum_assignment(c)
    return float(c[rows, cols].sum())


def check_assignment(c: np.ndarray, i: np.ndarray, j: np.ndarray) -> None:
    r = min(c.shape)
    assert i.shape == j.shape == (r,)
    assert len(set(i.tolist())) == r and len(set(j.tolist())) == r  # no row/column twice
    assert (0 <= i).all() and (i < c.shape[0]).all() and (0 <= j).all() and (j < c.shape[1]).all()
    c64 = c.astype(np.float64)
    np.testing.assert_allclose(c64[i, j].sum(), optimal_cost(c64), rtol=1e-5, atol=1e-5)


def run(backend, name: str, batch: np.ndarray) -> list:
    """``(i, j)`` as NumPy for each matrix; on JAX through ``jit(vmap(...))`` (the eager
    path is checked on the first matrix of the continuous kind)."""
    fn = getattr(anyopt.assignment, name)
    if backend.name == "jax":
        i, j = jax.jit(jax.vmap(fn))(jnp.asarray(batch))
        return [(np.asarray(a), np.asarray(b)) for a, b in zip(i, j)]
    out = []
    for c in batch:
        i, j = fn(backend.array(c))
        assert backends.of(i).NAME == backends.of(j).NAME == backend.name
        assert "int" in backends.dtype_name(_ops.dtype(i))
        assert "int" in backends.dtype_name(_ops.dtype(j))
        out.append((backend.numpy(i), backend.numpy(j)))
    return out


@pytest.mark.parametrize("kind", ["normal", "ties", "constant"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_matches_optax_exactly_and_is_optimal(backend, name, shape, kind):
    batch = costs(kind, shape)
    want_i, want_j = optax_result(name, kind, shape)
    for k, (i, j) in enumerate(run(backend, name, batch)):
        np.testing.assert_array_equal(i, want_i[k], err_msg=f"rows of matrix {k}")
        np.testing.assert_array_equal(j, want_j[k], err_msg=f"columns of matrix {k}")
        check_assignment(batch[k], i, j)
    if backend.name == "jax" and kind == "normal":
        i, j = getattr(anyopt.assignment, name)(jnp.asarray(batch[0]))
        np.testing.assert_array_equal(np.asarray(i), want_i[0])
        np.testing.assert_array_equal(np.asarray(j), want_j[0])


@pytest.mark.parametrize("name", FUNCTIONS)
def test_larger_matrices_are_optimal(backend, name):
    rng = np.random.default_rng(1)
    for shape in [(20, 30), (30, 20), (25, 25)]:
        c = rng.standard_normal(shape).astype(np.float32)
        if backend.name == "jax":
            i, j = jax.jit(getattr(anyopt.assignment, name))(jnp.asarray(c))
            i, j = np.asarray(i), np.asarray(j)
        else:
            i, j = (backend.numpy(t) for t in getattr(anyopt.assignment, name)(backend.array(c)))
        check_assignment(c, i, j)
        if name == "base_hungarian_algorithm" and shape[0] <= shape[1]:
            np.testing.assert_array_equal(i, np.arange(shape[0]))  # rows in order


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (3, 0)], ids=str)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_empty_matrices(backend, name, shape):
    i, j = getattr(anyopt.assignment, name)(backend.array(np.zeros(shape, np.float32)))
    assert _ops.shape(i) == _ops.shape(j) == (0,)
    assert "int" in backends.dtype_name(_ops.dtype(i))
    assert backends.of(i).NAME == backend.name


DTYPES = ["float16", "bfloat16", "float32", "float64", "int32", "int64"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_cost_dtype(backend, name, dtype):
    if (backend.name, dtype) in {("jax", "float64"), ("jax", "int64")}:
        pytest.skip(f"{backend.name} has no {dtype} here (JAX runs without x64)")
    rng = np.random.default_rng(2)
    base = rng.integers(-20, 20, (6, 8)) if "int" in dtype else rng.standard_normal((6, 8)) * 3
    for c in (base, base.T):
        x = backend.array(c.astype(np.float32 if "float" in dtype else np.int64), dtype)
        i, j = (backend.numpy(t) for t in getattr(anyopt.assignment, name)(x))
        check_assignment(backend.numpy(x), i, j)  # optimal for the costs as rounded


def test_float64_matches_optax_x64(backend):
    rng = np.random.default_rng(3)
    c = rng.standard_normal((7, 5)) + rng.integers(0, 2, (7, 5)) * 1e-9  # near-ties
    with jax.enable_x64(True):
        for name in FUNCTIONS:
            want = getattr(optax.assignment, name)(jnp.asarray(c))
            got = getattr(anyopt.assignment, name)(backend.array(c, "float64"))
            for a, b in zip(got, want):
                np.testing.assert_array_equal(backend.numpy(a), np.asarray(b), err_msg=name)


def test_documented_examples(backend):
    small = np.array([[8, 4, 7], [5, 2, 3], [9, 6, 7], [9, 4, 8]], np.int32)
    wide = np.array(
        [
            [90, 80, 75, 70],
            [35, 85, 55, 65],
            [125, 95, 90, 95],
            [45, 110, 95, 115],
            [50, 100, 90, 100],
        ],
        np.int32,
    )
    for c, cost in [(small, 15), (wide, 265)]:
        for name in FUNCTIONS:
            i, j = (backend.numpy(t) for t in getattr(anyopt.assignment, name)(backend.array(c)))
            assert c[i, j].sum() == cost
    i, j = anyopt.assignment.base_hungarian_algorithm(backend.array(small))
    assert backend.numpy(i).tolist() == [0, 1, 3] and backend.numpy(j).tolist() == [0, 2, 1]
    i, j = anyopt.assignment.base_hungarian_algorithm(backend.array(wide))
    assert backend.numpy(i).tolist() == [0, 1, 2, 3] and backend.numpy(j).tolist() == [3, 2, 1, 0]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_jit_traces_once_and_vmap_batches(name):
    fn = getattr(anyopt.assignment, name)
    traces = []

    def traced(c):
        traces.append(1)
        return fn(c)

    jitted = jax.jit(traced)
    c = jax.random.normal(jax.random.key(0), (20, 30))
    i, j = jitted(c)
    i2, j2 = jitted(c + 1.0)
    assert len(traces) == 1 and i.shape == j.shape == (20,)
    want = getattr(optax.assignment, name)(c)
    np.testing.assert_array_equal(np.asarray(i), np.asarray(want[0]))
    np.testing.assert_array_equal(np.asarray(j), np.asarray(want[1]))
    np.testing.assert_array_equal(np.asarray(j2), np.asarray(j))  # a constant shift
    batch = jax.random.normal(jax.random.key(1), (3, 4, 6))
    bi, bj = jax.vmap(fn)(batch)
    assert bi.shape == bj.shape == (3, 4)
    for k in range(3):
        check_assignment(np.asarray(batch[k]), np.asarray(bi[k]), np.asarray(bj[k]))
