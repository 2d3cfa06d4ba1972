"""anyopt.torch.Optimizer: anyopt transformations as torch.optim optimizers.

A small MLP on generated data trains with the adapter and with torch.optim side by side:
equal numbers where the formulas agree (Adam, SGD with momentum, AdamW), LR schedulers,
per-group hyperparameters, state_dict round trips (by name, across dtypes), GradScaler,
gradient accumulation, a torch.compile'd model, clip_grad_norm_, every functional
optimizer, and torch's kind of errors for bad input.
"""

from __future__ import annotations

import contextlib
import inspect
import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import anyopt  # noqa: E402
from anyopt._tree import leaves as tree_leaves  # noqa: E402
from anyopt.optimizers._functional_classes import FACTORIES  # noqa: E402
from anyopt.torch import Optimizer  # noqa: E402

STEPS = 50


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run fastest on one thread (and do not fight parallel test workers)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_model(seed: int = 0, dtype=torch.float32) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    return model.to(dtype)


def data(n: int = 64, seed: int = 1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g, dtype=dtype)
    return x, torch.sin(x.sum(1, keepdim=True))


X, Y = data()


def loss_of(model, x=X, y=Y):
    return ((model(x.to(next(model.parameters()).dtype)) - y.to(x.dtype)) ** 2).mean()


def train(model, optimizer, steps: int = STEPS, scheduler=None) -> list:
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_of(model)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(loss.item())
    return losses


def assert_same_params(a, b, rtol=1e-5, atol=1e-6):
    for (name, x), y in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_allclose(
            x.detach().double().cpu().numpy(),
            y.detach().double().cpu().numpy(),
            rtol=rtol,
            atol=atol,
            err_msg=name,
        )


def assert_equal_params(a, b):
    for (name, x), y in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(x, y), name


# --- equality with torch.optim -------------------------------------------------------------
# anyopt.adamw and torch.optim.AdamW use one formula: p <- p - lr * (adam_update + wd * p),
# i.e. torch's p * (1 - lr * wd) - lr * adam_update. Left: anyopt, right: torch.optim.
PAIRS = {
    "adam": (
        lambda p: Optimizer(p, anyopt.adam, lr=1e-3),
        lambda p: torch.optim.Adam(p, lr=1e-3),
    ),
    "sgd-momentum": (
        lambda p: Optimizer(p, anyopt.sgd, lr=0.05, momentum=0.9),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    ),
    "adamw": (
        lambda p: Optimizer(p, anyopt.adamw, lr=1e-3, weight_decay=0.1),
        lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.1),
    ),
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_equal_to_torch_optim(name):
    ours, theirs = PAIRS[name]
    a, b = make_model(), make_model()
    opt_a = ours(a.named_parameters())
    losses_a = train(a, opt_a)
    losses_b = train(b, theirs(b.parameters()))
    assert isinstance(opt_a, torch.optim.Optimizer)
    np.testing.assert_allclose(losses_a, losses_b, rtol=1e-5)
    assert_same_params(a, b)
    assert losses_a[-1] < losses_a[0]


SCHEDULERS = {
    "StepLR": lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5),
    "CosineAnnealingLR": lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=STEPS),
    "OneCycleLR": lambda opt: torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=1e-2, total_steps=STEPS
    ),
    "LambdaLR": lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 / (1 + 0.1 * k)),
}


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_lr_schedulers_drive_it_as_they_drive_torch_adam(name):
    a, b = make_model(), make_model()
    opt_a = Optimizer(a.named_parameters(), anyopt.adam, lr=1e-2)
    opt_b = torch.optim.Adam(b.parameters(), lr=1e-2)
    sched_a, sched_b = SCHEDULERS[name](opt_a), SCHEDULERS[name](opt_b)
    runtime = None
    for _ in range(STEPS):
        used = opt_a.param_groups[0]["lr"], opt_a.param_groups[0]["betas"][0]
        for model, opt, sched in ((a, opt_a, sched_a), (b, opt_b, sched_b)):
            opt.zero_grad()
            loss_of(model).backward()
            opt.step()
            sched.step()
        group_a, group_b = opt_a.param_groups[0], opt_b.param_groups[0]
        assert group_a["lr"] == group_b["lr"]
        assert group_a["betas"] == group_b["betas"]  # OneCycleLR cycles beta1 too
        # The step ran with the values the scheduler had set, in the state.
        shared = group_a["anyopt_state"]
        assert shared["hyperparams.learning_rate"].item() == pytest.approx(used[0], rel=1e-6)
        assert shared["hyperparams.b1"].item() == pytest.approx(used[1], rel=1e-6)
        runtime = runtime or opt_a._runtimes[0]
        assert opt_a._runtimes[0] is runtime  # set in the state: never rebuilt
    assert_same_params(a, b)


