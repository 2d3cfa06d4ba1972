"""JAX-specific behaviour: jit, retracing, vmap, pytree states, registered trees, meta-gradients.

anyopt must behave like optax under JAX's transformations: a jitted step equals the eager
one, compiles once, vmaps over a batch of parameter trees, keeps a state of arrays only,
accepts flax/equinox trees and lets ``jax.grad`` flow through the learning rate.
"""

from __future__ import annotations

import equinox as eqx
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import anyopt

from conftest import random_tree, state_fields
from optax_cases import BLOCK_STEP, CASES, CORE_CASES, OPTIMIZERS, gap

JIT_CASES = [
    "adam",
    "adamw",
    "sgd",
    "sgd/momentum",
    "rmsprop/centered_momentum",
    "lion",
    "chain",  # clip_by_global_norm followed by adamw
    "clip_by_global_norm",
    "amsgrad",
    "adabelief",
    "signum",
    "adam/schedule",
    "nadamw",
    "masked",
]
STEPS = 4
# XLA fuses a jitted step (FMAs, reassociation), so values that are differences of O(1)
# terms carry rounding of O(1e-7) in absolute terms; the absolute tolerance scales with
# each leaf's largest magnitude.
RTOL = 1e-6
ATOL = 1e-6


def jax_tree(np_tree):
    return jax.tree_util.tree_map(jnp.asarray, np_tree)


def noise(k: int):
    return jax_tree(random_tree(100 + k))


def gradient(params, noise_tree):
    return jax.tree_util.tree_map(lambda n, p: n + 0.1 * p, noise_tree, params)


def multiplier(case: str) -> float:
    return 1.0 if case.split("/")[0] in OPTIMIZERS else BLOCK_STEP


def make_step(tx, case: str):
    """``(params, state, noise) -> (params, state)``: one full optimisation step."""
    m = multiplier(case)

    def step(params, state, noise_tree):
        updates, state = tx.update(gradient(params, noise_tree), state, params)
        return anyopt.apply_updates(params, anyopt.tree_utils.tree_scale(m, updates)), state

    return step


def assert_trees_close(actual, expected, what: str, rtol: float = RTOL, atol: float = ATOL):
    """Same structure; integer leaves equal, float leaves allclose (and same dtypes).

    Float leaves: ``|a - e| <= atol * max|e| + rtol * |e|``.
    """
    a_leaves, a_def = jax.tree_util.tree_flatten(actual)
    e_leaves, e_def = jax.tree_util.tree_flatten(expected)
    assert a_def == e_def, f"{what}: structure {a_def} != {e_def}"
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(expected)[0]]
    for path, a, e in zip(paths, a_leaves, e_leaves):
        assert jnp.asarray(a).dtype == jnp.asarray(e).dtype, f"{what}{path}: dtype"
        assert jnp.shape(a) == jnp.shape(e), f"{what}{path}: shape"
        a, e = np.asarray(a), np.asarray(e)
        if e.dtype.kind == "f":
            scale = float(np.max(np.abs(e), initial=0.0))
            np.testing.assert_allclose(a, e, rtol=rtol, atol=atol * scale, err_msg=f"{what}{path}")
        else:
            np.testing.assert_array_equal(a, e, err_msg=f"{what}{path}")


# --- jit ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", JIT_CASES)
def test_jitted_update_matches_eager(case):
    tx = CASES[case](anyopt)
    update = jax.jit(tx.update)
    m = multiplier(case)
    params = jax_tree(random_tree(0))
    eager_state = jit_state = tx.init(params)
    for k in range(STEPS):
        grads = gradient(params, noise(k))
        eager_updates, eager_state = tx.update(grads, eager_state, params)
        jit_updates, jit_state = update(grads, jit_state, params)
        assert_trees_close(jit_updates, eager_updates, f"{case} step {k} updates")
        assert_trees_close(jit_state, eager_state, f"{case} step {k} state")
        params = anyopt.apply_updates(params, anyopt.tree_utils.tree_scale(m, eager_updates))


