"""``anyopt.projections`` against optax.projections and independent float64 references.

Every case runs on every framework over many inputs (vectors, matrices, trees with None,
ties, points already inside the set, zeros) and is compared with optax on JAX (float32,
and float64 under ``jax.enable_x64``) and with a float64 NumPy transcription of the
projection (the simplex one by bisection, not by sorting). Dtypes are kept (float16,
bfloat16, float32, float64); JAX runs under ``jit``/``vmap``; derivatives at the special
points match on every framework with autodiff.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import anyopt
from anyopt import _autodiff, _ops, backends

RNG = np.random.default_rng(0)


def _r(*shape, scale=1.0):
    return (scale * RNG.standard_normal(shape)).astype(np.float32)


# Each input: (x, a) with ``a`` a tree like ``x`` (hyperplane normals, box bounds).
INPUTS = {
    "vector": (_r(7, scale=2.0), _r(7)),
    "matrix": (_r(3, 4), _r(3, 4)),
    "single": (_r(1, scale=3.0), _r(1)),
    "ties": (np.array([1.0, 1.0, 1.0, 0.5, 0.5, -2.0, 0.5], np.float32), _r(7)),
    "inside": (_r(5, scale=0.02), _r(5)),
    "zeros": (np.zeros(4, np.float32), _r(4)),
    "long": (_r(300), _r(300)),
    "tree": (
        {"w": _r(3, 2), "b": [_r(4), _r()], "skip": None},
        {"w": _r(3, 2), "b": [_r(4), _r()], "skip": None},
    ),
}

# name -> (call(P, x, a) with P a projections module, float64 reference on flat vectors)
SCALES = [0.5, 1.0, 3.21]


def _simplex_ref(v, s):
    """Bisection on the threshold tau of ``sum(max(v - tau, 0)) = s``."""
    lo, hi = v.min() - s, v.max()
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.maximum(v - mid, 0).sum() > s else (lo, mid)
    return np.maximum(v - (lo + hi) / 2, 0)


def _l1_sphere_ref(v, s):
    return np.sign(v) * _simplex_ref(np.abs(v), s)


def _norm2(v):
    return np.sqrt(np.sum(v * v))


def _cases():
    cases = {
        "non_negative": (
            lambda P, x, a: P.projection_non_negative(x),
            lambda x, a: np.maximum(x, 0),
        ),
        "box/scalars": (
            lambda P, x, a: P.projection_box(x, -0.5, 0.7),
            lambda x, a: np.clip(x, -0.5, 0.7),
        ),
        "box/trees": (
            lambda P, x, a: P.projection_box(x, a, jax.tree.map(abs, a)),
            lambda x, a: np.clip(x, a, np.abs(a)),
        ),
        "hypercube": (lambda P, x, a: P.projection_hypercube(x), lambda x, a: np.clip(x, 0, 1)),
        "hypercube/0.8": (
            lambda P, x, a: P.projection_hypercube(x, 0.8),
            lambda x, a: np.clip(x, 0, 0.8),
        ),
        "vector": (lambda P, x, a: P.projection_vector(x, a), lambda x, a: x @ a / (a @ a) * a),
    }
    for b in [-1.0, 0.5, 5.0]:
        cases[f"hyperplane/{b}"] = (
            lambda P, x, a, b=b: P.projection_hyperplane(x, a, b),
            lambda x, a, b=b: x + (b - a @ x) / (a @ a) * a,
        )
        cases[f"halfspace/{b}"] = (
            lambda P, x, a, b=b: P.projection_halfspace(x, a, b),
            lambda x, a, b=b: x + min((b - a @ x) / (a @ a), 0.0) * a,
        )
    for s in SCALES:
        cases[f"simplex/{s}"] = (
            lambda P, x, a, s=s: P.projection_simplex(x, s),
            lambda x, a, s=s: _simplex_ref(x, s),
        )
        cases[f"l1_sphere/{s}"] = (
            lambda P, x, a, s=s: P.projection_l1_sphere(x, s),
            lambda x, a, s=s: _l1_sphere_ref(x, s),
        )
        cases[f"l1_ball/{s}"] = (
            lambda P, x, a, s=s: P.projection_l1_ball(x, s),
            lambda x, a, s=s: x if np.abs(x).sum() <= s else _l1_sphere_ref(x, s),
        )
        cases[f"l2_sphere/{s}"] = (
            lambda P, x, a, s=s: P.projection_l2_sphere(x, s),
            lambda x, a, s=s: s * x / _norm2(x),
        )
        cases[f"l2_ball/{s}"] = (
            lambda P, x, a, s=s: P.projection_l2_ball(x, s),
            lambda x, a, s=s: x * min(1.0, s / _norm2(x)) if _norm2(x) else x,
        )
        cases[f"linf_ball/{s}"] = (
            lambda P, x, a, s=s: P.projection_linf_ball(x, s),
            lambda x, a, s=s: np.clip(x, -s, s),
        )
    return cases


CASES = _cases()
# Scalar bounds for a whole tree: optax maps them over single-leaf trees only.
SCALAR_BOUNDS = {"box/scalars", "hypercube", "hypercube/0.8"}


def flat(tree) -> np.ndarray:
    leaves = [
        np.asarray(backends.of(x).to_numpy(x), np.float64).ravel() for x in jax.tree.leaves(tree)
    ]
    return np.concatenate(leaves) if leaves else np.zeros(0)


def optax_call(name: str, x, a):
    """optax's result on JAX copies of the NumPy trees ``x`` and ``a``."""
    call = CASES[name][0]
    xj, aj = jax.tree.map(jnp.asarray, x), jax.tree.map(jnp.asarray, a)
    if name in SCALAR_BOUNDS and len(jax.tree.leaves(xj)) > 1:  # optax: leaf by leaf only
        return jax.tree.map(lambda leaf: call(optax.projections, leaf, None), xj)
    return call(optax.projections, xj, aj)


