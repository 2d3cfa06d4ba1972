"""Autodiff per framework, SAM and Sophia against optax 0.2.8 and float64 references.

* the backend primitives (``value_and_grad``, ``grad``, ``hvp``, loops and branches) give
  the analytic numbers on JAX, PyTorch and MLX; NumPy raises a ``NotImplementedError`` that
  names the frameworks that work;
* SAM: opaque mode against optax on every framework (it needs no autodiff: the caller
  passes ``grad_fn``), transparent mode against a float64 transcription of the paper;
* Sophia with Hutchinson's estimator against optax on a separable objective, where the
  estimate is exact whatever the random signs (so frameworks with other RNGs still give
  optax's numbers); Hutchinson's estimator itself on JAX (optax's signs) and elsewhere
  (an exact ``z * (H z)`` for some signs ``z``); Sophia against a float64 transcription.

L-BFGS and the line searches are in tests/test_linesearch.py.
"""

from __future__ import annotations

import functools
import itertools
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import anyopt
from anyopt import _autodiff, _ops, _tree, backends, capabilities
from test_linesearch import A_MAT, B_VEC, assert_close

from conftest import FRAMEWORKS, Backend, random_tree, relative_error_norm

AUTODIFF = [f for f in FRAMEWORKS if f in capabilities.AUTODIFF_FRAMEWORKS]
X0 = np.linspace(-1.0, 1.5, 5).astype(np.float32)


# --- the backend primitives ----------------------------------------------------------------
def cubic_tree(backend):
    tree = {"a": np.array([1.0, -2.0, 0.5], np.float32), "b": [np.float32(1.5), None]}
    return backend.tree(tree)


def cubic(params):
    return sum(_ops.sum(x**3) for x in _tree.leaves(params))


@pytest.mark.parametrize("framework", AUTODIFF)
def test_value_and_grad_grad_and_hvp(framework):
    backend = Backend(framework)
    params = cubic_tree(backend)
    value, grad = _autodiff.value_and_grad(cubic, name="x")(params)
    np.testing.assert_allclose(backend.numpy(value), 1 - 8 + 0.125 + 3.375, rtol=1e-6)
    np.testing.assert_allclose(backend.numpy(grad["a"]), [3.0, 12.0, 0.75], rtol=1e-6)
    np.testing.assert_allclose(backend.numpy(grad["b"][0]), 6.75, rtol=1e-6)
    assert grad["b"][1] is None

    def with_aux(p):
        return cubic(p), {"double": 2 * p["a"]}

    (value2, aux), grad2 = _autodiff.value_and_grad(with_aux, has_aux=True, name="x")(params)
    np.testing.assert_allclose(backend.numpy(value2), backend.numpy(value))
    np.testing.assert_allclose(backend.numpy(aux["double"]), [2.0, -4.0, 1.0])
    g, aux = _autodiff.grad(with_aux, has_aux=True, name="x")(params)
    np.testing.assert_allclose(backend.numpy(g["a"]), backend.numpy(grad2["a"]))
    g = _autodiff.grad(lambda p, scale: scale * cubic(p), name="x")(params, 2.0)
    np.testing.assert_allclose(backend.numpy(g["a"]), [6.0, 24.0, 1.5], rtol=1e-6)

    tangents = _tree.map(lambda x: 0 * x + 1, params)
    hv = _autodiff.hvp(cubic, params, tangents, name="x")  # Hessian diag(6x) times ones
    np.testing.assert_allclose(backend.numpy(hv["a"]), [6.0, -12.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(backend.numpy(hv["b"][0]), 9.0, rtol=1e-6)


def test_numpy_has_no_autodiff():
    params = cubic_tree(Backend("numpy"))
    for call in (
        lambda: _autodiff.value_and_grad(cubic, name="value_and_grad_from_state")(params),
        lambda: _autodiff.grad(cubic, name="scale_by_zoom_linesearch")(params),
        lambda: _autodiff.hvp(
            cubic, params, params, name="contrib.hutchinson_estimator_diag_hessian"
        ),
    ):
        with pytest.raises(NotImplementedError, match="does not run on numpy: needs automatic"):
            call()


def test_control_flow(backend):
    start = backend.array(np.int32(0))
    out = _autodiff.while_loop(lambda i: i < 5, lambda i: i + 1, start)
    assert int(backend.numpy(out)) == 5
    x = backend.array(np.float32(2.0))
    yes = _autodiff.cond(x > 1, lambda v: v * 3, lambda v: v - 3, x)
    no = _autodiff.cond(x > 5, lambda v: v * 3, lambda v: v - 3, x)
    assert float(backend.numpy(yes)) == 6.0 and float(backend.numpy(no)) == -1.0


def test_control_flow_traces_under_jit():
    @jax.jit
    def f(n):
        return _autodiff.while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1, c[1] * 2.0), (0, 1.0))

    assert float(f(5)[1]) == 32.0


