"""Schedules agree with ``optax.schedules`` for every count, on every framework.

Python int counts are compared with optax evaluated in float64 (``jax.enable_x64``), as
anyopt computes them in Python/NumPy double precision. Counts that are int32 0-d arrays
give float32 results and are compared with optax on ``jnp.int32`` counts; near-zero values
of a float32 cosine differ by a few float32 ulps between libraries, so that comparison also
allows an absolute error of ``ULPS`` float32 ulps at the schedule's scale.

``inject_hyperparams`` runs as an optimizer in the parity tests (tests/cases/schedules.py);
here: where and in which dtype it keeps hyperparameters, ``hyperparam_dtype``, values set
by hand, extra arguments for stateful schedules, and one compilation under ``jax.jit``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import anyopt
from anyopt import _tree, backends

from conftest import Backend

N = 61  # counts 0..60, past every transition and decay below
RTOL = 1e-6
ULPS = 4 * 2.0**-23

# name -> (build(lib), constant?) ; constant schedules return their value unchanged.
CASES = {
    "constant": (lambda L: L.constant_schedule(0.3), True),
    "linear": (lambda L: L.linear_schedule(0.1, 0.001, 30), False),
    "linear/increasing": (lambda L: L.linear_schedule(0.0, 1.0, 20), False),
    "linear/transition_begin": (lambda L: L.linear_schedule(0.1, 0.001, 30, 5), False),
    "linear/zero_steps": (lambda L: L.linear_schedule(0.1, 0.001, 0, 5), True),
    "linear/negative_steps": (lambda L: L.linear_schedule(0.2, 0.0, -3), True),
    "polynomial/square": (lambda L: L.polynomial_schedule(1.0, 0.0, 2, 40, 3), False),
    "polynomial/sqrt": (lambda L: L.polynomial_schedule(0.5, 0.05, 0.5, 25), False),
    "polynomial/begin_past_end": (lambda L: L.polynomial_schedule(1.0, 0.1, 3, 10, 45), False),
    "cosine_decay": (lambda L: L.cosine_decay_schedule(0.1, 40), False),
    "cosine_decay/alpha_exponent": (
        lambda L: L.cosine_decay_schedule(0.1, 30, alpha=0.1, exponent=2.0),
        False,
    ),
    "cosine_decay/one_step": (lambda L: L.cosine_decay_schedule(2.0, 1, alpha=0.25), False),
    "warmup_cosine_decay": (
        lambda L: L.warmup_cosine_decay_schedule(0.0, 1.0, 10, 50, 0.0, 1.5),
        False,
    ),
    "warmup_cosine_decay/end_value": (
        lambda L: L.warmup_cosine_decay_schedule(0.01, 0.5, 5, 35, 0.05),
        False,
    ),
    "warmup_cosine_decay/no_warmup": (
        lambda L: L.warmup_cosine_decay_schedule(0.1, 0.5, 0, 30, 0.05),
        False,
    ),
    "join_schedules": (
        lambda L: L.join_schedules(
            [
                L.constant_schedule(1.0),
                L.linear_schedule(1.0, 0.0, 10),
                L.cosine_decay_schedule(0.5, 20),
            ],
            [5, 20],
        ),
        False,
    ),
    "join_schedules/single": (lambda L: L.join_schedules([L.linear_schedule(1, 0, 8)], []), False),
    "exponential_decay": (lambda L: L.exponential_decay(0.5, 7, 0.8), False),
    "exponential_decay/staircase_begin_end": (
        lambda L: L.exponential_decay(0.5, 7, 0.8, 5, staircase=True, end_value=0.2),
        False,
    ),
    "exponential_decay/growth_capped": (
        lambda L: L.exponential_decay(0.01, 5, 1.3, end_value=0.05),
        False,
    ),
    "exponential_decay/negative_begin": (lambda L: L.exponential_decay(1.0, 4, 0.9, -3), False),
    "exponential_decay/zero_steps": (lambda L: L.exponential_decay(0.1, 0, 0.5), True),
    "exponential_decay/zero_rate": (lambda L: L.exponential_decay(0.1, 10, 0.0), True),
    "piecewise_constant": (
        lambda L: L.piecewise_constant_schedule(0.3, {10: 0.5, 25: 0.1, 5: 2.0}),
        False,
    ),
    "piecewise_constant/zero_scale": (
        lambda L: L.piecewise_constant_schedule(1.0, {0: 0.5, 30: 0.0}),
        False,
    ),
    "piecewise_constant/none": (lambda L: L.piecewise_constant_schedule(0.7), True),
    "piecewise_interpolate/linear": (
        lambda L: L.piecewise_interpolate_schedule("linear", 0.3, {10: 0.5, 25: 0.1, 5: 2.0}),
        False,
    ),
    "piecewise_interpolate/cosine_boundary_at_zero": (
        lambda L: L.piecewise_interpolate_schedule("cosine", 0.3, {0: 3.0, 5: 2.0, 40: 0.1}),
        False,
    ),
    "piecewise_interpolate/empty": (
        lambda L: L.piecewise_interpolate_schedule("linear", 0.3, {}),
        False,
    ),
    "linear_onecycle": (lambda L: L.linear_onecycle_schedule(40, 0.1), False),
    "linear_onecycle/options": (
        lambda L: L.linear_onecycle_schedule(50, 2.0, 0.2, 0.6, 10.0, 100.0),
        False,
    ),
    "cosine_onecycle": (lambda L: L.cosine_onecycle_schedule(40, 0.1), False),
    "cosine_onecycle/options": (
        lambda L: L.cosine_onecycle_schedule(30, 1.0, pct_start=0.5, div_factor=4.0),
        False,
    ),
    "sgdr": (
        lambda L: L.sgdr_schedule(
            [
                dict(init_value=0.0, peak_value=1.0, warmup_steps=3, decay_steps=15),
                dict(init_value=0.1, peak_value=0.5, warmup_steps=0, decay_steps=20),
                dict(
                    init_value=0.0, peak_value=0.2, warmup_steps=5, decay_steps=15, end_value=0.01
                ),
            ]
        ),
        False,
    ),
    "warmup_constant": (lambda L: L.warmup_constant_schedule(0.0, 0.3, 12), False),
    "warmup_exponential_decay": (
        lambda L: L.warmup_exponential_decay_schedule(0.0, 1.0, 10, 5, 0.5),
        False,
    ),
    "warmup_exponential_decay/options": (
        lambda L: L.warmup_exponential_decay_schedule(0.1, 1.0, 10, 5, 0.5, 3, True, 0.01),
        False,
    ),
}

# Not schedules: wrappers that put hyperparameters in the state (tests/cases/schedules.py).
# Wrappers of optimizers (tests/cases/schedules.py) and the type alias of a schedule.
NOT_SCHEDULES = {"inject_hyperparams", "inject_stateful_hyperparams", "Schedule"}


@functools.cache
def optax_values(name: str, x64: bool) -> np.ndarray:
    schedule = CASES[name][0](optax)
    if x64:
        with jax.enable_x64(True):
            return np.array([float(schedule(k)) for k in range(N)])
    return np.array([float(schedule(jnp.asarray(k, jnp.int32))) for k in range(N)])


@pytest.mark.parametrize("name", sorted(CASES))
def test_python_int_counts_match_optax(name):
    schedule = CASES[name][0](anyopt)
    out = [schedule(k) for k in range(N)]
    for value in out:
        assert isinstance(value, (int, float)), f"{name}: {type(value)} for a Python int count"
    np.testing.assert_allclose(
        np.array(out, np.float64), optax_values(name, x64=True), rtol=RTOL, atol=0, err_msg=name
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_int32_array_counts_match_optax(name, backend):
    build, constant = CASES[name]
    schedule = build(anyopt)
    out = [schedule(backend.array(np.int32(k))) for k in range(N)]
    if not constant:
        for value in out:
            assert backends.of(value).NAME == backend.name, f"{name}: {type(value)}"
            assert "float" in str(value.dtype), f"{name}: {value.dtype}"
    actual = np.array([float(backend.numpy(v)) for v in out])
    expected = optax_values(name, x64=False)
    scale = float(np.max(np.abs(expected)))
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ULPS * scale, err_msg=name)


def test_schedules_are_covered():
    """Every schedule function anyopt exports has a case above (protocol classes excluded)."""
    covered = {name.split("/")[0] for name in CASES}
    exported = {
        n.removesuffix("_schedule")
        for n in anyopt.schedules.__all__
        if not isinstance(getattr(anyopt.schedules, n), type) and n not in NOT_SCHEDULES
    }
    assert exported <= covered, exported - covered


def test_join_schedules_needs_one_more_schedule_than_boundaries():
    with pytest.raises(ValueError, match="join_schedules"):
        anyopt.join_schedules([anyopt.constant_schedule(1.0)], [5])


@pytest.mark.parametrize("name", sorted(CASES))
def test_schedule_of_a_jitted_jax_count(name):
    """Each schedule traces under jax.jit and jax.vmap like optax's (constants are broadcast
    to the batch). Both run jitted: XLA rewrites divisions by constants, which an eager
    optax would not share."""

    def batched(schedule):
        return jax.vmap(lambda c: schedule(c) + jnp.zeros_like(c, jnp.float32))

    counts = jnp.arange(N, dtype=jnp.int32)
    actual = np.asarray(jax.jit(batched(CASES[name][0](anyopt)))(counts))
    expected = np.asarray(jax.jit(batched(CASES[name][0](optax)))(counts))
    scale = float(np.max(np.abs(expected)))
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ULPS * scale, err_msg=name)


# --- build-time errors ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "build, match",
    [
        (
            lambda: anyopt.piecewise_constant_schedule(1.0, {5: -0.1}),
            r"piecewise_constant_schedule: every scale .* must be >= 0; got \[-0.1\]",
        ),
        (
            lambda: anyopt.piecewise_interpolate_schedule("linear", 1.0, {5: 0.5, 9: -2.0}),
            r"piecewise_interpolate_schedule: every scale .* >= 0; got \[-2.0\]",
        ),
        (
            lambda: anyopt.piecewise_interpolate_schedule("cubic", 1.0),
            "interpolate_type must be 'linear' or 'cosine'; got 'cubic'",
        ),
        (lambda: anyopt.linear_onecycle_schedule(0, 0.1), "transition_steps must be > 0; got 0"),
        (lambda: anyopt.cosine_onecycle_schedule(-5, 0.1), "transition_steps must be > 0; got -5"),
        (
            lambda: anyopt.inject_hyperparams(anyopt.sgd, static_args="lr")(0.1),
            r"static_args must name parameters of the inner factory; got \['lr'\]",
        ),
        (
            lambda: anyopt.inject_hyperparams(anyopt.sgd, hyperparam_dtype="int32"),
            "inject_hyperparams: hyperparam_dtype must be a floating dtype",
        ),
    ],
)
def test_bad_schedule_arguments_are_rejected_when_built(build, match):
    with pytest.raises(ValueError, match=match):
        build()


# --- inject_hyperparams ---------------------------------------------------------------------
def _params(backend, dtype="float32"):
    return backend.tree({"w": np.linspace(-1, 1, 6).reshape(2, 3), "b": np.ones(3)}, dtype)


def _grads(backend, k, dtype="float32"):
    rng = np.random.default_rng(k)
    return backend.tree({"w": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)}, dtype)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_injected_hyperparams_are_arrays_of_the_params_framework_and_dtype(backend, dtype):
    tx = anyopt.inject_hyperparams(anyopt.adam)(anyopt.linear_schedule(0.1, 0.0, 10), b1=0.8)
    state = tx.init(_params(backend, dtype))
    assert isinstance(state, anyopt.InjectStatefulHyperparamsState)
    assert sorted(state.hyperparams) == ["b1", "b2", "eps", "eps_root", "learning_rate"]
    for _ in range(2):
        for name, value in state.hyperparams.items():
            assert backends.of(value).NAME == backend.name, name
            assert backends.dtype_name(value.dtype) == dtype, name
        count = state.hyperparams_states["learning_rate"].count
        assert backends.of(count).NAME == backend.name
        _, state = tx.update(_grads(backend, 0, dtype), state, _params(backend, dtype))
    lr = float(backend.numpy(state.hyperparams["learning_rate"]))
    np.testing.assert_allclose(lr, 0.09, rtol=1e-3)  # the schedule at count 1


@pytest.mark.parametrize("spelling", ["string", "numpy", "framework"])
def test_hyperparam_dtype_matches_optax(backend, spelling):
    """float16 hyperparameters for float32 parameters: dtype kept, optax's numbers.

    optax leaves a schedule's float32 output in float32 where anyopt casts it too, so the
    schedule's values are exact in float16 here (a staircase of powers of two).
    """
    dtype = {"string": "float16", "numpy": np.float16, "framework": backend.dtype("float16")}
    build = lambda lib, d: lib.inject_hyperparams(lib.sgd, hyperparam_dtype=d)(  # noqa: E731
        lib.exponential_decay(0.125, 2, 0.5, staircase=True), momentum=0.9
    )
    tx, ref = build(anyopt, dtype[spelling]), build(optax, jnp.float16)
    params, ref_params = _params(backend), _params(Backend("jax"))
    state, ref_state = tx.init(params), ref.init(ref_params)
    for k in range(5):
        updates, state = tx.update(_grads(backend, k), state, params)
        ref_updates, ref_state = ref.update(_grads(Backend("jax"), k), ref_state, ref_params)
        for name, value in state.hyperparams.items():
            assert backends.dtype_name(value.dtype) == "float16", name
            np.testing.assert_array_equal(
                backend.numpy(value), np.asarray(ref_state.hyperparams[name], np.float64)
            )
        for got, want in zip(_tree.leaves(updates), _tree.leaves(ref_updates)):
            assert backends.dtype_name(got.dtype) == "float32"
            np.testing.assert_allclose(backend.numpy(got), np.asarray(want), rtol=1e-6)


def test_a_hyperparameter_set_by_hand_is_used_and_a_scheduled_one_is_not(backend):
    tx = anyopt.inject_hyperparams(anyopt.sgd)(
        learning_rate=0.1, momentum=anyopt.constant_schedule(0.5)
    )
    params = _params(backend)
    state = tx.init(params)
    state.hyperparams["learning_rate"] = 0.25  # a Python float, as optax users write it
    state.hyperparams["momentum"] = 0.0  # scheduled: recomputed, so this has no effect
    updates, state = tx.update(_grads(backend, 1), state, params)
    expected, _ = anyopt.sgd(0.25, momentum=0.5).update(
        _grads(backend, 1), anyopt.sgd(0.25, momentum=0.5).init(params), params
    )
    for got, want in zip(_tree.leaves(updates), _tree.leaves(expected)):
        np.testing.assert_allclose(backend.numpy(got), backend.numpy(want), rtol=1e-6)
    assert backends.of(state.hyperparams["learning_rate"]).NAME == backend.name
    assert float(backend.numpy(state.hyperparams["momentum"])) == 0.5


def test_update_without_params_keeps_the_hyperparameter_dtype(backend):
    tx = anyopt.inject_hyperparams(anyopt.sgd)(anyopt.linear_schedule(0.1, 0.0, 10))
    state = tx.init(_params(backend, "float16"))
    for k in range(2):
        updates, state = tx.update(_grads(backend, k, "float16"), state)
        assert backends.dtype_name(state.hyperparams["learning_rate"].dtype) == "float16"
        assert backends.dtype_name(updates["w"].dtype) == "float16"


def test_jitted_inject_hyperparams_compiles_once_and_matches_optax():
    traces = []

    def build(lib):
        return lib.inject_hyperparams(lib.adam)(
            learning_rate=lib.cosine_onecycle_schedule(20, 0.05), b1=0.8
        )

    tx, ref = build(anyopt), build(optax)

    @jax.jit
    def step(params, state, grads):
        traces.append(1)
        updates, state = tx.update(grads, state, params)
        return anyopt.apply_updates(params, updates), state

    jax_backend = Backend("jax")
    params = ref_params = _params(jax_backend)
    state, ref_state = tx.init(params), ref.init(ref_params)
    for k in range(6):
        if k == 3:  # a new value by hand, as an array: no retrace
            state.hyperparams["b1"] = jnp.asarray(0.5, jnp.float32)
            ref_state.hyperparams["b1"] = jnp.asarray(0.5, jnp.float32)
        grads = _grads(jax_backend, k)
        params, state = step(params, state, grads)
        ref_updates, ref_state = ref.update(grads, ref_state, ref_params)
        ref_params = optax.apply_updates(ref_params, ref_updates)
    assert len(traces) == 1
    for got, want in zip(_tree.leaves(params), _tree.leaves(ref_params)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5)


class LossDriven:
    """A stateful schedule fed by ``update(..., loss=...)``: ``0.01 + 0.1 * last loss``."""

    def init(self):
        return {"last": np.zeros([], np.float32)}

    def update(self, state, **extra_args):
        return {"last": np.asarray(extra_args["loss"], np.float32)}

    def __call__(self, state, **extra_args):
        return 0.01 + 0.1 * state["last"]


def test_extra_args_reach_stateful_schedules(backend):
    tx = anyopt.inject_hyperparams(anyopt.sgd)(learning_rate=LossDriven())
    params = _params(backend)
    state = tx.init(params)
    assert backends.of(state.hyperparams_states["learning_rate"]["last"]).NAME == backend.name
    rates = []
    for loss in (2.0, 1.0, 3.0):
        _, state = tx.update(_grads(backend, 0), state, params, loss=loss)
        rates.append(float(backend.numpy(state.hyperparams["learning_rate"])))
    np.testing.assert_allclose(rates, [0.01, 0.21, 0.11], rtol=1e-6)


def test_wrapped_schedule_counts_its_own_steps():
    wrapped = anyopt.WrappedSchedule(anyopt.linear_schedule(1.0, 0.0, 4))
    assert isinstance(wrapped, anyopt.schedules.StatefulSchedule)
    state = wrapped.init()
    values = []
    for _ in range(3):
        values.append(float(wrapped(state)))
        state = wrapped.update(state, loss=1.0)
    assert values == [1.0, 0.75, 0.5] and int(state.count) == 3


def test_inject_stateful_hyperparams_is_deprecated():
    with pytest.warns(DeprecationWarning, match="use inject_hyperparams"):
        fn = anyopt.inject_stateful_hyperparams(anyopt.sgd)
    tx = fn(0.1)
    assert isinstance(tx.init({"w": np.ones(2, np.float32)}), anyopt.InjectStatefulHyperparamsState)
    assert anyopt.InjectHyperparamsState._fields == optax.InjectHyperparamsState._fields
