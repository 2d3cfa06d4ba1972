"""Property tests: random tree shapes and hyperparameters agree with optax everywhere."""

from __future__ import annotations

import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import anyopt

from conftest import FRAMEWORKS, Backend, relative_error_norm

shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)
trees = st.dictionaries(st.sampled_from("abcdef"), shapes, min_size=1, max_size=4)
betas = st.floats(0.0, 0.99)

OPTIMIZERS = {
    "adam": lambda lib, h: lib.adam(h["lr"], b1=h["b1"], b2=h["b2"], eps=h["eps"]),
    "adamw": lambda lib, h: lib.adamw(h["lr"], b1=h["b1"], weight_decay=h["wd"]),
    "sgd": lambda lib, h: lib.sgd(h["lr"], momentum=h["b1"], nesterov=h["flag"]),
    "rmsprop": lambda lib, h: lib.rmsprop(h["lr"], decay=h["b2"], centered=h["flag"], eps=0.1),
    "lion": lambda lib, h: lib.lion(h["lr"], b1=h["b1"], b2=h["b2"], weight_decay=h["wd"]),
}
hyper = st.fixed_dictionaries(
    {
        "lr": st.floats(1e-4, 0.1),
        "b1": betas,
        "b2": st.floats(0.5, 0.999),
        "eps": st.floats(1e-8, 1e-2),
        "wd": st.floats(0.0, 0.1),
        "flag": st.booleans(),
    }
)


def trajectory(lib, backend, tx, tree_shapes, seed):
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s).astype(np.float32) for k, s in tree_shapes.items()}
    grads = [
        {k: rng.standard_normal(s).astype(np.float32) for k, s in tree_shapes.items()}
        for _ in range(5)
    ]
    params = backend.tree(params)
    state = tx.init(params)
    for g in grads:
        updates, state = tx.update(backend.tree(g), state, params)
        params = lib.apply_updates(params, updates)
    return {k: backend.numpy(v) for k, v in params.items()}


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@settings(max_examples=10, deadline=None, derandomize=True)
@given(tree_shapes=trees, h=hyper, seed=st.integers(0, 2**16))
def test_random_trees_and_hyperparameters_match_optax(framework, name, tree_shapes, h, seed):
    build = OPTIMIZERS[name]
    expected = trajectory(optax, Backend("jax"), build(optax, h), tree_shapes, seed)
    actual = trajectory(anyopt, Backend(framework), build(anyopt, h), tree_shapes, seed)
    for k in expected:
        assert actual[k].shape == expected[k].shape
        err = relative_error_norm(actual[k], expected[k])
        assert err <= 1e-5, f"{name} on {framework}: leaf {k} relative error {err:.2e}"