# --- SAM ----------------------------------------------------------------------------------
def quadratic_grad(backend):
    a, b = backend.array(A_MAT), backend.array(B_VEC)
    return lambda p: _ops.matmul(a, p) - b


def sam_optimizer(lib, **kwargs):
    adv = lib.chain(lib.contrib.normalize(), lib.sgd(0.1))
    return lib.contrib.sam(lib.sgd(0.05, momentum=0.9), adv, **kwargs)


def run_sam_opaque(lib, backend, steps=15, **kwargs):
    grad = quadratic_grad(backend)
    tx = sam_optimizer(lib, opaque_mode=True, **kwargs)
    params = backend.array(X0)
    state = tx.init(params)
    out = []
    for _ in range(steps):
        updates, state = tx.update(grad(params), state, params, grad_fn=lambda p, i: grad(p))
        params = lib.apply_updates(params, updates)
        out.append((params, state))
    return out


@pytest.mark.parametrize("kwargs", [{"sync_period": 3}, {"sync_period": 2, "reset_state": False}])
def test_sam_opaque_mode_matches_optax(backend, kwargs):
    want = run_sam_opaque(optax, Backend("jax"), **kwargs)
    got = run_sam_opaque(anyopt, backend, **kwargs)
    for k, ((p, s), (pe, se)) in enumerate(zip(got, want)):
        assert_close(p, pe, backend, f"step {k} params")
        assert_close(s, se, backend, f"step {k} state")


SAM_TRANSPARENT = {
    "momentum": lambda lib: lib.contrib.sam(lib.sgd(0.05, momentum=0.9), lib.sgd(0.02)),
    "sync3_keep_state": lambda lib: lib.contrib.sam(
        lib.adam(0.01), lib.sgd(0.02, momentum=0.5), sync_period=3, reset_state=False
    ),
}


def run_sam_transparent(lib, backend, name, steps=50):
    """The parity harness's run: random_tree parameters, gradients noise + 0.1 params."""
    tx = SAM_TRANSPARENT[name](lib)
    params = backend.tree(random_tree(0))
    state = tx.init(params)
    for k in range(steps):
        noise = backend.tree(random_tree(100 + k))
        grads = _tree.map(lambda n, p: n + 0.1 * p, noise, params)
        updates, state = tx.update(grads, state, params)
        params = lib.apply_updates(params, updates)
    return params, state


