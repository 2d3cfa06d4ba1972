"""Alias group B and the remaining transforms beyond optax parity.

* float64 NumPy transcriptions of the papers' updates (Rprop, SM3, optimistic GD and
  Adam, layer-wise DoG, Polyak SGD), checked in float64 on NumPy and float32 everywhere;
* convergence on a quadratic, and optimistic GD on a bilinear game where GD spirals out;
* add_noise / noisy_sgd: the noise schedule's mean and variance, reproducibility, optax's
  exact draws on JAX;
* per-example clipping, unit-wise norms and scale_gradient against optax on every backend;
* build-time errors for bad hyperparameters.

Each ``*_reference`` is written from the paper, independently of anyopt and optax; where
optax deviates from the paper (and anyopt follows optax) the reference says so.
"""

from __future__ import annotations

import inspect
import re
import warnings

import numpy as np
import optax
import pytest

import anyopt
from anyopt import _tree, backends
from test_reference_float64 import (
    anyopt_trajectory,
    assert_close,
    flat_params,
    reference_trajectory,
)

from conftest import FRAMEWORKS, Backend, relative_error_norm

AUTODIFF = [f for f in FRAMEWORKS if f != "numpy"]


# --- references ---------------------------------------------------------------------------
def rprop_reference(lr, eta_minus=0.5, eta_plus=1.2, d_min=1e-6, d_max=50.0):
    """Igel & Hüsken (2003), iRprop-: grow the step while the gradient keeps its sign,
    shrink it and forget the gradient when the sign flips. As optax, the move decided at
    step k is applied at step k + 1, unless the gradient there reverses it."""

    def init(theta):
        return {"d": np.full_like(theta, lr), "g": np.zeros_like(theta), "move": 0 * theta}

    def step(theta, g, s):
        prod = g * s["g"]
        d = np.where(prod > 0, np.minimum(s["d"] * eta_plus, d_max), s["d"])
        d = np.where(prod < 0, np.maximum(s["d"] * eta_minus, d_min), d)
        g = np.where(prod < 0, 0.0, g)
        applied = np.where(prod < 0, 0.0, s["move"])
        return theta + applied, {"d": d, "g": g, "move": -np.sign(g) * d}

    return init, step


def sm3_reference(lr, momentum=0.9, eps=1e-8):
    """Anil et al. (2019), SM3-II with the row/column cover of a matrix (a vector covers
    itself), plus momentum on the scaled gradient, and the convention 0/0 = 0."""

    def init(theta):
        covers = [np.zeros(n) for n in theta.shape] if theta.ndim == 2 else [0 * theta]
        return {"mu": covers, "m": np.zeros_like(theta)}

    def step(theta, g, s):
        if theta.ndim == 2:
            rows, cols = s["mu"]
            nu = np.minimum(rows[:, None], cols[None, :]) + g * g
            mu = [nu.max(axis=1), nu.max(axis=0)]
        else:
            nu = s["mu"][0] + g * g
            mu = [nu]
        scaled = np.where(nu > 0, g / np.sqrt(nu + eps), 0.0)
        m = momentum * s["m"] + (1 - momentum) * scaled
        return theta - lr * m, {"mu": mu, "m": m}

    return init, step


def optimistic_reference(lr, alpha=1.0, beta=1.0):
    """Mokhtari et al. (2019): ``x -= lr ((alpha + beta) g_k - beta g_{k-1})``; the first
    step, with no previous gradient, uses ``g_0 = g_1`` (optax issue 1082)."""

    def init(theta):
        return {"prev": None}

    def step(theta, g, s):
        prev = g if s["prev"] is None else s["prev"]
        return theta - lr * ((alpha + beta) * g - beta * prev), {"prev": g}

    return init, step


def optimistic_adam_reference(lr, alpha, beta, b1=0.9, b2=0.999, eps=1e-8):
    """Daskalakis et al. (2017): the optimistic rule applied to Adam's direction."""

    def init(theta):
        return {"m": 0 * theta, "v": 0 * theta, "t": 0, "prev": None}

    def step(theta, g, s):
        t = s["t"] + 1
        m = b1 * s["m"] + (1 - b1) * g
        v = b2 * s["v"] + (1 - b2) * g * g
        r = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        prev = r if s["prev"] is None else s["prev"]
        theta = theta - lr * ((alpha + beta) * r - beta * prev)
        return theta, {"m": m, "v": v, "t": t, "prev": r}

    return init, step


