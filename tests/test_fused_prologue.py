"""The fused step's scalar program compiled with numba (``Prologue``) after some steps.

A step's numbers must not depend on whether its program was compiled yet: a run resumed
from a checkpoint starts on the Python program while the original went on compiled. So
the compiled program must give the Python program's bits, on every optimizer, with
hyperparameters changed between steps and with odd 0-d values.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("numba")

import anyopt  # noqa: E402
import anyopt.torch as anyopt_torch  # noqa: E402
from anyopt._tree import leaves as tree_leaves  # noqa: E402
from anyopt._tree import map as tree_map  # noqa: E402
from anyopt.backends import _fused_prologue  # noqa: E402

NEVER = 10**9
# schedules short enough to change within the 12 steps of ``_fused_run``
TRANSFORMS = {
    "adam": lambda: anyopt.adam(1e-2),
    "adamw": lambda: anyopt.adamw(1e-2, weight_decay=0.1),
    "nadam_cosine": lambda: anyopt.nadam(anyopt.cosine_decay_schedule(1e-2, 300)),
    "radam": lambda: anyopt.radam(1e-3),
    "inject_warmup": lambda: anyopt.inject_hyperparams(anyopt.adamw)(
        learning_rate=anyopt.warmup_cosine_decay_schedule(0.0, 1e-2, 5, 300)
    ),
    "lion_exponential": lambda: anyopt.lion(anyopt.exponential_decay(1e-3, 3, 0.9)),
    "sgd_polynomial": lambda: anyopt.sgd(anyopt.polynomial_schedule(0.1, 0.01, 2, 10), 0.9),
    "yogi": lambda: anyopt.yogi(1e-2),
    "adabelief": lambda: anyopt.adabelief(1e-2),
    "injected_adam": lambda: anyopt.inject_hyperparams(anyopt.adam)(learning_rate=0.01),
}


def _tree(seed: int, scale: float = 1.0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return {"w": torch.randn(6, 5, generator=gen) * scale, "b": torch.randn(7, generator=gen)}


def _fused_run(tx, compile_after: int, monkeypatch, steps: int = 12, edit=None):
    """``steps`` fused steps on torch; ``edit(state, t)`` may change the state before step
    ``t``. Returns the parameters, the state and the plan's kept arguments."""
    monkeypatch.setattr(_fused_prologue, "COMPILE_AFTER", compile_after)
    step = anyopt.make_step(tx, "fused")
    params = _tree(0)
    state = step.init(params)
    for t in range(steps):
        if edit is not None:
            state = edit(state, t)
        params, state = step(params, _tree(100 + t, 0.3), state)
    plan = step._impl_for(params).run.plan_for(params, _tree(0), state)[0]
    return params, state, plan._recipe


def _assert_same_bits(a, b) -> None:
    la, lb = tree_leaves(a), tree_leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        assert x.dtype == y.dtype and torch.equal(x, y), (x, y)


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_compiled_program_gives_the_python_programs_bits(name, monkeypatch):
    params, state, _ = _fused_run(TRANSFORMS[name](), NEVER, monkeypatch)
    params_c, state_c, recipe = _fused_run(TRANSFORMS[name](), 2, monkeypatch)
    assert recipe is not None and recipe.prologue is not None  # it ran compiled
    _assert_same_bits(params_c, params)
    _assert_same_bits(state_c, state)


def _edit_counts(state, t):
    """New 0-d leaves every step: counts near the int32 limit, the learning rate 0 or not."""
    lr = (0.0, 0.01, 1e-30)[t % 3]
    state = anyopt.set_hyperparam(state, "learning_rate", lr)

    def bump(x):
        if x.ndim == 0 and x.dtype == torch.int32:
            return torch.tensor(2**31 - 4 + t % 3 if t % 2 else t, dtype=torch.int32)
        return x

    return tree_map(bump, state)


def test_compiled_program_reads_new_zero_d_leaves_and_odd_values(monkeypatch):
    tx = anyopt.inject_hyperparams(anyopt.adamw)(learning_rate=0.01)
    params, state, _ = _fused_run(tx, NEVER, monkeypatch, edit=_edit_counts)
    params_c, state_c, recipe = _fused_run(tx, 2, monkeypatch, edit=_edit_counts)
    assert recipe.prologue is not None
    _assert_same_bits(params_c, params)
    _assert_same_bits(state_c, state)
    assert all(torch.isfinite(p).all() for p in params_c.values())


def test_compiled_program_replaces_the_python_program(monkeypatch):
    tx = anyopt.adamw(1e-2, weight_decay=0.1)
    monkeypatch.setattr(_fused_prologue, "COMPILE_AFTER", 1)
    step = anyopt.make_step(tx, "fused")
    params, ref = _tree(0), _tree(0)
    state, ref_state = step.init(params), tx.init(ref)
    for t in range(8):
        grads = _tree(100 + t, 0.3)
        params, state = step(params, grads, state)
        updates, ref_state = tx.update(grads, ref_state, ref)
        ref = anyopt.apply_updates(ref, updates)
        if t == 2:  # compiled by now: the Python program must not run again
            plan = step._impl_for(params).run.plan_for(params, grads, state)[0]
            assert plan._recipe.prologue is not None
            monkeypatch.setattr(plan, "_scalar_program", None)
    assert int(state[0].count) == 8
    for k in ref:
        np.testing.assert_allclose(params[k].numpy(), ref[k].numpy(), rtol=1e-6)


def test_steps_with_sums_keep_the_python_program(monkeypatch):
    tx = anyopt.chain(anyopt.clip_by_global_norm(0.5), anyopt.adam(0.1))
    params, state, _ = _fused_run(tx, NEVER, monkeypatch)
    params_c, state_c, recipe = _fused_run(tx, 2, monkeypatch)
    assert recipe.prologue is None and recipe.steps > 2  # tried once, refused
    _assert_same_bits(params_c, params)


SHORTCUTS = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
    ("Adam", {"amsgrad": True}),
    ("AdamW", {}),
    ("RMSprop", {"centered": True, "momentum": 0.9}),
    ("Adagrad", {"lr_decay": 0.01}),
    ("Adadelta", {}),
    ("Adamax", {}),
    ("NAdam", {"momentum_decay": 1e-2}),
    ("RAdam", {"decoupled_weight_decay": True, "weight_decay": 1e-2}),
]


def _adapter_run(name, kwargs, compile_after, monkeypatch, steps=15):
    monkeypatch.setattr(_fused_prologue, "COMPILE_AFTER", compile_after)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = getattr(anyopt_torch, name)(model.parameters(), **kwargs)
    schedule = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.9)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, 5, generator=gen), torch.randn(16, 1, generator=gen)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        schedule.step()  # a new learning rate every step
    return model, opt


@pytest.mark.parametrize("name, kwargs", SHORTCUTS, ids=[n for n, _ in SHORTCUTS])
def test_torch_shortcuts_continue_bitwise_when_compiled(name, kwargs, monkeypatch):
    model, _ = _adapter_run(name, kwargs, NEVER, monkeypatch)
    model_c, opt_c = _adapter_run(name, kwargs, 2, monkeypatch)
    plans = [runtime.bound[2].args[0] for runtime in opt_c._runtimes.values()]
    recipes = [plan._recipe for plan in plans]
    assert all(r is not None and r.prologue is not None for r in recipes)
    for p, q in zip(model.parameters(), model_c.parameters()):
        assert torch.equal(p, q)
