"""Fused steps on arrays that are not C-contiguous (``_fused_layout``).

Arrays laid out alike (channels-last weights, their gradients and moments; Fortran-order
NumPy arrays) are stepped in place; a member whose arrays disagree, or with gaps,
overlaps or negative strides, reads copies. Either way the numbers are the reference's.
"""

from __future__ import annotations

import numpy as np
import pytest

import anyopt
from anyopt.backends._fused_layout import Unaddressable, dense_layout, uniform

pytest.importorskip("numba")

TXS = {
    "adamw": lambda: anyopt.adamw(1e-2, weight_decay=0.1),
    "clip_sgd": lambda: anyopt.chain(anyopt.clip_by_global_norm(0.5), anyopt.sgd(0.1, 0.9)),
}


def reference_step(tx, params, grads, state):
    updates, state = tx.update(grads, state, params)
    return anyopt.apply_updates(params, updates), state


@pytest.mark.parametrize(
    "make, dense",
    [
        (lambda: np.zeros((3, 4), np.float32), True),
        (lambda: np.zeros((3, 4), np.float32, order="F"), True),
        (lambda: np.zeros((3, 4), np.float32).T, True),
        (lambda: np.zeros((2, 3, 4, 5), np.float32).transpose(0, 2, 3, 1), True),
        (lambda: np.zeros((3, 1, 4), np.float32)[:, :, :], True),
        (lambda: np.zeros((3, 8), np.float32)[:, ::2], False),
        (lambda: np.zeros(6, np.float32)[::-1], False),
        (lambda: np.broadcast_to(np.zeros(4, np.float32), (3, 4)), False),
    ],
)
def test_dense_layout_tells_one_dense_run_of_memory_from_gaps_and_overlaps(make, dense):
    x = make()
    layout = dense_layout(x.shape, x.strides, x.itemsize)
    assert isinstance(layout, Unaddressable) != dense


def test_uniform_needs_equal_layouts_and_refuses_unaddressable_arrays():
    c, f = np.zeros((3, 4), order="C"), np.zeros((3, 4), order="F")
    lay = [(0, 12, True, dense_layout(x.shape, x.strides, x.itemsize)) for x in (c, f, f)]
    assert uniform(lay[1:]) and not uniform(lay[:2])
    gap = (0, 6, True, Unaddressable())
    assert not uniform([gap]) and not uniform([gap, gap])
    # a length-1 axis's stride does not count
    a, b = np.zeros((3, 1)), np.zeros((1, 3)).T  # strides (8, 8) and (8, 24)
    assert dense_layout(a.shape, a.strides, 8) == dense_layout(b.shape, b.strides, 8)


def _numpy_tree(seed: int, layout: str, scale: float = 1.0) -> dict:
    rng = np.random.default_rng(seed)
    base = {"a": rng.normal(size=(6, 5)), "b": rng.normal(size=(4, 3, 2)), "c": rng.normal(size=7)}
    base = {k: (v * scale).astype(np.float32) for k, v in base.items()}
    if layout == "fortran":
        return {k: np.asfortranarray(v) for k, v in base.items()}
    if layout == "transposed":  # the same values, read through transposed views
        return {k: np.ascontiguousarray(v.T).T for k, v in base.items()}
    if layout == "gapped":
        return {k: np.repeat(v, 2, axis=-1)[..., ::2] for k, v in base.items()}
    return base


@pytest.mark.parametrize("tx_name", sorted(TXS))
@pytest.mark.parametrize(
    "param_layout, grad_layout",
    [("fortran", "fortran"), ("c", "fortran"), ("fortran", "transposed"), ("c", "gapped")],
)
def test_numpy_fused_steps_on_other_layouts_match_the_reference(tx_name, param_layout, grad_layout):
    tx = TXS[tx_name]()
    step = anyopt.make_step(tx, "fused")
    params, ref = _numpy_tree(0, param_layout), _numpy_tree(0, "c")
    state, ref_state = step.init(params), tx.init(ref)
    for seed in range(4):
        grads = _numpy_tree(10 + seed, grad_layout, 0.3)
        params, state = step(params, grads, state)
        c_grads = {k: np.array(v) for k, v in grads.items()}
        ref, ref_state = reference_step(tx, ref, c_grads, ref_state)
    for k in ref:
        np.testing.assert_allclose(params[k], ref[k], rtol=2e-6, atol=1e-7)


