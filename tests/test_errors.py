"""Bad input fails early and loudly, with a message that says what to fix.

* out-of-range hyperparameters: ``ValueError`` at construction naming the function, the
  argument, the rule and the value (``adam: b1 must be in [0, 1); got 1.2``);
* gradients whose tree differs from the state's: ``ValueError`` naming the first leaf path
  that differs, on every backend (with JAX's flattener and with anyopt's own one);
* arrays of two frameworks in one call: ``TypeError`` naming both frameworks;
* ``import anyopt`` imports no array library.
"""

from __future__ import annotations

import itertools
import json
import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import anyopt

from conftest import FRAMEWORKS, Backend

# --- hyperparameters ----------------------------------------------------------------------
UNIT = "in [0, 1)"  # betas and decays
CLOSED_UNIT = "in [0, 1]"
NON_NEG = ">= 0"
POS = "> 0"

# (function, argument, rule, bad value); the function gets learning_rate=0.1 if it takes one.
OPTIMIZERS_WITH_LR = {
    "adam", "adamw", "nadam", "nadamw", "amsgrad", "adabelief", "rmsprop", "lion", "sgd",
    "signum", "sign_sgd", "scale_by_learning_rate",
}  # fmt: skip
HYPER_CASES = [
    *[
        (fn, arg, rule, value)
        for fn in ("adam", "adamw", "nadam", "nadamw", "amsgrad", "adabelief")
        for arg, rule, value in [
            ("learning_rate", NON_NEG, -0.1),
            ("b1", UNIT, 1.2),
            ("b1", UNIT, 1.0),
            ("b2", UNIT, -0.1),
            ("eps", NON_NEG, -1e-8),
        ]
    ],
    *[
        (fn, arg, rule, value)
        for fn in ("scale_by_adam", "scale_by_amsgrad", "scale_by_belief")
        for arg, rule, value in [("b1", UNIT, 1.2), ("b2", UNIT, -0.1), ("eps", NON_NEG, -1e-8)]
    ],
    ("adam", "eps_root", NON_NEG, -1.0),
    ("rmsprop", "learning_rate", NON_NEG, -0.01),
    ("rmsprop", "decay", UNIT, 1.5),
    ("rmsprop", "eps", NON_NEG, -1e-8),
    ("rmsprop", "momentum", NON_NEG, -0.9),
    ("scale_by_rms", "decay", UNIT, 1.5),
    ("scale_by_rms", "eps", NON_NEG, -1e-8),
    ("scale_by_stddev", "decay", UNIT, -0.5),
    ("scale_by_stddev", "eps", NON_NEG, -1e-8),
    ("lion", "learning_rate", NON_NEG, -0.001),
    ("lion", "b1", UNIT, 1.2),
    ("lion", "b2", UNIT, -0.5),
    ("scale_by_lion", "b1", UNIT, 1.2),
    ("scale_by_lion", "b2", UNIT, 2.0),
    ("scale_by_lion", "mode", "one of ('hard', 'smooth', 'refined')", "bogus"),
    ("sgd", "learning_rate", NON_NEG, -0.1),
    ("sgd", "momentum", NON_NEG, -0.5),
    ("signum", "learning_rate", NON_NEG, -0.1),
    ("signum", "beta", UNIT, 1.5),
    ("sign_sgd", "learning_rate", NON_NEG, -0.1),
    ("scale_by_learning_rate", "learning_rate", NON_NEG, -0.1),
    ("clip", "max_delta", NON_NEG, -1.0),
    ("clip_by_global_norm", "max_norm", POS, 0.0),
    ("clip_by_global_norm", "max_norm", POS, -1.0),
    ("ema", "decay", CLOSED_UNIT, 1.5),
    ("ema", "decay", CLOSED_UNIT, -0.1),
    ("trace", "decay", NON_NEG, -0.1),
    ("cosine_decay_schedule", "decay_steps", POS, 0),
    ("cosine_decay_schedule", "decay_steps", POS, -5),
]