def dog_reference(reps_rel, eps=1e-8):
    """Ivgi et al. (2023), layer-wise DoG: ``eta = r_bar / sqrt(sum |g|^2 + eps)`` with
    ``r_bar`` the largest distance from ``x_0`` so far, at least ``reps_rel (1 + |x_0|)``."""

    def init(theta):
        return {"x0": theta.copy(), "r": reps_rel * (1 + np.linalg.norm(theta)), "G": 0.0}

    def step(theta, g, s):
        r = max(s["r"], np.linalg.norm(theta - s["x0"]))
        G = s["G"] + np.sum(g * g)
        return theta - r / np.sqrt(G + eps) * g, {"x0": s["x0"], "r": r, "G": G}

    return init, step


REFERENCES = {
    "rprop": (lambda: anyopt.rprop(0.01), lambda: rprop_reference(0.01)),
    "rprop/bounds": (
        lambda: anyopt.rprop(0.05, 0.3, 1.5, 1e-3, 0.1),
        lambda: rprop_reference(0.05, 0.3, 1.5, 1e-3, 0.1),
    ),
    "sm3": (lambda: anyopt.sm3(0.05), lambda: sm3_reference(0.05)),
    "sm3/no_momentum": (lambda: anyopt.sm3(0.02, 0.0), lambda: sm3_reference(0.02, 0.0)),
    "optimistic_gradient_descent": (
        lambda: anyopt.optimistic_gradient_descent(0.05, alpha=0.5, beta=0.8),
        lambda: optimistic_reference(0.05, 0.5, 0.8),
    ),
    "optimistic_adam_v2": (
        lambda: anyopt.optimistic_adam_v2(0.01, alpha=0.7, beta=0.4, nesterov=False),
        lambda: optimistic_adam_reference(0.01, 0.7, 0.4),
    ),
    "scale_by_distance_over_gradients": (
        lambda: anyopt.scale_by_distance_over_gradients(
            reps_rel=0.05, param_dtype=None, global_scale=-1.0
        ),
        lambda: dog_reference(0.05),
    ),
}


# DoG keeps the gradient sum of squares in float32 (as optax), whatever the parameters.
FLOAT64_RTOL = {"scale_by_distance_over_gradients": 1e-7}


@pytest.mark.parametrize("case", sorted(REFERENCES))
def test_numpy_float64_matches_paper(case):
    make_tx, make_reference = REFERENCES[case]
    actual = anyopt_trajectory(make_tx(), lambda a: a.astype(np.float64), np.asarray)
    assert all(v.dtype == np.float64 for v in actual.values())
    expected = reference_trajectory(make_reference)
    assert_close(actual, expected, FLOAT64_RTOL.get(case, 1e-12))
    start = flat_params()
    assert any(relative_error_norm(expected[k], start[k]) > 1e-2 for k in start), "no motion"


@pytest.mark.parametrize("case", sorted(REFERENCES))
def test_float32_matches_paper_on_every_framework(case, backend):
    make_tx, make_reference = REFERENCES[case]
    actual = anyopt_trajectory(make_tx(), lambda a: backend.array(a, "float32"), backend.numpy)
    assert_close(actual, reference_trajectory(make_reference), 2e-5)


def polyak_reference(x, a, c, steps, max_lr, scaling, f_min, variant):
    """Loizou et al. (2021) SPS_max (Garrigos et al. 2023: SPS+ takes the gap's positive
    part) on ``f(x) = 0.5 sum a (x - c)^2``. As optax, the step is computed from the
    gradient already scaled by ``scaling``: its squared norm carries ``scaling**2``."""
    for _ in range(steps):
        g = a * (x - c)
        gap = 0.5 * np.sum(a * (x - c) ** 2) - f_min
        gap = max(gap, 0.0) if variant == "sps+" else gap
        x = x - scaling * min(gap / np.sum((scaling * g) ** 2), max_lr) * g
    return x


