"""Hyperparameters by name (``hyperparams``, ``get_hyperparam``, ``set_hyperparam``) in
deeply wrapped states, on every framework; setting one is checked against editing the
state by hand (and against optax doing the same, on JAX)."""

from __future__ import annotations

import numpy as np
import optax
import pytest

import anyopt
from anyopt import backends

from conftest import Backend, random_tree

SCHEDULE_STEPS = 10


def nested(lib):
    """MultiSteps(chain(clip, partition(adamw under a schedule, sgd with a number)))."""
    schedule = lib.linear_schedule(0.1, 0.01, SCHEDULE_STEPS)
    groups = lib.partition(
        {
            "adamw": lib.inject_hyperparams(lib.adamw)(learning_rate=schedule, weight_decay=0.01),
            "sgd": lib.inject_hyperparams(lib.sgd)(learning_rate=0.05, momentum=0.9),
        },
        {"dense": {"w": "adamw", "b": "sgd"}, "layers": "adamw", "skip": None},
    )
    return lib.MultiSteps(lib.chain(lib.clip_by_global_norm(1.0), groups), every_k_schedule=2)


def trajectory(tx, backend: Backend, steps: int, edit=None, jit=False):
    """Parameters and state after ``steps``; ``edit(k, state)`` may change the state first."""
    params = backend.tree(random_tree(0))
    state = tx.init(params)
    update = tx.update
    if jit:
        import jax

        update = jax.jit(update)
    for k in range(steps):
        if edit is not None:
            state = edit(k, state)
        grads = backend.tree(random_tree(100 + k))
        updates, state = update(grads, state, params)
        params = anyopt.apply_updates(params, updates)
    return params, state


def leaves(tree):
    return [
        backends.of(x).to_numpy(x) if hasattr(x, "dtype") else np.asarray(x)
        for x in backends.flatten(tree)[0]
    ]


def assert_trees_equal(a, b):
    la, lb = leaves(a), leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(x, y)


def test_names_values_and_floats(backend):
    _, state = trajectory(nested(anyopt), backend, steps=5)
    found = anyopt.hyperparams(state)
    assert set(found) == {
        "adamw.learning_rate",
        "sgd.learning_rate",
        "b1",
        "b2",
        "eps",
        "eps_root",
        "weight_decay",
        "momentum",
    }
    # Five micro-steps are two real steps; the state holds the rate the last one used, the
    # schedule's value at count 1.
    want = float(np.float32(0.1 + (0.01 - 0.1) * 1 / SCHEDULE_STEPS))
    lr = anyopt.get_hyperparam(state, "adamw.learning_rate")
    assert backends.of(lr).NAME == backend.name and backends.dtype_name(lr.dtype) == "float32"
    assert anyopt.get_hyperparam(state, "adamw.learning_rate", as_float=True) == pytest.approx(want)
    plain = anyopt.hyperparams(state, as_float=True)
    assert all(type(v) is float for v in plain.values())
    assert plain["momentum"] == pytest.approx(0.9)
    # A query may qualify the name by any labels on its path.
    assert anyopt.get_hyperparam(state, "inner_opt_state.sgd.learning_rate", as_float=True) == (
        pytest.approx(0.05)
    )


def test_values_equal_optax_state_on_jax():
    backend = Backend("jax")
    _, ours = trajectory(nested(anyopt), backend, steps=7)
    _, theirs = trajectory(nested(optax), backend, steps=7)
    inner = theirs.inner_opt_state[1].inner_states
    for label in ("adamw", "sgd"):
        for name, value in inner[label].inner_state.hyperparams.items():
            got = anyopt.get_hyperparam(ours, f"{label}.{name}")
            np.testing.assert_array_equal(np.asarray(got), np.asarray(value), err_msg=name)


def test_setting_equals_editing_the_state_by_hand(backend):
    check_setting(backend, jit=False)


def test_setting_equals_editing_the_state_by_hand_under_jit():
    check_setting(Backend("jax"), jit=True)


