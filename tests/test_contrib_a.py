"""optax.contrib group A beyond optax parity (tests/cases/contrib_a.py covers parity).

* float64 NumPy transcriptions of each paper's update, checked on every framework;
* convergence on a quadratic; Muon's orthogonalisation and dimension numbers;
* ``schedule_free_eval_params`` against optax; states that never alias the parameters;
* build-time errors for bad hyperparameters.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import anyopt
from anyopt import _tree

from conftest import FRAMEWORKS, Backend, random_tree, relative_error_norm

C = anyopt.contrib
STEPS = 40


# --- dict-of-arrays helpers for the references ------------------------------------------------
def tmap(f, *trees):
    return {k: f(*(t[k] for t in trees)) for k in trees[0]}


def dot(a, b):
    return sum(float(np.vdot(a[k], b[k])) for k in a)


def norm(a):
    return np.sqrt(dot(a, a))


def zeros(theta):
    return tmap(np.zeros_like, theta)


# --- float64 references, written from the papers (optax's conventions where they choose) ------
def adopt_reference(lr, b1=0.9, b2=0.9999, eps=1e-6):
    """Taniguchi et al. (2024), Algorithm 2 with clipping c_t = t^(1/4)."""

    def step(x, g, s):
        t = s["t"]
        if t == 0:  # v_0 = g_0^2; no step
            return x, {"t": 1, "m": s["m"], "v": tmap(np.square, g)}
        c = t**0.25
        gt = tmap(lambda gi, vi: np.clip(gi / np.maximum(np.sqrt(vi), eps), -c, c), g, s["v"])
        m = tmap(lambda mi, gi: b1 * mi + (1 - b1) * gi, s["m"], gt)
        v = tmap(lambda vi, gi: b2 * vi + (1 - b2) * gi * gi, s["v"], g)
        return tmap(lambda xi, mi: xi - lr * mi, x, m), {"t": t + 1, "m": m, "v": v}

    return lambda x: {"t": 0, "m": zeros(x), "v": zeros(x)}, step


def ademamix_reference(lr, b1=0.9, b2=0.999, b3=0.9999, alpha=5.0, eps=1e-8, wd=0.0):
    """Pagliardini et al. (2024), Algorithm 1 (constant alpha and beta_3)."""

    def step(x, g, s):
        t = s["t"] + 1
        m1 = tmap(lambda m, gi: b1 * m + (1 - b1) * gi, s["m1"], g)
        m2 = tmap(lambda m, gi: b3 * m + (1 - b3) * gi, s["m2"], g)
        nu = tmap(lambda v, gi: b2 * v + (1 - b2) * gi * gi, s["nu"], g)

        def new_x(xi, a, b, v):
            u = (a / (1 - b1**t) + alpha * b) / (np.sqrt(v / (1 - b2**t)) + eps)
            return xi - lr * (u + wd * xi)

        return tmap(new_x, x, m1, m2, nu), {"t": t, "m1": m1, "m2": m2, "nu": nu}

    return lambda x: {"t": 0, "m1": zeros(x), "m2": zeros(x), "nu": zeros(x)}, step


def simplified_ademamix_reference(lr, b1=0.99, b2=0.95, alpha=0.0, eps=1e-8):
    """Morwani et al. (2025), simplified AdEMAMix: m = b1 m + g, no bias correction on m."""

    def step(x, g, s):
        t = s["t"] + 1
        m = tmap(lambda mi, gi: b1 * mi + gi, s["m"], g)
        n = tmap(lambda ni, gi: b2 * ni + (1 - b2) * gi * gi, s["n"], g)
        u = tmap(lambda mi, gi, ni: (mi + alpha * gi) / (np.sqrt(ni / (1 - b2**t)) + eps), m, g, n)
        return tmap(lambda xi, ui: xi - lr * ui, x, u), {"t": t, "m": m, "n": n}

    return lambda x: {"t": 0, "m": zeros(x), "n": zeros(x)}, step


def cocob_reference(alpha=100.0, eps=1e-8):
    """Orabona & Tommasi (2017), Algorithm 2 (COCOB-Backprop)."""

    def init(x):
        return {"x0": dict(x), "L": tmap(lambda a: np.full_like(a, eps), x), "G": zeros(x),
                "R": zeros(x), "theta": zeros(x)}  # fmt: skip

    def step(x, g, s):
        L = tmap(lambda li, gi: np.maximum(li, np.abs(gi)), s["L"], g)
        G = tmap(lambda gs, gi: gs + np.abs(gi), s["G"], g)
        R = tmap(lambda r, gi, xi, x0: np.maximum(r - gi * (xi - x0), 0), s["R"], g, x, s["x0"])
        theta = tmap(lambda th, gi: th - gi, s["theta"], g)
        new_x = tmap(
            lambda x0, th, li, gs, r: x0 + th / (li * np.maximum(gs + li, alpha * li)) * (li + r),
            s["x0"], theta, L, G, R,
        )  # fmt: skip
        return new_x, {"x0": s["x0"], "L": L, "G": G, "R": R, "theta": theta}

    return init, step


def dog_reference(lr=1.0, r_eps=1e-6, eps=1e-8):
    """Ivgi et al. (2023), Algorithm 1 with the heuristic r_eps (1 + ||x_0||)."""

    def init(x):
        return {"x0": dict(x), "rbar": r_eps * (1 + norm(x)), "G": 0.0}

    def step(x, g, s):
        rbar = max(s["rbar"], norm(tmap(np.subtract, x, s["x0"])))
        G = s["G"] + dot(g, g)
        eta = rbar / np.sqrt(G + eps)
        return tmap(lambda xi, gi: xi - lr * eta * gi, x, g), {"x0": s["x0"], "rbar": rbar, "G": G}

    return init, step


def dowg_reference(eps=1e-4, r2_0=None):
    """Khaled et al. (2023), Algorithm 1 (DoWG)."""

    def step(x, g, s):
        r2 = max(s["r2"], dot(*(2 * [tmap(np.subtract, x, s["x0"])])))
        v = s["v"] + r2 * dot(g, g)
        eta = r2 / (np.sqrt(v) + eps)
        return tmap(lambda xi, gi: xi - eta * gi, x, g), {"x0": s["x0"], "r2": r2, "v": v}

    return lambda x: {"x0": dict(x), "r2": eps if r2_0 is None else r2_0, "v": 0.0}, step


def prodigy_reference(b1=0.9, b2=0.999, eps=1e-8, d0=1e-6):
    """Mishchenko & Defazio (2023), Algorithm 4 (Adam form, bias-corrected step)."""
    sb2 = np.sqrt(b2)

    def init(x):
        return {"x0": dict(x), "d": d0, "r": 0.0, "s": zeros(x), "m": zeros(x), "v": zeros(x),
                "k": 0}  # fmt: skip

    def step(x, g, st):
        k, d = st["k"] + 1, st["d"]
        lam = d * np.sqrt(1 - b2**k) / (1 - b1**k)
        m = tmap(lambda mi, gi: b1 * mi + (1 - b1) * d * gi, st["m"], g)
        v = tmap(lambda vi, gi: b2 * vi + (1 - b2) * d * d * gi * gi, st["v"], g)
        r = sb2 * st["r"] + (1 - sb2) * lam * d * dot(g, tmap(np.subtract, st["x0"], x))
        s = tmap(lambda si, gi: sb2 * si + (1 - sb2) * lam * d * gi, st["s"], g)
        d_new = max(d, r / sum(np.abs(si).sum() for si in s.values()))
        x = tmap(lambda xi, mi, vi: xi - lam * mi / (np.sqrt(vi) + d_new * eps), x, m, v)
        return x, {"x0": st["x0"], "d": d_new, "r": r, "s": s, "m": m, "v": v, "k": k}

    return init, step


def dadapt_reference(b1=0.9, b2=0.999, eps=1e-8, d0=1e-6):
    """Defazio & Mishchenko (2023), Algorithm 3 (D-Adapted Adam)."""
    sb2 = np.sqrt(b2)

    def step(x, g, st):
        k, d = st["k"] + 1, st["d"]
        lam = d * np.sqrt(1 - b2**k) / (1 - b1**k)
        weighted = tmap(lambda si, vi: si / (np.sqrt(vi) + eps), st["s"], st["v"])
        r = sb2 * st["r"] + (1 - sb2) * lam * dot(g, weighted)
        m = tmap(lambda mi, gi: b1 * mi + (1 - b1) * lam * gi, st["m"], g)
        v = tmap(lambda vi, gi: b2 * vi + (1 - b2) * gi * gi, st["v"], g)
        s = tmap(lambda si, gi: sb2 * si + (1 - sb2) * lam * gi, st["s"], g)
        d_new = max(d, r / ((1 - sb2) * sum(np.abs(si).sum() for si in s.values())))
        x = tmap(lambda xi, mi, vi: xi - mi / (np.sqrt(vi) + eps), x, m, v)
        return x, {"d": d_new, "r": r, "s": s, "m": m, "v": v, "k": k}

    return lambda x: {"d": d0, "r": 0.0, "s": zeros(x), "m": zeros(x), "v": zeros(x), "k": 0}, step


def mechanic_reference(wd=0.01, eps=1e-8, s_init=1e-6, n=6):
    """Cutkosky et al. (2023), Algorithm 1 around SGD(1.0), with optax's clipping of h."""
    betas = np.array([1 - 0.1**i for i in range(1, n + 1)])

    def init(x):
        z = np.zeros(n)
        return {"x0": dict(x), "r": z, "m": z, "v": z, "s": np.full(n, s_init)}

    def step(x, g, st):
        S = st["s"].sum()
        scale = wd * S * norm(g) / (norm(x) + eps)
        g_wd = tmap(lambda gi, xi: gi + scale * xi, g, x)
        delta = tmap(lambda x0, xi: (x0 - xi) / (S + eps), st["x0"], x)
        h = dot(g_wd, delta)
        delta = tmap(lambda di, gi: di + gi, delta, g)  # minus SGD(1.0)'s update -g
        m = np.maximum(betas * st["m"], abs(h) + eps)
        v = betas**2 * st["v"] + h * h
        r = betas * st["r"] + np.clip(h, -st["m"], st["m"]) * st["s"]
        s = (s_init / n * m + np.maximum(r, 0)) / (np.sqrt(v) + eps)
        x = tmap(lambda x0, di: x0 - s.sum() * di, st["x0"], delta)
        return x, {"x0": st["x0"], "r": r, "m": m, "v": v, "s": s}

    return init, step


