"""Parameter groups by name (``label_by``, ``mask_by``) on every framework's trees.

Names are checked against each framework's own naming (MLX's tree_flatten, torch's
named_parameters, equinox's attributes, flax's variables); the groups drive partition and
masks to the same numbers as hand-written labels and masks (and optax, on JAX).
"""

from __future__ import annotations

import re

import numpy as np
import optax
import pytest

import anyopt
from anyopt.transforms._groups import param_names

from conftest import Backend

RECIPE_GROUPS = {
    "frozen": "encoder",
    "muon": lambda name, p: p.ndim >= 2,
    "no_decay": ["*bias", "*norm*"],
}


def model_tree(seed=0):
    rng = np.random.default_rng(seed)

    def r(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    return {
        "encoder": {"weight": r(4, 3), "bias": r(4)},
        "layers": [{"weight": r(3, 4), "bias": r(3)}, {"weight": r(2, 3), "bias": r(2)}],
        "norm": {"scale": r(2)},
        "temperature": r(),
    }


# The labels the recipe gives model_tree, written by hand.
RECIPE_LABELS = {
    "encoder": {"weight": "frozen", "bias": "frozen"},
    "layers": [{"weight": "muon", "bias": "no_decay"}, {"weight": "muon", "bias": "no_decay"}],
    "norm": {"scale": "no_decay"},
    "temperature": "adamw",
}


def recipe(lib):
    return {
        "frozen": lib.set_to_zero(),
        "muon": lib.contrib.muon(0.02),
        "no_decay": lib.adam(1e-2),
        "adamw": lib.adamw(1e-2, weight_decay=0.1),
    }


def run(tx, backend: Backend, steps=5, jit=False):
    params = backend.tree(model_tree(0))
    state = tx.init(params)
    update = tx.update
    if jit:
        import jax

        update = jax.jit(update)
    for k in range(steps):
        grads = backend.tree(model_tree(10 + k))
        updates, state = update(grads, state, params)
        params = anyopt.apply_updates(params, updates)
    return params


def test_names_are_dotted_paths(backend):
    tree = backend.tree(model_tree())
    names = [n for n, _, _ in param_names(tree)]
    assert sorted(names) == sorted(
        [
            "encoder.weight",
            "encoder.bias",
            "layers.0.weight",
            "layers.0.bias",
            "layers.1.weight",
            "layers.1.bias",
            "norm.scale",
            "temperature",
        ]
    )


def test_recipe_labels(backend):
    labels = anyopt.label_by(RECIPE_GROUPS, default="adamw", first_match=True)
    assert labels(backend.tree(model_tree())) == RECIPE_LABELS


def test_partition_by_name_equals_hand_written_labels(backend):
    by_name = anyopt.partition(
        recipe(anyopt), anyopt.label_by(RECIPE_GROUPS, default="adamw", first_match=True)
    )
    by_hand = anyopt.partition(recipe(anyopt), RECIPE_LABELS)
    got, want = run(by_name, backend), run(by_hand, backend)
    flat_got = anyopt.backends.leaves_with_path(got)
    flat_want = anyopt.backends.leaves_with_path(want)
    assert [p for p, _ in flat_got] == [p for p, _ in flat_want]
    for (path, a), (_, b) in zip(flat_got, flat_want):
        np.testing.assert_array_equal(backend.numpy(a), backend.numpy(b), err_msg=path)
    start = model_tree(0)
    np.testing.assert_array_equal(
        backend.numpy(got["encoder"]["weight"]), start["encoder"]["weight"]
    )
    assert not np.allclose(backend.numpy(got["layers"][0]["weight"]), start["layers"][0]["weight"])


def test_partition_by_name_matches_optax_under_jit():
    import jax.numpy as jnp

    backend = Backend("jax")
    ours = run(
        anyopt.partition(
            recipe(anyopt), anyopt.label_by(RECIPE_GROUPS, default="adamw", first_match=True)
        ),
        backend,
        jit=True,
    )
    theirs = run(optax.partition(recipe(optax), RECIPE_LABELS), backend, jit=True)
    for a, b in zip(_leaves(ours), _leaves(theirs)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    assert isinstance(ours["temperature"], jnp.ndarray)


def _leaves(tree):
    return [x for _, x in anyopt.backends.leaves_with_path(tree)]


def test_mask_by_excludes_biases_and_norms_from_weight_decay(backend):
    mask = anyopt.mask_by("*bias", "*norm*", invert=True)
    params = backend.tree(model_tree())
    assert mask(params) == {
        "encoder": {"weight": True, "bias": False},
        "layers": [{"weight": True, "bias": False}, {"weight": True, "bias": False}],
        "norm": {"scale": False},
        "temperature": True,
    }
    # With zero gradients only weight decay moves the parameters.
    tx = anyopt.adamw(0.1, weight_decay=0.5, mask=mask)
    state = tx.init(params)
    zeros = anyopt.tree.zeros_like(params)
    updates, _ = tx.update(zeros, state, params)
    moved = {n: np.any(backend.numpy(u) != 0) for n, u, _ in param_names(updates)}
    assert moved == {n: m for n, m, _ in param_names(mask(params))}


def test_freeze_by_name(backend):
    tx = anyopt.chain(anyopt.freeze(anyopt.mask_by("encoder")), anyopt.sgd(0.1))
    got = run(tx, backend)
    start = model_tree(0)
    np.testing.assert_array_equal(backend.numpy(got["encoder"]["bias"]), start["encoder"]["bias"])
    assert not np.allclose(backend.numpy(got["norm"]["scale"]), start["norm"]["scale"])


def test_regular_expressions_and_subtree_patterns(backend):
    params = backend.tree(model_tree())
    labels = anyopt.label_by(
        {"a": re.compile(r"layers\.\d+\.w"), "b": "layers"}, first_match=True, default="c"
    )(params)
    assert labels["layers"][1] == {"weight": "a", "bias": "b"}
    assert labels["encoder"] == {"weight": "c", "bias": "c"}


def test_mlx_names_are_mlx_tree_flatten_names():
    import mlx.nn as nn
    from mlx.utils import tree_flatten

    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    params = model.parameters()
    # JAX (when loaded) flattens dicts in sorted key order, MLX in insertion order.
    assert sorted(n for n, _, _ in param_names(params)) == sorted(
        n for n, _ in tree_flatten(params)
    )
    labels = anyopt.label_by({"no_decay": ["*bias", "layers.1"]}, default="decay")(params)
    flat = dict(tree_flatten(labels))
    assert flat == {
        n: "no_decay" if n.endswith("bias") or n.startswith("layers.1.") else "decay"
        for n, _ in tree_flatten(params)
    }


def test_torch_named_parameters():
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    assert [n for n, _, _ in param_names(params)] == sorted(n for n, _ in model.named_parameters())
    tx = anyopt.partition(
        {"frozen": anyopt.set_to_zero(), "train": anyopt.sgd(0.1)},
        anyopt.label_by({"frozen": "0.*"}, default="train"),
    )
    state = tx.init(params)
    grads = {n: torch.ones_like(p) for n, p in params.items()}
    updates, _ = tx.update(grads, state, params)
    for name, u in updates.items():
        assert bool(torch.all(u == 0)) == name.startswith("0."), name


def test_equinox_module_names():
    import equinox as eqx
    import jax

    model = eqx.nn.MLP(2, 1, 4, 2, key=jax.random.PRNGKey(0))
    params = eqx.filter(model, eqx.is_array)
    names = [n for n, _, _ in param_names(params)]
    assert names == [f"layers.{i}.{w}" for i in range(3) for w in ("weight", "bias")]
    labels = anyopt.label_by({"muon": lambda n, p: p.ndim >= 2}, default="adamw")(params)
    assert [x for _, x in anyopt.backends.leaves_with_path(labels)] == ["muon", "adamw"] * 3


def test_flax_nnx_variables_are_named_without_value():
    import jax
    import jax.numpy as jnp
    from flax import nnx

    class Model(nnx.Module):
        def __init__(self, rngs):
            self.encoder = nnx.Linear(2, 3, rngs=rngs)
            self.norm = nnx.LayerNorm(3, rngs=rngs)

    state = nnx.state(Model(nnx.Rngs(0)), nnx.Param)
    assert sorted(n for n, _, _ in param_names(state)) == [
        "encoder.bias",
        "encoder.kernel",
        "norm.bias",
        "norm.scale",
    ]
    tx = anyopt.partition(
        {"frozen": anyopt.set_to_zero(), "train": anyopt.adam(0.1)},
        anyopt.label_by({"frozen": "encoder"}, default="train"),
    )
    grads = jax.tree.map(jnp.ones_like, state)
    updates, _ = jax.jit(tx.update)(grads, tx.init(state), state)
    assert float(jnp.abs(updates["encoder"]["kernel"].get_value()).sum()) == 0.0
    assert float(jnp.abs(updates["norm"]["scale"].get_value()).sum()) > 0.0


def test_flax_linen_names():
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    variables = nn.Dense(3).init(jax.random.PRNGKey(0), jnp.ones((1, 2)))
    assert sorted(n for n, _, _ in param_names(variables)) == ["params.bias", "params.kernel"]


# --- errors -------------------------------------------------------------------------------


def test_a_parameter_in_no_group_is_an_error(backend):
    labels = anyopt.label_by({"decay": "*weight"})
    with pytest.raises(
        ValueError, match=r"label_by: the parameter 'encoder\.bias' .*matches no group"
    ):
        labels(backend.tree(model_tree()))


def test_overlapping_groups_are_an_error_unless_first_match(backend):
    params = backend.tree(model_tree())
    groups = {"decay": "layers", "no_decay": "*bias"}
    with pytest.raises(
        ValueError, match=r"'layers\.0\.bias' matches the groups \['decay', 'no_decay'\]"
    ):
        anyopt.label_by(groups, default="x")(params)
    assert (
        anyopt.label_by(groups, default="x", first_match=True)(params)["layers"][0]["bias"]
        == "decay"
    )


def test_a_pattern_matching_nothing_is_an_error_unless_not_strict(backend):
    params = backend.tree(model_tree())
    with pytest.raises(
        ValueError, match=r"the pattern 'encodr' of group 'frozen' matches no parameter"
    ):
        anyopt.label_by({"frozen": "encodr"}, default="train")(params)
    labels = anyopt.label_by({"frozen": "encodr"}, default="train", strict=False)(params)
    assert labels["encoder"]["weight"] == "train"
    with pytest.raises(ValueError, match="mask_by: the pattern 'biass'"):
        anyopt.mask_by("biass")(params)


def test_bad_matchers_and_predicates():
    with pytest.raises(
        TypeError, match=r"label_by: group 'a' must be given by name patterns .* got int 3"
    ):
        anyopt.label_by({"a": 3})
    with pytest.raises(TypeError, match="groups must be a non-empty mapping"):
        anyopt.label_by({})
    with pytest.raises(ValueError, match="group 'a' has no pattern"):
        anyopt.label_by({"a": []})
    labels = anyopt.label_by({"a": lambda n, p: p > 0}, default="b")
    with pytest.raises(TypeError, match="a predicate must return a Python bool"):
        labels({"w": np.ones(2)})
