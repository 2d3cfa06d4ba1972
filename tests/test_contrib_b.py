"""optax.contrib group B beyond the generic harness, on every framework.

* parity with optax over many steps for what the generic harness cannot run: momo and
  momo_adam and reduce_on_plateau (``update(..., value=loss)``), dpsgd and
  differentially_private_aggregate (per-example gradients; noise-free parts exactly,
  the noise itself exactly on JAX, statistically elsewhere), galore (projectors are
  singular vectors, defined up to sign) and split_real_and_imaginary on complex leaves;
* float64 NumPy transcriptions of the papers' updates (MADGRAD, ACProp, MoMo, DP-SGD,
  GaLore with Adam) checked on every framework;
* convergence on a quadratic, dtype preservation and build-time errors.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import optax
import pytest

import anyopt
from anyopt import _tree, backends
from test_parity_optax import assert_same, plain

from conftest import Backend, random_tree, relative_error_norm

JAX = Backend("jax")


def gradient(backend, params, k):
    """g = params + 0.1 * noise_k, leaf-wise (a noisy quadratic's gradient)."""
    noise = backend.tree(random_tree(100 + k))
    return _tree.map(lambda p, n: p + 0.1 * n, params, noise)


def updater(lib, tx):
    """optax's update under ``jax.jit`` (eager optax with ``lax.cond`` is slow); ours eager."""
    if lib is optax:
        import jax

        return jax.jit(tx.update)
    return tx.update


def loss_value(backend, params) -> float:
    return float(sum(0.5 * np.sum(backend.numpy(x) ** 2) for x in _tree.leaves(params)))


def run_with_value(lib, backend, build, steps=40, tree=None):
    """``steps`` of ``build(lib)`` with ``value=`` the quadratic loss; params and state."""
    tx = build(lib)
    params = backend.tree(random_tree(0) if tree is None else tree)
    state, update = tx.init(params), updater(lib, tx)
    for k in range(steps):
        grads = gradient(backend, params, k)
        updates, state = update(grads, state, params, value=loss_value(backend, params))
        params = lib.apply_updates(params, updates)
    return plain(params, backend), plain(state, backend)


# --- momo and momo_adam: parity with optax --------------------------------------------------
MOMO = {
    "momo": lambda lib: lib.contrib.momo(),
    "momo/decay_schedule": lambda lib: lib.contrib.momo(
        lib.linear_schedule(0.5, 0.05, 30), beta=0.8, lower_bound=0.1, weight_decay=0.01
    ),
    "momo/adapt_lower_bound": lambda lib: lib.contrib.momo(
        0.3, weight_decay=0.05, adapt_lower_bound=True
    ),
    "momo_adam": lambda lib: lib.contrib.momo_adam(),
    "momo_adam/decay": lambda lib: lib.contrib.momo_adam(
        0.05, b1=0.8, b2=0.99, eps=1e-6, lower_bound=0.05, weight_decay=0.02
    ),
    "momo_adam/adapt_lower_bound": lambda lib: lib.contrib.momo_adam(
        lib.cosine_decay_schedule(0.1, 40), adapt_lower_bound=True
    ),
}


@functools.cache
def optax_momo(case):
    return run_with_value(optax, JAX, MOMO[case])


@pytest.mark.parametrize("case", sorted(MOMO))
def test_momo_matches_optax(case, backend):
    want_params, want_state = optax_momo(case)
    params, state = run_with_value(anyopt, backend, MOMO[case])
    assert_same(params, want_params, "params")
    assert_same(state, want_state, "state")


def test_momo_needs_params_and_value(backend):
    params = backend.tree({"w": np.ones(3, np.float32)})
    for tx in (anyopt.contrib.momo(), anyopt.contrib.momo_adam()):
        state = tx.init(params)
        with pytest.raises(ValueError, match="value="):
            tx.update(params, state, params, value=None)
        with pytest.raises(ValueError, match="params"):
            tx.update(params, state, None, value=1.0)
        with pytest.raises(TypeError):
            tx.update(params, state, params)  # value is a required keyword


def test_momo_accepts_a_framework_scalar_as_value(backend):
    params = backend.tree({"w": np.arange(3, dtype=np.float32)})
    tx = anyopt.contrib.momo()
    state = tx.init(params)
    got, _ = tx.update(params, state, params, value=backend.array(np.float32(2.5)))
    want, _ = tx.update(params, state, params, value=2.5)
    np.testing.assert_array_equal(backend.numpy(got["w"]), backend.numpy(want["w"]))


# --- reduce_on_plateau: parity with optax ---------------------------------------------------
PLATEAU = {
    "default": dict(),
    "patience_cooldown": dict(factor=0.5, patience=2, cooldown=3, min_scale=0.05),
    "accumulate": dict(factor=0.3, patience=1, accumulation_size=3, rtol=0.0, atol=1e-3),
}
PLATEAU_VALUES = [5.0, 4.0, 3.0] + [3.0 - 1e-5 * k for k in range(25)] + [2.0] + [2.5] * 30


@functools.cache
def optax_plateau(name, chained):
    return run_plateau(optax, JAX, PLATEAU[name], chained)


def run_plateau(lib, backend, kwargs, chained: bool):
    tx = lib.contrib.reduce_on_plateau(**kwargs)
    if chained:  # value= reaches it through a chain; sgd ignores it
        tx = lib.chain(lib.sgd(0.1), tx)
    params = backend.tree(random_tree(0))
    state, update = tx.init(params), updater(lib, tx)
    scales = []
    for k, v in enumerate(PLATEAU_VALUES):
        updates, state = update(gradient(backend, params, k), state, params, value=v)
        params = lib.apply_updates(params, updates)
        scales.append(float(backend.numpy((state[1] if chained else state).scale)))
    return plain(params, backend), plain(state, backend), scales


@pytest.mark.parametrize("chained", [False, True], ids=["alone", "chained"])
@pytest.mark.parametrize("name", sorted(PLATEAU))
def test_reduce_on_plateau_matches_optax(name, chained, backend):
    want_params, want_state, want_scales = optax_plateau(name, chained)
    params, state, scales = run_plateau(anyopt, backend, PLATEAU[name], chained)
    assert scales == pytest.approx(want_scales, rel=1e-6)
    assert len(set(scales)) > 1, "the scale never changed: the test data is too easy"
    assert_same(params, want_params, "params")
    assert_same(state, want_state, "state")


def plateau_reference(values, factor, patience, cooldown, min_scale, rtol=1e-4, atol=0.0):
    """The rule as stated (PyTorch's ReduceLROnPlateau, mode 'min', rel. threshold)."""
    scale, best, bad, cool, out = 1.0, float("inf"), 0, 0, []
    for v in values:
        if v < best * (1 - rtol) - atol:
            best, bad = v, 0
        else:
            bad += 1
        if cool > 0:
            cool, bad = cool - 1, 0
        elif bad == patience:
            scale, bad, cool = max(scale * factor, min_scale), 0, cooldown
        out.append(scale)
    return out


def test_reduce_on_plateau_follows_the_stated_rule(backend):
    kwargs = PLATEAU["patience_cooldown"]
    scales = run_plateau(anyopt, backend, kwargs, chained=False)[2]
    assert scales == pytest.approx(plateau_reference(PLATEAU_VALUES, **kwargs), rel=1e-6)


# --- dpsgd and differentially_private_aggregate ---------------------------------------------
BATCH = 4


def per_example(seed: int) -> dict:
    """Per-example gradients (leading batch axis) of very different norms, one of them 0."""
    rng = np.random.default_rng(seed)
    factors = np.array([0.1, 1.0, 4.0, 0.0], np.float32)

    def r(*shape):
        x = rng.standard_normal((BATCH, *shape)).astype(np.float32)
        return x * factors.reshape((BATCH,) + (1,) * len(shape))

    return {"w": r(4, 3), "b": r(3), "s": r()}


def run_dp(lib, backend, build, steps=20):
    tx = build(lib)
    params = backend.tree(_tree.map(lambda g: g[0], per_example(0)))
    state = tx.init(params)
    updates_seen = []
    for k in range(steps):
        updates, state = tx.update(backend.tree(per_example(1 + k)), state, params)
        updates_seen.append(plain(updates, backend))
        params = lib.apply_updates(params, updates)
    return plain(params, backend), state, updates_seen


def optax_dp(build, steps=20):
    with warnings.catch_warnings():  # optax's own dpsgd passes its deprecated seed=
        warnings.simplefilter("ignore", DeprecationWarning)
        return run_dp(optax, JAX, build, steps)


DP = {
    "dpsgd": lambda lib: lib.contrib.dpsgd(0.1, l2_norm_clip=1.5, noise_multiplier=0.0, seed=0),
    "dpsgd/nesterov": lambda lib: lib.contrib.dpsgd(
        0.05, l2_norm_clip=0.7, noise_multiplier=0.0, seed=1, momentum=0.9, nesterov=True
    ),
    "differentially_private_aggregate": lambda lib: lib.contrib.differentially_private_aggregate(
        2.0, 0.0, key=3
    ),
}


@pytest.mark.parametrize("case", sorted(DP))
def test_dp_without_noise_matches_optax(case, backend):
    want_params, want_state, _ = optax_dp(DP[case])
    params, state, _ = run_dp(anyopt, backend, DP[case])
    assert_same(params, want_params, "params")
    if isinstance(state, tuple) and not hasattr(state, "_fields"):  # chains: skip the key
        assert_same(plain(state[1:], backend), plain(want_state[1:], JAX), "state")


def test_dp_noise_is_optax_noise_on_jax():
    import jax

    def build(key):
        return lambda lib: lib.contrib.differentially_private_aggregate(1.0, 1.3, key=key)

    _, want_state, want = optax_dp(build(jax.random.key(5)), steps=5)
    _, state, got = run_dp(anyopt, JAX, build(5), steps=5)
    for k, (g, w) in enumerate(zip(got, want)):
        assert_same(g, w, f"updates at step {k}", rtol=1e-6)
    want_key = np.asarray(jax.random.key_data(want_state.rng_key))
    np.testing.assert_array_equal(np.asarray(state.rng_key), want_key)


def dp_reference(grads: dict, clip: float) -> dict:
    """Abadi et al. (2016), Algorithm 1 without noise: clip each example, average."""
    scale = None
    norms = np.sqrt(sum(np.sum(g.reshape(BATCH, -1) ** 2, axis=1) for g in grads.values()))
    scale = 1 / np.maximum(1.0, norms / clip)
    return {k: np.tensordot(scale, g.astype(np.float64), axes=1) / BATCH for k, g in grads.items()}


@pytest.mark.parametrize("clip", [0.05, 1.0, 3.0, float("inf")])
def test_dp_clipping_matches_the_paper(clip, backend):
    grads = per_example(9)
    tx = anyopt.contrib.differentially_private_aggregate(clip, 0.0, key=0)
    params = backend.tree(_tree.map(lambda g: g[0], grads))
    updates, _ = tx.update(backend.tree(grads), tx.init(params), params)
    want = dp_reference(grads, clip)
    for k in want:
        assert relative_error_norm(backend.numpy(updates[k]), want[k]) < 1e-6, k


def dp_noise(backend, key, steps=2):
    zeros = {"a": np.zeros((2, 200, 100), np.float32), "b": np.zeros((2, 20000), np.float32)}
    tx = anyopt.contrib.differentially_private_aggregate(1.0, 2.0, key=key)
    grads = backend.tree(zeros)
    state = tx.init(backend.tree(_tree.map(lambda g: g[0], zeros)))
    out = []
    for _ in range(steps):
        updates, state = tx.update(grads, state)
        out.append({k: backend.numpy(v).ravel() for k, v in updates.items()})
    return out


def test_dp_noise_is_gaussian_deterministic_and_fresh(backend):
    first, second = dp_noise(backend, 7)
    for draw in (first["a"], first["b"], second["a"]):
        # (0 + 2.0 * 1.0 * N(0, 1)) / batch 2: standard normal, 20000 draws.
        assert abs(draw.mean()) < 0.03 and abs(draw.std() - 1.0) < 0.03
        assert abs(np.mean(draw**4) / np.mean(draw**2) ** 2 - 3.0) < 0.2  # Gaussian kurtosis
    assert abs(np.corrcoef(first["a"], first["b"])[0, 1]) < 0.03  # leaves draw apart
    assert abs(np.corrcoef(first["a"], second["a"])[0, 1]) < 0.03  # steps draw afresh
    again = dp_noise(backend, 7)
    np.testing.assert_array_equal(again[1]["b"], second["b"])  # same key, same noise
    assert not np.allclose(dp_noise(backend, 8)[0]["a"], first["a"])


def test_dp_key_forms_and_errors(backend):
    params = backend.tree({"w": np.zeros(3, np.float32)})
    own_key = backends.load(backend.name).key(4)
    state = anyopt.contrib.differentially_private_aggregate(1.0, 1.0, key=own_key).init(params)
    assert backends.of(state.rng_key).NAME == backend.name
    other = "jax" if backend.name == "numpy" else "numpy"
    foreign = anyopt.contrib.differentially_private_aggregate(
        1.0, 1.0, key=backends.load(other).key(4)
    )
    with pytest.raises(TypeError, match=f"{other} key"):
        foreign.init(params)
    with pytest.warns(UserWarning, match="key"):
        anyopt.contrib.differentially_private_aggregate(1.0, 1.0)
    with pytest.warns(DeprecationWarning, match="seed"):
        anyopt.contrib.differentially_private_aggregate(1.0, 1.0, seed=3)
    with pytest.raises(ValueError, match="only one"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        anyopt.contrib.differentially_private_aggregate(1.0, 1.0, key=1, seed=3)
    tx = anyopt.contrib.differentially_private_aggregate(1.0, 1.0, key=0)
    for bad in ({"a": np.ones((2, 3)), "b": np.ones((3, 3))}, {"a": np.ones((2, 3)), "s": 1.0}):
        bad = backend.tree(_tree.map(lambda x: np.asarray(x, np.float32), bad))
        with pytest.raises(ValueError, match="batch axis"):
            tx.update(bad, tx.init(params))


# --- galore ---------------------------------------------------------------------------------
def galore_tree(seed: int) -> dict:
    """Leaves projected from the left (6x4), from the right (3x5), a 3-D tensor and a vector
    (optax's galore needs a tree without None leaves)."""
    rng = np.random.default_rng(seed)
    shapes = {"w": (6, 4), "r": (3, 5), "t": (4, 2, 3), "b": (4,)}
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}


def _dims(lib, spec):
    gdn = lib.contrib.GaLoreDimensionNumbers
    return {k: None if v is None else gdn(*v) for k, v in spec.items()}


GALORE = {  # name -> (build(lib, update_proj_gap), multiplier of the updates[, leaves])
    "galore": (lambda lib, gap: lib.contrib.galore(0.01, rank=2, update_proj_gap=gap), 1.0),
    "galore/dims_decay": (
        lambda lib, gap: lib.contrib.galore(
            0.02,
            rank=3,
            update_proj_gap=gap,
            scale=0.5,
            weight_decay=0.01,
            weight_dimension_numbers=_dims(
                lib, {"w": (0, 1), "r": (1, 0), "t": (0, (1, 2)), "b": None}
            ),
        ),
        1.0,
    ),
    "galore/lion_callable_dims": (
        lambda lib, gap: lib.contrib.galore(
            1e-3,
            rank=1,
            update_proj_gap=gap,
            base_optimizer=lib.scale_by_lion(),
            weight_dimension_numbers=lambda p: _dims(
                lib, {"w": None, "r": (0, 1), "t": (-1, (0, 1)), "b": None}
            ),
        ),
        1.0,
    ),
    "scale_by_galore/one_spec": (
        lambda lib, gap: lib.contrib.scale_by_galore(
            rank=2,
            update_proj_gap=gap,
            weight_dimension_numbers=lib.contrib.GaLoreDimensionNumbers(1, 0),
        ),
        -0.01,
        ("w", "r", "b"),  # one spec for every leaf of rank >= 2: no 3-D leaf
    ),
}


def run_galore(lib, backend, case, gap, steps=25, dtype=None):
    build, m, *keep = GALORE[case]

    def tree(seed):
        full = galore_tree(seed)
        return backend.tree({k: full[k] for k in (keep[0] if keep else full)}, dtype)

    tx = build(lib, gap)
    params = tree(0)
    state, update = tx.init(params), updater(lib, tx)
    trajectory = []
    for k in range(steps):
        grads = _tree.map(lambda p, n: p + 0.1 * n, params, tree(1 + k))
        updates, state = update(grads, state, params)
        params = lib.apply_updates(params, lib.tree_utils.tree_scale(m, updates))
        trajectory.append((params, state))
    return trajectory


@functools.cache
def optax_galore(case, gap):
    return [(plain(p, JAX), plain(s, JAX)) for p, s in run_galore(optax, JAX, case, gap)]


@pytest.mark.parametrize("case", sorted(GALORE))
def test_galore_on_jax_is_optax_exactly(case):
    """Same SVD routine: the same projectors, recomputed every 4 steps, and the same state."""
    want_params, want_state = optax_galore(case, 4)[-1]
    params, state = run_galore(anyopt, JAX, case, 4)[-1]
    assert_same(plain(params, JAX), want_params, "params")
    assert_same(plain(state, JAX), want_state, "state")


def _abs(tree):
    if isinstance(tree, dict):
        return {k: _abs(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_abs(v) for v in tree]
    return np.abs(tree) if isinstance(tree, np.ndarray) else tree


@pytest.mark.parametrize("case", sorted(GALORE))
def test_galore_matches_optax_up_to_singular_vector_signs(case, backend):
    """One projection (gap > steps): the same parameters; projectors and the first moments
    in the projected space agree up to the sign of each singular vector."""
    want_params, want_state = optax_galore(case, 1000)[-1]
    params, state = run_galore(anyopt, backend, case, 1000)[-1]
    assert_same(plain(params, backend), want_params, "params")
    assert_same(_abs(plain(state, backend)), _abs(want_state), "|state|")


def galore_reference(lr, rank, steps, backend_projectors, b1=0.9, b2=0.999, eps=1e-8, gap=3):
    """Zhao et al. (2024), Algorithm 2 (GaLore with Adam) for the default 2-D leaves, in
    float64; each recomputed basis takes the sign of the framework's projector columns
    (singular vectors are defined up to sign)."""
    theta = {k: v.astype(np.float64) for k, v in galore_tree(0).items()}
    m = {k: None for k in theta}
    v = {k: None for k in theta}
    proj = {}
    for t in range(steps):
        for k, x in theta.items():
            g = x + 0.1 * galore_tree(1 + t)[k].astype(np.float64)
            if x.ndim == 2:
                left = g.shape[0] >= g.shape[1]
                if t % gap == 0:
                    u, _, vh = np.linalg.svd(g, full_matrices=False)
                    basis = u[:, :rank] if left else vh[:rank].T
                    signs = np.sign(np.sum(basis * backend_projectors[t][k], axis=0))
                    proj[k] = basis * signs
                g = proj[k].T @ g if left else g @ proj[k]
            if m[k] is None:
                m[k], v[k] = np.zeros_like(g), np.zeros_like(g)
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g * g
            n = (m[k] / (1 - b1 ** (t + 1))) / (np.sqrt(v[k] / (1 - b2 ** (t + 1))) + eps)
            if x.ndim == 2:
                n = proj[k] @ n if x.shape[0] >= x.shape[1] else n @ proj[k].T
            theta[k] = x - lr * n
    return theta


def test_galore_matches_the_paper_across_projection_updates(backend):
    trajectory = run_galore(anyopt, backend, "galore", 3, steps=12)
    projectors = [
        {k: backend.numpy(p) for k, p in s[0].projector.items() if k in ("w", "r")}
        for _, s in trajectory
    ]
    want = galore_reference(0.01, 2, 12, projectors)
    params = trajectory[-1][0]
    for k in want:
        assert relative_error_norm(backend.numpy(params[k]), want[k]) < 1e-4, k


def test_galore_projector_shapes_and_none_leaves(backend):
    params = backend.tree({"w": np.ones((6, 4), np.float32), "b": np.ones(4, np.float32)})
    params["skip"] = None  # optax's galore fails on a None leaf; anyopt's skips it
    tx = anyopt.contrib.galore(0.01, rank=2)
    state = tx.init(params)
    assert tuple(state[0].projector["w"].shape) == (6, 2) and state[0].projector["skip"] is None
    assert tuple(state[0].projector["b"].shape) == (0, 0)
    assert tuple(state[0].base_optimizer_state.mu["w"].shape) == (2, 4)
    updates, state = tx.update(params, state, params)
    assert updates["skip"] is None and tuple(updates["w"].shape) == (6, 4)


def test_galore_rejects_bad_dimension_numbers(backend):
    params = backend.tree({"t": np.ones((2, 3, 4), np.float32)})
    gdn = anyopt.contrib.GaLoreDimensionNumbers
    for dims, match in [(gdn(0, 1), "every axis"), (gdn(0, (0, 2)), "disjoint")]:
        with pytest.raises(ValueError, match=match):
            anyopt.contrib.scale_by_galore(weight_dimension_numbers={"t": dims}).init(params)


# --- split_real_and_imaginary on complex leaves ---------------------------------------------
def complex_tree(seed: int) -> dict:
    rng = np.random.default_rng(seed)

    def c(*shape):
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)

    return {"z": c(4, 3), "v": c(5), "real": rng.standard_normal(3).astype(np.float32)}


def run_complex(lib, backend, steps=20):
    tx = lib.contrib.split_real_and_imaginary(
        lib.chain(lib.clip_by_global_norm(3.0), lib.adam(0.05))
    )
    params = backend.tree(complex_tree(0))
    state = tx.init(params)
    for k in range(steps):
        grads = _tree.map(lambda p, n: p + 0.1 * n, params, backend.tree(complex_tree(1 + k)))
        updates, state = tx.update(grads, state, params)
        params = lib.apply_updates(params, updates)
    return {k: backend.numpy(v) for k, v in params.items()}, state


def test_split_real_and_imaginary_matches_optax_on_complex_leaves(backend):
    want, _ = run_complex(optax, JAX)
    got, state = run_complex(anyopt, backend)
    for k in want:
        assert got[k].dtype == want[k].dtype, k
        parts = [np.real(got[k]), np.imag(got[k])], [np.real(want[k]), np.imag(want[k])]
        assert relative_error_norm(np.stack(parts[0]), np.stack(parts[1])) <= 1e-5, k
    mu = state.inner_state[1][0].mu
    assert type(mu["z"]).__name__ == "SplitRealAndImaginaryArrays"
    assert backends.dtype_name(mu["z"].real.dtype) == "float32"
    assert not hasattr(mu["real"], "imaginary")


# --- float64 transcriptions of the papers ---------------------------------------------------
def madgrad_reference(lr, momentum=0.9, eps=1e-6):
    """Defazio & Jelassi (2021), Algorithm 1, with c = 1 - momentum; as in optax and the
    authors' code, eps is added to the step size."""

    def init(x):
        return {"s": np.zeros_like(x), "nu": np.zeros_like(x), "x0": x.copy(), "k": 0}

    def step(x, g, st):
        lam = (lr + eps) * np.sqrt(st["k"] + 1)
        s, nu = st["s"] + lam * g, st["nu"] + lam * g * g
        z = st["x0"] - s / (np.cbrt(nu) + eps)
        c = 1 - momentum
        return (1 - c) * x + c * z, {"s": s, "nu": nu, "x0": st["x0"], "k": st["k"] + 1}

    return init, step


def acprop_reference(lr, b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16):
    """Zhuang et al. (2021), ACProp: the step divides by the root of the bias-corrected
    s_{t-1} (1 on the first step); s tracks (g_t - m_{t-1})^2 as in the authors' code."""

    def init(x):
        return {"m": np.zeros_like(x), "s": np.zeros_like(x), "t": 0}

    def step(x, g, st):
        t = st["t"] + 1
        denom = (1.0 if t == 1 else np.sqrt(st["s"] / (1 - b2 ** (t - 1)))) + eps
        s = b2 * st["s"] + (1 - b2) * (g - st["m"]) ** 2 + eps_root
        m = b1 * st["m"] + (1 - b1) * g
        return x - lr * g / denom, {"m": m, "s": s, "t": t}

    return init, step


REFERENCES = {
    "madgrad": (lambda: anyopt.contrib.madgrad(0.01), lambda: madgrad_reference(0.01)),
    "madgrad/momentum": (
        lambda: anyopt.contrib.madgrad(0.02, momentum=0.5, eps=1e-5),
        lambda: madgrad_reference(0.02, 0.5, 1e-5),
    ),
    "acprop": (lambda: anyopt.contrib.acprop(0.01), lambda: acprop_reference(0.01)),
    "acprop/betas": (
        lambda: anyopt.contrib.acprop(0.02, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-10),
        lambda: acprop_reference(0.02, 0.8, 0.99, 1e-8, 1e-10),
    ),
}
REF_STEPS = 40


def flat_tree(seed):
    t = random_tree(seed)
    return {"w": t["dense"]["w"], "b": t["dense"]["b"], "v": t["layers"][0]}


def reference_run(make_reference):
    init, step = make_reference()
    theta = {k: v.astype(np.float64) for k, v in flat_tree(0).items()}
    states = {k: init(v) for k, v in theta.items()}
    for t in range(REF_STEPS):
        for k in theta:
            g = flat_tree(100 + t)[k] + 0.1 * theta[k]
            theta[k], states[k] = step(theta[k], g, states[k])
    return theta


def anyopt_run(tx, backend, dtype):
    params = backend.tree(flat_tree(0), dtype)
    state = tx.init(params)
    for t in range(REF_STEPS):
        grads = _tree.map(lambda n, p: n + 0.1 * p, backend.tree(flat_tree(100 + t), dtype), params)
        updates, state = tx.update(grads, state, params)
        params = anyopt.apply_updates(params, updates)
    return {k: backend.numpy(v) for k, v in params.items()}


@pytest.mark.parametrize("case", sorted(REFERENCES))
def test_numpy_float64_matches_paper(case):
    make_tx, make_reference = REFERENCES[case]
    got = anyopt_run(make_tx(), Backend("numpy"), "float64")
    want = reference_run(make_reference)
    for k in want:
        assert relative_error_norm(got[k], want[k]) < 1e-12, k


@pytest.mark.parametrize("case", sorted(REFERENCES))
def test_float32_matches_paper_on_every_framework(case, backend):
    make_tx, make_reference = REFERENCES[case]
    got = anyopt_run(make_tx(), backend, "float32")
    want = reference_run(make_reference)
    for k in want:
        assert relative_error_norm(got[k], want[k]) < 2e-5, k
        assert relative_error_norm(flat_tree(0)[k], want[k]) > 1e-3, "the reference moved"


def momo_reference(lr, beta, lower_bound, steps):
    """Schaipp et al. (2023), Algorithm 1 (MoMo, no weight decay), on the whole tree."""
    x = {k: v.astype(np.float64) for k, v in flat_tree(0).items()}
    d = {k: np.zeros_like(v) for k, v in x.items()}
    f_bar = gamma = 0.0
    for t in range(steps):
        g = {k: v + 0.1 * flat_tree(100 + t)[k] for k, v in x.items()}
        f = sum(0.5 * np.sum(v**2) for v in x.values())
        b = 0.0 if t == 0 else beta  # the averages start at the first values
        d = {k: b * d[k] + (1 - b) * g[k] for k in x}
        f_bar = b * f_bar + (1 - b) * f
        gamma = b * gamma + (1 - b) * sum(np.vdot(g[k], x[k]) for k in x)
        h = f_bar + sum(np.vdot(d[k], x[k]) for k in x) - gamma
        tau = min(lr, max(h - lower_bound, 0.0) / sum(np.sum(v**2) for v in d.values()))
        x = {k: x[k] - tau * d[k] for k in x}
    return x


@pytest.mark.parametrize("lr, beta, lower_bound", [(1.0, 0.9, 0.0), (0.2, 0.8, 0.05)])
def test_momo_matches_the_paper(lr, beta, lower_bound, backend):
    tx = anyopt.contrib.momo(lr, beta=beta, lower_bound=lower_bound)
    params = backend.tree(flat_tree(0))
    state = tx.init(params)
    for t in range(REF_STEPS):
        grads = _tree.map(lambda p, n: p + 0.1 * n, params, backend.tree(flat_tree(100 + t)))
        updates, state = tx.update(grads, state, params, value=loss_value(backend, params))
        params = anyopt.apply_updates(params, updates)
    want = momo_reference(lr, beta, lower_bound, REF_STEPS)
    for k in want:
        assert relative_error_norm(backend.numpy(params[k]), want[k]) < 1e-4, k


# --- convergence on a quadratic -------------------------------------------------------------
def quadratic_target():
    rng = np.random.default_rng(3)
    return {"w": rng.standard_normal((6, 4)).astype(np.float32), "b": rng.standard_normal(4)}


CONVERGE = {  # name -> (build, takes value=, per-example gradients)
    "madgrad": (lambda: anyopt.contrib.madgrad(0.1), False, False),
    "acprop": (lambda: anyopt.contrib.acprop(0.05), False, False),
    "momo": (lambda: anyopt.contrib.momo(), True, False),
    "momo_adam": (lambda: anyopt.contrib.momo_adam(0.1), True, False),
    "galore": (lambda: anyopt.contrib.galore(0.1, rank=3, update_proj_gap=10), False, False),
    "dpsgd": (lambda: anyopt.contrib.dpsgd(0.3, 1e3, 0.0, seed=0, momentum=0.5), False, True),
    "reduce_on_plateau": (
        lambda: anyopt.chain(anyopt.sgd(0.3), anyopt.contrib.reduce_on_plateau(patience=5)),
        True,
        False,
    ),
}


@pytest.mark.parametrize("name", sorted(CONVERGE))
def test_converges_on_a_quadratic(name, backend):
    build, takes_value, per_example_grads = CONVERGE[name]
    target = backend.tree(quadratic_target(), "float32")
    tx = build()
    params = _tree.map(lambda t: t * 0, target)
    state = tx.init(params)

    def loss(p):
        return (
            float(
                sum(
                    np.sum((backend.numpy(a) - backend.numpy(b)) ** 2)
                    for a, b in zip(_tree.leaves(p), _tree.leaves(target))
                )
            )
            / 2
        )

    start = loss(params)
    for _ in range(150):
        grads = _tree.map(lambda p, t: p - t, params, target)
        if per_example_grads:  # two identical examples
            from anyopt import _ops

            grads = _tree.map(lambda g: _ops.stack([g, g]), grads)
        extra = {"value": loss(params)} if takes_value else {}
        updates, state = tx.update(grads, state, params, **extra)
        params = anyopt.apply_updates(params, updates)
    # GaLore's Adam moments outlive each change of basis, whose singular-vector signs
    # differ between frameworks: its progress varies more (1e-5 to 4e-3 here).
    factor = 1e-2 if name == "galore" else 1e-3
    assert loss(params) < factor * start, f"{name}: loss {start} -> {loss(params)}"


# --- dtypes ---------------------------------------------------------------------------------
DTYPES = [
    (f, d)
    for f in ("numpy", "jax", "torch", "mlx")
    for d in ("float16", "bfloat16", "float64")
    if not (f == "numpy" and d == "bfloat16") and not (f == "jax" and d == "float64")
]
DTYPE_CASES = {  # name -> (build, extra update input: None, "value" or "batch")
    "momo": (lambda: anyopt.contrib.momo(0.1, weight_decay=0.01, adapt_lower_bound=True), "value"),
    "momo_adam": (lambda: anyopt.contrib.momo_adam(adapt_lower_bound=True), "value"),
    "reduce_on_plateau": (lambda: anyopt.contrib.reduce_on_plateau(0.5, patience=1), "value"),
    "galore": (lambda: anyopt.contrib.galore(0.01, rank=2, update_proj_gap=2), None),
    "dpsgd": (lambda: anyopt.contrib.dpsgd(0.1, 1.0, 0.5, seed=0, momentum=0.9), "batch"),
}


def _name(x) -> str:
    return backends.dtype_name(x.dtype)


@pytest.mark.parametrize("case", sorted(DTYPE_CASES))
@pytest.mark.parametrize("framework, dtype", DTYPES)
def test_parameter_dtype_is_kept(framework, dtype, case):
    from anyopt import _ops

    backend = Backend(framework)
    build, extra = DTYPE_CASES[case]
    tx = build()
    small = _tree.map(lambda x: 0.5 * np.tanh(x), galore_tree(0))
    params = backend.tree({"w": small["w"], "b": small["b"]}, dtype)
    state = tx.init(params)
    for k in range(3):
        grads = _tree.map(lambda p: p * (0.5 + 0.1 * k), params)
        kwargs = {"value": 1.0 / (k + 1)} if extra == "value" else {}
        if extra == "batch":
            grads = _tree.map(lambda g: _ops.stack([g, 0.5 * g]), grads)
        updates, state = tx.update(grads, state, params, **kwargs)
        params = anyopt.apply_updates(params, updates)
        for leaf in _tree.leaves(updates) + _tree.leaves(params):
            assert _name(leaf) == dtype
            assert np.all(np.isfinite(backend.numpy(_ops.astype(leaf, "float32"))))
        floats = [x for x in _tree.leaves(state) if "float" in _name(x)]
        assert floats and all(_name(x) == dtype for x in floats), [_name(x) for x in floats]


# --- build-time errors ----------------------------------------------------------------------
REQUIRED = {
    "madgrad": {"learning_rate": 0.1},
    "scale_by_madgrad": {"learning_rate": 0.1},
    "acprop": {"learning_rate": 0.1},
    "galore": {"learning_rate": 0.1},
    "dpsgd": {"learning_rate": 0.1, "l2_norm_clip": 1.0, "noise_multiplier": 1.0, "seed": 0},
    "differentially_private_aggregate": {"l2_norm_clip": 1.0, "noise_multiplier": 1.0, "key": 0},
}
UNIT, NON_NEG, POS = "in [0, 1)", ">= 0", "> 0"
ERRORS = [
    ("madgrad", "learning_rate", NON_NEG, -0.1),
    ("madgrad", "momentum", UNIT, 1.0),
    ("madgrad", "eps", NON_NEG, -1e-6),
    ("madgrad", "weight_decay", NON_NEG, -0.1),
    ("scale_by_madgrad", "momentum", UNIT, -0.5),
    ("acprop", "learning_rate", NON_NEG, -0.1),
    ("acprop", "b1", UNIT, 1.2),
    ("acprop", "eps_root", NON_NEG, -1e-16),
    ("acprop", "weight_decay", NON_NEG, -1.0),
    ("scale_by_acprop", "b2", UNIT, -0.1),
    ("momo", "learning_rate", NON_NEG, -1.0),
    ("momo", "beta", UNIT, 1.5),
    ("momo", "weight_decay", NON_NEG, -0.1),
    ("momo_adam", "b2", UNIT, 1.0),
    ("momo_adam", "eps", NON_NEG, -1e-8),
    ("galore", "learning_rate", NON_NEG, -0.01),
    ("galore", "weight_decay", NON_NEG, -0.01),
    ("scale_by_galore", "rank", POS, 0),
    ("scale_by_galore", "update_proj_gap", POS, 0),
    ("dpsgd", "l2_norm_clip", NON_NEG, -1.0),
    ("dpsgd", "noise_multiplier", NON_NEG, -0.5),
    ("dpsgd", "momentum", NON_NEG, -0.9),
    ("differentially_private_aggregate", "l2_norm_clip", NON_NEG, -1.0),
    ("reduce_on_plateau", "factor", "in (0, 1)", 1.5),
    ("reduce_on_plateau", "factor", "in (0, 1)", 0.0),
    ("reduce_on_plateau", "rtol", NON_NEG, -0.1),
    ("reduce_on_plateau", "rtol", "<= 1", 2.0),
    ("reduce_on_plateau", "patience", NON_NEG, -1),
    ("reduce_on_plateau", "cooldown", NON_NEG, -2),
    ("reduce_on_plateau", "accumulation_size", POS, 0),
    ("reduce_on_plateau", "min_scale", NON_NEG, -0.1),
]


@pytest.mark.parametrize(
    "fn, arg, rule, value", ERRORS, ids=[f"{e[0]}-{e[1]}={e[3]}" for e in ERRORS]
)
def test_bad_hyperparameter_is_rejected_with_a_clear_message(fn, arg, rule, value):
    kwargs = {**REQUIRED.get(fn, {}), arg: value}
    with pytest.raises(ValueError) as info:
        getattr(anyopt.contrib, fn)(**kwargs)
    message = str(info.value)
    assert message.startswith(f"{fn}: {arg} must be {rule}"), message
    assert repr(value) in message, message


def test_other_build_time_errors():
    with pytest.raises(ValueError, match="reduce_on_plateau: rtol or atol must be > 0"):
        anyopt.contrib.reduce_on_plateau(rtol=0.0, atol=0.0)
    with pytest.raises(TypeError, match="scale_by_galore: rank must be an int; got 2.5"):
        anyopt.contrib.galore(0.1, rank=2.5)


# --- compiled steps -------------------------------------------------------------------------
@pytest.mark.parametrize("framework", ["numpy", "jax", "torch", "mlx"])
def test_galore_fast_paths(framework):
    """Compiled steps (lax.cond under jax.jit, a where under mx.compile) equal the reference;
    the fused and flat modes refuse GaLore's shape-dependent step."""
    backend = Backend(framework)
    tx = anyopt.contrib.galore(0.01, rank=2, update_proj_gap=2)
    for mode in anyopt.step_modes(framework):
        if mode == "reference":
            continue
        step = anyopt.make_step(tx, mode)
        params, ref = backend.tree(galore_tree(0)), backend.tree(galore_tree(0))
        if mode in ("fused", "flat"):
            with pytest.raises(ValueError, match=mode):
                step(params, backend.tree(galore_tree(1)), step.init(params))
            continue
        state, ref_state = step.init(params), tx.init(ref)
        for k in range(5):
            grads = backend.tree(galore_tree(1 + k))
            params, state = step(params, grads, state)
            updates, ref_state = tx.update(grads, ref_state, ref)
            ref = anyopt.apply_updates(ref, updates)
        for k in ref:
            assert relative_error_norm(backend.numpy(params[k]), backend.numpy(ref[k])) < 1e-6


JIT_CASES = {
    "momo": (lambda: anyopt.contrib.momo(0.5, weight_decay=0.01, adapt_lower_bound=True), True),
    "momo_adam": (lambda: anyopt.contrib.momo_adam(adapt_lower_bound=True), True),
    "reduce_on_plateau": (lambda: anyopt.contrib.reduce_on_plateau(0.5, patience=1), True),
    "madgrad": (lambda: anyopt.contrib.madgrad(0.01), False),
}


@pytest.mark.parametrize("name", sorted(JIT_CASES))
def test_jitted_update_matches_eager(name):
    import jax

    build, takes_value = JIT_CASES[name]
    tx = build()
    jitted = jax.jit(tx.update)
    params = JAX.tree(random_tree(0))
    state = jit_state = tx.init(params)
    for k in range(4):
        grads = gradient(JAX, params, k)
        extra = {"value": jax.numpy.float32(2.0 - 0.1 * k)} if takes_value else {}
        updates, state = tx.update(grads, state, params, **extra)
        jit_updates, jit_state = jitted(grads, jit_state, params, **extra)
        # XLA fuses (FMAs): updates that are differences of O(1) terms carry ~1e-5 rounding.
        assert_same(plain(jit_updates, JAX), plain(updates, JAX), f"updates {k}", rtol=1e-4)
        assert_same(plain(jit_state, JAX), plain(state, JAX), f"state {k}", rtol=1e-5)
        params = anyopt.apply_updates(params, updates)