def schedule_free_sgd_reference(lr, b1=0.9):
    """Defazio et al. (2024), Algorithm 1 for SGD (constant learning rate: c_t = 1/t)."""

    def step(y, g, st):
        t = st["t"] + 1
        z = tmap(lambda zi, gi: zi - lr * gi, st["z"], g)
        x = tmap(lambda xi, zi: (1 - 1 / t) * xi + zi / t, st["x"], z)
        y = tmap(lambda xi, zi: b1 * xi + (1 - b1) * zi, x, z)
        return y, {"t": t, "z": z, "x": x}

    return lambda y: {"t": 0, "z": dict(y), "x": dict(y)}, step


def newton_schulz(g, steps=5, coeffs=(3.4445, -4.7750, 2.0315), eps=1e-8):
    """Jordan (2024): the quintic Newton-Schulz iteration on the wide orientation."""
    a, b, c = coeffs
    x = g.T if g.shape[0] > g.shape[1] else g
    x = x / (np.linalg.norm(x) + eps)
    for _ in range(steps):
        A = x @ x.T
        x = a * x + (b * A + c * A @ A) @ x
    return x.T if g.shape[0] > g.shape[1] else x


def muon_reference(lr, beta=0.95, b1=0.9, b2=0.999, eps=1e-8):
    """Muon with Nesterov momentum for matrices, NAdam for the other leaves."""

    def step(x, g, st):
        t = st["t"] + 1
        out, mu, nu = {}, {}, {}
        for k in x:
            if x[k].ndim == 2:
                mu[k] = beta * st["mu"][k] + (1 - beta) * g[k]
                m_hat = beta * mu[k] / (1 - beta ** (t + 1)) + (1 - beta) * g[k] / (1 - beta**t)
                width = np.sqrt(max(1, x[k].shape[1] / x[k].shape[0]))
                out[k] = x[k] - lr * width * newton_schulz(m_hat)
                nu[k] = st["nu"][k]
            else:
                mu[k] = b1 * st["mu"][k] + (1 - b1) * g[k]
                nu[k] = b2 * st["nu"][k] + (1 - b2) * g[k] ** 2
                m_hat = b1 * mu[k] / (1 - b1 ** (t + 1)) + (1 - b1) * g[k] / (1 - b1**t)
                out[k] = x[k] - lr * m_hat / (np.sqrt(nu[k] / (1 - b2**t)) + eps)
        return out, {"t": t, "mu": mu, "nu": nu}

    return lambda x: {"t": 0, "mu": zeros(x), "nu": zeros(x)}, step


