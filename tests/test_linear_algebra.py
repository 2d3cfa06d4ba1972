"""Numerics and linear algebra: safe_norm, safe_root_mean_squares, power_iteration,
matrix_inverse_pth_root, nnls and multi_normal on every framework.

Each is compared with optax (JAX, float32) and with an independent float64 reference
(NumPy's norms and eigendecomposition, SciPy's NNLS and normal log-density); the "safe"
norms are also differentiated at zero on the frameworks with autodiff.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.optimize
import scipy.stats

import anyopt
from anyopt import _tree, backends

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4)).astype(np.float32)
T = RNG.standard_normal((2, 3, 4)).astype(np.float32)
_A = RNG.standard_normal((5, 5))
SPD = (_A @ _A.T + 0.5 * np.eye(5)).astype(np.float32)  # symmetric positive definite


def close(backend, actual, expected, rtol=1e-5, atol=0.0):
    assert backends.of(actual).NAME == backend.name
    np.testing.assert_allclose(backend.numpy(actual), np.asarray(expected), rtol=rtol, atol=atol)


# --- safe_norm, safe_root_mean_squares -----------------------------------------------------
NORMS = [
    (X, None, None),
    (X, None, 1),
    (X, 1, 0),
    (X, np.inf, 1),
    (X, -np.inf, None),
    (X, 0, 1),
    (X, 3, -1),
    (X, "fro", None),
    (X, "nuc", None),
    (X, 2, None),
    (X, -2, None),
    (X, 1, None),
    (X, -1, (1, 0)),
    (T, None, None),
    (T, None, (0, 2)),
    (T, "nuc", (2, 1)),
    (T, np.inf, (1, 2)),
    (T, 2, 2),
]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("min_norm", [0.1, 100.0])
@pytest.mark.parametrize("x, ord, axis", NORMS)
def test_safe_norm_matches_optax_and_numpy(backend, x, ord, axis, min_norm, keepdims):  # noqa: A002
    out = anyopt.safe_norm(backend.array(x), min_norm, ord, axis, keepdims)
    expected = optax.safe_norm(jnp.asarray(x), min_norm, ord, axis, keepdims)
    reference = np.maximum(np.linalg.norm(x.astype(np.float64), ord, axis, keepdims), min_norm)
    assert tuple(out.shape) == np.shape(expected) == np.shape(reference)
    close(backend, out, expected)
    close(backend, out, reference)


def test_safe_norm_of_zero_is_min_norm_and_takes_any_array_like():
    assert float(anyopt.safe_norm(np.zeros(3, np.float32), 0.5)) == 0.5
    assert float(anyopt.safe_norm([3.0, 4.0], 0.0)) == 5.0


@pytest.mark.parametrize("min_rms", [0.1, 10.0])
def test_safe_root_mean_squares_matches_optax(backend, min_rms):
    out = anyopt.safe_root_mean_squares(backend.array(X), min_rms)
    close(backend, out, optax.safe_root_mean_squares(jnp.asarray(X), min_rms), rtol=1e-6)
    close(backend, out, max(np.sqrt(np.mean(X.astype(np.float64) ** 2)), min_rms))


def _grad_at_zero(framework: str, fn):
    """The gradient of scalar ``fn`` at a zero vector, with the framework's autodiff."""
    zero = np.zeros(3, np.float32)
    if framework == "jax":
        return np.asarray(jax.grad(fn)(jnp.asarray(zero)))
    if framework == "torch":
        import torch

        x = torch.zeros(3, requires_grad=True)
        fn(x).backward()
        return x.grad.numpy()
    import mlx.core as mx

    return np.asarray(mx.grad(fn)(mx.array(zero)))


@pytest.mark.parametrize("framework", ["jax", "torch", "mlx"])
def test_safe_norms_have_zero_gradients_at_zero(framework):
    pytest.importorskip(framework)
    for fn in (
        lambda x: anyopt.safe_norm(x, 1e-3),
        lambda x: anyopt.safe_norm(x, 1e-3, ord=1, axis=0),
        lambda x: anyopt.safe_root_mean_squares(x, 1e-3),
    ):
        grad = _grad_at_zero(framework, fn)
        np.testing.assert_array_equal(grad, np.zeros(3, np.float32))


def test_norm_rejects_bad_orders():
    with pytest.raises(ValueError, match="ord 'fro' is not a vector norm"):
        anyopt.safe_norm(np.ones(3, np.float32), 0.1, ord="fro")
    with pytest.raises(ValueError, match="ord 3 is not a matrix norm"):
        anyopt.safe_norm(np.ones((2, 2), np.float32), 0.1, ord=3)
    with pytest.raises(ValueError, match="needs a 1-D or 2-D array or an axis"):
        anyopt.safe_norm(T, 0.1, ord=1)