@pytest.mark.parametrize("name", sorted(SAM_TRANSPARENT))
def test_sam_transparent_mode_matches_optax(backend, name):
    want = run_sam_transparent(optax, Backend("jax"), name)
    params, state = run_sam_transparent(anyopt, backend, name)
    assert type(state).__name__ == "SAMState" and state._fields == want[1]._fields
    assert_close(params, want[0], backend, "params")
    assert_close(state, want[1], backend, "state")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_sam_keeps_dtypes(backend, dtype):
    if (backend.name, dtype) in {("numpy", "bfloat16"), ("jax", "float64")}:
        pytest.skip(f"{backend.name} has no {dtype} here")
    tx = SAM_TRANSPARENT["sync3_keep_state"](anyopt)
    params = backend.tree({"w": np.full((2, 3), 0.5), "b": np.linspace(-1, 1, 3)}, dtype)
    state = tx.init(params)
    for _ in range(4):
        updates, state = tx.update(_tree.map(lambda p: 0.3 * p + 0.1, params), state, params)
        params = anyopt.apply_updates(params, updates)
        for leaf in _tree.leaves((params, updates, state.cache, state.opt_state[0].mu)):
            assert backends.dtype_name(_ops.dtype(leaf)) == dtype
        assert backends.dtype_name(_ops.dtype(state.steps_since_sync)) == "int32"


def test_sam_transparent_mode_is_the_papers_update(backend):
    """Two calls per outer step: w_adv = w + rho g/|g|, then w <- w - lr g(w_adv)."""
    lr, rho = 0.05, 0.1
    adv = anyopt.chain(anyopt.contrib.normalize(), anyopt.sgd(rho))
    tx = anyopt.contrib.sam(anyopt.sgd(lr), adv, sync_period=2)
    grad = quadratic_grad(backend)
    params = backend.array(X0)
    state = tx.init(params)
    w = X0.astype(np.float64)
    a, b = A_MAT.astype(np.float64), B_VEC.astype(np.float64)
    for k in range(10):
        g = a @ w - b
        w_adv = w + rho * g / np.linalg.norm(g)
        w = w - lr * (a @ w_adv - b)
        for expected in (w_adv, w):
            updates, state = tx.update(grad(params), state, params)
            params = anyopt.apply_updates(params, updates)
            assert relative_error_norm(backend.numpy(params), expected) < 1e-5, k
        assert int(backend.numpy(state.steps_since_sync)) == 0


def test_sam_errors(backend):
    with pytest.raises(ValueError, match="sam: sync_period must be >= 1; got 0"):
        anyopt.contrib.sam(anyopt.sgd(0.1), anyopt.sgd(0.1), sync_period=0)
    tx = sam_optimizer(anyopt, opaque_mode=True)
    params = backend.array(X0)
    with pytest.raises(ValueError, match="grad_fn must be provided when opaque_mode=True"):
        tx.update(params, tx.init(params), params)
    if backend.name != "jax":
        tx = sam_optimizer(anyopt, opaque_mode=True, batch_axis_name="batch")
        with pytest.raises(NotImplementedError, match="needs jax.lax.pmean"):
            tx.update(params, tx.init(params), params, grad_fn=lambda p, i: p)


def test_sam_batch_axis_name_averages_under_vmap():
    def run(lib):
        tx = sam_optimizer(lib, opaque_mode=True, batch_axis_name="batch")
        grad = quadratic_grad(Backend("jax"))
        shifts = jnp.stack([jnp.zeros(5), jnp.ones(5)])

        def step(params, shift):
            state = tx.init(params)

            def grad_fn(p, i):
                return grad(p) + shift

            updates, _ = tx.update(grad_fn(params, 0), state, params, grad_fn=grad_fn)
            return updates

        return jax.vmap(step, axis_name="batch")(jnp.stack([jnp.asarray(X0)] * 2), shifts)

    got, want = run(anyopt), run(optax)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(got[0]), np.asarray(got[1]), rtol=1e-6)


# --- Sophia and Hutchinson's estimator ------------------------------------------------------
CURV = np.linspace(0.5, 2.0, 5).astype(np.float32)


def separable(backend):
    """f(x) = sum(a x^2 / 2 + x^4 / 4): a diagonal Hessian a + 3 x^2."""
    a = backend.array(CURV)
    return (lambda p: _ops.sum(0.5 * a * p * p + 0.25 * p**4)), (lambda p: a * p + p**3)