def build(fn: str, **kwargs):
    if fn in OPTIMIZERS_WITH_LR:
        kwargs.setdefault("learning_rate", 0.1)
    if fn == "cosine_decay_schedule":
        kwargs.setdefault("init_value", 0.1)
    return getattr(anyopt, fn)(**kwargs)


def names(fn: str, message: str) -> bool:
    """``fn`` appears as a whole word (so 'adam' is not found inside 'nadam')."""
    return re.search(rf"(?<![\w.]){re.escape(fn)}(?!\w)", message) is not None


@pytest.mark.parametrize(
    "fn, arg, rule, value", HYPER_CASES, ids=[f"{c[0]}-{c[1]}={c[3]}" for c in HYPER_CASES]
)
def test_out_of_range_hyperparameter_is_rejected_with_a_clear_message(fn, arg, rule, value):
    with pytest.raises(ValueError) as info:
        build(fn, **{arg: value})
    message = str(info.value)
    assert names(fn, message), f"function {fn!r} not named in: {message}"
    assert arg in message, f"argument {arg!r} not named in: {message}"
    assert rule in message, f"rule {rule!r} not stated in: {message}"
    assert repr(value) in message, f"value {value!r} not shown in: {message}"


@pytest.mark.parametrize("decay_steps, warmup_steps", [(10, 10), (5, 10)])
def test_warmup_cosine_decay_needs_decay_steps_beyond_warmup(decay_steps, warmup_steps):
    with pytest.raises(ValueError) as info:
        anyopt.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps, decay_steps)
    message = str(info.value)
    assert names("warmup_cosine_decay_schedule", message), message
    assert "decay_steps must be > warmup_steps" in message, message
    assert f"decay_steps={decay_steps}" in message and f"warmup_steps={warmup_steps}" in message


@pytest.mark.parametrize(
    "fn, kwargs",
    [
        ("adam", {"b1": np.float64(1.2)}),
        ("rmsprop", {"decay": np.float32(1.5)}),
        ("clip", {"max_delta": np.float32(-1.0)}),
        ("sgd", {"learning_rate": np.float64(-0.1)}),
    ],
)
def test_numpy_scalar_hyperparameters_are_checked_too(fn, kwargs):
    with pytest.raises(ValueError, match=re.escape(next(iter(kwargs)))):
        build(fn, **kwargs)


@pytest.mark.parametrize(
    "fn, kwargs",
    [
        ("adam", {"learning_rate": 0.0, "b1": 0.0, "b2": 0.0, "eps": 0.0}),
        ("rmsprop", {"decay": 0.0, "eps": 0.0, "momentum": 0.0}),
        ("sgd", {"momentum": 0.0}),
        ("signum", {"beta": 0.0}),
        ("clip", {"max_delta": 0.0}),
        ("ema", {"decay": 1.0}),
        ("ema", {"decay": 0.0}),
        ("trace", {"decay": 0.0}),
        ("cosine_decay_schedule", {"decay_steps": 1}),
    ],
)
def test_boundary_values_are_accepted(fn, kwargs):
    out = build(fn, **kwargs)
    assert callable(out) or isinstance(out, anyopt.GradientTransformation)


LR_OPTIMIZERS = ["adam", "adamw", "nadam", "nadamw", "amsgrad", "adabelief", "rmsprop", "lion"]
LR_OPTIMIZERS += ["sgd", "signum", "sign_sgd"]


@pytest.mark.parametrize("fn", LR_OPTIMIZERS)
def test_schedule_learning_rate_is_not_rejected(fn, backend):
    """A schedule is accepted, and its value keeps the updates in the parameters' dtype."""
    params = backend.tree({"w": np.ones(3, np.float32)})
    grads = backend.tree({"w": np.full(3, 0.5, np.float32)})
    tx = build(fn, learning_rate=anyopt.linear_schedule(0.1, 0.0, 10))
    updates, _ = tx.update(grads, tx.init(params), params)
    assert anyopt.backends.of(updates["w"]).NAME == backend.name
    assert anyopt.backends.dtype_name(updates["w"].dtype) == "float32"
    assert np.all(backend.numpy(updates["w"]) < 0)