@pytest.mark.parametrize("case", JIT_CASES)
def test_jitted_step_matches_eager_and_traces_once(case):
    tx = CASES[case](anyopt)
    traces = []
    step = make_step(tx, case)

    def counted_step(params, state, noise_tree):
        traces.append(1)  # runs only while JAX traces the function
        return step(params, state, noise_tree)

    jitted = jax.jit(counted_step)
    eager_params = jit_params = jax_tree(random_tree(0))
    eager_state = jit_state = tx.init(eager_params)
    for k in range(STEPS + 2):
        eager_params, eager_state = step(eager_params, eager_state, noise(k))
        jit_params, jit_state = jitted(jit_params, jit_state, noise(k))
        assert_trees_close(jit_params, eager_params, f"{case} step {k} params")
        assert_trees_close(jit_state, eager_state, f"{case} step {k} state")
    assert len(traces) == 1, f"{case}: the jitted step was traced {len(traces)} times"
    if hasattr(jitted, "_cache_size"):
        assert jitted._cache_size() == 1


@pytest.mark.parametrize("case", JIT_CASES)
def test_init_inside_jit(case):
    tx = CASES[case](anyopt)
    params = jax_tree(random_tree(0))
    assert_trees_close(jax.jit(tx.init)(params), tx.init(params), f"{case} init")


def test_jitted_update_with_traced_learning_rate_does_not_retrace():
    traces = []

    def step(lr, params, state, grads):
        traces.append(1)
        tx = anyopt.adam(lr)
        updates, state = tx.update(grads, state, params)
        return anyopt.apply_updates(params, updates), state

    jitted = jax.jit(step)
    params = jax_tree(random_tree(0))
    state = anyopt.adam(0.01).init(params)
    expected_params, expected_state = params, state
    for k, lr in enumerate([0.01, 0.02, 0.005]):
        grads = noise(k)
        params, state = jitted(jnp.float32(lr), params, state, grads)
        expected_params, expected_state = step(lr, expected_params, expected_state, grads)
        assert_trees_close(params, expected_params, f"step {k} params")
        assert_trees_close(state, expected_state, f"step {k} state")
    assert len(traces) == 1 + 3  # one trace under jit, three eager calls


# --- vmap -----------------------------------------------------------------------------------
BATCH = 3


def stacked(trees):
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


def unstacked(tree, i):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


@pytest.mark.parametrize("case", ["adam", "sgd/momentum", "chain", "lion", "adam/schedule"])
def test_vmap_over_parameter_trees_equals_separate_runs(case):
    tx = CASES[case](anyopt)
    m = multiplier(case)
    singles = [jax_tree(random_tree(i)) for i in range(BATCH)]
    single_states = [tx.init(p) for p in singles]
    params = stacked(singles)
    state = jax.vmap(tx.init)(params)
    assert_trees_close(state, stacked(single_states), f"{case} vmapped init")
    update = jax.vmap(tx.update)
    for k in range(3):
        grads = [gradient(p, jax_tree(random_tree(10 * k + i + 50))) for i, p in enumerate(singles)]
        updates, state = update(stacked(grads), state, params)
        params = anyopt.apply_updates(params, anyopt.tree_utils.tree_scale(m, updates))
        for i in range(BATCH):
            u, single_states[i] = tx.update(grads[i], single_states[i], singles[i])
            singles[i] = anyopt.apply_updates(singles[i], anyopt.tree_utils.tree_scale(m, u))
            assert_trees_close(unstacked(updates, i), u, f"{case} step {k} tree {i} updates")
            assert_trees_close(unstacked(state, i), single_states[i], f"{case} {k}/{i} state")


# --- the state is a pytree of arrays --------------------------------------------------------
@pytest.mark.parametrize("case", sorted(CASES))
def test_state_is_a_pytree_of_jax_arrays(case):
    tx = CASES[case](anyopt)
    params = jax_tree(random_tree(0))
    state = tx.init(params)
    for k in range(3):
        for leaf in jax.tree_util.tree_leaves(state):
            assert isinstance(leaf, jax.Array), f"{case} step {k}: {type(leaf)} leaf in state"
        for count in state_fields(state, "count"):
            assert isinstance(count, jax.Array)
            assert count.dtype == jnp.int32 and count.shape == ()
            assert int(count) == k
        _, state = tx.update(gradient(params, noise(k)), state, params)
    # The state also passes through jit as a plain pytree (no Python objects as leaves).
    jax.jit(lambda s: s)(state)