SOPHIA = {
    "default": {},
    "clip_gamma_b1_b2": {"clip_threshold": 0.5, "gamma": 0.2, "b1": 0.9, "b2": 0.9},
}


def run_sophia(lib, backend, name, steps=30):
    obj, grad = separable(backend)
    tx = lib.contrib.sophia(0.05, update_interval=2, **SOPHIA[name])

    def step(params, state):
        updates, state = tx.update(grad(params), state, params, obj_fn=obj)
        return lib.apply_updates(params, updates), state

    if backend.name == "jax":  # eager lax.cond compiles at every call
        step = jax.jit(step)
    params = backend.array(X0)
    state = tx.init(params)
    out = []
    for _ in range(steps):
        params, state = step(params, state)
        out.append((params, state))
    return out


@functools.cache
def optax_sophia(name):
    return run_sophia(optax, Backend("jax"), name)


@pytest.mark.parametrize("name", sorted(SOPHIA))
@pytest.mark.parametrize("framework", AUTODIFF)
def test_sophia_matches_optax_on_a_separable_objective(framework, name):
    backend = Backend(framework)
    want = optax_sophia(name)
    got = run_sophia(anyopt, backend, name)
    for k, ((p, s), (pe, se)) in enumerate(zip(got, want)):
        assert_close(p, pe, backend, f"step {k} params")
        sophia, sophia_e = s[0], se[0]
        assert type(sophia).__name__ == "SophiaState" and sophia._fields == sophia_e._fields
        assert_close(sophia[:3], sophia_e[:3], backend, f"step {k} state")
        if framework == "jax":  # the same random key as optax
            assert_close(sophia.hessian_fn_state, sophia_e.hessian_fn_state, backend, "key")
    f = separable(backend)[0]
    assert float(backend.numpy(f(got[-1][0]))) < 0.5 * float(backend.numpy(f(backend.array(X0))))


def quadratic_obj(backend):
    a = backend.array(A_MAT)
    return lambda p: 0.5 * _ops.sum(p * _ops.matmul(a, p))


def test_hutchinson_matches_optax_on_jax():
    obj = quadratic_obj(Backend("jax"))
    params = jnp.asarray(X0)
    ours, theirs = (
        anyopt.contrib.hutchinson_estimator_diag_hessian(),
        (optax.contrib.hutchinson_estimator_diag_hessian()),
    )
    s, se = ours.init(params), theirs.init(params)
    for k in range(4):
        d, s = ours.update(params, s, params, obj_fn=obj)
        de, se = theirs.update(params, se, params, obj_fn=obj)
        np.testing.assert_allclose(np.asarray(d), np.asarray(de), rtol=1e-6, err_msg=str(k))
        np.testing.assert_array_equal(np.asarray(s.key), np.asarray(se.key))


@pytest.mark.parametrize("framework", AUTODIFF)
def test_hutchinson_estimate_is_z_times_hz(framework):
    backend = Backend(framework)
    tx = anyopt.contrib.hutchinson_estimator_diag_hessian()
    params = backend.array(X0)
    state = tx.init(params)
    a = A_MAT.astype(np.float64)
    candidates = [np.array(z) * (a @ np.array(z)) for z in itertools.product([-1, 1], repeat=5)]
    seen, keys = set(), []
    for _ in range(6):
        keys.append(backend.numpy(state.key).tobytes())
        estimate, state = tx.update(None, state, params, obj_fn=quadratic_obj(backend))
        assert _ops.dtype(estimate) == _ops.dtype(params)
        got = backend.numpy(estimate)
        errors = [np.max(np.abs(got - c)) for c in candidates]
        assert min(errors) < 1e-5, got
        seen.add(int(np.argmin(errors)))
    assert len(set(keys)) == len(keys)  # a fresh key every step
    assert len(seen) > 1  # the signs are random


