"""dtype preservation on every framework.

Low-precision parameters (float16, and bfloat16 where the framework has it) keep their
dtype through updates, ``apply_updates`` and the state; float64 stays float64; a 0-d
float32 learning rate does not promote float16 updates; ``mu_dtype`` and
``accumulator_dtype`` are honoured in any framework's spelling and in string form.
"""

from __future__ import annotations

import numpy as np
import pytest

import anyopt
from anyopt import _tree as anyopt_tree
from anyopt import backends

from conftest import FRAMEWORKS, Backend, random_tree, state_fields
from optax_cases import BLOCK_STEP, CASES, OPTIMIZERS, gap

STEPS = 3

# (framework, parameter dtype) pairs that exist: NumPy has no bfloat16 of its own and JAX
# runs without x64, so it has no float64.
LOW_PRECISION = [(f, "float16") for f in FRAMEWORKS] + [
    (f, "bfloat16") for f in FRAMEWORKS if f != "numpy"
]
DOUBLE = [(f, "float64") for f in FRAMEWORKS if f != "jax"]
SINGLE = [(f, "float32") for f in FRAMEWORKS]


def dtype_name(x) -> str:
    return backends.dtype_name(x.dtype)


def bounded_tree(seed: int, low: float = 0.1, high: float = 1.0):
    """``random_tree``'s structure with magnitudes in [low, high] and random signs.

    Bounded away from 0 so that float16 second moments (``~1e-3 * g**2``) neither
    underflow nor, in the denominators, overflow the update.
    """
    return anyopt_tree.map(
        lambda x: (np.sign(x) + (x == 0)) * (low + (high - low) * np.abs(np.tanh(x))),
        random_tree(seed),
    )


def multiplier(case: str) -> float:
    return 1.0 if case.split("/")[0] in OPTIMIZERS else BLOCK_STEP


def assert_dtypes(tree, expected: str, what: str):
    found = anyopt_tree.leaves(tree)
    assert found, f"{what}: no leaves"
    for leaf in found:
        assert dtype_name(leaf) == expected, f"{what}: {dtype_name(leaf)} leaf, want {expected}"


def to_numpy(backend: Backend, x):
    """A leaf as NumPy (bfloat16 goes through float32: torch/mlx cannot export it)."""
    if dtype_name(x) == "bfloat16":
        b = backends.load(backend.name)
        x = b.astype(x, b.dtype("float32"))
    return backend.numpy(x)


def assert_finite(backend: Backend, tree, what: str):
    for leaf in anyopt_tree.leaves(tree):
        assert np.all(np.isfinite(to_numpy(backend, leaf))), f"{what}: non-finite values"


def assert_state_dtypes(backend: Backend, state, expected: str, what: str, steps_done: int):
    """Floating leaves in ``expected``; every other leaf is an int32 counter."""
    # optax's ScaleByAdanState names its step counter ``t``; every other state says ``count``.
    counts = state_fields(state, "count") + state_fields(state, "t")
    # contrib: AdEMAMix's slow-EMA counter count_m2; schedule_free's step_count starts at 1.
    counts += state_fields(state, "count_m2")
    starts_at_one = state_fields(state, "step_count")
    # Exempt by design, as in optax: scale_by_distance_over_gradients sums squared gradients
    # in float32 and stores x_0 in param_dtype (float32 by default); flags are 0-d bools
    # (zero_nans' found_nan, scale_by_optimistic_gradient's is_initial_step).
    fixed = anyopt_tree.leaves(
        state_fields(state, "grad_sum_of_squares") + state_fields(state, "init_params")
    )
    for leaf in anyopt_tree.leaves(state):
        name = dtype_name(leaf)
        if "float" in name:
            exempt = any(leaf is f for f in fixed)
            assert name == expected or exempt, f"{what}: {name} state leaf, want {expected}"
        elif name == "bool":
            assert tuple(leaf.shape) == (), f"{what}: a bool state leaf that is not a 0-d flag"
        else:
            assert name == "int32", f"{what}: {name} state leaf"
            is_count = any(leaf is c for c in counts + starts_at_one)
            assert is_count, f"{what}: an int leaf that is not a count"
    for c in counts:
        assert dtype_name(c) == "int32" and tuple(c.shape) == ()
        assert int(to_numpy(backend, c)) == steps_done, what
    for c in starts_at_one:
        assert dtype_name(c) == "int32" and int(to_numpy(backend, c)) == steps_done + 1, what
    assert_finite(backend, state, what)