# name -> (anyopt transformation, reference, float32 tolerance on every framework)
REFERENCES = {
    "adopt": (lambda: C.adopt(0.01), lambda: adopt_reference(0.01), 2e-5),
    "ademamix": (
        lambda: C.ademamix(0.01, b3=0.99, alpha=2.0, weight_decay=0.01),
        lambda: ademamix_reference(0.01, b3=0.99, alpha=2.0, wd=0.01),
        2e-5,
    ),
    "simplified_ademamix": (
        lambda: C.simplified_ademamix(0.002, b1=0.9, alpha=1.0),
        lambda: simplified_ademamix_reference(0.002, b1=0.9, alpha=1.0),
        2e-5,
    ),
    "cocob": (lambda: C.cocob(), lambda: cocob_reference(), 2e-5),
    # (initial estimates large enough that 40 steps move the parameters)
    "dog": (lambda: C.dog(init_step=("heuristic", 1e-2)), lambda: dog_reference(r_eps=1e-2), 2e-5),
    "dowg": (lambda: C.dowg(init_estim_sq_dist=0.05), lambda: dowg_reference(r2_0=0.05), 2e-5),
    "prodigy": (lambda: C.prodigy(estim_lr0=1e-3), lambda: prodigy_reference(d0=1e-3), 2e-5),
    "dadapt_adamw": (
        lambda: C.dadapt_adamw(estim_lr0=1e-3),
        lambda: dadapt_reference(d0=1e-3),
        2e-5,
    ),
    "mechanize": (
        lambda: C.mechanize(anyopt.sgd(1.0), s_init=1e-3),
        lambda: mechanic_reference(s_init=1e-3),
        1e-4,  # <g, x0 - x> cancels (see capabilities.TOLERANCES)
    ),
    "schedule_free_sgd": (
        lambda: C.schedule_free_sgd(0.05),
        lambda: schedule_free_sgd_reference(0.05),
        2e-5,
    ),
    "muon": (lambda: C.muon(0.02), lambda: muon_reference(0.02), 2e-5),
}