def _expect_nan(name: str, key: str) -> bool:
    return key == "zeros" and name.startswith("l2_sphere")


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_optax_and_the_float64_reference(backend, name):
    call, reference = CASES[name]
    for key, (x, a) in INPUTS.items():
        with np.errstate(all="ignore"):
            out = call(anyopt.projections, backend.tree(x), backend.tree(a))
        expected = optax_call(name, x, a)
        assert jax.tree.structure(out) == jax.tree.structure(expected), key
        for leaf, want in zip(jax.tree.leaves(out), jax.tree.leaves(expected)):
            assert backends.of(leaf).NAME == backend.name, key
            assert backends.dtype_name(_ops.dtype(leaf)) == "float32", key
            assert tuple(_ops.shape(leaf)) == want.shape, key
        msg = f"{name} on {key}"
        np.testing.assert_allclose(flat(out), flat(expected), rtol=2e-5, atol=2e-6, err_msg=msg)
        if _expect_nan(name, key):
            assert np.isnan(flat(out)).all(), msg
            continue
        with np.errstate(all="ignore"):
            ref = reference(flat(x), flat(a))
        np.testing.assert_allclose(flat(out), ref, rtol=1e-4, atol=1e-5, err_msg=msg)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float64_matches_optax_x64(backend, name):
    call, reference = CASES[name]
    for key in ["vector", "ties", "tree", "long"]:
        x, a = (jax.tree.map(lambda v: v.astype(np.float64), t) for t in INPUTS[key])
        with jax.enable_x64(True):
            out = call(anyopt.projections, backend.tree(x), backend.tree(a))
            expected = optax_call(name, x, a)
            for leaf in jax.tree.leaves(out):
                assert backends.dtype_name(_ops.dtype(leaf)) == "float64", key
            got, want = flat(out), flat(expected)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13, err_msg=f"{name} on {key}")
        np.testing.assert_allclose(got, reference(flat(x), flat(a)), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("dtype, tol", [("float16", 3e-2), ("bfloat16", 8e-2), ("float32", 1e-4)])
@pytest.mark.parametrize("name", sorted(CASES))
def test_dtype_is_kept(backend, name, dtype, tol):
    if (backend.name, dtype) == ("numpy", "bfloat16"):
        pytest.skip("NumPy has no bfloat16 of its own (ml_dtypes' promotes to float32)")
    call, reference = CASES[name]
    for key in ["vector", "tree", "ties"]:
        x, a = INPUTS[key]
        out = call(anyopt.projections, backend.tree(x, dtype), backend.tree(a, dtype))
        for leaf in jax.tree.leaves(out):
            assert backends.dtype_name(_ops.dtype(leaf)) == dtype, f"{name} on {key}"
        rounded = [flat(backend.tree(t, dtype)) for t in (x, a)]
        got = flat(out)
        assert np.isfinite(got).all(), f"{name} on {key}"
        want = reference(*rounded)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max(), err_msg=key)


def test_python_number_trees_match_optax():
    x, a = (1.0, -2.0, {"k": 0.5}), (3.0, 4.0, {"k": -1.0})
    for name, (call, _) in CASES.items():
        if name.startswith(("box", "hypercube")):
            continue  # optax maps scalar bounds only over single-leaf trees
        with np.errstate(all="ignore"):
            out = call(anyopt.projections, x, a)
        expected = call(optax.projections, x, a)
        assert jax.tree.structure(out) == jax.tree.structure(expected), name
        np.testing.assert_allclose(flat(out), flat(expected), rtol=1e-6, atol=1e-7, err_msg=name)