# Learning-rate-free methods whose state lives at the scale of a tiny initial estimate
# (1e-6, squared 1e-12) or eps (1e-8), below float16's range: they give NaN in float16, as
# optax does (bfloat16, with float32's range, is still tested).
FLOAT16_UNDERFLOWS = {"contrib.prodigy", "contrib.dadapt_adamw", "contrib.mechanize"}


def run_and_check(backend: Backend, case: str, dtype: str):
    if gap(case, backend.name):
        pytest.skip(f"capability gap, asserted in test_parity_optax: {gap(case, backend.name)}")
    if dtype == "float16" and case.split("/")[0] in FLOAT16_UNDERFLOWS:
        pytest.skip("its state underflows float16 (see FLOAT16_UNDERFLOWS)")
    tx = CASES[case](anyopt)
    m = multiplier(case)
    params = backend.tree(bounded_tree(0), dtype)
    assert_dtypes(params, dtype, "params (test setup)")
    state = tx.init(params)
    assert_state_dtypes(backend, state, dtype, f"{case} init", 0)
    for k in range(STEPS):
        grads = backend.tree(bounded_tree(100 + k), dtype)
        updates, state = tx.update(grads, state, params)
        assert_dtypes(updates, dtype, f"{case} step {k} updates")
        assert_finite(backend, updates, f"{case} step {k} updates")
        assert_state_dtypes(backend, state, dtype, f"{case} step {k} state", k + 1)
        params = anyopt.apply_updates(params, anyopt.tree_utils.tree_scale(m, updates))
        assert_dtypes(params, dtype, f"{case} step {k} params")
        assert_finite(backend, params, f"{case} step {k} params")


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize(("backend", "dtype"), LOW_PRECISION, indirect=["backend"])
def test_low_precision_params_keep_their_dtype(backend, dtype, case):
    run_and_check(backend, case, dtype)


@pytest.mark.slow  # float16/bfloat16 above are the demanding cases; these are exhaustive
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize(("backend", "dtype"), DOUBLE + SINGLE, indirect=["backend"])
def test_float32_and_float64_params_keep_their_dtype(backend, dtype, case):
    run_and_check(backend, case, dtype)


def test_bounded_tree_is_bounded_away_from_zero():
    leaves = anyopt_tree.leaves(bounded_tree(3))
    assert len(leaves) == 5
    for leaf in leaves:
        assert np.all(np.abs(leaf) >= 0.1) and np.all(np.abs(leaf) <= 1.0)


# --- a 0-d float32 learning rate ------------------------------------------------------------
ARRAY_LR = {
    "adam": lambda lr: anyopt.adam(lr),
    "sgd": lambda lr: anyopt.sgd(lr),
    "sgd/momentum": lambda lr: anyopt.sgd(lr, momentum=0.9),
    "rmsprop": lambda lr: anyopt.rmsprop(lr),
    "adamw": lambda lr: anyopt.adamw(lr, weight_decay=0.1),
}


@pytest.mark.parametrize("name", sorted(ARRAY_LR))
def test_float32_array_learning_rate_keeps_float16_updates(backend, name):
    lr = backend.array(np.float32(0.01))
    assert dtype_name(lr) == "float32" and tuple(lr.shape) == ()
    tx = ARRAY_LR[name](lr)
    expected_tx = ARRAY_LR[name](0.01)
    params = backend.tree(bounded_tree(0), "float16")
    state = expected_state = tx.init(params)
    for k in range(STEPS):
        grads = backend.tree(bounded_tree(100 + k), "float16")
        updates, state = tx.update(grads, state, params)
        expected_updates, expected_state = expected_tx.update(grads, expected_state, params)
        assert_dtypes(updates, "float16", f"{name} step {k} updates")
        assert_state_dtypes(backend, state, "float16", f"{name} step {k} state", k + 1)
        # The array learning rate gives the same updates as the Python float one.
        for got, want in zip(anyopt_tree.leaves(updates), anyopt_tree.leaves(expected_updates)):
            np.testing.assert_allclose(to_numpy(backend, got), to_numpy(backend, want), rtol=2e-3)
        params = anyopt.apply_updates(params, updates)
        assert_dtypes(params, "float16", f"{name} step {k} params")