def test_learning_rate_set_by_hand_keeps_the_state_and_the_step():
    model = make_model()
    opt = Optimizer(model.named_parameters(), anyopt.adam, lr=1e-2)
    train(model, opt, steps=3)
    runtime = opt._runtimes[0]
    step_fn = runtime.step_fn
    p = next(model.parameters())
    before = dict(opt.state[p])
    opt.param_groups[0]["lr"] = 3e-3
    opt.param_groups[0]["betas"] = (0.8, 0.99)
    train(model, opt, steps=1)
    shared = opt.param_groups[0]["anyopt_state"]
    assert shared["hyperparams.learning_rate"].item() == pytest.approx(3e-3)
    assert shared["hyperparams.b1"].item() == pytest.approx(0.8)
    assert shared["count"].item() == 4
    assert opt._runtimes[0] is runtime and runtime.step_fn is step_fn
    assert all(opt.state[p][k] is v for k, v in before.items())  # the same tensors, updated


def test_a_static_argument_changed_between_steps_rebuilds_and_keeps_the_state():
    model = make_model()
    opt = Optimizer(model.named_parameters(), anyopt.sgd, lr=0.05, momentum=0.9)
    train(model, opt, steps=3)
    p = next(model.parameters())
    trace = opt.state[p]["inner_state.0.trace"].clone()
    opt.param_groups[0]["nesterov"] = True
    opt.zero_grad()
    loss_of(model).backward()
    grad = p.grad.clone()
    opt.step()
    np.testing.assert_allclose(opt.state[p]["inner_state.0.trace"], grad + 0.9 * trace, rtol=1e-6)
    # momentum=None has no momentum state: turning it on later changes the state's structure.
    opt = Optimizer(model.named_parameters(), anyopt.sgd, lr=0.05)
    train(model, opt, steps=1)
    opt.param_groups[0]["momentum"] = 0.9
    with pytest.raises(ValueError, match="momentum=0.9 cannot be set between steps"):
        train(model, opt, steps=1)


# --- param groups ---------------------------------------------------------------------------
def split(model):
    named = list(model.named_parameters())
    return [(n, p) for n, p in named if n.endswith("weight")], [
        (n, p) for n, p in named if n.endswith("bias")
    ]


def test_per_group_hyperparameters_equal_two_separate_optimizers():
    a, b, c = make_model(), make_model(), make_model()
    weights, biases = split(a)
    grouped = Optimizer(
        [{"params": weights}, {"params": biases, "weight_decay": 0.0}],
        anyopt.adamw,
        lr=1e-2,
        weight_decay=0.1,
    )
    assert [g["weight_decay"] for g in grouped.param_groups] == [0.1, 0.0]
    assert grouped.param_groups[0]["param_names"] == ["0.weight", "2.weight"]
    weights_b, biases_b = split(b)
    separate = [
        Optimizer(weights_b, anyopt.adamw, lr=1e-2, weight_decay=0.1),
        Optimizer(biases_b, anyopt.adamw, lr=1e-2, weight_decay=0.0),
    ]
    weights_c, biases_c = split(c)
    reference = torch.optim.AdamW(
        [
            {"params": [p for _, p in weights_c]},
            {"params": [p for _, p in biases_c], "weight_decay": 0.0},
        ],
        lr=1e-2,
        weight_decay=0.1,
    )
    for _ in range(STEPS):
        for model, opts in ((a, [grouped]), (b, separate), (c, [reference])):
            for opt in opts:
                opt.zero_grad()
            loss_of(model).backward()
            for opt in opts:
                opt.step()
    assert_equal_params(a, b)
    # optax's adamw rounds its betas to float32 where torch keeps them float64: after 50
    # steps one weight of 256 is 1.6e-6 from torch's (1.3e-6 with NumPy's float32 power
    # in the bias corrections, before they were C's float64 pow rounded)
    assert_same_params(a, c, atol=3e-6)


