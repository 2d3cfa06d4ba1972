"""Mixed precision: float32 optimizer state for bfloat16 (NumPy: float16) parameters.

``nu_dtype`` is anyopt's addition beside optax's ``mu_dtype`` for every Adam-family
function. With both set to float32 the moments follow a float64 NumPy recursion to
float32 accuracy; ``nu_dtype=None`` changes nothing (and, on JAX, equals optax); the
wrappers around such optimizers run on low-precision parameters without dtype errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest

import anyopt
from anyopt import _tree
from test_dtypes import assert_dtypes, assert_finite, bounded_tree, dtype_name, to_numpy

from conftest import FRAMEWORKS, Backend, state_fields

F32 = "float32"
STEPS = 3

# Dyadic betas: (1 - b) * g is then exact in the gradients' low-precision dtype, where optax
# (and anyopt) form the first moment's increment; every remaining difference from the
# float64 reference is float32 rounding, so the moments can be compared tightly.
B1, B2, B3 = 0.875, 1 - 2.0**-10, 1 - 2.0**-8
LR, WD, EPS, ADOPT_EPS, ALPHA = 0.01, 0.125, 1e-8, 1e-6, 5.0

# Half an ulp, relative: the rounding of one result to the parameters' dtype.
UNIT_ROUNDOFF = {"float16": 2.0**-11, "bfloat16": 2.0**-8}


def low_dtype(backend: Backend) -> str:
    return "float16" if backend.name == "numpy" else "bfloat16"  # NumPy has no bfloat16


def vector_tree(seed: int):
    """``bounded_tree`` with its matrix flattened, so that Muon sends every leaf to AdamW."""
    tree = bounded_tree(seed)
    tree["dense"]["w"] = tree["dense"]["w"].ravel()
    return tree


# --- float64 references, one leaf at a time ---------------------------------------------------
# ``step(state, g, p, k, r) -> (direction, slack, state)``: ``k`` counts from 1, ``r`` is the
# unit roundoff of the parameters' dtype and ``slack`` bounds, element-wise, the error of terms
# the library forms in the gradients' dtype by design (as optax does).
def _moments(s, g):
    return B1 * s.get("mu", 0.0) + (1 - B1) * g, B2 * s.get("nu", 0.0) + (1 - B2) * g * g


def adam_ref(nesterov: bool = False, wd: float = 0.0):
    def step(s, g, p, k, r):
        mu, nu = _moments(s, g)
        den = np.sqrt(nu / (1 - B2**k)) + EPS
        if nesterov:  # the gradient's bias correction is computed in its own dtype
            g_term = (1 - B1) * g / (1 - B1**k)
            u, slack = (B1 * mu / (1 - B1 ** (k + 1)) + g_term) / den, 3 * r * abs(g_term) / den
        else:
            u, slack = mu / (1 - B1**k) / den, 0 * g
        return u + wd * p, slack, {"mu": mu, "nu": nu}  # WD * p is exact (dyadic WD)

    return step


def amsgrad_ref(s, g, p, k, r):
    mu, nu = _moments(s, g)
    nu_max = np.maximum(s.get("nu_max", 0.0), nu / (1 - B2**k))
    return mu / (1 - B1**k) / (np.sqrt(nu_max) + EPS), 0 * g, {"mu": mu, "nu": nu, "nu_max": nu_max}


def adopt_ref(s, g, p, k, r):
    if k == 1:  # the first step only sets nu = g**2
        return 0 * g, 0 * g, {"mu": 0 * g, "nu": g * g}
    c = (k - 1) ** 0.25
    clipped = np.clip(g / np.maximum(np.sqrt(s["nu"]), ADOPT_EPS), -c, c)
    mu = B1 * s["mu"] + (1 - B1) * clipped
    nu = B2 * s["nu"] + (1 - B2) * g * g
    return mu, 2 * r * abs(mu), {"mu": mu, "nu": nu}  # the update comes out in g's dtype


def ademamix_ref(alpha: float, wd: float = 0.0):
    def step(s, g, p, k, r):
        m1, nu = _moments({"mu": s.get("m1", 0.0), "nu": s.get("nu", 0.0)}, g)
        m2 = B3 * s.get("m2", 0.0) + (1 - B3) * g
        u = (m1 / (1 - B1**k) + alpha * m2) / (np.sqrt(nu / (1 - B2**k)) + EPS)
        # the direction is cast to g's dtype; the decay and -lr are then added there
        slack = 3 * r * (abs(u) + wd * abs(p))
        return u + wd * p, slack, {"m1": m1, "m2": m2, "nu": nu}

    return step


def optimistic_ref(s, g, p, k, r):
    d, d_slack, new = adam_ref(nesterov=True)(s, g, p, k, r)
    prev, prev_slack = (d, d_slack) if k == 1 else (s["prev"], s["prev_slack"])
    new.update(prev=d, prev_slack=d_slack)
    return 2 * d - prev, 2 * d_slack + prev_slack, new  # alpha = beta = 1


class Case(NamedTuple):
    build: Callable  # build(lib, **dtype_kwargs)
    reference: Callable
    scale: float  # multiplies the reference direction: -LR for optimizers
    fields: tuple  # the state's moment fields
    fn: str  # the name its errors start with


ADAM, AMS, MIX = ("mu", "nu"), ("mu", "nu", "nu_max"), ("m1", "m2", "nu")
CASES = {
    "scale_by_adam": Case(
        lambda lib, **kw: lib.scale_by_adam(B1, B2, **kw), adam_ref(), 1.0, ADAM, "scale_by_adam"
    ),
    "adam": Case(lambda lib, **kw: lib.adam(LR, B1, B2, **kw), adam_ref(), -LR, ADAM, "adam"),
    "adamw": Case(
        lambda lib, **kw: lib.adamw(LR, B1, B2, weight_decay=WD, **kw),
        adam_ref(wd=WD),
        -LR,
        ADAM,
        "adamw",
    ),
    "nadam": Case(
        lambda lib, **kw: lib.nadam(LR, B1, B2, **kw), adam_ref(True), -LR, ADAM, "nadam"
    ),
    "nadamw": Case(
        lambda lib, **kw: lib.nadamw(LR, B1, B2, weight_decay=WD, **kw),
        adam_ref(True, WD),
        -LR,
        ADAM,
        "nadamw",
    ),
    "scale_by_amsgrad": Case(
        lambda lib, **kw: lib.scale_by_amsgrad(B1, B2, **kw),
        amsgrad_ref,
        1.0,
        AMS,
        "scale_by_amsgrad",
    ),
    "amsgrad": Case(
        lambda lib, **kw: lib.amsgrad(LR, B1, B2, **kw), amsgrad_ref, -LR, AMS, "amsgrad"
    ),
    "contrib.scale_by_adopt": Case(
        lambda lib, **kw: lib.contrib.scale_by_adopt(B1, B2, **kw),
        adopt_ref,
        1.0,
        ADAM,
        "scale_by_adopt",
    ),
    "contrib.adopt": Case(
        lambda lib, **kw: lib.contrib.adopt(LR, B1, B2, **kw), adopt_ref, -LR, ADAM, "adopt"
    ),
    "contrib.scale_by_ademamix": Case(
        lambda lib, **kw: lib.contrib.scale_by_ademamix(B1, B2, B3, **kw),
        ademamix_ref(6.0),
        1.0,
        MIX,
        "scale_by_ademamix",
    ),
    "contrib.ademamix": Case(
        lambda lib, **kw: lib.contrib.ademamix(LR, B1, B2, B3, ALPHA, weight_decay=WD, **kw),
        ademamix_ref(ALPHA, WD),
        -LR,
        MIX,
        "ademamix",
    ),
    "optimistic_adam_v2": Case(
        lambda lib, **kw: lib.optimistic_adam_v2(LR, b1=B1, b2=B2, **kw),
        optimistic_ref,
        -LR,
        ADAM,
        "optimistic_adam_v2",
    ),
    "contrib.muon": Case(
        lambda lib, **kw: lib.contrib.muon(LR, adam_b1=B1, adam_b2=B2, **kw),
        adam_ref(nesterov=True),
        -LR,
        ADAM,
        "muon",
    ),
}


def moment_leaves(state, field: str) -> list:
    """The leaves of the one non-empty ``field`` in the state (Muon's is also masked)."""
    found = [t for t in state_fields(state, field) if _tree.leaves(t)]
    assert len(found) == 1, f"{field}: {len(found)} non-empty fields in the state"
    return _tree.leaves(found[0])


def assert_within(actual, expected, bound, what: str):
    err = np.abs(np.asarray(actual) - expected)
    worst = np.argmax(err - bound)
    assert np.all(err <= bound), (
        f"{what}: |{np.ravel(actual)[worst]} - {np.ravel(expected)[worst]}| = "
        f"{np.ravel(err)[worst]:.3g} > {np.ravel(bound)[worst]:.3g}"
    )


def f32_bound(ref) -> np.ndarray:
    """float32 rounding of a few operations, relative to the value and the leaf's scale."""
    return 1e-5 * (np.abs(ref) + np.max(np.abs(ref)))


# --- 1. float32 moments follow the float64 reference ------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_moments_follow_a_float64_reference(backend, name):
    case, low = CASES[name], low_dtype(backend)
    r = UNIT_ROUNDOFF[low]
    tx = case.build(anyopt, mu_dtype=F32, nu_dtype=F32)
    mu_only = case.build(anyopt, mu_dtype=F32)
    params = backend.tree(vector_tree(0), low)
    state, mu_only_state = tx.init(params), mu_only.init(params)
    refs = [{} for _ in _tree.leaves(params)]
    for k in range(1, STEPS + 1):
        for field in case.fields:
            assert_dtypes(moment_leaves(state, field), F32, f"{name} step {k - 1} {field}")
        grads = backend.tree(vector_tree(100 + k), low)
        updates, state = tx.update(grads, state, params)
        # The updates come out in the dtype mu_dtype alone gives (optax's rule).
        expected, mu_only_state = mu_only.update(grads, mu_only_state, params)
        got_dtypes = [dtype_name(u) for u in _tree.leaves(updates)]
        assert got_dtypes == [dtype_name(u) for u in _tree.leaves(expected)], name
        new_params = anyopt.apply_updates(params, updates)
        assert_dtypes(new_params, low, f"{name} step {k} params")
        assert_finite(backend, (updates, state, new_params), f"{name} step {k}")
        leaves = zip(_tree.leaves(grads), _tree.leaves(params), _tree.leaves(updates))
        for i, (g, p, u) in enumerate(leaves):
            g, p = to_numpy(backend, g), to_numpy(backend, p)  # exact: low precision in float64
            direction, slack, refs[i] = case.reference(refs[i], g, p, k, r)
            u_ref = case.scale * direction
            u_bound = abs(case.scale) * slack + f32_bound(u_ref)
            assert_within(to_numpy(backend, u), u_ref, u_bound, f"{name} step {k} update {i}")
            # One rounding of p + u to the parameters' dtype.
            new_p = to_numpy(backend, _tree.leaves(new_params)[i])
            p_bound = r * np.abs(p + u_ref) + u_bound
            assert_within(new_p, p + u_ref, p_bound, f"{name} step {k} params {i}")
        for field in case.fields:
            for i, leaf in enumerate(moment_leaves(state, field)):
                ref = refs[i][field]
                got = to_numpy(backend, leaf)
                assert_within(got, ref, f32_bound(ref), f"{name} step {k} {field} {i}")
        params = new_params


# --- 2. nu_dtype=None is the default ----------------------------------------------------------
def run(tx, backend: Backend, dtype: str, steps: int = 3):
    params = backend.tree(bounded_tree(0), dtype)
    state = tx.init(params)
    for k in range(steps):
        updates, state = tx.update(backend.tree(bounded_tree(100 + k), dtype), state, params)
        params = anyopt.apply_updates(params, updates)
    return params, state


def assert_identical(a, b, backend: Backend, what: str):
    leaves_a, leaves_b = _tree.leaves(a), _tree.leaves(b)
    assert len(leaves_a) == len(leaves_b), what
    for x, y in zip(leaves_a, leaves_b):
        assert dtype_name(x) == dtype_name(y), what
        np.testing.assert_array_equal(to_numpy(backend, x), to_numpy(backend, y), err_msg=what)


@pytest.mark.parametrize("mu_dtype", [None, F32])
@pytest.mark.parametrize("name", sorted(CASES))
def test_nu_dtype_none_changes_nothing(backend, name, mu_dtype):
    build, low = CASES[name].build, low_dtype(backend)
    default = run(build(anyopt, mu_dtype=mu_dtype), backend, low, steps=2)
    explicit = run(build(anyopt, mu_dtype=mu_dtype, nu_dtype=None), backend, low, steps=2)
    assert_identical(explicit, default, backend, name)


# --- 3. on JAX, equal to optax where optax can say it -----------------------------------------
def assert_close(a, b, backend: Backend, tol: float, what: str):
    """Identical when ``tol`` is 0; else equal dtypes and ``|a - b| <= tol * max|b|`` per leaf."""
    if tol == 0:
        return assert_identical(a, b, backend, what)
    leaves_a, leaves_b = _tree.leaves(a), _tree.leaves(b)
    assert len(leaves_a) == len(leaves_b), what
    for x, y in zip(leaves_a, leaves_b):
        assert dtype_name(x) == dtype_name(y), what
        x, y = to_numpy(backend, x), to_numpy(backend, y)
        if x.dtype.kind != "f":
            np.testing.assert_array_equal(x, y, err_msg=what)  # counts and flags
        else:
            assert_within(x, y, tol * np.max(np.abs(y)), what)


# Parameters and state after 3 steps on bfloat16 parameters with mu_dtype=float32 (and no
# nu_dtype) against optax's, relative to each leaf's largest value. Muon is left out: optax
# keeps its Newton-Schulz coefficients in the parameters' dtype, anyopt in float32.
OPTAX_TOLERANCE = {
    **dict.fromkeys(["scale_by_adam", "adam", "adamw", "nadam", "nadamw"], 0),
    **dict.fromkeys(["scale_by_amsgrad", "amsgrad"], 0),
    # The state holds Adam's update, which can differ by a float32 ulp: optax jits its bias
    # correction and XLA fuses the bfloat16 arithmetic around it.
    "optimistic_adam_v2": 1e-6,
    # anyopt returns their updates in the gradients' dtype (bfloat16; tests/test_contrib_a.py
    # test_mu_dtype_is_kept_in_the_state), optax in float32: one bfloat16 rounding apart.
    **dict.fromkeys(["contrib.adopt", "contrib.scale_by_adopt"], 2.0**-7),
    **dict.fromkeys(["contrib.ademamix", "contrib.scale_by_ademamix"], 2.0**-7),
}


def test_optax_tolerances_cover_the_cases():
    assert set(OPTAX_TOLERANCE) == set(CASES) - {"contrib.muon"}


@pytest.mark.parametrize(("name", "tol"), sorted(OPTAX_TOLERANCE.items()))
def test_mu_dtype_alone_equals_optax_on_bfloat16(name, tol):
    pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    backend = Backend("jax")
    build = CASES[name].build
    ours = run(build(anyopt, mu_dtype=F32), backend, "bfloat16")
    theirs = run(build(optax, mu_dtype=F32), backend, "bfloat16")
    assert_close(ours, theirs, backend, tol, name)


# --- 4. wrappers around float32 state on low-precision parameters -----------------------------
MASK = {"dense": {"w": True, "b": False}, "layers": [True, (False, True)], "skip": None}
LABELS = {"dense": {"w": "adam", "b": "sgd"}, "layers": ["sgd", ("adam", "adam")], "skip": None}


def _adamw(lib, **nu):
    return lib.adamw(1e-3, mu_dtype=F32, **nu)


def _clipped(lib, **nu):
    return lib.chain(lib.clip_by_global_norm(1.0), _adamw(lib, **nu))


def _injected(lib, **nu):
    # float32 hyperparameters: in bfloat16 (the default for bfloat16 parameters, as in
    # optax) b2 = 0.999 rounds to 1.0 and Adam's update is NaN.
    injected = lib.inject_hyperparams(lib.adamw, hyperparam_dtype=np.float32)
    return injected(learning_rate=lib.linear_schedule(1e-3, 1e-4, 10), mu_dtype=F32, **nu)


WRAPPERS = {
    "chain": _clipped,
    "MultiSteps": lambda lib, **nu: lib.MultiSteps(
        _clipped(lib, **nu), every_k_schedule=2, accumulator_dtype=F32
    ),
    "masked": lambda lib, **nu: lib.masked(_adamw(lib, **nu), MASK),
    "partition": lambda lib, **nu: lib.partition(
        {"adam": _adamw(lib, **nu), "sgd": lib.sgd(1e-2)}, LABELS
    ),
    "inject_hyperparams": _injected,
    "apply_if_finite": lambda lib, **nu: lib.apply_if_finite(_adamw(lib, **nu), 3),
    "lookahead": lambda lib, **nu: lib.lookahead(_adamw(lib, **nu), 2, 0.5),
    "ema": lambda lib, **nu: lib.chain(lib.ema(0.9, accumulator_dtype=F32), _adamw(lib, **nu)),
    "trace": lambda lib, **nu: lib.chain(
        lib.scale_by_adam(mu_dtype=F32, **nu),
        lib.trace(0.9, accumulator_dtype=F32),
        lib.scale(-1e-3),
    ),
}


def run_wrapper(lib, name: str, backend: Backend, low: str, **nu):
    tx = WRAPPERS[name](lib, **nu)
    params = backend.tree(bounded_tree(0), low)
    if name == "lookahead":
        params = lib.LookaheadParams.init_synced(params)
    state = tx.init(params)
    for k in range(STEPS):
        grads = backend.tree(bounded_tree(100 + k), low)
        updates, state = tx.update(grads, state, params)
        params = lib.apply_updates(params, updates)
        assert_dtypes(params, low, f"{name} step {k} params")
        assert_finite(backend, (updates, params, state), f"{name} step {k}")
    return params, state


@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_wrappers_keep_dtypes_with_float32_state(backend, name):
    low = low_dtype(backend)
    params, state = run_wrapper(anyopt, name, backend, low, nu_dtype=F32)
    for field in ("mu", "nu"):
        moments = [t for t in state_fields(state, field) if _tree.leaves(t)]
        assert moments, f"{name}: no {field} in the state"
        for tree in moments:
            assert_dtypes(tree, F32, f"{name} {field}")


# As OPTAX_TOLERANCE, for the wrappers (without nu_dtype, which optax lacks). Left out:
# apply_if_finite, which optax 0.2.8 cannot run here (its lax.cond rejects float32 updates
# beside bfloat16 zeros; anyopt's branches agree on the wider dtype), and
# inject_hyperparams, whose float32 b2 turns optax's bfloat16 nu into float32 (anyopt keeps
# state dtypes; the test below checks that such a nu still moves).
WRAPPER_TOLERANCE = {
    **dict.fromkeys(["masked", "partition", "lookahead"], 0),
    # A float32 ulp in Adam's bias correction (see optimistic_adam_v2 above).
    **dict.fromkeys(["ema", "trace"], 1e-6),
    # clip_by_global_norm: anyopt multiplies bfloat16 updates by max_norm / norm, optax
    # divides by the norm and multiplies by max_norm: each clipped gradient is a bfloat16
    # ulp or two apart, which the moments accumulate.
    **dict.fromkeys(["chain", "MultiSteps"], 2.0**-6),
}


def test_wrapper_tolerances_cover_the_wrappers():
    assert set(WRAPPER_TOLERANCE) == set(WRAPPERS) - {"apply_if_finite", "inject_hyperparams"}


@pytest.mark.parametrize(("name", "tol"), sorted(WRAPPER_TOLERANCE.items()))
def test_wrappers_equal_optax_on_bfloat16(name, tol):
    pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    backend = Backend("jax")
    ours = run_wrapper(anyopt, name, backend, "bfloat16")
    theirs = run_wrapper(optax, name, backend, "bfloat16")
    assert_close(ours, theirs, backend, tol, name)


@pytest.mark.parametrize("framework", [f for f in FRAMEWORKS if f != "numpy"])
def test_float32_hyperparameters_move_a_bfloat16_nu(framework):
    """1 - b2 is formed before the cast to the moment's dtype: 1 - bf16(0.999) would be 0."""
    backend = Backend(framework)
    tx = anyopt.inject_hyperparams(anyopt.adam, hyperparam_dtype=F32)(1e-3)
    params = backend.tree(bounded_tree(0), "bfloat16")
    _, state = tx.update(params, tx.init(params), params)
    for leaf in moment_leaves(state, "nu"):
        assert np.all(to_numpy(backend, leaf) > 0), "nu did not move"


# --- 5. invalid nu_dtype --------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["int32", np.int64, "bool"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_invalid_nu_dtype_raises_naming_function_and_argument(name, bad):
    case = CASES[name]
    with pytest.raises(ValueError, match=rf"^{case.fn}: nu_dtype\b"):
        case.build(anyopt, nu_dtype=bad)


@pytest.mark.parametrize("name", sorted(CASES))
def test_nu_dtype_accepts_framework_spellings(backend, name):
    dtype = backend.dtype(F32)  # jnp.float32, torch.float32 ...
    tx = CASES[name].build(anyopt, nu_dtype=dtype)
    params = backend.tree(vector_tree(0), low_dtype(backend))
    state = tx.init(params)
    _, state = tx.update(params, state, params)
    assert_dtypes(moment_leaves(state, "nu"), F32, f"{name} nu from {dtype!r}")