def test_simplex_mixed_tree_of_arrays_and_numbers(backend):
    tree = {"w": backend.array(np.array([2.5, 3.2], np.float32)), "b": 0.5}
    out = anyopt.projections.projection_simplex(tree, 0.8)
    expected = optax.projections.projection_simplex({"w": jnp.array([2.5, 3.2]), "b": 0.5}, 0.8)
    assert backends.of(out["b"]).NAME == backend.name and _ops.shape(out["b"]) == ()
    np.testing.assert_allclose(flat(out), flat(expected), rtol=1e-6)
    np.testing.assert_allclose(float(anyopt.tree.sum(out)), 0.8, rtol=1e-6)


def test_simplex_edge_case_and_mixed_dtypes(backend):
    with np.errstate(all="ignore"):
        p = anyopt.projections.projection_simplex(
            backend.array(np.array([0.0, 0.0, -np.inf], np.float32))
        )
    np.testing.assert_allclose(backend.numpy(p), [0.5, 0.5, 0.0])
    tree = (backend.array(_r(3), "float16"), backend.array(_r(4), "float32"))
    out = anyopt.projections.projection_simplex(tree, 2.0)
    assert [backends.dtype_name(_ops.dtype(t)) for t in out] == ["float16", "float32"]
    np.testing.assert_allclose(flat(out).sum(), 2.0, rtol=2e-3)


def test_scale_as_array_and_bounds_broadcast_to_trees(backend):
    x, _ = INPUTS["tree"]
    scale = backend.array(np.float32(0.7))
    for fn in ["simplex", "l1_ball", "l2_ball", "linf_ball", "l2_sphere", "l1_sphere"]:
        out = getattr(anyopt.projections, f"projection_{fn}")(backend.tree(x), scale)
        want = getattr(anyopt.projections, f"projection_{fn}")(backend.tree(x), 0.7)
        np.testing.assert_allclose(flat(out), flat(want), rtol=1e-6, err_msg=fn)
    # a single bound applies to every leaf (optax needs a tree of bounds for a tree)
    out = anyopt.projections.projection_hypercube(backend.tree(x), 0.3)
    np.testing.assert_allclose(flat(out), np.clip(flat(x), 0, 0.3))


def test_jit_and_vmap_on_jax():
    x, a = (jax.tree.map(jnp.asarray, t) for t in INPUTS["tree"])
    for name, (call, _) in CASES.items():
        jitted = jax.jit(lambda x, a, call=call: call(anyopt.projections, x, a))(x, a)
        eager = call(anyopt.projections, x, a)
        np.testing.assert_allclose(flat(jitted), flat(eager), rtol=1e-6, atol=1e-7, err_msg=name)
    batch = jnp.asarray(_r(3, 50))
    scales = jnp.array([1.0, 0.8, 2.0])
    out = jax.vmap(anyopt.projections.projection_simplex)(batch, scales)
    expected = jax.vmap(optax.projections.projection_simplex)(batch, scales)
    np.testing.assert_allclose(np.asarray(out), np.asarray(expected), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(out).sum(1), np.asarray(scales), rtol=1e-5)


@pytest.mark.parametrize("fn", ["l1_ball", "l2_ball"])
def test_ball_gradient_at_zero_is_one(backend, fn):
    if backend.name == "numpy":
        pytest.skip("NumPy has no autodiff")
    project = getattr(anyopt.projections, f"projection_{fn}")
    grad = _autodiff.grad(lambda x: _ops.sum(project(x)), name="test")(
        backend.array(np.float32(0.0))
    )
    assert float(backend.numpy(grad)) == 1.0


def test_simplex_jacobian_matches_its_closed_form(backend):
    if backend.name == "numpy":
        pytest.skip("NumPy has no autodiff")
    x = RNG.random(6).astype(np.float32)
    p = np.asarray(optax.projections.projection_simplex(jnp.asarray(x)))
    support = (p > 0).astype(np.float64)
    expected = np.diag(support) - np.outer(support, support) / support.sum()
    rows = []
    for k in range(6):
        e = backend.array(np.eye(6, dtype=np.float32)[k])
        g = _autodiff.grad(
            lambda v, e=e: _ops.sum(anyopt.projections.projection_simplex(v) * e), name="test"
        )(backend.array(x))
        rows.append(backend.numpy(g))
    np.testing.assert_allclose(np.stack(rows), expected, atol=1e-6)