def test_groups_added_later_tensor_lr_aliases_and_names_repeated_across_groups():
    first, second = torch.nn.Linear(8, 4), torch.nn.Linear(4, 1)  # both name "weight", "bias"
    opt = Optimizer(first.named_parameters(), anyopt.adam, lr=torch.tensor(0.01))

    def step():
        opt.zero_grad()
        second(first(X)).pow(2).mean().backward()
        opt.step()

    step()
    opt.add_param_group(
        {"params": list(second.named_parameters()), "learning_rate": 0.1, "b1": 0.5}
    )
    group = opt.param_groups[1]
    assert group["lr"] == 0.1 and group["betas"] == (0.5, 0.999) and "learning_rate" not in group
    step()
    opt.param_groups[0]["lr"].fill_(0.5)  # a tensor lr changed in place is seen too
    step()
    shared = [g["anyopt_state"] for g in opt.param_groups]
    assert [int(s["count"]) for s in shared] == [3, 2]
    assert shared[0]["hyperparams.learning_rate"].item() == 0.5
    assert shared[1]["hyperparams.b1"].item() == 0.5
    saved = opt.state_dict()
    before = {k: v.clone() for k, v in opt.state[second.weight].items()}
    opt.load_state_dict(saved)  # names match within each group
    assert all(torch.equal(opt.state[second.weight][k], v) for k, v in before.items())
    step()


# --- state_dict ---------------------------------------------------------------------------
def checkpoint(model, opt) -> dict:
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, buffer)
    buffer.seek(0)
    return torch.load(buffer)  # weights_only=True: only tensors and plain data


def test_state_dict_round_trip_continues_identically():
    a = make_model()
    opt_a = Optimizer(a.named_parameters(), anyopt.adamw, lr=1e-2, weight_decay=0.1)
    sched_a = torch.optim.lr_scheduler.StepLR(opt_a, step_size=5, gamma=0.5)
    train(a, opt_a, steps=20, scheduler=sched_a)
    saved = checkpoint(a, opt_a)
    state = saved["optimizer"]
    assert set(state["state"]) == {0, 1, 2, 3}
    assert set(state["state"][0]) == {"inner_state.0.mu", "inner_state.0.nu"}
    assert state["param_groups"][0]["param_names"] == [n for n, _ in a.named_parameters()]
    assert int(state["param_groups"][0]["anyopt_state"]["count"]) == 20

    b = make_model(seed=5)
    b.load_state_dict(saved["model"])
    opt_b = Optimizer(b.named_parameters(), anyopt.adamw, lr=1e-2, weight_decay=0.1)
    sched_b = torch.optim.lr_scheduler.StepLR(opt_b, step_size=5, gamma=0.5)
    opt_b.load_state_dict(saved["optimizer"])
    sched_b.load_state_dict(sched_a.state_dict())
    assert opt_b.param_groups[0]["lr"] == opt_a.param_groups[0]["lr"]
    train(a, opt_a, steps=20, scheduler=sched_a)
    train(b, opt_b, steps=20, scheduler=sched_b)
    assert_equal_params(a, b)


def test_loading_matches_parameters_by_name_not_position():
    a = make_model()
    opt_a = Optimizer(a.named_parameters(), anyopt.adam, lr=1e-2)
    train(a, opt_a, steps=10)
    saved = checkpoint(a, opt_a)
    b = make_model(seed=5)
    b.load_state_dict(saved["model"])
    opt_b = Optimizer(list(b.named_parameters())[::-1], anyopt.adam, lr=1e-2)
    opt_b.load_state_dict(saved["optimizer"])
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        for key, value in opt_a.state[p].items():
            assert torch.equal(opt_b.state[q][key], value), (name, key)
    assert opt_b.param_groups[0]["param_names"] == [n for n, _ in b.named_parameters()][::-1]
    train(a, opt_a, steps=10)
    train(b, opt_b, steps=10)
    assert_equal_params(a, b)


def test_loading_casts_to_the_parameters_dtype_and_device():
    a = make_model(dtype=torch.float64)
    opt_a = Optimizer(a.named_parameters(), anyopt.adam, lr=1e-2)
    train(a, opt_a, steps=10)
    saved = checkpoint(a, opt_a)
    b = make_model(seed=5)
    b.load_state_dict({k: v.float() for k, v in saved["model"].items()})
    opt_b = Optimizer(b.named_parameters(), anyopt.adam, lr=1e-2)
    opt_b.load_state_dict(saved["optimizer"])
    for p, q in zip(a.parameters(), b.parameters()):
        for key, value in opt_b.state[q].items():
            assert value.dtype == torch.float32 and value.device == q.device
            np.testing.assert_allclose(value, opt_a.state[p][key].float(), rtol=1e-6)
    shared = opt_b.param_groups[0]["anyopt_state"]
    assert shared["count"].dtype == torch.int32 and int(shared["count"]) == 10
    assert shared["hyperparams.learning_rate"].dtype == torch.float32
    train(a, opt_a, steps=10)
    train(b, opt_b, steps=10)
    assert_same_params(b, a, rtol=1e-4, atol=1e-5)