def test_count_fields_finds_counters():
    # A guard for the helper above: adam's chain state holds one counter.
    state = anyopt.adam(0.1).init({"w": jnp.ones(3)})
    assert len(state_fields(state, "count")) == 1


# --- trees registered with JAX ---------------------------------------------------------------
@flax.struct.dataclass
class FlaxParams:
    w: jax.Array
    b: jax.Array
    tag: str = flax.struct.field(pytree_node=False, default="dense")


class TinyModule(eqx.Module):
    w: jax.Array
    b: jax.Array


def regression_loss(model_fn, params, x, y):
    return jnp.mean((model_fn(params, x) - y) ** 2)


def run_adam(lib, params, loss, steps=5, filter_fn=None):
    """``steps`` of ``lib.adam`` on ``loss(params)``; returns final params and state."""
    tx = lib.adam(0.05)
    view = filter_fn or (lambda p: p)
    state = tx.init(view(params))
    for _ in range(steps):
        grads = jax.grad(loss)(params)
        updates, state = tx.update(view(grads), state, view(params))
        params = (
            eqx.apply_updates(params, updates) if filter_fn else lib.apply_updates(params, updates)
        )
    return params, state


def assert_adam_state_matches(got, want):
    """anyopt's and optax's ScaleByAdamState are different classes: compare field by field."""
    assert type(got[0]).__name__ == "ScaleByAdamState" and len(got) == len(want) == 2
    assert int(got[0].count) == int(want[0].count) == 5
    assert_trees_close(got[0].mu, want[0].mu, "mu")
    assert_trees_close(got[0].nu, want[0].nu, "nu")


def data():
    rng = np.random.default_rng(7)
    x = jnp.asarray(rng.standard_normal((8, 4)).astype(np.float32))
    y = jnp.asarray(rng.standard_normal((8, 3)).astype(np.float32))
    return x, y


def test_flax_struct_dataclass_params_match_optax():
    x, y = data()
    rng = np.random.default_rng(0)
    params = FlaxParams(
        w=jnp.asarray(rng.standard_normal((4, 3)).astype(np.float32)),
        b=jnp.asarray(rng.standard_normal(3).astype(np.float32)),
        tag="layer0",
    )

    def loss(p):
        return regression_loss(lambda q, v: v @ q.w + q.b, p, x, y)

    got_params, got_state = run_adam(anyopt, params, loss)
    want_params, want_state = run_adam(optax, params, loss)
    assert isinstance(got_params, FlaxParams) and got_params.tag == "layer0"
    assert isinstance(got_state[0].mu, FlaxParams) and got_state[0].mu.tag == "layer0"
    assert_trees_close(got_params, want_params, "params")
    assert_adam_state_matches(got_state, want_state)
    assert not np.allclose(got_params.w, params.w)  # it did move


def test_equinox_module_of_arrays_matches_optax():
    x, y = data()
    rng = np.random.default_rng(1)
    model = TinyModule(
        w=jnp.asarray(rng.standard_normal((4, 3)).astype(np.float32)),
        b=jnp.asarray(rng.standard_normal(3).astype(np.float32)),
    )

    def loss(m):
        return regression_loss(lambda q, v: v @ q.w + q.b, m, x, y)

    got_model, got_state = run_adam(anyopt, model, loss)
    want_model, want_state = run_adam(optax, model, loss)
    assert isinstance(got_model, TinyModule) and isinstance(got_state[0].mu, TinyModule)
    assert_trees_close(got_model, want_model, "model")
    assert_adam_state_matches(got_state, want_state)
    assert not np.allclose(got_model.w, model.w)