# --- mu_dtype and accumulator_dtype ---------------------------------------------------------
def framework_dtype(framework: str, name: str):
    """``name`` in the framework's own spelling (jnp.bfloat16, torch.bfloat16 ...)."""
    if framework == "jax":
        import jax.numpy as jnp

        return getattr(jnp, name)
    if framework == "torch":
        import torch

        return getattr(torch, name)
    if framework == "mlx":
        import mlx.core as mx

        return getattr(mx, name)
    return getattr(np, name)


# (parameter dtype, moment dtype) per framework: bfloat16 moments for float32 parameters
# where the framework has bfloat16; float32 moments for float64 parameters on NumPy.
MOMENT_DTYPES = {"numpy": ("float64", "float32")}
SPELLINGS = ["framework", "string"]


def dtypes_for(framework: str):
    return MOMENT_DTYPES.get(framework, ("float32", "bfloat16"))


def moment_dtype_arg(framework: str, name: str, spelling: str):
    return name if spelling == "string" else framework_dtype(framework, name)


MU_DTYPE = {
    "adam": (lambda d: anyopt.adam(0.01, mu_dtype=d), True),
    "adamw": (lambda d: anyopt.adamw(0.01, mu_dtype=d, weight_decay=0.1), True),
    "nadam": (lambda d: anyopt.nadam(0.01, mu_dtype=d), True),
    "nadamw": (lambda d: anyopt.nadamw(0.01, mu_dtype=d), True),
    "amsgrad": (lambda d: anyopt.amsgrad(0.01, mu_dtype=d), True),
    "scale_by_adam": (lambda d: anyopt.scale_by_adam(mu_dtype=d), True),
    "scale_by_amsgrad": (lambda d: anyopt.scale_by_amsgrad(mu_dtype=d), True),
    "lion": (lambda d: anyopt.lion(0.001, mu_dtype=d), False),
    "scale_by_lion": (lambda d: anyopt.scale_by_lion(mu_dtype=d), False),
}


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("name", sorted(MU_DTYPE))
def test_mu_dtype_is_honoured(backend, name, spelling):
    param_dtype, mu_dtype = dtypes_for(backend.name)
    build, has_nu = MU_DTYPE[name]
    tx = build(moment_dtype_arg(backend.name, mu_dtype, spelling))
    params = backend.tree(bounded_tree(0), param_dtype)
    state = tx.init(params)
    for k in range(STEPS + 1):
        mus, nus = state_fields(state, "mu"), state_fields(state, "nu")
        assert len(mus) == 1 and len(nus) == int(has_nu), f"{name}: state fields"
        assert_dtypes(mus[0], mu_dtype, f"{name} step {k} mu")
        if has_nu:
            assert_dtypes(nus[0], param_dtype, f"{name} step {k} nu")
        assert_finite(backend, state, f"{name} step {k} state")
        if k == STEPS:
            break
        grads = backend.tree(bounded_tree(100 + k), param_dtype)
        updates, state = tx.update(grads, state, params)
        assert_dtypes(updates, param_dtype, f"{name} step {k} updates")
        params = anyopt.apply_updates(params, anyopt.tree_utils.tree_scale(-0.01, updates))
        assert_dtypes(params, param_dtype, f"{name} step {k} params")