def test_hutchinson_needs_autodiff_params_and_obj_fn(backend):
    tx = anyopt.contrib.hutchinson_estimator_diag_hessian()
    params = backend.array(X0)
    state = tx.init(params)
    with pytest.raises(ValueError, match="params must be provided"):
        tx.update(None, state, None, obj_fn=lambda p: p)
    with pytest.raises(ValueError, match="obj_fn must be provided"):
        tx.update(None, state, params)
    if backend.name == "numpy":
        with pytest.raises(
            NotImplementedError,
            match="contrib.hutchinson_estimator_diag_hessian does not run on numpy",
        ):
            tx.update(None, state, params, obj_fn=quadratic_obj(backend))
        with pytest.raises(NotImplementedError, match="it runs on jax, torch, mlx"):
            anyopt.contrib.sophia(0.1).update(
                params, anyopt.contrib.sophia(0.1).init(params), params, obj_fn=lambda p: p
            )


def test_sophia_is_the_papers_update(backend):
    """Float64 transcription with the exact Hessian diagonal (no autodiff: every framework)."""
    lr, b1, b2, eps, gamma, rho, wd, interval = 0.05, 0.9, 0.95, 1e-8, 0.05, 1.0, 0.01, 3
    a = backend.array(CURV)
    exact = anyopt.stateless(lambda g, p: a + 3 * p * p)
    tx = anyopt.contrib.sophia(
        lr, b1, b2, eps, wd, gamma=gamma, clip_threshold=rho, update_interval=interval,
        hessian_diagonal_fn=exact,
    )  # fmt: skip
    _, grad = separable(backend)
    params = backend.array(X0)
    state = tx.init(params)
    w, m, h = X0.astype(np.float64), np.zeros(5), np.zeros(5)
    c = CURV.astype(np.float64)
    for k in range(1, 31):
        g = c * w + w**3
        m = b1 * m + (1 - b1) * g
        u = np.clip(m / (1 - b1**k) / np.maximum(gamma * h, eps), -rho, rho)
        if (k - 1) % interval == 0:
            h = b2 * h + (1 - b2) * (c + 3 * w**2)
        w = w - lr * (u + wd * w)
        updates, state = tx.update(grad(params), state, params)
        params = anyopt.apply_updates(params, updates)
        assert relative_error_norm(backend.numpy(params), w) < 1e-5, k


def test_sophia_jitted_update_matches_eager():
    obj, grad = separable(Backend("jax"))
    tx = anyopt.contrib.sophia(0.05, update_interval=2)
    update = jax.jit(lambda g, s, p: tx.update(g, s, p, obj_fn=obj))
    params = jnp.asarray(X0)
    eager = jitted = tx.init(params)
    for _ in range(5):
        u, eager = tx.update(grad(params), eager, params, obj_fn=obj)
        uj, jitted = update(grad(params), jitted, params)
        np.testing.assert_allclose(np.asarray(uj), np.asarray(u), rtol=1e-6, atol=1e-7)
        params = anyopt.apply_updates(params, u)
    assert_close(jitted, eager, Backend("jax"), "state")


BAD = [
    (lambda: anyopt.contrib.sophia(0.1, b1=1.2), "sophia: b1 must be in [0, 1); got 1.2"),
    (lambda: anyopt.contrib.sophia(-0.1), "sophia: learning_rate must be >= 0; got -0.1"),
    (lambda: anyopt.contrib.sophia(0.1, gamma=-1.0), "sophia: gamma must be >= 0; got -1.0"),
    (
        lambda: anyopt.contrib.sophia(0.1, update_interval=0),
        "sophia: update_interval must be > 0; got 0",
    ),
    (
        lambda: anyopt.contrib.sophia(0.1, mu_dtype="int8"),
        "sophia: mu_dtype must be a floating dtype",
    ),
]


@pytest.mark.parametrize("build, message", BAD)
def test_bad_hyperparameters_fail_at_build_time(build, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build()