def check_setting(backend: Backend, jit: bool):
    switch = 4

    def by_name(k, state):
        return anyopt.set_hyperparam(state, "sgd.learning_rate", 0.2) if k == switch else state

    def by_hand(k, state):
        if k != switch:
            return state
        chain_state = state.inner_opt_state
        inner = chain_state[1].inner_states["sgd"]
        injected = inner.inner_state
        hp = dict(injected.hyperparams)
        like = hp["learning_rate"]
        hp["learning_rate"] = backend.array(np.float32(0.2)) if not jit else like * 0 + 0.2
        new_inner = inner._replace(inner_state=injected._replace(hyperparams=hp))
        new_chain = (
            chain_state[0],
            chain_state[1]._replace(inner_states={**chain_state[1].inner_states, "sgd": new_inner}),
        )
        return state._replace(inner_opt_state=new_chain)

    tx = nested(anyopt)
    got = trajectory(tx, backend, steps=8, edit=by_name, jit=jit)
    want = trajectory(tx, backend, steps=8, edit=by_hand, jit=jit)
    assert_trees_equal(got, want)
    unchanged = trajectory(tx, backend, steps=8, jit=jit)
    bias = [backend.numpy(p[0]["dense"]["b"]) for p in (got, unchanged)]
    assert not np.array_equal(*bias), "the new learning rate was not used"


def test_setting_the_same_value_changes_nothing(backend):
    tx = nested(anyopt)
    params, state = trajectory(tx, backend, steps=3)
    same = anyopt.set_hyperparam(state, "momentum", anyopt.get_hyperparam(state, "momentum"))
    assert_trees_equal(same, state)
    assert type(same) is type(state) and type(same.inner_opt_state) is type(state.inner_opt_state)
    assert same.mini_step is state.mini_step and same.gradient_step is state.gradient_step


def test_set_keeps_dtype_and_framework_so_jit_does_not_retrace():
    import jax

    backend = Backend("jax")
    tx = anyopt.inject_hyperparams(anyopt.adam)(learning_rate=0.1)
    params = backend.tree(random_tree(0))
    state = tx.init(params)
    traces = []

    @jax.jit
    def step(grads, state):
        traces.append(1)
        return tx.update(grads, state, params)

    grads = backend.tree(random_tree(1))
    _, state = step(grads, state)
    for lr in (0.05, 1, np.float64(0.01)):
        state = anyopt.set_hyperparam(state, "learning_rate", lr)
        assert str(state.hyperparams["learning_rate"].dtype) == "float32"
        _, state = step(grads, state)
    assert len(traces) == 1


def test_matches_optax_after_setting_on_jax():
    backend = Backend("jax")

    def edit_ours(k, state):
        return anyopt.set_hyperparam(state, "learning_rate", 0.01) if k == 3 else state

    def edit_theirs(k, state):
        if k != 3:
            return state
        return state._replace(hyperparams={**state.hyperparams, "learning_rate": np.float32(0.01)})

    got, _ = trajectory(
        anyopt.inject_hyperparams(anyopt.adam)(learning_rate=0.1), backend, 6, edit_ours
    )
    want, _ = trajectory(
        optax.inject_hyperparams(optax.adam)(learning_rate=0.1), backend, 6, edit_theirs
    )
    for a, b in zip(leaves(got), leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


# --- errors -------------------------------------------------------------------------------


def test_errors(backend):
    params = backend.tree(random_tree(0))
    with pytest.raises(KeyError, match="holds no injected hyperparameters.*inject_hyperparams"):
        anyopt.get_hyperparam(anyopt.adam(0.1).init(params), "learning_rate")
    state = nested(anyopt).init(params)
    with pytest.raises(KeyError, match=r"no hyperparameter 'lr'; this state has \["):
        anyopt.get_hyperparam(state, "lr")
    with pytest.raises(ValueError, match=r"'learning_rate' is ambiguous.*adamw\.learning_rate"):
        anyopt.get_hyperparam(state, "learning_rate")
    with pytest.raises(ValueError, match="adamw.learning_rate follows a schedule"):
        anyopt.set_hyperparam(state, "adamw.learning_rate", 0.1)
    with pytest.raises(ValueError, match=r"momentum has shape \(\); got a value of shape \(2,\)"):
        anyopt.set_hyperparam(state, "momentum", backend.array(np.ones(2, np.float32)))
    with pytest.raises(TypeError, match="name must be a non-empty str"):
        anyopt.get_hyperparam(state, "")