def test_load_state_dict_mismatches_are_value_errors():
    a = make_model()
    opt_a = Optimizer(a.named_parameters(), anyopt.adam, lr=1e-2)
    train(a, opt_a, steps=2)
    saved = opt_a.state_dict()
    renamed = Optimizer([(f"net.{n}", p) for n, p in a.named_parameters()], anyopt.adam, lr=1e-2)
    with pytest.raises(ValueError, match="does not have"):
        renamed.load_state_dict(saved)
    other = Optimizer(a.named_parameters(), anyopt.sgd, lr=1e-2, momentum=0.9)
    with pytest.raises(ValueError, match="another optimizer or transformation"):
        other.load_state_dict(saved)
    torch_adam = torch.optim.Adam(a.named_parameters(), lr=1e-2)
    train(a, torch_adam, steps=1)
    with pytest.raises(ValueError, match="not saved by anyopt.torch.Optimizer"):
        opt_a.load_state_dict(torch_adam.state_dict())
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt_a.load_state_dict({"state": {}, "param_groups": []})
    # The failed loads left opt_a as it was.
    train(a, opt_a, steps=1)
    assert int(opt_a.param_groups[0]["anyopt_state"]["count"]) == 3


def test_state_dict_before_the_first_step_is_empty_and_loads():
    a = make_model()
    opt = Optimizer(a.named_parameters(), anyopt.adam, lr=1e-2)
    saved = opt.state_dict()
    assert saved["state"] == {} and "anyopt_state" not in saved["param_groups"][0]
    opt.load_state_dict(saved)
    train(a, opt, steps=2)


# --- ready transformations ------------------------------------------------------------------
def test_a_ready_chain_trains_and_lr_multiplies_its_updates():
    model = make_model()
    tx = anyopt.chain(anyopt.clip_by_global_norm(1.0), anyopt.adamw(1e-2, weight_decay=0.1))
    opt = Optimizer(model.named_parameters(), tx)
    assert opt.param_groups[0]["lr"] == 1.0
    losses = train(model, opt)
    assert losses[-1] < 0.5 * losses[0]
    # lr=1e-2 on adamw(1.0) is adamw(1e-2) (the weight decay is scaled by the rate as well).
    other = make_model()
    tx = anyopt.chain(anyopt.clip_by_global_norm(1.0), anyopt.adamw(1.0, weight_decay=0.1))
    train(other, Optimizer(other.named_parameters(), tx, lr=1e-2))
    assert_same_params(other, model)
    # One SGD step: the update is exactly lr times the transformation's.
    model = make_model()
    opt = Optimizer(model.parameters(), anyopt.sgd(1.0), lr=0.25)
    before = [p.detach().clone() for p in model.parameters()]
    loss_of(model).backward()
    opt.step()
    for p, q in zip(model.parameters(), before):
        torch.testing.assert_close(p, q - 0.25 * p.grad)


def test_lr_is_a_ready_transformations_injected_learning_rate():
    a, b = make_model(), make_model()
    tx = anyopt.chain(
        anyopt.clip_by_global_norm(1e9),
        anyopt.inject_hyperparams(anyopt.adamw)(learning_rate=1e-2, weight_decay=0.1),
    )
    opt_a = Optimizer(a.named_parameters(), tx)
    group = opt_a.param_groups[0]
    assert group["lr"] == pytest.approx(1e-2) and group["weight_decay"] == pytest.approx(0.1)
    assert group["betas"] == pytest.approx((0.9, 0.999))
    opt_b = torch.optim.AdamW(b.parameters(), lr=group["lr"], weight_decay=0.1)
    train(a, opt_a, scheduler=torch.optim.lr_scheduler.StepLR(opt_a, 10, 0.5))
    train(b, opt_b, scheduler=torch.optim.lr_scheduler.StepLR(opt_b, 10, 0.5))
    assert_same_params(a, b)
    assert set(opt_a.param_groups[0]["anyopt_state"]) >= {"1.hyperparams.learning_rate"}
    # An lr passed to the constructor replaces the transformation's own.
    model = make_model()
    tx = anyopt.inject_hyperparams(anyopt.sgd)(learning_rate=1.0)
    opt = Optimizer(model.parameters(), tx, lr=0.25)
    before = [p.detach().clone() for p in model.parameters()]
    loss_of(model).backward()
    opt.step()
    for p, q in zip(model.parameters(), before):
        torch.testing.assert_close(p, q - 0.25 * p.grad)