@pytest.mark.parametrize("fn", LR_OPTIMIZERS)
def test_zero_d_array_learning_rate_is_not_rejected(fn, backend):
    params = backend.tree({"w": np.ones(3, np.float32)})
    grads = backend.tree({"w": np.full(3, 0.5, np.float32)})
    lr = backend.array(np.float32(0.01))
    tx_array, tx_float = build(fn, learning_rate=lr), build(fn, learning_rate=0.01)
    got, _ = tx_array.update(grads, tx_array.init(params), params)
    want, _ = tx_float.update(grads, tx_float.init(params), params)
    assert anyopt.backends.of(got["w"]).NAME == backend.name
    np.testing.assert_allclose(backend.numpy(got["w"]), backend.numpy(want["w"]), rtol=1e-6)


# --- gradients whose tree differs from the state's ------------------------------------------
def _leaves(*shapes):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


_a, _b, _c = _leaves((3,), (2, 2), (4,))
# kind -> (params, grads, path of the first leaf that differs)
MISMATCHES = {
    "renamed_key": ({"a": _a, "b": _b, "c": _c}, {"a": _a, "bb": _b, "c": _c}, "['b']"),
    "missing_key": ({"a": _a, "b": _b, "c": _c}, {"a": _a, "c": _c}, "['b']"),
    "missing_last_key": ({"a": _a, "b": _b, "c": _c}, {"a": _a, "b": _b}, "['c']"),
    "shorter_list": ({"w": [_a, _b, _c]}, {"w": [_a, _b]}, "['w'][2]"),
    "nested_renamed_key": (
        {"dense": {"b": _a, "w": _b}, "out": _c},
        {"dense": {"bias": _a, "w": _b}, "out": _c},
        "['dense']['b']",
    ),
}


@pytest.mark.parametrize("kind", sorted(MISMATCHES))
def test_mismatched_gradient_tree_names_the_first_differing_leaf(kind, backend):
    params, grads, path = MISMATCHES[kind]
    tx = anyopt.adam(0.1)
    state = tx.init(backend.tree(params))
    with pytest.raises(ValueError) as info:
        tx.update(backend.tree(grads), state, backend.tree(params))
    assert path in str(info.value), f"{path} not in: {info.value}"


_PURE_SCRIPT = """
import json, pickle, sys
sys.path.insert(0, sys.argv[1])
from conftest import Backend
import anyopt

backend = Backend(sys.argv[2])
with open(sys.argv[3], "rb") as f:
    cases = pickle.load(f)
out = []
for kind, (params, grads, path) in cases.items():
    tx = anyopt.adam(0.1)
    state = tx.init(backend.tree(params))
    try:
        tx.update(backend.tree(grads), state, backend.tree(params))
        out.append([kind, path, None])
    except ValueError as e:
        out.append([kind, path, str(e)])
print(json.dumps({"jax_loaded": "jax" in sys.modules, "results": out}))
"""