def test_numpy_arrays_laid_out_alike_are_stepped_in_place():
    tx = TXS["adamw"]()
    step = anyopt.make_step(tx, "fused")
    params = _numpy_tree(0, "fortran")
    before = dict(params)
    state = step.init(params)
    for seed in range(2):
        params, state = step(params, _numpy_tree(10 + seed, "fortran", 0.3), state)
    assert all(params[k] is before[k] for k in params)  # written through their memory


def test_mlx_transposed_parameters_match_the_reference_and_leave_their_base_alone():
    mx = pytest.importorskip("mlx.core")
    if "fused" not in anyopt.step_modes("mlx"):
        pytest.skip("no fused mode on MLX here")
    tx = TXS["adamw"]()
    base = mx.array(_numpy_tree(0, "c")["a"])
    kept = np.array(base)
    params = {"a": base.T, "c": mx.array(_numpy_tree(0, "c")["c"])}
    ref = {k: np.array(v) for k, v in params.items()}
    step = anyopt.make_step(tx, "fused")
    state, ref_state = step.init(params), tx.init(ref)
    for seed in range(3):
        drawn = _numpy_tree(10 + seed, "c", 0.3)
        grads = {"a": drawn["a"].T, "c": drawn["c"]}
        params, state = step(params, {k: mx.array(v) for k, v in grads.items()}, state)
        ref, ref_state = reference_step(tx, ref, grads, ref_state)
    for k in ref:
        np.testing.assert_allclose(np.array(params[k]), ref[k], rtol=2e-6, atol=1e-7)
    np.testing.assert_array_equal(np.array(base), kept)  # a view's base is not written


torch = pytest.importorskip("torch")


def _cnn(seed: int):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 4, 3),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 4 * 4, 2),
    )
    return net.to(memory_format=torch.channels_last)


def _train(net, opt, steps: int):
    gen = torch.Generator().manual_seed(5)
    for _ in range(steps):
        x = torch.randn(6, 3, 8, 8, generator=gen).to(memory_format=torch.channels_last)
        opt.zero_grad()
        net(x).square().mean().backward()
        opt.step()


@pytest.mark.parametrize("amsgrad", [False, True])
def test_a_channels_last_cnn_trains_like_torch_optim_and_in_place(amsgrad):
    from anyopt import torch as anyopt_torch

    ours, theirs = _cnn(0), _cnn(0)
    assert not ours[0].weight.is_contiguous()  # channels-last conv weights
    opt = anyopt_torch.AdamW(ours.named_parameters(), lr=1e-2, weight_decay=0.05, amsgrad=amsgrad)
    ref = torch.optim.AdamW(theirs.parameters(), lr=1e-2, weight_decay=0.05, amsgrad=amsgrad)
    pointers = [p.data_ptr() for p in ours.parameters()]
    _train(ours, opt, 3)
    _train(theirs, ref, 3)
    assert [p.data_ptr() for p in ours.parameters()] == pointers
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        assert a.stride() == b.stride()


def test_torch_gradients_laid_out_unlike_their_parameters_give_torch_optim_numbers():
    from anyopt import torch as anyopt_torch

    gen = torch.Generator().manual_seed(0)
    start = torch.randn(5, 5, generator=gen)
    ours = torch.nn.Parameter(start.clone())
    theirs = torch.nn.Parameter(start.clone())
    opt = anyopt_torch.Adam([ours], lr=1e-2)
    ref = torch.optim.Adam([theirs], lr=1e-2)
    for step in range(4):
        g = torch.randn(5, 5, generator=gen)
        # transposed, then contiguous: the kept arguments must not read the old layout
        grad = g.t().contiguous().t() if step % 2 == 0 else g
        ours.grad, theirs.grad = grad, g.clone()
        opt.step()
        ref.step()
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)