# --- parameters without gradients -------------------------------------------------------------
@pytest.mark.parametrize("step_mode", ["auto", "fused", "reference"])
def test_parameters_without_grad_are_skipped_and_their_state_restored(step_mode):
    a, b = make_model(), make_model()
    extra = torch.nn.Parameter(torch.ones(3))
    unused = torch.nn.Parameter(torch.ones(2))
    named = list(a.named_parameters()) + [("extra", extra), ("unused", unused)]
    opt_a = Optimizer(named, anyopt.adam, lr=1e-2, step_mode=step_mode)
    opt_b = torch.optim.Adam(b.parameters(), lr=1e-2)
    for k in range(20):
        opt_a.zero_grad()
        loss = loss_of(a)
        if k % 2 == 0:  # extra: a grad on even steps only
            loss = loss + (extra**2).sum()
        loss.backward()
        if k % 2:
            assert extra.grad is None
        value = extra.detach().clone()
        state = {key: v.clone() for key, v in opt_a.state.get(extra, {}).items()}
        opt_a.step()
        train(b, opt_b, steps=1)
        if k % 2:
            assert torch.equal(extra, value)
            assert all(torch.equal(opt_a.state[extra][key], v) for key, v in state.items())
        else:
            assert not torch.equal(extra, value)
        assert torch.equal(unused, torch.ones(2))  # never had a grad: never moved
        assert all(not v.any() for v in opt_a.state[unused].values())  # its state stays fresh
        # The shared step count advances with every step (torch counts per parameter).
        assert int(opt_a.param_groups[0]["anyopt_state"]["count"]) == k + 1
    assert_same_params(a, b)  # always with a grad: exactly Adam


def test_a_group_without_any_grad_is_not_stepped():
    model = make_model()
    frozen = torch.nn.Parameter(torch.ones(2))
    opt = Optimizer(
        [{"params": list(model.named_parameters())}, {"params": [("frozen", frozen)]}],
        anyopt.adam,
        lr=1e-2,
    )
    train(model, opt, steps=2)
    assert "anyopt_state" not in opt.param_groups[1] and frozen not in opt.state


# --- torch's training tools -----------------------------------------------------------------
@pytest.mark.parametrize("autocast", [None, torch.bfloat16])
def test_grad_scaler_unscale_clip_and_skipped_steps(autocast):
    a, b = make_model(), make_model()
    opt_a = Optimizer(a.named_parameters(), anyopt.adam, lr=1e-2)
    opt_b = torch.optim.Adam(b.parameters(), lr=1e-2)
    scalers = [torch.amp.GradScaler("cpu", init_scale=2.0**10) for _ in range(2)]
    losses = []
    for k in range(20):
        for model, opt, scaler in ((a, opt_a, scalers[0]), (b, opt_b, scalers[1])):
            opt.zero_grad()
            with torch.autocast("cpu", dtype=autocast or torch.bfloat16, enabled=bool(autocast)):
                loss = loss_of(model)
            scaler.scale(loss).backward()
            if k == 7:  # an overflow: the scaler skips the step
                model[0].weight.grad[0, 0] = float("inf")
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)
            scaler.step(opt)
            scaler.update()
        losses.append(loss.item())
    assert scalers[0].get_scale() == scalers[1].get_scale() < 2.0**10
    assert int(opt_a.param_groups[0]["anyopt_state"]["count"]) == 19
    if autocast is None:
        assert_same_params(a, b)
    else:  # bfloat16 rounding amplifies float32 rounding differences: not comparable
        assert losses[-1] < losses[0]


def test_gradient_accumulation():
    a, b = make_model(), make_model()
    opt_a = Optimizer(a.named_parameters(), anyopt.adamw, lr=1e-2, weight_decay=0.1)
    opt_b = torch.optim.AdamW(b.parameters(), lr=1e-2, weight_decay=0.1)
    for _ in range(20):
        for model, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            for x, y in zip(X.chunk(4), Y.chunk(4)):
                (loss_of(model, x, y) / 4).backward()
            opt.step()
    assert_same_params(a, b)