def vec(tree):
    return np.concatenate([np.ravel(v) for v in tree.values()])


def flat(seed):
    tree = random_tree(seed)
    return {"w": tree["dense"]["w"], "b": tree["dense"]["b"], "v": tree["layers"][0]}


def reference_trajectory(make_reference):
    init, step = make_reference()
    x = {k: v.astype(np.float64) for k, v in flat(0).items()}
    state = init(x)
    for k in range(STEPS):
        g = tmap(lambda n, xi: n + 0.1 * xi, flat(100 + k), x)
        x, state = step(x, g, state)
    return x


def anyopt_trajectory(tx, to_array, to_numpy):
    params = {k: to_array(v) for k, v in flat(0).items()}
    state = tx.init(params)
    for k in range(STEPS):
        grads = _tree.map(
            lambda n, p: n + 0.1 * p, {k2: to_array(v) for k2, v in flat(100 + k).items()}, params
        )
        updates, state = tx.update(grads, state, params)
        params = anyopt.apply_updates(params, updates)
    return {k: to_numpy(v) for k, v in params.items()}


def assert_close(actual, expected, rtol):
    for name in expected:
        err = relative_error_norm(actual[name], expected[name])
        assert err <= rtol, f"{name}: relative error {err:.2e} > {rtol}"


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_numpy_float64_matches_paper(name):
    make_tx, make_reference, _ = REFERENCES[name]
    actual = anyopt_trajectory(make_tx(), lambda a: a.astype(np.float64), np.asarray)
    assert all(v.dtype == np.float64 for v in actual.values())
    expected = reference_trajectory(make_reference)
    moved = relative_error_norm(vec(expected), vec(flat(0)))
    assert moved > 1e-3, f"the reference barely moved ({moved:.1e}): a weak test"
    assert_close(actual, expected, 1e-9)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_float32_matches_paper_on_every_framework(name, backend):
    make_tx, make_reference, rtol = REFERENCES[name]
    actual = anyopt_trajectory(make_tx(), lambda a: backend.array(a, "float32"), backend.numpy)
    assert_close(actual, reference_trajectory(make_reference), rtol)


