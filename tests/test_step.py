"""make_step's fast paths (compiled, fused, flat) give the reference step's numbers."""

from __future__ import annotations

import numpy as np
import pytest

import anyopt
from anyopt import _tree, backends
from anyopt.backends import _fused, _trace

from conftest import FRAMEWORKS, Backend, random_tree, relative_error_norm, state_fields
from optax_cases import BLOCK_STEP, CASES, CORE_CASES, OPTIMIZERS, gap

# torch.compile takes seconds per transformation: torch's compiled (and flat, whose inner
# step is fused) modes run a representative subset; its fused mode runs every case.
TORCH_CASES = ["adam", "chain", "lion", "rmsprop/centered_momentum", "sgd/nesterov", "signum"]
STEPS = 4
# JAX's fused core cases outside the slow set: optimizers, a global norm (sums), a mask and
# a schedule.
JAX_FUSED_SAMPLE = ["adam", "adam/schedule", "chain", "clip_by_global_norm", "lion", "masked"]
JAX_FUSED_SAMPLE += ["rmsprop/centered_momentum", "sgd/nesterov"]


def scaled(case):
    """The case as a full optimizer (building blocks get a small negative step)."""
    tx = CASES[case](anyopt)
    if case.split("/")[0] in OPTIMIZERS:
        return tx
    return anyopt.chain(tx, anyopt.scale(BLOCK_STEP))


def fast_cases():
    for framework in FRAMEWORKS:
        for mode in anyopt.step_modes(framework):
            if mode == "reference":
                continue
            names = TORCH_CASES if (framework, mode) == ("torch", "compiled") else sorted(CASES)
            for case in names:
                # Every case runs NumPy's fused mode; the family cases' other modes are slow,
                # and so are JAX's fused core cases outside a sample (each compiles an XLA
                # FFI handler with numba: seconds per case).
                slow = case not in CORE_CASES and (framework, mode) != ("numpy", "fused")
                if (framework, mode) == ("jax", "fused") and case not in JAX_FUSED_SAMPLE:
                    slow = True
                marks = [pytest.mark.slow] if slow else []
                yield pytest.param(
                    framework, mode, case, id=f"{framework}-{mode}-{case}", marks=marks
                )


def flat_compatible(tx) -> bool:
    """Whether every leaf of the test tree runs the same code (traced on NumPy)."""
    params = _tree.map(np.asarray, random_tree(0))
    step = anyopt._step.reference_step(tx)
    return _fused.flat_compatible(step, params, params, tx.init(params))


def fusable(tx) -> bool:
    """Whether the step is element-wise code and whole-leaf sums (traced on NumPy)."""
    params = _tree.map(np.asarray, random_tree(0))
    try:
        _fused.Plan(anyopt._step.reference_step(tx), params, params, tx.init(params))
    except _trace.Unsupported:
        return False
    return True


# Cases the fused mode must compile (so a tracer that rejects everything cannot pass).
MUST_FUSE = ["adam", "adamw", "chain", "lion", "rmsprop/centered_momentum", "sgd/nesterov"]


@pytest.mark.parametrize("case", MUST_FUSE)
def test_core_optimizers_fuse(case):
    assert fusable(scaled(case))


def trajectories(backend: Backend, case: str, mode: str, donate: bool):
    tx = scaled(case)
    step = anyopt.make_step(tx, mode, donate=donate)
    params, ref_params = backend.tree(random_tree(0)), backend.tree(random_tree(0))
    state, ref_state = step.init(params), tx.init(ref_params)
    for k in range(STEPS):
        grads = backend.tree(random_tree(10 + k))
        params, state = step(params, grads, state)
        updates, ref_state = tx.update(grads, ref_state, ref_params)
        ref_params = anyopt.apply_updates(ref_params, updates)
    return params, ref_params, step


def assert_trees_close(actual, expected, backend, rtol=1e-6):
    pairs = list(zip(_tree.leaves(actual), _tree.leaves(expected)))
    assert len(pairs) == len(_tree.leaves(expected))
    for a, e in pairs:
        assert backends.of(a).NAME == backends.of(e).NAME == backend.name
        assert str(a.dtype) == str(e.dtype)
    a = np.concatenate([np.ravel(backend.numpy(x)) for x, _ in pairs])
    e = np.concatenate([np.ravel(backend.numpy(y)) for _, y in pairs])
    assert relative_error_norm(a, e) <= rtol


