"""anyopt.torch's shortcuts (torch.optim's algorithms as anyopt transformations) against
torch.optim itself.

A small MLP is trained by torch.optim (``foreach=False``, the single-tensor reference);
each step's gradients, from torch's backward, are also fed to the anyopt transformation,
which keeps its own copy of the parameters. Parameters and state are compared every 10
steps: float32 within ``rtol`` of torch (with a floor of ``rtol / 10`` of the tensor's
largest entry, for entries near zero), float64 (NumPy) within 1e-12.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import FRAMEWORKS, Backend

torch = pytest.importorskip("torch")

import anyopt  # noqa: E402
from anyopt import _tree, backends  # noqa: E402
from anyopt.torch import _shortcuts as shortcuts  # noqa: E402

STEPS, EVERY = 60, 10
NAMES = tuple(shortcuts.STATIC_ARGS)

# (function, options, frameworks besides torch that repeat the run on their own trees)
CROSS = tuple(f for f in FRAMEWORKS if f != "torch")
CASES = [
    ("sgd", {"lr": 0.05}, ()),
    ("sgd", {"lr": 0.05, "momentum": 0.9}, ()),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "dampening": 0.5, "weight_decay": 1e-2}, CROSS),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}, ()),
    ("sgd", {"lr": 0.02, "momentum": 0.5, "dampening": 0.1, "maximize": True}, ()),
    ("adam", {}, ()),
    ("adam", {"amsgrad": True}, CROSS),
    ("adam", {"weight_decay": 0.1}, ()),
    ("adam", {"weight_decay": 0.1, "decoupled_weight_decay": True, "amsgrad": True}, ()),
    ("adam", {"betas": (0.8, 0.99), "eps": 1e-6, "maximize": True}, ()),
    ("adam", {"betas": (0.0, 0.0), "eps": 1e-3}, CROSS),
    ("adamw", {}, CROSS),
    ("adamw", {"lr": 3e-3, "weight_decay": 0.05, "amsgrad": True}, ()),
    ("rmsprop", {}, ()),
    ("rmsprop", {"centered": True}, ()),
    ("rmsprop", {"momentum": 0.9}, ()),
    ("rmsprop", {"lr": 1e-3, "centered": True, "momentum": 0.9, "weight_decay": 1e-2}, CROSS),
    ("rmsprop", {"alpha": 0.9, "eps": 1e-6, "maximize": True}, ()),
    ("adagrad", {}, ()),
    ("adagrad", {"lr_decay": 0.01, "initial_accumulator_value": 0.1}, CROSS),
    ("adagrad", {"weight_decay": 1e-2, "eps": 1e-8, "maximize": True}, ()),
    ("adadelta", {}, CROSS),
    ("adadelta", {"rho": 0.95, "weight_decay": 1e-2}, ()),
    ("adadelta", {"lr": 0.5, "maximize": True}, ()),
    ("adamax", {}, ()),
    ("adamax", {"betas": (0.8, 0.99), "weight_decay": 1e-2}, CROSS),
    ("adamax", {"maximize": True}, ()),
    ("nadam", {}, ()),
    ("nadam", {"weight_decay": 1e-2}, ()),
    ("nadam", {"weight_decay": 1e-2, "decoupled_weight_decay": True}, CROSS),
    ("nadam", {"momentum_decay": 1e-2, "maximize": True}, ()),
    ("radam", {}, ()),
    ("radam", {"weight_decay": 1e-2}, ()),
    ("radam", {"weight_decay": 1e-2, "decoupled_weight_decay": True}, CROSS),
    ("radam", {"betas": (0.9, 0.99), "maximize": True}, ()),
]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny tensors: torch's thread pool only slows them down on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _torch_class(name: str):
    return getattr(torch.optim, shortcuts.TORCH_NAMES[name])


def _close(ours, theirs, rtol: float, what: str) -> None:
    ours = np.asarray(Backend.numpy(ours), np.float64)
    theirs = np.asarray(theirs.detach().double().numpy() if torch.is_tensor(theirs) else theirs)
    floor = 0.1 * float(np.max(np.abs(theirs), initial=0.0))
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * floor, err_msg=what)


def _inner(state):
    """Our NamedTuple state, unwrapped from inject_hyperparams' state if needed."""
    return getattr(state, "inner_state", state)


def _compare_state(opt, model, state, rtol: float, what: str) -> None:
    """torch's per-parameter state entries against our state's fields of the same name."""
    state = _inner(state)
    used = set()
    for name, p in model.named_parameters():
        for key, value in opt.state[p].items():
            if key == "step":
                assert int(value) == int(Backend.numpy(state.count)), what
                continue
            used.add(key)
            ours = getattr(state, key)
            _close(ours if key == "mu_product" else ours[name], value, rtol, f"{what}: {key}")
    held = {f for f in state._fields if f != "count" and getattr(state, f) is not None}
    assert held == used, f"{what}: our state holds {held}, torch's {used}"