@pytest.mark.parametrize("variant, f_min", [("sps", 0.0), ("sps", 0.3), ("sps+", 0.5)])
def test_polyak_sgd_matches_paper(backend, variant, f_min):
    rng = np.random.default_rng(3)
    a, c, x0 = rng.uniform(0.5, 2, 6), rng.standard_normal(6), rng.standard_normal(6)
    tx = anyopt.polyak_sgd(max_learning_rate=0.8, scaling=0.7, f_min=f_min, variant=variant)
    x, av, cv = (backend.array(v, "float32") for v in (x0, a, c))
    state = tx.init(x)
    for _ in range(20):
        value = 0.5 * _tree.sum(av * (x - cv) ** 2)
        updates, state = tx.update(av * (x - cv), state, x, value=value)
        x = anyopt.apply_updates(x, updates)
    expected = polyak_reference(x0, a, c, 20, 0.8, 0.7, f_min, variant)
    assert relative_error_norm(backend.numpy(x), expected) < 1e-5
    assert relative_error_norm(expected, x0) > 0.1


def test_polyak_needs_the_loss_value():
    tx = anyopt.polyak_sgd()
    params = np.ones(3, np.float32)
    with pytest.raises(TypeError, match="value"):
        tx.update(params, tx.init(params), params)


# --- convergence --------------------------------------------------------------------------
CONVERGENCE = {
    "rprop": lambda: anyopt.rprop(0.05),
    "sm3": lambda: anyopt.sm3(0.3),
    "optimistic_gradient_descent": lambda: anyopt.optimistic_gradient_descent(0.1),
    "optimistic_adam_v2": lambda: anyopt.optimistic_adam_v2(0.05),
    "noisy_sgd": lambda: anyopt.noisy_sgd(0.1, eta=1e-4, key=0),
    "dog": lambda: anyopt.scale_by_distance_over_gradients(reps_rel=1e-3, global_scale=-1.0),
}


def quadratic(x, scales):
    return 0.5 * float(np.sum(scales * x * x))


@pytest.mark.parametrize("name", sorted(CONVERGENCE))
def test_converges_on_a_quadratic(backend, name):
    scales = np.linspace(0.5, 2.0, 8).reshape(2, 4)
    x0 = np.linspace(-1.5, 1.5, 8).reshape(2, 4)
    params = {"w": backend.array(x0, "float32")}
    s = backend.array(scales, "float32")
    tx = CONVERGENCE[name]()
    state = tx.init(params)
    for _ in range(300):
        updates, state = tx.update({"w": s * params["w"]}, state, params)
        params = anyopt.apply_updates(params, updates)
    final = quadratic(backend.numpy(params["w"]), scales)
    assert final < 1e-2 * quadratic(x0, scales), (
        f"{name}: f went {quadratic(x0, scales)} -> {final}"
    )


def test_optimistic_gradient_descent_solves_the_bilinear_game_where_gd_spirals_out():
    """min_x max_y xy: GD's iterates spiral outwards, OGD's converge to the saddle."""

    def play(tx, steps=2000):
        params = (np.float64(1.0), np.float64(2.0))
        state = tx.init(params)
        for _ in range(steps):
            x, y = params
            updates, state = tx.update((y, -x), state, params)
            params = anyopt.apply_updates(params, updates)
        return float(np.hypot(*params))

    start = float(np.hypot(1.0, 2.0))
    assert play(anyopt.sgd(0.1)) > 2 * start
    assert play(anyopt.optimistic_gradient_descent(0.1)) < 1e-3 * start


# --- add_noise / noisy_sgd ----------------------------------------------------------------
def noise_draws(backend, eta, gamma, steps, seed=0):
    """The noise add_noise adds to zero gradients of a (100, 100) leaf, step by step."""
    params = {"w": backend.array(np.zeros((100, 100), np.float32))}
    tx = anyopt.add_noise(eta, gamma, key=seed)
    state = tx.init(params)
    out = []
    for _ in range(steps):
        updates, state = tx.update(params, state)
        out.append(backend.numpy(updates["w"]))
    return out, state