# --- power_iteration ---------------------------------------------------------------------------
def _dominant_eigenpair():
    values, vectors = np.linalg.eigh(SPD.astype(np.float64))
    return values[-1], vectors[:, -1]


def test_power_iteration_matches_optax_and_eigh(backend):
    value, vector = anyopt.power_iteration(backend.array(SPD))
    expected_value, expected_vector = optax.power_iteration(jnp.asarray(SPD))
    ref_value, ref_vector = _dominant_eigenpair()
    close(backend, value, expected_value, rtol=1e-5)
    close(backend, value, ref_value, rtol=1e-5)
    got = backend.numpy(vector)
    if backend.name == "jax":  # the same default start (uniform from PRNGKey(0))
        np.testing.assert_allclose(got, np.asarray(expected_vector), rtol=1e-5, atol=1e-6)
    sign = np.sign(got @ ref_vector)  # other frameworks start elsewhere: up to sign
    np.testing.assert_allclose(sign * got, ref_vector, atol=1e-4)


def test_power_iteration_with_a_matrix_vector_product_on_trees(backend):
    """A block-diagonal operator on a two-leaf tree: the dominant block's eigenpair."""
    small = np.diag([0.5, 0.25]).astype(np.float32)

    spd, diag = backend.array(SPD), backend.array(small)

    def mvp(tree):
        return {"a": tree["a"] @ spd, "b": tree["b"] @ diag}

    v0 = backend.tree({"a": np.ones(5, np.float32), "b": np.ones(2, np.float32)})
    value, vector = anyopt.power_iteration(mvp, v0=v0, num_iters=500)
    ref_value, ref_vector = _dominant_eigenpair()
    close(backend, value, ref_value, rtol=1e-5)
    got = backend.numpy(vector["a"])
    np.testing.assert_allclose(np.sign(got @ ref_vector) * got, ref_vector, atol=1e-4)
    assert np.max(np.abs(backend.numpy(vector["b"]))) < 1e-4
    with pytest.raises(ValueError, match="v0 must be given"):
        anyopt.power_iteration(mvp)


def test_power_iteration_stops_after_num_iters():
    """One product from a start orthogonal to nothing special: far from converged."""
    v0 = np.ones(5, np.float32)
    value, _ = anyopt.power_iteration(SPD, v0=v0, num_iters=1)
    expected, _ = optax.power_iteration(jnp.asarray(SPD), v0=jnp.asarray(v0), num_iters=1)
    np.testing.assert_allclose(value, np.asarray(expected), rtol=1e-6)
    assert abs(value - _dominant_eigenpair()[0]) > 1e-3


def test_power_iteration_and_inverse_root_trace_under_jit():
    value, _ = jax.jit(anyopt.power_iteration)(jnp.asarray(SPD))
    np.testing.assert_allclose(np.asarray(value), _dominant_eigenpair()[0], rtol=1e-5)
    root, _ = jax.jit(anyopt.matrix_inverse_pth_root, static_argnums=1)(jnp.asarray(SPD), 2)
    expected, _ = optax.matrix_inverse_pth_root(jnp.asarray(SPD), 2)
    np.testing.assert_allclose(np.asarray(root), np.asarray(expected), rtol=1e-5, atol=1e-6)


# --- matrix_inverse_pth_root ------------------------------------------------------------------
def _inverse_root(matrix, p, ridge=1e-6):
    values, vectors = np.linalg.eigh(matrix.astype(np.float64))
    values = values + ridge * values[-1]
    return (vectors * values ** (-1.0 / p)) @ vectors.T


@pytest.mark.parametrize("p", [1, 2, 4, 8])
def test_matrix_inverse_pth_root_matches_optax_and_eigh(backend, p):
    root, error = anyopt.matrix_inverse_pth_root(backend.array(SPD), p)
    expected, expected_error = optax.matrix_inverse_pth_root(jnp.asarray(SPD), p)
    assert backends.dtype_name(root.dtype) == "float32"
    close(backend, root, expected, rtol=1e-5, atol=1e-6)
    close(backend, root, _inverse_root(SPD, p), rtol=1e-4, atol=1e-5)
    assert float(backend.numpy(error)) < 1e-5 and float(expected_error) < 1e-5


def test_matrix_inverse_pth_root_of_a_1x1_matrix(backend):
    root, error = anyopt.matrix_inverse_pth_root(backend.array(np.array([[4.0]], np.float32)), 2)
    expected, _ = optax.matrix_inverse_pth_root(jnp.asarray([[4.0]]), 2)
    close(backend, root, expected, rtol=1e-6)
    assert error == 0