@pytest.mark.parametrize("framework, mode, case", list(fast_cases()))
def test_fast_path_equals_reference(framework, mode, case):
    backend = Backend(framework)
    if gap(case, framework):
        pytest.skip(f"capability gap, asserted in test_parity_optax: {gap(case, framework)}")
    if mode == "flat" and not flat_compatible(scaled(case)):
        with pytest.raises(ValueError, match="treats every leaf alike"):
            trajectories(backend, case, mode, donate=True)
        return
    if mode == "fused" and not fusable(scaled(case)):
        with pytest.raises(ValueError, match="'fused' cannot compile this step"):
            trajectories(backend, case, mode, donate=True)
        return
    params, ref_params, step = trajectories(backend, case, mode, donate=True)
    assert step.mode == mode
    assert_trees_close(params, ref_params, backend)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_donate_false_leaves_inputs_untouched(framework):
    backend = Backend(framework)
    for mode in anyopt.step_modes(framework):
        tx = anyopt.adam(0.1)
        step = anyopt.make_step(tx, mode, donate=False)
        params = backend.tree(random_tree(0))
        before = [backend.numpy(x).copy() for x in _tree.leaves(params)]
        state = step.init(params)
        new_params, state = step(params, backend.tree(random_tree(1)), state)
        for x, b in zip(_tree.leaves(params), before):
            np.testing.assert_array_equal(backend.numpy(x), b, err_msg=mode)
        changed = [
            not np.array_equal(backend.numpy(x), b)
            for x, b in zip(_tree.leaves(new_params), before)
        ]
        assert all(changed), mode


@pytest.mark.parametrize("framework", [f for f in FRAMEWORKS if "flat" in anyopt.step_modes(f)])
def test_flat_adopted_params_are_updated_in_place(framework):
    backend = Backend(framework)
    tx = anyopt.sgd(0.1, momentum=0.9)
    step = anyopt.make_step(tx, "flat")
    params = backend.tree(random_tree(0))
    state = step.init(params)
    adopted = step.adopt(params)
    ref = backend.tree(random_tree(0))
    ref_state = tx.init(ref)
    for k in range(3):
        grads = backend.tree(random_tree(20 + k))
        new, state = step(adopted, grads, state)
        assert all(a is b for a, b in zip(_tree.leaves(new), _tree.leaves(adopted)))
        updates, ref_state = tx.update(grads, ref_state, ref)
        ref = anyopt.apply_updates(ref, updates)
    assert_trees_close(adopted, ref, backend)


def test_auto_picks_flat_for_many_small_leaves_and_falls_back_when_leaves_differ():
    params = {f"w{i}": np.ones(8, np.float32) for i in range(20)}
    assert_mode(anyopt.make_step(anyopt.adam(0.1)), params, "flat")
    mask = {k: i % 2 == 0 for i, k in enumerate(params)}
    masked = anyopt.adamw(0.1, mask=mask)
    assert_mode(anyopt.make_step(masked), params, "fused")
    with pytest.raises(ValueError, match="treats every leaf alike"):
        anyopt.make_step(masked, "flat").init(params)


def test_auto_falls_back_to_reference_when_the_step_cannot_be_fused():
    shape_dependent = anyopt.stateless_with_tree_map(lambda u, p: u / u.shape[0])
    params = {"w": np.ones((4, 3), np.float32)}
    assert_mode(
        anyopt.make_step(anyopt.chain(shape_dependent, anyopt.sgd(0.1))), params, "reference"
    )


def assert_mode(step, params, expected):
    state = step.init(params)
    step(params, _tree.map(np.ones_like, params), state)
    assert step.mode == expected


def test_bad_mode_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="mode must be 'auto' or one of"):
        anyopt.make_step(anyopt.adam(0.1), "turbo")
    with pytest.raises(ValueError, match="not available on jax"):
        anyopt.make_step(anyopt.adam(0.1), "flat").init(
            {"w": Backend("jax").array(np.ones(1, np.float32))}
        )


def test_step_modes_lists_each_frameworks_fast_paths():
    assert anyopt.step_modes("jax") == ["reference", "compiled", "fused"]  # JAX on the CPU
    assert anyopt.step_modes("torch") == ["reference", "compiled", "fused", "flat"]
    assert anyopt.step_modes("numpy") == ["reference", "fused", "flat"]
    assert anyopt.step_modes("mlx") == ["reference", "compiled", "fused"]
    with pytest.raises(ValueError, match="unknown framework"):
        anyopt.step_modes("tensorflow")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_params_kept_flat_step_like_the_tree(framework):
    backend = Backend(framework)
    tx = anyopt.chain(anyopt.clip_by_global_norm(1.0), anyopt.adam(0.05))
    step = anyopt.make_step(tx)
    params = backend.tree(random_tree(0))
    flat = step.flatten(params)
    assert sorted(flat) == ["float32"]
    assert_trees_close(step.unflatten(flat), params, backend, rtol=0)
    state = step.init(flat)
    ref, ref_state = params, tx.init(params)
    for k in range(3):
        grads = backend.tree(random_tree(30 + k))
        flat, state = step(flat, step.flatten(grads), state)
        updates, ref_state = tx.update(grads, ref_state, ref)
        ref = anyopt.apply_updates(ref, updates)
    assert_trees_close(step.unflatten(flat), ref, backend)