def _train(name, kwargs, *, dtype=torch.float32, frameworks=("torch",), tx=None, before=None):
    """Trains with torch.optim and with ``tx`` (default: the shortcut built from ``kwargs``)
    on each framework's trees, from the same gradients; compares every ``EVERY`` steps.

    ``before(t, opt, states) -> states`` may change hyperparameters before step ``t``.
    """
    torch.manual_seed(0)
    layers = [torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)]
    model = torch.nn.Sequential(*layers).to(dtype)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(256, 6, generator=gen, dtype=dtype)
    y = torch.sin(x @ torch.randn(6, 3, generator=gen, dtype=dtype))
    opt = _torch_class(name)(model.parameters(), foreach=False, **kwargs)
    tx = tx or getattr(shortcuts, name)(**kwargs)
    start = {n: p.detach().numpy().copy() for n, p in model.named_parameters()}
    converters = {fw: Backend(fw) for fw in frameworks}
    params = {fw: b.tree(start) for fw, b in converters.items()}
    states = {fw: tx.init(params[fw]) for fw in frameworks}
    rtol = 1e-12 if dtype == torch.float64 else 1e-5
    for t in range(STEPS):
        if before is not None:
            states = before(t, opt, states)
        opt.zero_grad()
        batch = torch.randint(0, 256, (32,), generator=gen)
        torch.nn.functional.mse_loss(model(x[batch]), y[batch]).backward()
        grads = {n: p.grad.detach().numpy().copy() for n, p in model.named_parameters()}
        opt.step()
        for fw, b in converters.items():
            updates, states[fw] = tx.update(b.tree(grads), states[fw], params[fw])
            params[fw] = anyopt.apply_updates(params[fw], updates)
        if (t + 1) % EVERY:
            continue
        for fw in frameworks:
            what = f"{name} {kwargs} on {fw}, step {t + 1}"
            for n, p in model.named_parameters():
                _close(params[fw][n], p, rtol, f"{what}: {n}")
            _compare_state(opt, model, states[fw], rtol, what)
    return params, states


@pytest.mark.parametrize(
    "name, kwargs, frameworks", CASES, ids=[f"{n}-{i}" for i, (n, *_) in enumerate(CASES)]
)
def test_matches_torch_optim(name, kwargs, frameworks):
    params, states = _train(name, kwargs, frameworks=("torch", *frameworks))
    if not frameworks:
        return
    # Every framework also gives the torch tree's numbers (not just torch.optim's).
    for fw in frameworks:
        for n, value in params["torch"].items():
            _close(params[fw][n], value, 1e-5, f"{name} on {fw} vs torch tree: {n}")


