"""anyopt.second_order against brute-force references, optax 0.2.8 and each other.

On a small MLP (31 parameters, softmax cross-entropy) on JAX, PyTorch and MLX:
* ``hessian_diag`` is the diagonal and ``hvp`` the product of the full Hessian, built by
  each framework's own dense Hessian (``jax.hessian``, ``torch.autograd.functional.hessian``,
  nested ``mx.grad``) over a flat parameter vector;
* ``fisher_diag`` is the squared gradient of the loss on the data it is given (optax's
  definition): per example, the squared per-example gradient of an explicit loop, so their
  mean is the empirical Fisher diagonal;
* on JAX all three equal optax.second_order's; all frameworks agree with JAX;
* Hutchinson's estimate converges to the diagonal within a z-score bound, is exact for a
  diagonal Hessian, and reproduces the draws of ``contrib.hutchinson_estimator_diag_hessian``
  (so Sophia can use it unchanged);
* NumPy raises ``NotImplementedError`` naming the frameworks that work.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

import anyopt
from anyopt import _ops, backends, capabilities
from anyopt import second_order as so

from conftest import FRAMEWORKS, Backend

AUTODIFF = [f for f in FRAMEWORKS if f in capabilities.AUTODIFF_FRAMEWORKS]
PUBLIC = ["hvp", "hessian_diag", "fisher_diag", "hutchinson_diag", "hutchinson_estimator"]

# --- the model: a one-hidden-layer tanh MLP with softmax cross-entropy -------------------------
_rng = np.random.default_rng(0)
BATCH, D_IN, HIDDEN, CLASSES = 6, 3, 4, 3
PARAMS = {
    "w1": _rng.standard_normal((D_IN, HIDDEN)).astype(np.float32),
    "b1": (0.5 * _rng.standard_normal(HIDDEN)).astype(np.float32),
    "w2": _rng.standard_normal((HIDDEN, CLASSES)).astype(np.float32),
    "b2": (0.5 * _rng.standard_normal(CLASSES)).astype(np.float32),
}
INPUTS = _rng.standard_normal((BATCH, D_IN)).astype(np.float32)
TARGETS = np.eye(CLASSES, dtype=np.float32)[_rng.integers(0, CLASSES, BATCH)]
ORDER = sorted(PARAMS)  # the flat layout: leaves in tree order (dict keys sorted, as in JAX)
N = sum(PARAMS[k].size for k in ORDER)
V = _rng.standard_normal(N).astype(np.float32)


def nll(params, inputs, targets):
    hidden = _ops.tanh(inputs @ params["w1"] + params["b1"])
    logits = hidden @ params["w2"] + params["b2"]
    shifted = logits - _ops.max(logits, axis=-1, keepdims=True)
    log_probs = shifted - _ops.log(_ops.sum(_ops.exp(shifted), axis=-1, keepdims=True))
    return -_ops.mean(_ops.sum(targets * log_probs, axis=-1))


def unflatten(vector):
    """The params dict from a flat vector in ``ORDER`` (the test's own layout)."""
    out, start = {}, 0
    for k in ORDER:
        stop = start + PARAMS[k].size
        out[k] = vector[start:stop].reshape(PARAMS[k].shape)
        start = stop
    return out


def flat_numpy(tree):
    return np.concatenate([Backend.numpy(tree[k]).ravel() for k in ORDER])


def data(backend, batch=slice(None)):
    return backend.tree(PARAMS), backend.array(INPUTS[batch]), backend.array(TARGETS[batch])


# --- independent references: each framework's own dense Hessian and plain gradient ------------
FLAT = np.concatenate([PARAMS[k].ravel() for k in ORDER])


def flat_nll(vector, inputs, targets):
    return nll(unflatten(vector), inputs, targets)


@functools.cache
def jax_reference(derivative: str):
    import jax

    return jax.jit(getattr(jax, derivative)(flat_nll))  # compiled once per data shape


def reference_hessian(name, inputs, targets) -> np.ndarray:
    if name == "jax":
        return np.asarray(jax_reference("hessian")(FLAT, inputs, targets), np.float64)
    f = lambda v: flat_nll(v, inputs, targets)  # noqa: E731
    if name == "torch":
        import torch

        return torch.autograd.functional.hessian(f, torch.tensor(FLAT)).double().numpy()
    import mlx.core as mx

    rows = [mx.grad(lambda v, i=i: mx.grad(f)(v)[i])(mx.array(FLAT)) for i in range(N)]
    return np.asarray(mx.stack(rows), np.float64)


def reference_grad(name, inputs, targets) -> np.ndarray:
    if name == "jax":
        return np.asarray(jax_reference("grad")(FLAT, inputs, targets), np.float64)
    if name == "torch":
        import torch

        v = torch.tensor(FLAT, requires_grad=True)
        return torch.autograd.grad(flat_nll(v, inputs, targets), v)[0].double().numpy()
    import mlx.core as mx

    return np.asarray(mx.grad(flat_nll)(mx.array(FLAT), inputs, targets), np.float64)


def full_hessian(backend):
    _, inputs, targets = data(backend)
    return reference_hessian(backend.name, inputs, targets)


def assert_framework_vector(x, backend):
    assert backends.of(x).NAME == backend.name
    assert backends.dtype_name(x.dtype) == "float32" and tuple(x.shape) == (N,)


# --- hessian_diag, hvp, fisher_diag --------------------------------------------------------------
@pytest.mark.parametrize("framework", AUTODIFF)
def test_hessian_diag_is_the_diagonal_of_the_full_hessian(framework):
    backend = Backend(framework)
    hessian = full_hessian(backend)
    assert np.abs(hessian - np.diag(np.diag(hessian))).max() > 1e-2  # not a diagonal Hessian
    got = so.hessian_diag(nll, *data(backend))
    assert_framework_vector(got, backend)
    np.testing.assert_allclose(backend.numpy(got), np.diag(hessian), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("framework", AUTODIFF)
def test_hvp_is_the_full_hessian_times_v(framework):
    backend = Backend(framework)
    got = so.hvp(nll, backend.array(V), *data(backend))
    assert sorted(got) == ORDER and all(got[k].shape == PARAMS[k].shape for k in ORDER)
    assert all(backends.of(x).NAME == framework for x in got.values())
    want = full_hessian(backend) @ V.astype(np.float64)
    np.testing.assert_allclose(flat_numpy(got), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("framework", AUTODIFF)
def test_fisher_diag_per_example_is_the_squared_per_example_gradient(framework):
    backend = Backend(framework)
    ours, squared_grads = [], []
    for b in range(BATCH):  # an explicit per-example loop
        params, inputs, targets = data(backend, slice(b, b + 1))
        got = so.fisher_diag(nll, params, inputs, targets)
        assert_framework_vector(got, backend)
        ours.append(backend.numpy(got))
        squared_grads.append(reference_grad(framework, inputs, targets) ** 2)
        np.testing.assert_allclose(ours[-1], squared_grads[-1], rtol=1e-5, atol=1e-7)
    empirical_fisher = np.mean(squared_grads, axis=0)
    np.testing.assert_allclose(np.mean(ours, axis=0), empirical_fisher, rtol=1e-5, atol=1e-7)

    # On the whole batch, optax's definition: the squared batch gradient, which is at most
    # the mean of squared per-example gradients (Jensen) and strictly less somewhere.
    batch_fisher = backend.numpy(so.fisher_diag(nll, *data(backend)))
    np.testing.assert_allclose(
        batch_fisher, reference_grad(framework, *data(backend)[1:]) ** 2, rtol=1e-5, atol=1e-7
    )
    assert np.all(batch_fisher <= empirical_fisher + 1e-6)
    assert np.any(batch_fisher < 0.5 * empirical_fisher)


def test_jax_matches_optax_second_order():
    import jax.numpy as jnp
    import optax

    params, inputs, targets = data(Backend("jax"))
    with warnings.catch_warnings():  # optax 0.2.8 marks these as deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        want_hvp = optax.second_order.hvp(nll, jnp.asarray(V), params, inputs, targets)
        want_diag = optax.second_order.hessian_diag(nll, params, inputs, targets)
        want_fisher = optax.second_order.fisher_diag(nll, params, inputs, targets)
    got_hvp = so.hvp(nll, jnp.asarray(V), params, inputs, targets)
    assert sorted(got_hvp) == sorted(want_hvp)
    for k in ORDER:
        np.testing.assert_allclose(np.asarray(got_hvp[k]), np.asarray(want_hvp[k]), rtol=0)
    got_diag = so.hessian_diag(nll, params, inputs, targets)
    assert got_diag.shape == want_diag.shape and got_diag.dtype == want_diag.dtype
    # optax vmaps over all basis vectors at once, we loop: the last bit may differ.
    np.testing.assert_allclose(np.asarray(got_diag), np.asarray(want_diag), rtol=1e-6, atol=1e-7)
    got_fisher = so.fisher_diag(nll, params, inputs, targets)
    assert got_fisher.shape == want_fisher.shape
    np.testing.assert_allclose(np.asarray(got_fisher), np.asarray(want_fisher), rtol=0)


def test_hessian_diag_traces_under_jax_jit():
    import jax

    params, inputs, targets = data(Backend("jax"))
    jitted = jax.jit(lambda p, x, y: so.hessian_diag(nll, p, x, y))
    np.testing.assert_allclose(
        np.asarray(jitted(params, inputs, targets)),
        np.asarray(so.hessian_diag(nll, params, inputs, targets)),
        rtol=1e-6,
        atol=1e-7,
    )


@pytest.mark.parametrize("framework", [f for f in AUTODIFF if f != "jax"])
def test_same_numbers_as_jax(framework):
    jax_data, ours = data(Backend("jax")), data(Backend(framework))
    for fn in (so.hessian_diag, so.fisher_diag):
        np.testing.assert_allclose(
            Backend.numpy(fn(nll, *ours)), Backend.numpy(fn(nll, *jax_data)), rtol=1e-5, atol=1e-6
        )
    hvp = so.hvp(nll, Backend(framework).array(V), *ours)
    hvp_jax = so.hvp(nll, Backend("jax").array(V), *jax_data)
    np.testing.assert_allclose(flat_numpy(hvp), flat_numpy(hvp_jax), rtol=1e-5, atol=1e-6)


# --- Hutchinson ----------------------------------------------------------------------------------
@pytest.mark.parametrize("framework", AUTODIFF)
def test_hutchinson_converges_within_a_z_score_bound(framework):
    backend = Backend(framework)
    params, inputs, targets = data(backend)
    samples = 300
    estimate = so.hutchinson_diag(lambda p: nll(p, inputs, targets), params, 3, samples)
    assert sorted(estimate) == ORDER and backends.of(estimate["w1"]).NAME == framework
    hessian = full_hessian(backend)
    # Var[z_i (H z)_i] = sum_{j != i} H_ij^2 for Rademacher z.
    std_error = np.sqrt((np.sum(hessian**2, axis=1) - np.diag(hessian) ** 2) / samples)
    z = (flat_numpy(estimate) - np.diag(hessian)) / std_error
    assert np.all(np.abs(z) < 5), z
    # The samples are independent: the z-scores have unit variance (chi-square, 31 dof).
    assert 0.25 < np.mean(z**2) < 2.5, np.mean(z**2)


COEFFICIENTS = {"w1": 1.0, "b1": -2.0, "w2": 0.5, "b2": 3.0}


def separable(params):
    """sum_k c_k x_k^2 + x_k^4 / 12: Hessian diag(2 c + x^2), zero off the diagonal."""
    return sum(_ops.sum(c * params[k] ** 2 + params[k] ** 4 / 12) for k, c in COEFFICIENTS.items())


@pytest.mark.parametrize("framework", AUTODIFF)
@pytest.mark.parametrize("samples", [1, 3])
def test_hutchinson_is_exact_for_a_diagonal_hessian(framework, samples):
    backend = Backend(framework)
    params = backend.tree(PARAMS)
    got = so.hutchinson_diag(separable, params, 11, num_samples=samples)
    for k, c in COEFFICIENTS.items():
        want = 2 * c + PARAMS[k].astype(np.float64) ** 2
        np.testing.assert_allclose(backend.numpy(got[k]), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("framework", AUTODIFF)
def test_hutchinson_takes_a_seed_or_the_frameworks_key(framework):
    backend = Backend(framework)
    params, inputs, targets = data(backend)
    fun = lambda p: nll(p, inputs, targets)  # noqa: E731
    from_seed = flat_numpy(so.hutchinson_diag(fun, params, 7))
    from_key = flat_numpy(so.hutchinson_diag(fun, params, backends.load(framework).key(7)))
    np.testing.assert_array_equal(from_seed, from_key)
    other_seed = flat_numpy(so.hutchinson_diag(fun, params, 8))
    assert not np.allclose(from_seed, other_seed)  # the Hessian is not diagonal


@pytest.mark.parametrize("framework", AUTODIFF)
def test_hutchinson_draws_as_sophias_estimator(framework):
    """``hutchinson_diag(key, S)`` is the mean of the first S estimates of
    ``contrib.hutchinson_estimator_diag_hessian(key)``; ``hutchinson_estimator`` with one
    sample gives its estimates and keys, step by step."""
    backend = Backend(framework)
    params, inputs, targets = data(backend)
    fun = lambda p: nll(p, inputs, targets)  # noqa: E731
    key = backends.load(framework).key(5)
    contrib = anyopt.contrib.hutchinson_estimator_diag_hessian(key)
    ours = so.hutchinson_estimator(key)
    contrib_state, ours_state, estimates = contrib.init(params), ours.init(params), []
    for _ in range(3):
        want, contrib_state = contrib.update(None, contrib_state, params, obj_fn=fun)
        got, ours_state = ours.update(None, ours_state, params, obj_fn=fun)
        np.testing.assert_array_equal(flat_numpy(got), flat_numpy(want))
        np.testing.assert_array_equal(
            Backend.numpy(ours_state.key), Backend.numpy(contrib_state.key)
        )
        estimates.append(flat_numpy(want))
    mean = flat_numpy(so.hutchinson_diag(fun, params, key, num_samples=3))  # JAX: compiled loop
    np.testing.assert_allclose(mean, np.mean(estimates, axis=0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(estimates[0], estimates[1])


@pytest.mark.parametrize("framework", AUTODIFF)
def test_sophia_with_hutchinson_estimator(framework):
    backend = Backend(framework)
    params, inputs, targets = data(backend)
    fun = lambda p: nll(p, inputs, targets)  # noqa: E731
    key = backends.load(framework).key(0)
    runs = {}
    for label, estimator in [
        ("default", anyopt.contrib.hutchinson_estimator_diag_hessian(key)),
        ("ours", so.hutchinson_estimator(key)),
        ("ours, 4 samples", so.hutchinson_estimator(key, num_samples=4)),
    ]:
        tx = anyopt.contrib.sophia(
            0.05, gamma=10.0, update_interval=1, hessian_diagonal_fn=estimator
        )

        def step(p, state, tx=tx):
            grads = anyopt._autodiff.grad(nll, name="test")(p, inputs, targets)
            updates, state = tx.update(grads, state, p, obj_fn=fun)
            return anyopt.apply_updates(p, updates), state

        if framework == "jax":  # one compiled step: Sophia branches with jax.lax.cond
            import jax

            step = jax.jit(step)
        p, state = params, tx.init(params)
        for _ in range(4):
            p, state = step(p, state)
        runs[label] = flat_numpy(p)
    np.testing.assert_allclose(runs["ours"], runs["default"], rtol=1e-6, atol=1e-7)
    assert not np.allclose(runs["ours, 4 samples"], runs["default"])
    trained = backend.tree(unflatten(runs["ours, 4 samples"].astype(np.float32)))
    assert float(fun(trained)) < float(fun(params))


# --- errors ----------------------------------------------------------------------------------
def numpy_calls():
    params, inputs, targets = data(Backend("numpy"))
    fun = lambda p: nll(p, inputs, targets)  # noqa: E731
    return {
        "hvp": lambda: so.hvp(nll, V, params, inputs, targets),
        "hessian_diag": lambda: so.hessian_diag(nll, params, inputs, targets),
        "fisher_diag": lambda: so.fisher_diag(nll, params, inputs, targets),
        "hutchinson_diag": lambda: so.hutchinson_diag(fun, params, 0),
        "hutchinson_estimator": lambda: so.hutchinson_estimator().init(params),
    }


@pytest.mark.parametrize("name", PUBLIC)
def test_numpy_raises_naming_the_frameworks_that_work(name):
    assert sorted(so.__all__) == sorted(PUBLIC)
    with pytest.raises(NotImplementedError, match=rf"second_order\.{name} does not run on numpy"):
        numpy_calls()[name]()
    with pytest.raises(NotImplementedError, match="it runs on jax, torch, mlx"):
        numpy_calls()[name]()


@pytest.mark.parametrize("framework", AUTODIFF)
def test_clear_errors_for_bad_arguments(framework):
    backend = Backend(framework)
    params, inputs, targets = data(backend)
    with pytest.raises(ValueError, match=rf"flat vector of shape \({N},\)"):
        so.hvp(nll, backend.array(V[:-1]), params, inputs, targets)
    with pytest.raises(ValueError, match="num_samples must be an int >= 1; got 0"):
        so.hutchinson_diag(lambda p: nll(p, inputs, targets), params, 0, num_samples=0)
    with pytest.raises(ValueError, match="num_samples must be an int >= 1"):
        so.hutchinson_estimator(num_samples=2.5)
    estimator = so.hutchinson_estimator()
    with pytest.raises(ValueError, match="update needs params and obj_fn"):
        estimator.update(None, estimator.init(params), params)