def test_clip_grad_norm_before_the_step():
    a, b = make_model(), make_model()
    opt_a = Optimizer(a.named_parameters(), anyopt.sgd, lr=0.1, momentum=0.9)
    opt_b = torch.optim.SGD(b.parameters(), lr=0.1, momentum=0.9)
    for _ in range(STEPS):
        for model, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            loss_of(model).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.1)
            opt.step()
    assert_same_params(a, b)


def test_a_torch_compiled_model():  # about 5 s (inductor compiles the model)
    a, b = make_model(), make_model()
    compiled = torch.compile(a)
    opt_a = Optimizer(compiled.named_parameters(), anyopt.adam, lr=1e-2)
    assert opt_a.param_groups[0]["param_names"][0] == "_orig_mod.0.weight"
    opt_b = torch.optim.Adam(b.parameters(), lr=1e-2)
    losses = train(compiled, opt_a, steps=20)
    train(b, opt_b, steps=20)
    assert losses[-1] < losses[0]
    assert_same_params(a, b)


def test_closure_and_hooks():
    model = make_model()
    opt = Optimizer(model.named_parameters(), anyopt.adam, lr=1e-2)
    calls = []
    opt.register_step_post_hook(lambda optimizer, args, kwargs: calls.append(optimizer))

    def closure():
        opt.zero_grad()
        loss = loss_of(model)
        loss.backward()
        return loss

    with torch.no_grad():  # the closure runs with gradients enabled anyway, as in torch
        first = opt.step(closure)
    assert torch.is_tensor(first) and calls == [opt]
    assert opt.step() is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_parameters_and_a_cpu_checkpoint():
    a, b = make_model().cuda(), make_model().cuda()
    opt_a = Optimizer(a.named_parameters(), anyopt.adamw, lr=1e-3, weight_decay=0.1)
    opt_b = torch.optim.AdamW(b.parameters(), lr=1e-3, weight_decay=0.1)
    for _ in range(STEPS):
        for model, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            loss_of(model, X.cuda(), Y.cuda()).backward()
            opt.step()
    assert_same_params(a, b)
    cpu = make_model()
    opt_cpu = Optimizer(cpu.named_parameters(), anyopt.adamw, lr=1e-3, weight_decay=0.1)
    train(cpu, opt_cpu, steps=3)
    opt_a.load_state_dict(opt_cpu.state_dict())
    for p in a.parameters():
        assert all(v.device == p.device for v in opt_a.state[p].values())
    assert opt_a.param_groups[0]["anyopt_state"]["count"].device.type == "cuda"
    opt_a.zero_grad()
    loss_of(a, X.cuda(), Y.cuda()).backward()
    opt_a.step()


@pytest.mark.parametrize(
    "make",
    [
        lambda p: Optimizer(p, anyopt.adamw, lr=1e-3, weight_decay=0.1),
        lambda p: Optimizer(p, anyopt.chain(anyopt.clip_by_global_norm(1.0), anyopt.adam(1e-3))),
        lambda p: anyopt.torch.AdamW(p, lr=1e-3),
    ],
    ids=["Optimizer(adamw)", "Optimizer(clip, adam)", "AdamW"],
)
def test_parameters_off_the_cpu_stay_there_and_are_never_read_on_the_host(make):
    """Without a GPU here, the meta device stands in for CUDA: it has no memory, so a
    fused CPU loop, a ``.item()`` or a copy to the host would raise. State, a CPU
    checkpoint loaded mid-training and a scheduler's learning rate all stay on the device."""
    meta = make_model().to("meta")
    opt = make(meta.named_parameters())
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    x, y = X.to("meta"), Y.to("meta")
    for t in range(4):
        if t == 2:
            cpu = make_model()
            cpu_opt = make(cpu.named_parameters())
            train(cpu, cpu_opt, steps=2)
            opt.load_state_dict(cpu_opt.state_dict())
        opt.zero_grad()
        loss_of(meta, x, y).backward()
        opt.step()
        scheduler.step()
    for p in meta.parameters():
        assert p.device.type == "meta"
        assert [v.device.type for v in opt.state[p].values() if torch.is_tensor(v)]
        assert all(v.device.type == "meta" for v in opt.state[p].values() if torch.is_tensor(v))
    shared = [v for v in tree_leaves(opt.param_groups[0]["anyopt_state"]) if torch.is_tensor(v)]
    assert shared and all(v.device.type == "meta" for v in shared)