@pytest.mark.parametrize("eta, gamma", [(0.01, 0.55), (2.0, 1.0)])
def test_add_noise_has_the_annealed_variance(backend, eta, gamma):
    draws, state = noise_draws(backend, eta, gamma, 4)
    for t, noise in enumerate(draws, start=1):
        var = eta / t**gamma
        n = noise.size
        assert abs(noise.mean()) < 5 * np.sqrt(var / n), f"step {t}: mean {noise.mean()}"
        assert abs(noise.var() / var - 1) < 5 * np.sqrt(2 / n), f"step {t}: var {noise.var()}"
    assert int(backend.numpy(state.count)) == 4
    assert not np.allclose(draws[0] / np.std(draws[0]), draws[1] / np.std(draws[1]))


def test_add_noise_is_reproducible_from_its_seed(backend):
    first, _ = noise_draws(backend, 0.1, 0.5, 2, seed=7)
    again, _ = noise_draws(backend, 0.1, 0.5, 2, seed=7)
    other, _ = noise_draws(backend, 0.1, 0.5, 2, seed=8)
    for a, b, c in zip(first, again, other):
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, c)


def test_noisy_sgd_is_add_noise_then_the_learning_rate(backend):
    params = {"w": backend.array(np.ones((20, 5), np.float32))}
    grads = {"w": backend.array(np.full((20, 5), 0.5, np.float32))}
    noisy, noise = anyopt.noisy_sgd(0.1, 0.2, 0.6, key=3), anyopt.add_noise(0.2, 0.6, 3)
    s1, s2 = noisy.init(params), noise.init(params)
    for _ in range(3):
        u1, s1 = noisy.update(grads, s1, params)
        u2, s2 = noise.update(grads, s2, params)
        np.testing.assert_allclose(backend.numpy(u1["w"]), -0.1 * backend.numpy(u2["w"]), 1e-6)
    assert backends.dtype_name(u1["w"].dtype) == "float32"