FLOAT64_CASES = [
    ("sgd", {"lr": 0.05, "momentum": 0.9, "dampening": 0.5, "weight_decay": 1e-2}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("adam", {"weight_decay": 0.1, "amsgrad": True}),
    ("adamw", {"weight_decay": 0.05}),
    ("rmsprop", {"centered": True, "momentum": 0.9, "weight_decay": 1e-2}),
    ("adagrad", {"lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    ("adadelta", {"weight_decay": 1e-2}),
    ("adamax", {"weight_decay": 1e-2}),
    ("nadam", {"weight_decay": 1e-2, "decoupled_weight_decay": True}),
    ("radam", {"weight_decay": 1e-2}),
]


@pytest.mark.parametrize("name, kwargs", FLOAT64_CASES, ids=[n for n, _ in FLOAT64_CASES])
def test_float64_numpy_matches_torch_float64(name, kwargs):
    # torch keeps step and mu_product in the default dtype: float64 as well, to compare tightly.
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        _train(name, kwargs, dtype=torch.float64, frameworks=("numpy",))
    finally:
        torch.set_default_dtype(default)


def _lr_at(count):
    """A schedule of the step count, on any framework's int32 count (0 at the first step)."""
    return 0.05 / (1 + 0.1 * count)


@pytest.mark.parametrize("name", NAMES)
def test_injected_lr_schedule_matches_torch_lr_changed_by_hand(name):
    kwargs = {"momentum": 0.9} if name in ("sgd", "rmsprop") else {}
    if name == "adadelta":
        kwargs["rho"] = 0.95
    factory = anyopt.inject_hyperparams(
        getattr(shortcuts, name), static_args=shortcuts.STATIC_ARGS[name]
    )
    scale = 1.0 if name == "adadelta" else 0.1 if name in ("sgd", "adagrad") else 0.01

    def before(t, opt, states):
        opt.param_groups[0]["lr"] = scale * _lr_at(t)
        return states

    tx = factory(lr=lambda count: scale * _lr_at(count), **kwargs)
    _train(name, kwargs, frameworks=("torch", "numpy"), tx=tx, before=before)


@pytest.mark.parametrize("name", NAMES)
def test_set_hyperparam_between_steps_matches_torch_param_groups(name):
    """The adapter's path: a numeric lr in the state, changed by hand at step 25."""
    kwargs = {"lr": 0.05 if name in ("sgd", "adagrad", "adadelta") else 1e-3}
    tx = anyopt.inject_hyperparams(
        getattr(shortcuts, name), static_args=shortcuts.STATIC_ARGS[name]
    )(**kwargs)

    def before(t, opt, states):
        if t != 25:
            return states
        opt.param_groups[0]["lr"] = 3 * kwargs["lr"]
        return {fw: anyopt.set_hyperparam(s, "lr", 3 * kwargs["lr"]) for fw, s in states.items()}

    _train(name, kwargs, tx=tx, before=before)


# Hyperparameters other than lr given as schedules (no inject_hyperparams): each switches
# from its first value to its second at step 30; torch's param_groups[0] changes by hand.
SCHEDULED = [
    ("sgd", {"lr": 0.05, "momentum": 0.9}, {"dampening": (0.0, 0.5), "weight_decay": (0.0, 0.01)}),
    ("adam", {}, {"betas": ((0.9, 0.999), (0.8, 0.999)), "eps": (1e-8, 1e-3)}),
    ("adamw", {}, {"lr": (1e-3, 3e-3), "weight_decay": (0.1, 0.01)}),
    ("rmsprop", {"lr": 1e-3}, {"alpha": (0.99, 0.9), "momentum": (0.9, 0.5)}),
    ("adagrad", {}, {"lr_decay": (0.0, 0.1)}),
    ("adadelta", {}, {"rho": (0.9, 0.5)}),
    ("nadam", {}, {"momentum_decay": (4e-3, 1e-2)}),
    ("radam", {"weight_decay": 0.01}, {"eps": (1e-8, 1e-4)}),
]


def _switch(first, then, at=30):
    if isinstance(first, tuple):  # betas: a pair of schedules (or numbers)
        return tuple(a if a == b else _switch(a, b, at) for a, b in zip(first, then))
    return lambda count: first + (then - first) * (count >= at)


@pytest.mark.parametrize("name, fixed, switched", SCHEDULED, ids=[n for n, *_ in SCHEDULED])
def test_any_hyperparameter_may_be_a_schedule(name, fixed, switched):
    def before(t, opt, states):
        for key, (first, then) in switched.items():
            opt.param_groups[0][key] = first if t < 30 else then
        return states

    tx = getattr(shortcuts, name)(**fixed, **{k: _switch(*v) for k, v in switched.items()})
    _train(name, {**fixed, **{k: v[0] for k, v in switched.items()}}, tx=tx, before=before)


@pytest.mark.parametrize("name", ["adam", "adamw", "adamax", "nadam", "radam"])
def test_float64_array_betas_keep_torch_numbers(name):
    """Betas as float64 0-d arrays (as an adapter injecting them may hold them) give torch's
    float64 bias corrections, not those of betas rounded to float32."""
    betas = tuple(torch.tensor(b, dtype=torch.float64) for b in (0.9, 0.999))
    _train(name, {}, tx=getattr(shortcuts, name)(betas=betas))


def test_static_args_name_parameters():
    import inspect

    for name, static in shortcuts.STATIC_ARGS.items():
        parameters = inspect.signature(getattr(shortcuts, name)).parameters
        assert set(static) <= parameters.keys(), name
        assert "maximize" in static


def test_defaults_are_torch_defaults():
    import inspect

    skip = {"params", "foreach", "fused", "capturable", "differentiable"}
    for name in NAMES:
        ours = inspect.signature(getattr(shortcuts, name)).parameters
        theirs = inspect.signature(_torch_class(name).__init__).parameters
        expected = {k: v.default for k, v in theirs.items() if k not in skip | {"self"}}
        if name == "adamw":
            expected.pop("decoupled_weight_decay", None)  # AdamW fixes it to True
        assert {k: v.default for k, v in ours.items()} == expected, name


# Arguments torch's constructors reject with ValueError; ours must too.
BAD = [(name, {"lr": -1.0}) for name in NAMES] + [
    ("sgd", {"momentum": -0.1}),
    ("sgd", {"weight_decay": -1e-4}),
    ("sgd", {"nesterov": True}),
    ("sgd", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}),
    ("adam", {"eps": -1e-8}),
    ("adam", {"betas": (1.0, 0.999)}),
    ("adam", {"betas": (0.9, 1.0)}),
    ("adam", {"betas": (-0.1, 0.999)}),
    ("adam", {"weight_decay": -1.0}),
    ("adamw", {"betas": (0.9, 1.5)}),
    ("adamw", {"weight_decay": -1e-2}),
    ("rmsprop", {"alpha": -0.5}),
    ("rmsprop", {"eps": -1e-8}),
    ("rmsprop", {"momentum": -0.9}),
    ("rmsprop", {"weight_decay": -1.0}),
    ("adagrad", {"lr_decay": -0.1}),
    ("adagrad", {"weight_decay": -0.1}),
    ("adagrad", {"initial_accumulator_value": -0.1}),
    ("adagrad", {"eps": -1.0}),
    ("adadelta", {"rho": 1.1}),
    ("adadelta", {"rho": -0.1}),
    ("adadelta", {"eps": -1e-6}),
    ("adadelta", {"weight_decay": -1.0}),
    ("adamax", {"betas": (0.9, 1.0)}),
    ("adamax", {"eps": -1e-8}),
    ("adamax", {"weight_decay": -1.0}),
    ("nadam", {"momentum_decay": -1e-3}),
    ("nadam", {"betas": (1.0, 0.999)}),
    ("nadam", {"eps": -1.0}),
    ("radam", {"betas": (0.9, 1.0)}),
    ("radam", {"weight_decay": -1.0}),
]
# Edge values torch accepts; so must we.
GOOD = [
    ("adadelta", {"rho": 1.0}),
    ("rmsprop", {"alpha": 1.5}),
    ("sgd", {"dampening": 0.5}),
    ("sgd", {"momentum": 0.9, "dampening": -1.0}),
    ("adam", {"lr": 0.0, "eps": 0.0, "betas": (0.0, 0.0)}),
]


@pytest.mark.parametrize("name, kwargs", BAD, ids=[f"{n}-{k}" for n, k in BAD])
def test_bad_hyperparameters_raise_as_torch(name, kwargs):
    p = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError):
        _torch_class(name)([p], **kwargs)
    with pytest.raises(ValueError, match=f"^{name}: "):
        getattr(shortcuts, name)(**kwargs)


@pytest.mark.parametrize("name, kwargs", GOOD, ids=[f"{n}-{k}" for n, k in GOOD])
def test_edge_hyperparameters_accepted_as_torch(name, kwargs):
    _torch_class(name)([torch.nn.Parameter(torch.zeros(2))], **kwargs)
    tx = getattr(shortcuts, name)(**kwargs)
    assert int(tx.init({"w": np.ones(3, np.float32)}).count) == 0


@pytest.mark.parametrize("name", NAMES)
def test_keeps_dtypes_on_every_framework(backend, name):
    """float16 leaves: float16 updates and moments; int32 count (float32 mu_product)."""
    tx = getattr(shortcuts, name)(**({"momentum": 0.9} if name in ("sgd", "rmsprop") else {}))
    params = backend.tree({"w": np.linspace(-1, 1, 6).reshape(2, 3), "b": np.ones(3)}, "float16")
    grads = backend.tree({"w": np.full((2, 3), 0.25), "b": np.full(3, -0.5)}, "float16")
    state = tx.init(params)
    for _ in range(2):
        updates, state = tx.update(grads, state, params)
        params = anyopt.apply_updates(params, updates)
    for leaf in _tree.leaves((updates, params)):
        assert str(leaf.dtype).endswith("float16")
        assert backends.of(leaf) is backends.load(backend.name)
    for field in state._fields:
        leaves = _tree.leaves(getattr(state, field))
        expected = {"count": "int32", "mu_product": "float32"}.get(field, "float16")
        assert all(str(x.dtype).endswith(expected) for x in leaves), (name, field)
    assert np.isfinite(Backend.numpy(params["w"])).all()


@pytest.mark.parametrize("name", ["sgd", "nadam", "radam", "adagrad"])
def test_jit_with_injected_hyperparameters(name):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    kwargs = {"momentum": 0.9, "dampening": 0.3} if name == "sgd" else {}
    tx = anyopt.inject_hyperparams(
        getattr(shortcuts, name), static_args=shortcuts.STATIC_ARGS[name]
    )(lr=lambda count: 0.1 / (1 + count), **kwargs)
    params = {"w": jnp.linspace(-1.0, 1.0, 5)}
    grads = {"w": jnp.cos(jnp.arange(5.0))}
    eager_state = jit_state = tx.init(params)
    step = jax.jit(tx.update)
    for _ in range(3):
        eager, eager_state = tx.update(grads, eager_state, params)
        jitted, jit_state = step(grads, jit_state, params)
        np.testing.assert_allclose(jitted["w"], eager["w"], rtol=1e-6)
    assert step._cache_size() == 1