# --- every functional optimizer ---------------------------------------------------------------
# The optimizers: the class layer's list of functional optimizers and those MLX names itself.
MLX_NAMED = ["adam", "adamw", "sgd", "rmsprop", "adagrad", "adadelta", "adamax", "lion"]
OPTIMIZERS = sorted(
    set(FACTORIES.values())
    | set(MLX_NAMED)
    | {"adafactor", "contrib.muon", "contrib.galore"}
    | {"contrib.schedule_free", "optimistic_adam"}
)
# Functions with a learning rate in anyopt.__all__ / anyopt.contrib.__all__ that are not wrapped.
NOT_WRAPPED = {
    "contrib.dpsgd": "needs per-example gradients (a leading batch axis on every gradient)",
}
# Arguments beyond the default learning rate of 1e-2.
OPTIMIZER_ARGS = {
    "sgd": {"lr": 0.1},
    "adadelta": {"lr": 1.0},
    "lars": {"lr": 1.0},
    "contrib.cocob": {},
    "contrib.dadapt_adamw": {},
    "contrib.dog": {},
    "contrib.dowg": {},
    "contrib.prodigy": {},
    "contrib.schedule_free": {"lr": 1e-2, "base_optimizer": anyopt.adam(1e-2, b1=0.0)},
    "polyak_sgd": {},
    "noisy_sgd": {"lr": 1e-2, "key": 0},
}
DEPRECATED = {"optimistic_adam"}


def resolve(name: str):
    obj = anyopt
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def test_every_optimizer_with_a_learning_rate_is_covered():
    found = set()
    for prefix, module in (("", anyopt), ("contrib.", anyopt.contrib)):
        for name in module.__all__:
            fn = getattr(module, name)
            if not callable(fn) or isinstance(fn, type) or name.startswith("scale_by"):
                continue
            try:
                parameters = inspect.signature(fn).parameters
            except (TypeError, ValueError):  # type aliases (Callable[...])
                continue
            if "learning_rate" in parameters or "max_learning_rate" in parameters:
                found.add(prefix + name)
    assert found == set(OPTIMIZERS) | set(NOT_WRAPPED)


def value_fn(model):
    """The loss as a function of the parameter tree {name: tensor} (L-BFGS, Sophia)."""
    return lambda params: ((torch.func.functional_call(model, params, (X,)) - Y) ** 2).mean()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_trains_the_model(name):
    model = make_model()
    kwargs = OPTIMIZER_ARGS.get(name, {"lr": 1e-2})
    if name in DEPRECATED:
        with pytest.deprecated_call():
            opt = Optimizer(
                model.named_parameters(), resolve(name), step_mode="reference", **kwargs
            )
    else:
        opt = Optimizer(model.named_parameters(), resolve(name), step_mode="reference", **kwargs)
    extra = {}
    if name == "lbfgs":
        extra = {"value_fn": value_fn(model)}
    if name == "contrib.sophia":
        extra = {"obj_fn": value_fn(model)}

    def closure():
        opt.zero_grad()
        loss = loss_of(model)
        loss.backward()
        return loss

    start = loss_of(model).item()
    with pytest.warns(DeprecationWarning) if name in DEPRECATED else contextlib.nullcontext():
        for _ in range(STEPS):
            opt.step(closure, **extra)
    end = loss_of(model).item()
    assert np.isfinite(end) and end < 0.9 * start, (start, end)


def test_default_fast_paths_of_other_shapes_train():
    """step_mode='auto' beyond Adam: fused per-leaf norms (LAMB), a Python-side value (Momo)."""
    for factory, kwargs in ((anyopt.lamb, {"lr": 1e-2}), (anyopt.contrib.momo, {})):
        model = make_model()
        opt = Optimizer(model.named_parameters(), factory, **kwargs)

        def closure():
            opt.zero_grad()
            loss = loss_of(model)
            loss.backward()
            return loss

        start = loss_of(model).item()
        for _ in range(20):
            opt.step(closure)
        assert loss_of(model).item() < start