def test_equinox_mlp_filtered_matches_optax():
    """The usual equinox pattern: optimise ``eqx.filter(model, eqx.is_array)``."""
    x, y = data()
    model = eqx.nn.MLP(4, 3, width_size=5, depth=1, key=jax.random.PRNGKey(0))

    def loss(m):
        return jnp.mean((jax.vmap(m)(x) - y) ** 2)

    def run(lib):
        tx = lib.adam(0.05)
        state = tx.init(eqx.filter(model, eqx.is_array))
        m = model
        for _ in range(5):
            grads = eqx.filter_grad(loss)(m)
            updates, state = tx.update(grads, state, eqx.filter(m, eqx.is_array))
            m = eqx.apply_updates(m, updates)
        return m, state

    got_model, got_state = run(anyopt)
    want_model, want_state = run(optax)
    assert isinstance(got_model, eqx.nn.MLP)
    assert_trees_close(
        eqx.filter(got_model, eqx.is_array), eqx.filter(want_model, eqx.is_array), "m"
    )
    assert_adam_state_matches(got_state, want_state)
    assert float(loss(got_model)) < float(loss(model))


def test_equinox_linear_with_anyopt_apply_updates():
    x, y = data()
    model = eqx.nn.Linear(4, 3, key=jax.random.PRNGKey(3))

    def loss(m):
        return jnp.mean((jax.vmap(m)(x) - y) ** 2)

    got, got_state = run_adam(anyopt, model, loss)
    want, want_state = run_adam(optax, model, loss)
    assert isinstance(got, eqx.nn.Linear) and got.in_features == 4
    assert_trees_close(got, want, "linear")
    assert_adam_state_matches(got_state, want_state)


# --- gradients through a step ---------------------------------------------------------------
def meta_loss_fn(lib, make_tx, steps):
    x, y = data()
    params0 = {
        "w": jnp.asarray(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)),
        "b": jnp.zeros(3, jnp.float32),
    }

    def loss(p):
        return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)

    def meta_loss(lr):
        tx = make_tx(lib, lr)
        params = params0
        state = tx.init(params)
        for _ in range(steps):
            updates, state = tx.update(jax.grad(loss)(params), state, params)
            params = lib.apply_updates(params, updates)
        return loss(params)

    return meta_loss


META = {
    "sgd": (lambda lib, lr: lib.sgd(lr), 1),
    "sgd/momentum": (lambda lib, lr: lib.sgd(lr, momentum=0.9), 3),
    "adam": (lambda lib, lr: lib.adam(lr), 1),
    "adam/3_steps": (lambda lib, lr: lib.adam(lr), 3),
    "adamw/3_steps": (lambda lib, lr: lib.adamw(lr, weight_decay=0.1), 3),
}


@pytest.mark.parametrize("name", sorted(META))
def test_meta_gradient_wrt_learning_rate_matches_optax(name):
    make_tx, steps = META[name]
    lr = jnp.float32(0.05)
    got = jax.grad(meta_loss_fn(anyopt, make_tx, steps))(lr)
    want = jax.grad(meta_loss_fn(optax, make_tx, steps))(lr)
    assert got.dtype == jnp.float32 and got.shape == ()
    assert np.isfinite(float(got)) and float(want) != 0.0
    np.testing.assert_allclose(float(got), float(want), rtol=1e-5)
    # The same gradient under jit.
    jitted = jax.jit(jax.grad(meta_loss_fn(anyopt, make_tx, steps)))(lr)
    np.testing.assert_allclose(float(jitted), float(want), rtol=1e-5)


def _two_strict_steps(lib, case):
    with jax.numpy_dtype_promotion("strict"):
        tx = CASES[case](lib)
        params = jax.tree.map(jnp.asarray, random_tree(0))
        state = tx.init(params)
        for k in range(2):
            grads = jax.tree.map(jnp.asarray, random_tree(1 + k))
            updates, state = tx.update(grads, state, params)
            params = lib.apply_updates(params, updates)


@pytest.mark.parametrize("case", sorted(CORE_CASES))
def test_strict_dtype_promotion_works_wherever_optax_works(case):
    """Under jax_numpy_dtype_promotion='strict' (no implicit promotion) anyopt runs every
    case optax runs (optax's own schedules multiply int32 counts by Python floats)."""
    if gap(case, "jax"):
        return
    try:
        _two_strict_steps(optax, case)
    except jax.dtypes.TypePromotionError:  # optax fails strict promotion here too
        return
    _two_strict_steps(anyopt, case)