@pytest.mark.parametrize("name", [f for f in FRAMEWORKS if f != "jax"])
def test_mismatch_message_names_the_leaf_without_jax_imported(name, tmp_path):
    """NumPy/PyTorch/MLX users who never import JAX get anyopt's own flattener."""
    cases = tmp_path / "cases.pkl"
    cases.write_bytes(pickle.dumps(MISMATCHES))
    proc = subprocess.run(
        [sys.executable, "-c", _PURE_SCRIPT, str(Path(__file__).parent), name, str(cases)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not report["jax_loaded"], "the check must run without JAX imported"
    bad = [
        f"{kind}: {path} not in {message!r}"
        for kind, path, message in report["results"]
        if message is None or path not in message
    ]
    assert not bad, "\n".join(bad)


# --- arrays of two frameworks in one call -----------------------------------------------------
# NumPy arrays among JAX arrays are accepted, as in optax (test_numpy_leaves_in_a_jax_tree).
PAIRS = [p for p in itertools.combinations(FRAMEWORKS, 2) if set(p) != {"numpy", "jax"}]


def _named(fw: str, message: str) -> bool:
    return re.search(rf"\b{fw}\b", message) is not None


@pytest.mark.parametrize("first, second", PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
@pytest.mark.parametrize("where", ["params_vs_grads", "one_tree", "apply_updates"])
def test_mixing_frameworks_raises_type_error_naming_both(first, second, where):
    one, two = Backend(first), Backend(second)
    x = np.arange(3, dtype=np.float32)
    tx = anyopt.adam(0.1)
    with pytest.raises(TypeError) as info:
        if where == "params_vs_grads":
            params = {"w": one.array(x)}
            tx.update({"w": two.array(x)}, tx.init(params), params)
        elif where == "one_tree":
            tx.init({"a": one.array(x), "b": two.array(x)})
        else:
            anyopt.apply_updates({"w": one.array(x)}, {"w": two.array(x)})
    message = str(info.value)
    assert _named(first, message) and _named(second, message), message


@pytest.mark.skipif("jax" not in FRAMEWORKS, reason="needs JAX")
def test_numpy_leaves_in_a_jax_tree_give_the_jax_numbers():
    jax_backend = Backend("jax")
    x = np.linspace(-1, 1, 3, dtype=np.float32)
    tx = anyopt.adam(0.1)
    mixed = {"a": jax_backend.array(x), "b": x}
    pure = {"a": jax_backend.array(x), "b": jax_backend.array(x)}
    got, want = mixed, pure
    state_got, state_want = tx.init(mixed), tx.init(pure)
    for _ in range(3):
        u, state_got = tx.update({"a": jax_backend.array(x), "b": x}, state_got, got)
        got = anyopt.apply_updates(got, u)
        u, state_want = tx.update(pure, state_want, want)
        want = anyopt.apply_updates(want, u)
    for k in ("a", "b"):
        np.testing.assert_allclose(np.asarray(got[k]), np.asarray(want[k]), rtol=1e-6)


# --- importing anyopt imports no array library -------------------------------------------------
def test_import_anyopt_imports_no_array_library():
    code = textwrap.dedent(
        """
        import json, sys
        import anyopt, anyopt.tree, anyopt.tree_utils, anyopt.schedules, anyopt.transforms
        import anyopt.backends
        after_import = sorted(m for m in ("numpy", "jax", "torch", "mlx") if m in sys.modules)
        anyopt.chain(
            anyopt.clip_by_global_norm(1.0),
            anyopt.adamw(anyopt.warmup_cosine_decay_schedule(0.0, 0.1, 5, 50)),
            anyopt.lion(1e-3), anyopt.rmsprop(0.01, momentum=0.9), anyopt.ema(0.9),
        )
        after_build = sorted(m for m in ("numpy", "jax", "torch", "mlx") if m in sys.modules)
        print(json.dumps([after_import, after_build]))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    after_import, after_build = json.loads(proc.stdout.strip().splitlines()[-1])
    assert after_import == [], f"import anyopt loaded {after_import}"
    assert after_build == [], f"building optimizers loaded {after_build}"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: anyopt.adam("fast"),
            r"adam: learning_rate must be a number, a 0-d array or a schedule .* got str 'fast'",
        ),
        (lambda: anyopt.sgd(None), r"sgd: learning_rate must be .* got NoneType None"),
        (
            lambda: anyopt.scale_by_schedule(0.1),
            r"scale_by_schedule: step_size_fn must be a schedule .* got float 0.1",
        ),
        (
            lambda: anyopt.join_schedules([0.1, anyopt.constant_schedule(0.1)], [5]),
            r"join_schedules: schedules\[0\] must be a schedule .* got float 0.1",
        ),
        (
            lambda: anyopt.inject_hyperparams(anyopt.adamw)(learning_rate="fast").init(
                {"w": np.ones(2)}
            ),
            r"adamw: learning_rate must be .* got str 'fast'",
        ),
    ],
)
def test_a_schedule_that_is_neither_a_number_nor_callable_is_rejected(build, message):
    with pytest.raises(TypeError, match=message):
        build()