# --- bad input ------------------------------------------------------------------------------
def test_bad_input_gets_torchs_kind_of_error():
    model = make_model()
    weight = model[0].weight
    with pytest.raises(ValueError, match="more than one parameter group"):
        Optimizer([{"params": [weight]}, {"params": [weight]}], anyopt.adam, lr=1e-2)
    with pytest.raises(ValueError, match="non-leaf"):
        Optimizer([weight * 2], anyopt.adam, lr=1e-2)
    with pytest.raises(ValueError, match="empty parameter list"):
        Optimizer([], anyopt.adam, lr=1e-2)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        Optimizer(weight, anyopt.adam, lr=1e-2)
    for wrong in (42, "adam", torch.optim.Adam, anyopt.optimizers.Adam):
        with pytest.raises(TypeError, match="GradientTransformation"):
            Optimizer(model.parameters(), wrong, lr=1e-2)
    with pytest.raises(TypeError, match="no argument 'weight_decay'"):
        Optimizer(model.parameters(), anyopt.adam, lr=1e-2, weight_decay=0.1)
    with pytest.raises(ValueError, match="required optimization parameter lr"):
        Optimizer(model.parameters(), anyopt.adam)
    with pytest.raises(ValueError, match="b1"):
        Optimizer(model.parameters(), anyopt.adam, lr=1e-2, betas=(1.2, 0.999))
    with pytest.raises(ValueError, match="step_mode"):
        Optimizer(model.parameters(), anyopt.adam, lr=1e-2, step_mode="fast")


@pytest.mark.parametrize("dense_steps", [0, 2])
@pytest.mark.parametrize(
    "tx", [anyopt.adam(1e-2), anyopt.chain(anyopt.clip_by_global_norm(1.0), anyopt.sgd(0.1))]
)
def test_sparse_gradients_are_refused(tx, dense_steps):
    embedding = torch.nn.Embedding(10, 3, sparse=True)
    opt = Optimizer(embedding.named_parameters(), tx)
    for _ in range(dense_steps):  # the step keeps its arguments after these
        embedding.weight.grad = torch.ones(10, 3)
        opt.step()
    opt.zero_grad()
    embedding(torch.tensor([1, 2])).sum().backward()
    before = embedding.weight.detach().clone()
    with pytest.raises(RuntimeError, match="does not support sparse gradients"):
        opt.step()
    assert torch.equal(embedding.weight, before)


@pytest.mark.parametrize("factory", [anyopt.contrib.momo, anyopt.polyak_sgd])
def test_a_transformation_that_needs_the_loss(factory):
    model = make_model()
    opt = Optimizer(model.named_parameters(), factory)
    loss_of(model).backward()
    with pytest.raises(TypeError, match="closure that returns the loss"):
        opt.step()
    with pytest.raises(TypeError, match="closure that returns the loss"):
        opt.step(lambda: None)
    before = [p.detach().clone() for p in model.parameters()]
    opt.step(lambda: loss_of(model).detach())  # the loss reaches the update as value=
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), before))


def test_a_whole_number_hyperparameter_can_be_raised_later():
    """weight_decay=0 is injected as a float: a later edit to 0.5 is not truncated to 0."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 2)
    opt = anyopt.torch.Optimizer(layer.named_parameters(), anyopt.adamw, lr=0.1, weight_decay=0)
    for p in layer.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    before = layer.weight.detach().clone()
    opt.param_groups[0]["weight_decay"] = 0.5
    opt.step()  # zero gradients: only the decay moves the weights
    torch.testing.assert_close(layer.weight.detach(), before * (1 - 0.1 * 0.5))


def test_a_group_without_params_is_a_key_error_as_in_torch():
    layer = torch.nn.Linear(2, 2)
    groups = [{"params": [layer.weight]}, {"lr": 0.1}]
    with pytest.raises(KeyError, match="params"):
        torch.optim.Adam(groups)
    with pytest.raises(KeyError, match="params"):
        anyopt.torch.Optimizer(groups, anyopt.adam, lr=0.1)


def test_group_values_changed_in_place_or_by_hand_between_steps_are_seen():
    """A list of betas changed in place, and an lr set by hand, after steps that skipped
    the hyperparameter checks (the group unchanged): the next step uses them, as torch's."""
    import anyopt.torch as anyopt_torch

    ours, theirs = make_model(), make_model()
    opt = anyopt_torch.Adam(ours.parameters(), lr=0.05)
    ref = torch.optim.Adam(theirs.parameters(), lr=0.05)
    for t in range(8):
        if t == 2:
            opt.param_groups[0]["betas"] = [0.9, 0.99]
            ref.param_groups[0]["betas"] = (0.9, 0.99)
        if t == 4:
            opt.param_groups[0]["betas"][1] = 0.95
            ref.param_groups[0]["betas"] = (0.9, 0.95)
        if t == 6:
            opt.param_groups[0]["lr"] = ref.param_groups[0]["lr"] = 0.01
        for model, o in ((ours, opt), (theirs, ref)):
            o.zero_grad()
            loss_of(model).backward()
            o.step()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