@pytest.mark.parametrize("make_key", ["int", "typed_key"])
def test_add_noise_on_jax_draws_optax_noise(make_key):
    import jax

    key = 5 if make_key == "int" else jax.random.key(5)
    jax_backend = Backend("jax")
    params = jax_backend.tree({"a": np.ones((3, 4), np.float32), "b": np.zeros(6, np.float32)})
    ours, theirs = anyopt.noisy_sgd(0.05, key=key), optax.noisy_sgd(0.05, key=key)
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    update = jax.jit(ours.update)
    for _ in range(3):
        u_ours, s_ours = update(params, s_ours, params)
        u_theirs, s_theirs = theirs.update(params, s_theirs, params)
        for a, b in zip(_tree.leaves(u_ours), jax.tree_util.tree_leaves(u_theirs)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
    assert type(s_ours[0]).__name__ == "AddNoiseState" and int(s_ours[0].count) == 3


def test_add_noise_keeps_low_precision_dtypes(backend):
    dtypes = ["float16"] + ([] if backend.name == "numpy" else ["bfloat16"])
    for dtype in dtypes:
        params = backend.tree({"w": np.ones((4, 3), np.float32)}, dtype)
        tx = anyopt.noisy_sgd(0.1, key=0)
        updates, state = tx.update(params, tx.init(params), params)
        assert backends.dtype_name(updates["w"].dtype) == dtype
        _, state = tx.update(params, state, params)  # the key keeps its shape and dtype


def test_add_noise_key_warnings():
    with pytest.warns(UserWarning, match="key will be required"):
        anyopt.add_noise(0.1, 0.5)
    with pytest.warns(DeprecationWarning, match="seed"):
        anyopt.noisy_sgd(0.1, seed=1)
    with pytest.raises(ValueError, match="only one of seed or key"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            anyopt.add_noise(0.1, 0.5, key=1, seed=1)


# --- per-example clipping -----------------------------------------------------------------
def batch_tree(seed, batch=5):
    rng = np.random.default_rng(seed)
    return {
        "w": rng.standard_normal((batch, 4, 3)).astype(np.float32),
        "b": [rng.standard_normal((batch, 3)).astype(np.float32), None],
        "s": rng.standard_normal(batch).astype(np.float32),
    }


def assert_matches_optax(backend, ours, theirs, rtol=1e-5):
    ours_leaves, theirs_leaves = _tree.leaves(ours), _tree.leaves(theirs)
    assert len(ours_leaves) == len(theirs_leaves)
    for a, b in zip(ours_leaves, theirs_leaves):
        assert backends.of(a).NAME == backend.name
        assert backends.dtype_name(a.dtype) == str(b.dtype)
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(backend.numpy(a), np.asarray(b), rtol=rtol, atol=1e-6)


@pytest.mark.parametrize("clip", [0.0, 1.0, 3.0, np.inf])
def test_per_example_global_norm_clip_matches_optax(backend, clip):
    grads = batch_tree(0)
    ours = anyopt.per_example_global_norm_clip(backend.tree(grads), clip)
    theirs = optax.per_example_global_norm_clip(Backend("jax").tree(grads), clip)
    assert_matches_optax(backend, ours, theirs)


@pytest.mark.parametrize("uniform", [True, False])
@pytest.mark.parametrize("clip", [0.5, 2.0])
def test_per_example_layer_norm_clip_matches_optax(backend, clip, uniform):
    grads = batch_tree(1)
    ours = anyopt.per_example_layer_norm_clip(backend.tree(grads), clip, uniform)
    theirs = optax.per_example_layer_norm_clip(Backend("jax").tree(grads), clip, uniform)
    assert_matches_optax(backend, ours, theirs)
    assert isinstance(ours[1]["b"], list) and ours[1]["b"][1] is None


def test_per_example_clip_of_the_paper_example(backend):
    grads = [backend.array(np.array([[0, 0, 0], [0, 3, 4], [4, 0, 3], [3, 4, 0]], np.float32))]
    for clip, total, clipped in [(np.inf, 7.0, 0), (0.0, 0.0, 3), (1.25, 1.75, 3)]:
        summed, count = anyopt.per_example_global_norm_clip(grads, clip)
        np.testing.assert_allclose(backend.numpy(summed[0]), np.full(3, total), rtol=1e-6)
        assert int(backend.numpy(count)) == clipped
        assert backends.dtype_name(count.dtype) == "int32"


def test_per_example_clip_needs_a_common_batch_axis(backend):
    grads = backend.tree({"a": np.ones((4, 3), np.float32), "b": np.ones(3, np.float32)})
    for fn in (anyopt.per_example_global_norm_clip, anyopt.per_example_layer_norm_clip):
        with pytest.raises(ValueError, match=r"batch axis.*\['b'\]"):
            fn(grads, 1.0)


# --- unit-wise norms, AGC -----------------------------------------------------------------
SHAPES = [(), (5,), (1, 5), (4, 3), (2, 3, 4), (2, 2, 3, 4), (2, 1, 2, 3, 2)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_unitwise_norm_and_clip_match_optax(backend, shape):
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    ours = anyopt.transforms.unitwise_norm(backend.array(x))
    theirs = optax.transforms.unitwise_norm(Backend("jax").array(x))
    assert_matches_optax(backend, [ours], [theirs])
    max_norm = 0.5 * np.asarray(theirs)
    g_norm = optax.transforms.unitwise_norm(Backend("jax").array(g))
    ours = anyopt.transforms.unitwise_clip(
        backend.array(np.asarray(g_norm)), backend.array(max_norm), backend.array(g)
    )
    theirs = optax.transforms.unitwise_clip(g_norm, Backend("jax").array(max_norm), g)
    assert_matches_optax(backend, [ours], [theirs])


def test_unitwise_norm_takes_axes_and_rejects_rank_six(backend):
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    for axis in (1, (0, 2), -1):
        ours = anyopt.transforms.unitwise_norm(backend.array(x), axis=axis)
        theirs = optax.transforms.unitwise_norm(Backend("jax").array(x), axis=axis)
        assert_matches_optax(backend, [ours], [theirs])
    with pytest.raises(ValueError, match="pass axis"):
        anyopt.transforms.unitwise_norm(backend.array(np.ones((1, 2, 1, 2, 1, 2), np.float32)))
    with pytest.raises(ValueError, match="same shape"):
        anyopt.transforms.unitwise_clip(backend.array(x), backend.array(x[0]), backend.array(x))


def test_unitwise_functions_have_optax_signatures_and_placement():
    for name in ("unitwise_norm", "unitwise_clip"):
        ours, theirs = getattr(anyopt.transforms, name), getattr(optax.transforms, name)
        params = [(p.name, p.kind, p.default) for p in inspect.signature(ours).parameters.values()]
        expected = [
            (p.name, p.kind, p.default) for p in inspect.signature(theirs).parameters.values()
        ]
        assert params == expected
        assert not hasattr(anyopt, name) and not hasattr(optax, name)


# --- scale_gradient -------------------------------------------------------------------------
def gradient_of(framework, fn, x):
    if framework == "jax":
        import jax

        return jax.grad(fn)(x)
    if framework == "torch":
        import torch

        return torch.func.grad(fn)(x)
    import mlx.core as mx

    return mx.grad(fn)(x)


@pytest.mark.parametrize("framework", AUTODIFF)
@pytest.mark.parametrize("scale", [0.0, 0.5, 1.0, -3.0])
def test_scale_gradient_scales_only_the_backward_pass(framework, scale):
    backend = Backend(framework)
    x0 = np.array([1.0, -2.0, 3.0], np.float32)
    x = backend.array(x0)

    def loss(v):
        out = anyopt.scale_gradient({"v": v}, scale)["v"]
        return _tree.sum(out * out)

    np.testing.assert_array_equal(backend.numpy(anyopt.scale_gradient({"v": x}, scale)["v"]), x0)
    np.testing.assert_allclose(backend.numpy(gradient_of(framework, loss, x)), 2 * scale * x0)


def test_scale_gradient_on_numpy_returns_the_inputs():
    tree = {"a": np.ones(3, np.float32), "b": [np.zeros(2)]}
    out = anyopt.scale_gradient(tree, 0.3)
    np.testing.assert_array_equal(out["a"], tree["a"])
    assert anyopt.scale_gradient(tree, 1.0) is tree


# --- other behaviour ------------------------------------------------------------------------
def test_sm3_rejects_scalar_parameters_and_keeps_per_axis_accumulators(backend):
    tx = anyopt.sm3(0.1)
    with pytest.raises(ValueError, match=r"\['s'\] is 0-d"):
        tx.init({"s": backend.array(np.float32(1.0))})
    params = {"w": backend.array(np.ones((2, 3, 4), np.float32))}
    mu = tx.init(params)[0].mu["w"]
    assert [tuple(v.shape) for v in mu] == [(2,), (3,), (4,)]


def test_distance_over_gradients_keeps_scalar_shapes_and_param_dtype(backend):
    params = {"s": backend.array(np.float32(2.0)), "w": backend.array(np.ones(3, np.float32))}
    tx = anyopt.scale_by_distance_over_gradients(param_dtype="float16")
    state = tx.init(params)
    assert backends.dtype_name(state.init_params["w"].dtype) == "float16"
    updates, state = tx.update(params, state, params)
    assert tuple(updates["s"].shape) == () and tuple(state.grad_sum_of_squares["s"].shape) == (1,)


def test_distance_over_gradients_default_dtype_equals_optax_default():
    import jax.numpy as jnp

    default = inspect.signature(anyopt.scale_by_distance_over_gradients).parameters
    default = default["param_dtype"].default
    assert default == jnp.float32 and default == np.float32 and default == "float32"
    assert default != jnp.float16 and default != "bfloat16" and default != 3


def test_zero_nans_reports_where_it_found_nans(backend):
    grads = backend.tree({"a": np.array([1.0, np.nan], np.float32), "b": np.ones(2, np.float32)})
    tx = anyopt.zero_nans()
    updates, state = tx.update(grads, tx.init(grads))
    np.testing.assert_array_equal(backend.numpy(updates["a"]), [1.0, 0.0])
    found = {k: bool(backend.numpy(v)) for k, v in state.found_nan.items()}
    assert found == {"a": True, "b": False}


def test_keep_params_nonnegative_lands_on_zero(backend):
    params = backend.array(np.array([0.5, 0.2, 0.0], np.float32))
    updates = backend.array(np.array([-0.1, -0.5, 0.3], np.float32))
    out, _ = anyopt.keep_params_nonnegative().update(updates, anyopt.EmptyState(), params)
    np.testing.assert_allclose(backend.numpy(out), [-0.1, -0.2, 0.3])


def test_optimistic_adam_is_deprecated_and_refuses_schedules():
    with pytest.warns(DeprecationWarning, match="optimistic_adam_v2"):
        anyopt.optimistic_adam(0.1)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="schedules"):
        anyopt.optimistic_adam(anyopt.constant_schedule(0.1))


# --- build-time errors ----------------------------------------------------------------------
UNIT, CLOSED_UNIT, NON_NEG, POS = "in [0, 1)", "in [0, 1]", ">= 0", "> 0"
HYPER_CASES = [
    ("rprop", "learning_rate", NON_NEG, -0.1),
    ("rprop", "eta_minus", CLOSED_UNIT, 1.5),
    ("rprop", "eta_plus", NON_NEG, -1.2),
    ("rprop", "min_step_size", NON_NEG, -1e-6),
    ("scale_by_rprop", "max_step_size", NON_NEG, -50.0),
    ("sm3", "learning_rate", NON_NEG, -0.1),
    ("sm3", "momentum", UNIT, 1.0),
    ("scale_by_sm3", "b1", UNIT, 1.2),
    ("scale_by_sm3", "b2", CLOSED_UNIT, 1.5),
    ("scale_by_sm3", "eps", NON_NEG, -1e-8),
    ("optimistic_gradient_descent", "learning_rate", NON_NEG, -0.1),
    ("optimistic_gradient_descent", "alpha", NON_NEG, -1.0),
    ("optimistic_adam_v2", "beta", NON_NEG, -1.0),
    ("optimistic_adam_v2", "b1", UNIT, 1.2),
    ("optimistic_adam_v2", "eps", NON_NEG, -1e-8),
    ("scale_by_optimistic_gradient", "beta", NON_NEG, -0.5),
    ("polyak_sgd", "max_learning_rate", NON_NEG, -1.0),
    ("polyak_sgd", "variant", "one of ('sps', 'sps+')", "sps++"),
    ("scale_by_polyak", "eps", NON_NEG, -1e-3),
    ("noisy_sgd", "learning_rate", NON_NEG, -0.1),
    ("noisy_sgd", "gamma", NON_NEG, -0.55),
    ("add_noise", "eta", NON_NEG, -0.01),
    ("scale_by_param_block_norm", "min_scale", NON_NEG, -1e-3),
    ("scale_by_param_block_rms", "min_scale", NON_NEG, -1e-3),
    ("scale_by_distance_over_gradients", "reps_rel", POS, 0.0),
    ("scale_by_distance_over_gradients", "param_dtype", "floating dtype", "int32"),
    ("adaptive_grad_clip", "clipping", NON_NEG, -0.1),
    ("adaptive_grad_clip", "eps", NON_NEG, -1e-3),
    ("clip_by_block_rms", "threshold", POS, 0.0),
    ("normalize_by_update_norm", "eps", NON_NEG, -1e-6),
]
NEEDS_LR = {"rprop", "sm3", "optimistic_gradient_descent", "optimistic_adam_v2", "noisy_sgd"}
REQUIRED = {
    "add_noise": {"eta": 0.01, "gamma": 0.55, "key": 0},
    "noisy_sgd": {"key": 0},
    "adaptive_grad_clip": {"clipping": 0.1},
    "clip_by_block_rms": {"threshold": 1.0},
    "scale_by_rprop": {"learning_rate": 0.1},
}


@pytest.mark.parametrize(
    "fn, arg, rule, value", HYPER_CASES, ids=[f"{c[0]}-{c[1]}={c[3]}" for c in HYPER_CASES]
)
def test_bad_hyperparameter_is_rejected_with_a_clear_message(fn, arg, rule, value):
    kwargs = {"learning_rate": 0.1} if fn in NEEDS_LR else {}
    kwargs.update(REQUIRED.get(fn, {}))
    kwargs[arg] = value
    with pytest.raises(ValueError) as info:
        getattr(anyopt, fn)(**kwargs)
    message = str(info.value)
    assert re.search(rf"(?<![\w.]){re.escape(fn)}(?!\w)", message), message
    assert arg in message and rule in message and repr(value) in message, message


def test_rprop_step_size_bounds_must_be_ordered():
    with pytest.raises(ValueError, match=r"rprop: min_step_size must be <= max_step_size"):
        anyopt.rprop(0.1, min_step_size=1.0, max_step_size=0.5)
