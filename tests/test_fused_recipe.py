"""Fused steps on torch reuse their kernel arguments between in-place steps (``Recipe``).

The reused arguments must give the numbers the full path gives, and any change to where the
parameters or the state live (new objects, ``.data`` swapped, a transposed view at the same
address, a gradient of another size) must go back to the full path and its checks.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import anyopt  # noqa: E402
from anyopt import backends  # noqa: E402

SHAPES = {"a": (4, 4), "b": (7,), "c": (3, 5)}


def tree(seed: int, scale: float = 1.0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        k: torch.tensor(rng.normal(size=s) * scale, dtype=torch.float32) for k, s in SHAPES.items()
    }


def fused_and_reference(tx=None):
    tx = tx or anyopt.adamw(1e-2, weight_decay=0.1)
    params, ref = tree(0), tree(0)
    step = anyopt.make_step(tx, "fused")
    return tx, step, params, step.init(params), ref, tx.init(ref)


def reference_step(tx, params, grads, state):
    updates, state = tx.update(grads, state, params)
    return anyopt.apply_updates(params, updates), state


def plan_of(step, params, grads, state):
    runner = step._impl_for(params).run
    return runner.plan_for(params, grads, state)[0]


@pytest.mark.parametrize(
    "tx", [None, anyopt.chain(anyopt.clip_by_global_norm(0.5), anyopt.sgd(0.1, 0.9))]
)
def test_reused_arguments_give_the_reference_numbers_with_new_gradients_each_step(tx, monkeypatch):
    tx, step, params, state, ref, ref_state = fused_and_reference(tx)
    full_path_sums = []
    for seed in range(6):
        grads = tree(100 + seed, 0.3)
        params, state = step(params, grads, state)
        ref, ref_state = reference_step(tx, ref, grads, ref_state)
        if seed == 0:
            plan = plan_of(step, params, grads, state)
            assert plan._recipe is not None
            monkeypatch.setattr(plan, "_run_sums", lambda *a: full_path_sums.append(a))
    assert full_path_sums == []  # the clip's norm came from the kept arguments too
    for k in ref:
        torch.testing.assert_close(params[k], ref[k], rtol=2e-6, atol=1e-7)


def test_parameters_given_new_memory_are_stepped_there():
    tx, step, params, state, ref, ref_state = fused_and_reference()
    for seed in range(2):
        grads = tree(seed, 0.3)
        params, state = step(params, grads, state)
        ref, ref_state = reference_step(tx, ref, grads, ref_state)
    old = params["b"]
    moved = params["b"].clone()
    params["b"] = moved
    grads = tree(9, 0.3)
    params, state = step(params, grads, state)
    ref, ref_state = reference_step(tx, ref, grads, ref_state)
    assert params["b"] is moved and not torch.equal(old, moved)
    torch.testing.assert_close(moved, ref["b"], rtol=2e-6, atol=1e-7)


def test_a_transposed_view_at_the_same_address_is_not_read_as_before():
    tx, step, params, state, ref, ref_state = fused_and_reference()
    grads = tree(1, 0.3)
    params, state = step(params, grads, state)
    ref, ref_state = reference_step(tx, ref, grads, ref_state)
    for tree_ in (params, ref):  # same object, same address, now read transposed
        tree_["a"].data = tree_["a"].data.t()
    grads = tree(2, 0.3)
    params, state = step(params, grads, state)
    ref, ref_state = reference_step(tx, ref, grads, ref_state)
    torch.testing.assert_close(params["a"], ref["a"], rtol=2e-6, atol=1e-7)


def test_a_gradient_of_another_size_is_refused():
    _, step, params, state, *_ = fused_and_reference()
    grads = tree(1, 0.3)
    params, state = step(params, grads, state)
    grads["b"] = torch.ones(8)
    with pytest.raises((ValueError, backends.TreeMismatchError)):
        step(params, grads, state)


def test_state_given_new_memory_is_read_there():
    tx, step, params, state, ref, ref_state = fused_and_reference(anyopt.sgd(0.1, momentum=0.9))
    grads = tree(3, 0.3)
    params, state = step(params, grads, state)
    ref, ref_state = reference_step(tx, ref, grads, ref_state)
    halved = []
    for s in (state, ref_state):  # the momentum halved, in new memory
        leaves, treedef = backends.flatten(s)
        halved.append(backends.unflatten(treedef, [x * 0.5 if x.ndim else x for x in leaves]))
    state, ref_state = halved
    for seed in range(2):
        grads = tree(4 + seed, 0.3)
        params, state = step(params, grads, state)
        ref, ref_state = reference_step(tx, ref, grads, ref_state)
    for k in ref:
        torch.testing.assert_close(params[k], ref[k], rtol=2e-6, atol=1e-7)