# --- convergence on a quadratic -------------------------------------------------------------
CURVATURE = {"w": np.linspace(0.5, 2.0, 12).reshape(4, 3), "b": np.array([1.0, 1.5, 0.7])}
CONVERGE = {
    "muon": lambda: C.muon(0.02, adam_learning_rate=0.05),
    "schedule_free_adamw": lambda: C.schedule_free_adamw(0.05, warmup_steps=10),
    "schedule_free_sgd": lambda: C.schedule_free_sgd(0.3),
    "prodigy": lambda: C.prodigy(),
    "dadapt_adamw": lambda: C.dadapt_adamw(),
    "dog": lambda: C.dog(),
    "dowg": lambda: C.dowg(),
    "adopt": lambda: C.adopt(0.05),
    "ademamix": lambda: C.ademamix(0.05, b3=0.99),
    "simplified_ademamix": lambda: C.simplified_ademamix(0.005, b1=0.9),
    "mechanize": lambda: C.mechanize(anyopt.adam(0.05)),
    "cocob": lambda: C.cocob(),
}


def quadratic(x, backend):
    return sum(0.5 * float(np.sum(CURVATURE[k] * backend.numpy(x[k]) ** 2)) for k in CURVATURE)


@pytest.mark.parametrize("name", sorted(CONVERGE))
def test_converges_on_a_quadratic(name, backend):
    curvature = backend.tree(CURVATURE, "float32")
    x = backend.tree({"w": np.ones((4, 3)), "b": np.array([1.0, -2.0, 0.5])}, "float32")
    tx = CONVERGE[name]()
    state = tx.init(x)
    start = quadratic(x, backend)
    for _ in range(300):
        updates, state = tx.update(_tree.map(lambda c, p: c * p, curvature, x), state, x)
        x = anyopt.apply_updates(x, updates)
    assert quadratic(x, backend) < 1e-2 * start, name


# --- Muon's orthogonalisation -----------------------------------------------------------------
def orthogonalize(x, **kwargs):
    from anyopt.contrib import _muon_ns

    coeffs = kwargs.pop("coeffs", np.array([3.4445, -4.7750, 2.0315], np.float32))
    dims = kwargs.pop("dims", None)
    kwargs.setdefault("preconditioning", "frobenius")
    return _muon_ns.orthogonalize(x, coeffs, 5, kwargs["preconditioning"], 1e-8, dims)


@pytest.mark.parametrize("shape", [(5, 8), (8, 5)])
@pytest.mark.parametrize("preconditioning", ["frobenius", "spectral", "aol", "schatten"])
def test_newton_schulz_keeps_singular_vectors_and_pushes_values_to_one(shape, preconditioning):
    g = np.random.default_rng(1).standard_normal(shape)
    y = orthogonalize(g, preconditioning=preconditioning)
    s_y = np.linalg.svd(y, compute_uv=False)
    assert np.all((s_y > 0.3) & (s_y < 1.6)), s_y  # Jordan's quintic: about U(0.5, 1.5)
    if preconditioning == "aol":
        return  # AOL rescales rows, so singular vectors change
    u, s, vh = np.linalg.svd(g, full_matrices=False)
    core = u.T @ y @ vh.T  # diagonal iff y shares g's singular vectors
    assert np.abs(core - np.diag(np.diag(core))).max() < 1e-6
    assert np.all(np.diag(core) > 0)
    assert np.std(np.diag(core)) < np.std(s / s.max())  # the spectrum got flatter


def test_dimension_numbers_batch_and_merge_axes(backend):
    t = np.random.default_rng(2).standard_normal((2, 2, 3)).astype(np.float32)
    dims = C.MuonDimensionNumbers
    batched = backend.numpy(orthogonalize(backend.array(t), dims=dims(1, 2)))
    for i in range(2):
        np.testing.assert_allclose(batched[i], orthogonalize(t[i].astype(np.float64)), atol=2e-5)
    merged = backend.numpy(orthogonalize(backend.array(t), dims=dims((0, 1), -1)))
    expected = orthogonalize(t.reshape(4, 3).astype(np.float64)).reshape(2, 2, 3)
    np.testing.assert_allclose(merged, expected, atol=2e-5)
    swapped = backend.numpy(orthogonalize(backend.array(t), dims=dims(2, 0)))  # batch axis 1
    for i in range(2):
        want = orthogonalize(t[:, i, :].T.astype(np.float64)).T
        np.testing.assert_allclose(swapped[:, i, :], want, atol=2e-5)


