"""``Step.leaf_runner``: the fused step on leaves its caller keeps (anyopt.torch uses it)."""

from __future__ import annotations

import numpy as np
import pytest

import anyopt
from anyopt import backends

pytest.importorskip("numba")


def _tree(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "b": rng.normal(size=7).astype(np.float32),
        "a": rng.normal(size=(3, 4)).astype(np.float32),
    }


def _native(framework: str):
    """NumPy arrays to ``framework``'s arrays (skips when it has no fused mode here)."""
    if "fused" not in anyopt.step_modes(framework) or framework == "jax":
        pytest.skip(f"{framework} has no host fused mode here")
    if framework == "torch":
        import torch

        return lambda tree: {k: torch.from_numpy(v.copy()) for k, v in tree.items()}
    if framework == "mlx":
        import mlx.core as mx

        return lambda tree: {k: mx.array(v) for k, v in tree.items()}
    return lambda tree: {k: v.copy() for k, v in tree.items()}


@pytest.mark.parametrize("framework", ["numpy", "torch", "mlx"])
def test_leaf_runner_steps_like_the_tree_call(framework):
    pytest.importorskip({"numpy": "numpy", "torch": "torch", "mlx": "mlx.core"}[framework])
    native = _native(framework)
    tx = anyopt.chain(anyopt.clip_by_global_norm(0.5), anyopt.adamw(1e-2))
    by_tree, by_leaves = anyopt.make_step(tx, "fused"), anyopt.make_step(tx, "fused")
    params, kept = native(_tree(0)), native(_tree(0))
    state, kept_state = by_tree.init(params), by_leaves.init(kept)
    run = by_leaves.leaf_runner(kept, native(_tree(1)), kept_state)
    p_leaves, _ = backends.flatten(kept)
    s_leaves, _ = backends.flatten(kept_state)
    first = p_leaves[0]
    for seed in range(1, 6):
        grads = native(_tree(seed))
        params, state = by_tree(params, grads, state)
        p_leaves, s_leaves = run([p_leaves, backends.flatten(grads)[0], s_leaves])
    for name, leaf in zip(sorted(params), p_leaves):
        np.testing.assert_array_equal(np.asarray(leaf), np.asarray(params[name]))
    for a, b in zip(s_leaves, backends.flatten(state)[0]):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    if framework != "mlx":
        assert p_leaves[0] is first  # written in place (donated)


def test_leaf_runner_is_none_on_jax_and_outside_the_fused_mode():
    step = anyopt.make_step(anyopt.sgd(0.1), "reference")
    params = _tree(0)
    assert step.leaf_runner(params, params, step.init(params)) is None
    jnp = pytest.importorskip("jax.numpy")
    step = anyopt.make_step(anyopt.sgd(0.1), "fused")
    params = {k: jnp.asarray(v) for k, v in _tree(0).items()}
    assert step.leaf_runner(params, params, step.init(params)) is None


def test_adapter_rebinds_when_a_parameter_changes_dtype():
    torch = pytest.importorskip("torch")
    made = []
    for mode in ("fused", "reference"):
        torch.manual_seed(0)
        model = torch.nn.Linear(6, 3)
        opt = anyopt.torch.Optimizer(model.named_parameters(), anyopt.adam, lr=0.05, step_mode=mode)
        made.append((model, opt))
    x = torch.linspace(-1, 1, 24).reshape(4, 6)
    for t in range(6):
        if t == 3:  # as model.double() would, after the optimizer was built
            for model, _ in made:
                for p in model.parameters():
                    p.data = p.data.double()
        for model, opt in made:
            opt.zero_grad()
            model(x.to(model.weight.dtype)).pow(2).sum().backward()
            opt.step()
    (fused, _), (reference, _) = made
    assert fused.weight.dtype == torch.float64
    for a, b in zip(fused.parameters(), reference.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("framework", ["numpy", "torch", "jax", "mlx"])
def test_step_adopted_updates_the_adopted_leaves_as_the_reference_does(framework):
    """``Step.step_adopted`` (flat mode: NumPy, torch) against ``tx.update``; elsewhere
    there is no flat mode to adopt into."""
    module = {"numpy": "numpy", "torch": "torch", "jax": "jax", "mlx": "mlx.core"}[framework]
    pytest.importorskip(module)
    tx = anyopt.adamw(0.05, weight_decay=0.1)
    if "flat" not in anyopt.step_modes(framework):
        if framework == "jax":
            import jax.numpy as xp
        else:
            import mlx.core as xp
        params = {k: xp.array(v) for k, v in _tree(0).items()}
        with pytest.raises(ValueError, match=f"'flat' is not available on {framework}"):
            anyopt.make_step(tx, "flat").init(params)
        return
    native = _native(framework)
    step = anyopt.make_step(tx, "flat")
    params = native(_tree(0))
    state = step.init(params)
    adopted = step.adopt(params)
    ref, ref_state = _tree(0), tx.init(_tree(0))
    for seed in range(3):
        grads = _tree(10 + seed)
        leaves, _ = backends.flatten(native(grads))
        state = step.step_adopted(leaves, state)
        updates, ref_state = tx.update(grads, ref_state, ref)
        ref = anyopt.apply_updates(ref, updates)
    for k in ref:
        np.testing.assert_allclose(np.asarray(adopted[k]), ref[k], rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("steps_before", [0, 2])
def test_leaf_runner_refuses_gradients_of_another_dtype(steps_before):
    """Before and after the kept-arguments path exists: float64 gradients of the same size
    must not be read as float32."""
    torch = pytest.importorskip("torch")
    step = anyopt.make_step(anyopt.adam(0.1), "fused")
    params = {k: torch.tensor(v) for k, v in _tree(0).items()}
    state = step.init(params)
    grads = {k: torch.tensor(v) for k, v in _tree(1).items()}
    run = step.leaf_runner(params, grads, state)
    leaves = [backends.flatten(t)[0] for t in (params, grads, state)]
    for _ in range(steps_before):
        leaves[0], leaves[2] = run(leaves)
    before = [p.clone() for p in leaves[0]]
    leaves[1] = [g.double() for g in leaves[1]]
    with pytest.raises(ValueError, match="dtypes"):
        run(leaves)
    for a, b in zip(leaves[0], before):
        assert torch.equal(a, b)  # refused before writing anything