ACCUMULATOR_DTYPE = {
    "sgd/momentum": (lambda d: anyopt.sgd(0.01, momentum=0.9, accumulator_dtype=d), "trace"),
    "sgd/nesterov": (
        lambda d: anyopt.sgd(0.01, momentum=0.9, nesterov=True, accumulator_dtype=d),
        "trace",
    ),
    "trace": (lambda d: anyopt.trace(0.9, accumulator_dtype=d), "trace"),
    "ema": (lambda d: anyopt.ema(0.9, accumulator_dtype=d), "ema"),
    "ema/no_debias": (lambda d: anyopt.ema(0.9, debias=False, accumulator_dtype=d), "ema"),
    "signum": (lambda d: anyopt.signum(0.01, accumulator_dtype=d), "ema"),
}


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("name", sorted(ACCUMULATOR_DTYPE))
def test_accumulator_dtype_is_honoured(backend, name, spelling):
    param_dtype, acc_dtype = dtypes_for(backend.name)
    build, field = ACCUMULATOR_DTYPE[name]
    tx = build(moment_dtype_arg(backend.name, acc_dtype, spelling))
    params = backend.tree(bounded_tree(0), param_dtype)
    state = tx.init(params)
    for k in range(STEPS + 1):
        found = state_fields(state, field)
        assert len(found) == 1, f"{name}: state has no single {field}"
        assert_dtypes(found[0], acc_dtype, f"{name} step {k} {field}")
        assert_finite(backend, state, f"{name} step {k} state")
        if k == STEPS:
            break
        grads = backend.tree(bounded_tree(100 + k), param_dtype)
        updates, state = tx.update(grads, state, params)
        assert_dtypes(updates, param_dtype, f"{name} step {k} updates")
        params = anyopt.apply_updates(params, anyopt.tree_utils.tree_scale(-0.01, updates))


def test_moment_dtype_pairs_differ():
    # A guard for the tests above: the moment dtype must differ from the parameters'.
    for framework in FRAMEWORKS:
        param_dtype, moment_dtype = dtypes_for(framework)
        assert param_dtype != moment_dtype


# --- invalid dtypes -------------------------------------------------------------------------
MU_DTYPE_BUILDERS = {
    "adam": lambda d: anyopt.adam(0.01, mu_dtype=d),
    "adamw": lambda d: anyopt.adamw(0.01, mu_dtype=d),
    "nadam": lambda d: anyopt.nadam(0.01, mu_dtype=d),
    "nadamw": lambda d: anyopt.nadamw(0.01, mu_dtype=d),
    "amsgrad": lambda d: anyopt.amsgrad(0.01, mu_dtype=d),
    "lion": lambda d: anyopt.lion(0.01, mu_dtype=d),
    "scale_by_adam": lambda d: anyopt.scale_by_adam(mu_dtype=d),
    "scale_by_amsgrad": lambda d: anyopt.scale_by_amsgrad(mu_dtype=d),
    "scale_by_lion": lambda d: anyopt.scale_by_lion(mu_dtype=d),
}
ACCUMULATOR_DTYPE_BUILDERS = {
    "sgd": lambda d: anyopt.sgd(0.01, momentum=0.9, accumulator_dtype=d),
    "trace": lambda d: anyopt.trace(0.9, accumulator_dtype=d),
    "ema": lambda d: anyopt.ema(0.9, accumulator_dtype=d),
    "signum": lambda d: anyopt.signum(0.01, accumulator_dtype=d),
}
INVALID = ["int32", np.int64]


def dtype_id(d) -> str:
    return d if isinstance(d, str) else f"np.{d.__name__}"


@pytest.mark.parametrize("bad", INVALID, ids=dtype_id)
@pytest.mark.parametrize("fn", sorted(MU_DTYPE_BUILDERS))
def test_invalid_mu_dtype_raises_naming_function_and_argument(fn, bad):
    with pytest.raises(ValueError, match=rf"^{fn}: mu_dtype\b"):
        MU_DTYPE_BUILDERS[fn](bad)


@pytest.mark.parametrize("bad", INVALID, ids=dtype_id)
@pytest.mark.parametrize("fn", sorted(ACCUMULATOR_DTYPE_BUILDERS))
def test_invalid_accumulator_dtype_raises_naming_function_and_argument(fn, bad):
    with pytest.raises(ValueError, match=rf"^{fn}: accumulator_dtype\b"):
        ACCUMULATOR_DTYPE_BUILDERS[fn](bad)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_invalid_framework_integer_dtype_raises(framework):
    with pytest.raises(ValueError, match=r"^scale_by_adam: mu_dtype\b"):
        anyopt.scale_by_adam(mu_dtype=framework_dtype(framework, "int32"))


def test_valid_mu_dtype_strings_do_not_raise():
    for name in ("float16", "bfloat16", "float32", "float64"):
        assert isinstance(anyopt.adam(0.01, mu_dtype=name), anyopt.GradientTransformation)