# --- nnls ---------------------------------------------------------------------------------------
A = RNG.standard_normal((8, 4)).astype(np.float32)
B_VEC = RNG.standard_normal(8).astype(np.float32)
B_MAT = RNG.standard_normal((8, 3)).astype(np.float32)


@pytest.mark.parametrize("b", [B_VEC, B_MAT], ids=["vector", "matrix"])
def test_nnls_matches_optax_and_scipy(backend, b):
    x = anyopt.nnls(backend.array(A), backend.array(b), 2000)
    close(backend, x, optax.nnls(jnp.asarray(A), jnp.asarray(b), 2000), rtol=1e-5, atol=1e-6)
    columns = b.reshape(8, -1).astype(np.float64).T
    reference = np.stack([scipy.optimize.nnls(A.astype(np.float64), c)[0] for c in columns], -1)
    close(backend, x, reference.reshape(x.shape), rtol=1e-4, atol=1e-5)
    assert np.all(backend.numpy(x) >= 0)


def test_nnls_with_a_given_bound_and_few_iterations():
    lipschitz = float(np.linalg.eigvalsh(A.T.astype(np.float64) @ A)[-1])
    x = anyopt.nnls(A, B_VEC, 7, L=lipschitz)
    expected = optax.nnls(jnp.asarray(A), jnp.asarray(B_VEC), 7, L=lipschitz)
    np.testing.assert_allclose(x, np.asarray(expected), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match=r"nnls: A must be \(M, N\)"):
        anyopt.nnls(A, np.ones(5, np.float32), 10)


def test_nnls_solves_a_problem_with_a_nonnegative_solution():
    """Convergence: an exactly solvable system with x* >= 0 is solved."""
    x_star = np.array([0.0, 1.5, 0.25, 2.0], np.float32)
    x = anyopt.nnls(A, A @ x_star, 3000)
    np.testing.assert_allclose(x, x_star, atol=1e-4)


# --- multi_normal --------------------------------------------------------------------------------
LOC = RNG.standard_normal((2, 3)).astype(np.float32)
LOG_SCALE = (0.3 * RNG.standard_normal(3)).astype(np.float32)


def test_multi_normal_log_prob_matches_optax_and_scipy(backend):
    dist = anyopt.multi_normal(backend.array(LOC), backend.array(LOG_SCALE))
    x = RNG.standard_normal((4, 2, 3)).astype(np.float32)
    out = dist.log_prob(backend.array(x))
    expected = optax.multi_normal(jnp.asarray(LOC), jnp.asarray(LOG_SCALE)).log_prob(x)
    reference = scipy.stats.norm.logpdf(x, LOC, np.exp(LOG_SCALE)).sum(axis=(-1, -2))
    assert tuple(out.shape) == (4,)
    close(backend, out, expected, rtol=1e-5)
    close(backend, out, reference, rtol=1e-5)
    close(backend, dist.log_scale, LOG_SCALE, rtol=0)
    assert [backend.numpy(p).shape for p in dist.params] == [(2, 3), (3,)]


def test_multi_normal_samples(backend):
    dist = anyopt.multi_normal(backend.array(LOC), backend.array(LOG_SCALE))
    key = backends.load(backend.name).key(1)
    draws = backend.numpy(dist.sample((4000,), key))
    assert draws.shape == (4000, 2, 3)
    np.testing.assert_allclose(draws.mean(0), LOC, atol=0.1)
    np.testing.assert_allclose(draws.std(0), np.broadcast_to(np.exp(LOG_SCALE), (2, 3)), rtol=0.1)
    if backend.name == "jax":  # the same stream as optax's for the same key
        expected = optax.multi_normal(LOC, LOG_SCALE).sample((4000,), key)
        np.testing.assert_allclose(draws, np.asarray(expected), rtol=1e-6)


def test_multi_normal_of_python_numbers_and_mismatched_shapes():
    dist = anyopt.multi_normal(0.0, 0.0)
    np.testing.assert_allclose(dist.log_prob(np.float64(0.0)), -0.5 * np.log(2 * np.pi))
    with pytest.raises(ValueError, match="Incompatible shapes for broadcasting"):
        anyopt.multi_normal(np.zeros(3), np.zeros(2))


def test_tree_results_are_on_the_callers_framework(backend):
    _, vector = anyopt.power_iteration(backend.array(SPD))
    assert all(backends.of(x).NAME == backend.name for x in _tree.leaves(vector))