def test_jax_gradients_of_flat_params_feed_the_step_under_jit():
    import jax
    import jax.numpy as jnp

    step = anyopt.make_step(anyopt.sgd(0.1))
    params = Backend("jax").tree(random_tree(0))
    flat = step.flatten(params)
    state = step.init(flat)

    def loss(flat_params):
        return sum(jnp.sum(x**2) for x in _tree.leaves(step.unflatten(flat_params)))

    grads = jax.jit(jax.grad(loss))(flat)
    new_flat, _ = step(flat, grads, state)
    expected = _tree.map(lambda p: p - 0.1 * 2 * p, params)
    assert_trees_close(step.unflatten(new_flat), expected, Backend("jax"))


def test_flatten_refuses_steps_that_treat_leaves_differently():
    params = {f"w{i}": np.ones(4, np.float32) for i in range(3)}
    masked = anyopt.adamw(0.1, mask={"w0": True, "w1": False, "w2": True})
    with pytest.raises(ValueError, match="treats every leaf alike"):
        anyopt.make_step(masked).flatten(params)


# --- float32 moments for low-precision parameters ---------------------------------------------
# Fused and flat modes cannot take them: numba has no float16, NumPy cannot view torch's or
# MLX's bfloat16. Asked for, they say so; "auto" picks a mode that can (torch: compiled).
LOW_PRECISION = [
    pytest.param(f, d, marks=[pytest.mark.slow] if (f, d) == ("torch", "float16") else [])
    for f in FRAMEWORKS
    for d in ("float16", "bfloat16")
    if (f, d) != ("numpy", "bfloat16")
]  # torch float16 takes the path NumPy float16 takes, then compiles for seconds: slow


# Relative to each leaf's largest value. mu's increment (1 - b1) * g is rounded to the
# gradients' dtype by the reference step (as optax), which compilers may skip; nu's g**2 is
# formed in float32 (nu_dtype) by both.
MOMENT_TOLERANCE = {"mu": 2**-7, "nu": 1e-6}


def _as_float64(x):
    b = backends.of(x)
    return np.asarray(b.to_numpy(b.astype(x, b.dtype("float32"))), np.float64)


@pytest.mark.parametrize(("framework", "dtype"), LOW_PRECISION)
def test_float32_moments_of_low_precision_params(framework, dtype):
    backend = Backend(framework)
    tx = anyopt.adam(0.01, mu_dtype="float32", nu_dtype="float32")
    # torch.compile takes seconds: its compiled mode runs as "auto".
    modes = [
        m
        for m in ["auto", *anyopt.step_modes(framework)]
        if (framework, m) != ("torch", "compiled")
    ]
    for mode in modes:
        step = anyopt.make_step(tx, mode)
        params, ref = backend.tree(random_tree(0), dtype), backend.tree(random_tree(0), dtype)
        if mode in ("fused", "flat"):
            with pytest.raises(ValueError, match="^make_step: "):
                step(params, params, step.init(params))
            continue
        state, ref_state = step.init(params), tx.init(ref)
        for k in range(3):
            grads = backend.tree(random_tree(10 + k), dtype)
            params, state = step(params, grads, state)
            updates, ref_state = tx.update(grads, ref_state, ref)
            ref = anyopt.apply_updates(ref, updates)
        assert {backends.dtype_name(x.dtype) for x in _tree.leaves(params)} == {dtype}, mode
        for field, scale in MOMENT_TOLERANCE.items():
            (moment,), (ref_moment,) = state_fields(state, field), state_fields(ref_state, field)
            for a, e in zip(_tree.leaves(moment), _tree.leaves(ref_moment)):
                assert backends.dtype_name(a.dtype) == "float32", (mode, field)
                a, e = _as_float64(a), _as_float64(e)
                np.testing.assert_allclose(a, e, atol=scale * np.max(np.abs(e)), err_msg=mode)
        for a, e in zip(_tree.leaves(params), _tree.leaves(ref)):
            a, e = _as_float64(a), _as_float64(e)
            np.testing.assert_allclose(a, e, rtol=2**-7, err_msg=mode)  # a low-precision ulp


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_flat_step_rejects_a_gradient_of_another_shape(framework):
    if framework not in FRAMEWORKS or "flat" not in anyopt.step_modes(framework):
        pytest.skip(f"no flat mode on {framework} here")
    backend = Backend(framework)
    step = anyopt.make_step(anyopt.sgd(0.1), "flat")
    params = backend.tree({"a": np.zeros((2, 3), np.float32), "b": np.zeros(4, np.float32)})
    state = step.init(params)
    grads = backend.tree({"a": np.zeros((3, 2), np.float32), "b": np.zeros(4, np.float32)})
    with pytest.raises(ValueError, match=r"shape \(3, 2\) does not fit .* shape \(2, 3\)"):
        step(params, grads, state)