def test_scale_by_muon_without_dimension_numbers_treats_leaves_as_matrices(backend):
    import jax.numpy as jnp
    import optax

    rng = np.random.default_rng(3)
    params = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal((5, 2))}
    params = {k: v.astype(np.float32) for k, v in params.items()}
    tx = C.scale_by_muon()
    state = tx.init(backend.tree(params))
    for k in range(3):
        grads = {n: v * (k + 1) for n, v in params.items()}
        got, state = tx.update(backend.tree(grads), state)
    for name in params:  # optax's scale_by_muon takes one matrix at a time
        ref = optax.contrib.scale_by_muon()
        ref_state = ref.init(jnp.asarray(params[name]))
        for k in range(3):
            want, ref_state = ref.update(jnp.asarray(params[name] * (k + 1)), ref_state)
        np.testing.assert_allclose(backend.numpy(got[name]), np.asarray(want), atol=1e-5)


def test_muon_rejects_tensors_without_dimension_numbers():
    tx = C.scale_by_muon()
    params = {"t": np.ones((2, 2, 3), np.float32)}
    with pytest.raises(ValueError, match="needs MuonDimensionNumbers"):
        tx.update(params, tx.init(params))


# --- schedule_free_eval_params, and states that never alias the parameters ----------------------
def test_schedule_free_eval_params_matches_optax(backend):
    import jax
    import optax

    def run(lib, b):
        tx = lib.contrib.schedule_free_adamw(0.05, warmup_steps=3)
        params = b.tree(random_tree(0))
        state = tx.init(params)
        for k in range(5):
            grads = _tree.map(lambda n, p: n + 0.1 * p, b.tree(random_tree(10 + k)), params)
            updates, state = tx.update(grads, state, params)
            params = lib.apply_updates(params, updates)
        return lib.contrib.schedule_free_eval_params(state, params)

    got = _tree.leaves(run(anyopt, backend))
    want = jax.tree.leaves(run(optax, Backend("jax")))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(backend.numpy(g), np.asarray(w), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="requires a ScheduleFreeState"):
        C.schedule_free_eval_params(anyopt.adam(0.1).init({"w": np.ones(2)}), {"w": np.ones(2)})


ALIASING = {
    "dog": ("init_params", lambda: C.dog()),
    "dowg": ("init_params", lambda: C.dowg()),
    "prodigy": ("params0", lambda: C.prodigy()),
    "cocob": ("init_particles", lambda: C.cocob()),
    "mechanize": ("x0", lambda: C.mechanize(anyopt.sgd(1.0))),
    "schedule_free": ("z", lambda: C.schedule_free_sgd()),
}


@pytest.mark.parametrize("name", sorted(ALIASING))
@pytest.mark.skipif("torch" not in FRAMEWORKS, reason="torch is not installed")
def test_stored_initial_params_survive_in_place_updates(name):
    import torch

    from conftest import state_fields

    field, make = ALIASING[name]
    params = {"w": torch.nn.Parameter(torch.ones(3))}
    state = make().init(params)
    with torch.no_grad():
        params["w"].add_(5.0)  # what torch.optim-style loops do
    (stored,) = state_fields(state, field)
    assert not stored["w"].requires_grad
    np.testing.assert_array_equal(stored["w"].numpy(), np.ones(3, np.float32))


# --- mu_dtype ---------------------------------------------------------------------------------
MU_DTYPE = {
    "scale_by_muon": (lambda d: C.scale_by_muon(mu_dtype=d), ["mu"]),
    "scale_by_adopt": (lambda d: C.scale_by_adopt(mu_dtype=d), ["mu"]),
    "scale_by_ademamix": (lambda d: C.scale_by_ademamix(mu_dtype=d), ["m1", "m2", "nu"]),
}


@pytest.mark.parametrize("name", sorted(MU_DTYPE))
def test_mu_dtype_is_kept_in_the_state(backend, name):
    from conftest import state_fields

    make, fields = MU_DTYPE[name]
    mu_dtype = "float64" if backend.name == "numpy" else "bfloat16"
    tx = make(mu_dtype)
    params = backend.array(np.random.default_rng(0).standard_normal((3, 4)), "float32")
    state = tx.init(params)
    for _ in range(2):
        updates, state = tx.update(params, state)
        assert anyopt.backends.dtype_name(updates.dtype) == "float32"
        for field in fields:
            (moment,) = state_fields(state, field)
            assert anyopt.backends.dtype_name(moment.dtype) == mu_dtype, field


# --- build-time errors --------------------------------------------------------------------------
UNIT, NON_NEG, POS = "in [0, 1)", ">= 0", "> 0"
HYPER_CASES = [
    ("muon", {"learning_rate": -0.1}, "learning_rate", NON_NEG, -0.1),
    ("muon", {"learning_rate": 0.1, "beta": 1.0}, "beta", UNIT, 1.0),
    ("muon", {"learning_rate": 0.1, "adam_b2": 1.5}, "adam_b2", UNIT, 1.5),
    ("muon", {"learning_rate": 0.1, "weight_decay": -1.0}, "weight_decay", NON_NEG, -1.0),
    ("muon", {"learning_rate": 0.1, "ns_coeffs": "bogus"}, "ns_coeffs", "one of", "bogus"),
    ("muon", {"learning_rate": 0.1, "ns_coeffs": (1.0, 2.0)}, "ns_coeffs", "shape (3,)", None),
    ("muon", {"learning_rate": 0.1, "preconditioning": "qr"}, "preconditioning", "one of", "qr"),
    ("scale_by_muon", {"ns_coeffs": ((1, 2, 3),) * 6}, "ns_coeffs", "ns_steps=5", None),
    ("scale_by_muon", {"eps": -1.0}, "eps", NON_NEG, -1.0),
    ("adopt", {"learning_rate": 0.1, "b1": 1.2}, "b1", UNIT, 1.2),
    ("scale_by_adopt", {"b2": -0.1}, "b2", UNIT, -0.1),
    ("scale_by_adopt", {"mu_dtype": "int32"}, "mu_dtype", "floating dtype", "int32"),
    ("ademamix", {"learning_rate": 0.1, "b3": 1.0}, "b3", UNIT, 1.0),
    ("scale_by_ademamix", {"eps_root": -1.0}, "eps_root", NON_NEG, -1.0),
    ("simplified_ademamix", {"learning_rate": -1.0}, "learning_rate", NON_NEG, -1.0),
    ("scale_by_simplified_ademamix", {"b2": 1.0}, "b2", UNIT, 1.0),
    ("prodigy", {"betas": (0.9, 1.0)}, "betas[1]", UNIT, 1.0),
    ("prodigy", {"estim_lr0": 0.0}, "estim_lr0", POS, 0.0),
    ("prodigy", {"beta3": 1.5}, "beta3", UNIT, 1.5),
    ("dadapt_adamw", {"betas": (-0.1, 0.9)}, "betas[0]", UNIT, -0.1),
    ("dadapt_adamw", {"weight_decay": -0.1}, "weight_decay", NON_NEG, -0.1),
    ("dog", {"init_step": ("guess", 1.0)}, "init_step[0]", "one of", "guess"),
    ("dog", {"eps": -1.0}, "eps", NON_NEG, -1.0),
    ("dowg", {"learning_rate": -1.0}, "learning_rate", NON_NEG, -1.0),
    ("mechanize", {"base_optimizer": None, "num_betas": 0}, "num_betas", ">= 1", 0),
    ("mechanize", {"base_optimizer": None, "s_init": -1.0}, "s_init", NON_NEG, -1.0),
    ("cocob", {"alpha": 0.0}, "alpha", POS, 0.0),
    ("scale_by_cocob", {"eps": -1.0}, "eps", NON_NEG, -1.0),
    ("schedule_free", {"base_optimizer": None, "learning_rate": 0.1, "b1": 0.0}, "b1", POS, 0.0),
    ("schedule_free_adamw", {"b2": 1.0}, "b2", UNIT, 1.0),
    ("schedule_free_sgd", {"learning_rate": -1.0}, "learning_rate", NON_NEG, -1.0),
]


@pytest.mark.parametrize(
    "fn, kwargs, arg, rule, value", HYPER_CASES, ids=[f"{c[0]}-{c[2]}" for c in HYPER_CASES]
)
def test_bad_hyperparameter_is_rejected_when_built(fn, kwargs, arg, rule, value):
    kwargs = dict(kwargs)
    if kwargs.get("base_optimizer", 0) is None:
        kwargs["base_optimizer"] = anyopt.sgd(0.1)
    with pytest.raises(ValueError) as info:
        getattr(C, fn)(**kwargs)
    message = str(info.value)
    assert re.match(rf"{fn}: ", message), message
    assert arg in message and rule in message, message
    if value is not None:
        assert repr(value) in message, message
