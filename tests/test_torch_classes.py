"""anyopt.torch.SGD, Adam, ... RAdam: torch.optim's classes, run by anyopt, against torch.optim.

A small MLP on generated data is trained twice from the same initial weights, by
torch.optim's class and by ours with the same arguments, each with its own forward and
backward. Every 10 steps, parameters and the state entries the adapter exposes must agree
in float32 within rtol 1e-5, with a floor for entries near zero of 1e-6 of the tensor's
largest entry (parameters) or 1e-5 of it (state: see ``compare``); losses within 1e-5
at every step.
"""

from __future__ import annotations

import copy
import inspect
import io
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import anyopt.torch  # noqa: E402

NAMES = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam"]
STEPS, EVERY, RTOL = 60, 10, 1e-5

CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.5, "weight_decay": 1e-2}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
    ("SGD", {"lr": 0.02, "momentum": 0.5, "dampening": 0.1, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 1e-2, "amsgrad": True}),
    ("Adam", {"weight_decay": 0.1, "decoupled_weight_decay": True, "amsgrad": True}),
    ("Adam", {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1, "maximize": True}),
    ("AdamW", {}),
    ("AdamW", {"lr": 3e-3, "weight_decay": 0.05, "amsgrad": True}),
    ("AdamW", {"betas": (0.5, 0.9), "maximize": True}),
    # RMSprop's steps do not shrink with the gradient: at torch's default lr=1e-2 this model
    # amplifies one-ulp differences (torch against itself with gradients perturbed by an
    # ulp: up to 8e-6; with momentum 0.9, 2e-3), so the cases use smaller rates.
    ("RMSprop", {"lr": 3e-3}),
    ("RMSprop", {"lr": 3e-3, "centered": True}),
    ("RMSprop", {"lr": 1e-3, "momentum": 0.9}),
    ("RMSprop", {"lr": 1e-3, "centered": True, "momentum": 0.9, "weight_decay": 1e-2}),
    ("RMSprop", {"lr": 3e-3, "alpha": 0.9, "eps": 1e-6, "maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    ("Adagrad", {"weight_decay": 1e-2, "eps": 1e-8, "maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"rho": 0.95, "weight_decay": 1e-2}),
    ("Adadelta", {"lr": 0.5, "maximize": True}),
    ("Adamax", {}),
    ("Adamax", {"betas": (0.8, 0.99), "weight_decay": 1e-2}),
    ("Adamax", {"maximize": True}),
    ("NAdam", {}),
    ("NAdam", {"weight_decay": 1e-2}),
    ("NAdam", {"weight_decay": 1e-2, "decoupled_weight_decay": True}),
    ("NAdam", {"momentum_decay": 1e-2, "maximize": True}),
    ("RAdam", {}),
    ("RAdam", {"weight_decay": 1e-2}),
    ("RAdam", {"weight_decay": 1e-2, "decoupled_weight_decay": True}),
    ("RAdam", {"betas": (0.9, 0.99), "maximize": True}),
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run fastest on one thread (and do not fight parallel test workers)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(6, 24), torch.nn.Tanh(), torch.nn.Linear(24, 12), torch.nn.Tanh(),
        torch.nn.Linear(12, 3),
    )  # fmt: skip


_gen = torch.Generator().manual_seed(1)
X = torch.randn(256, 6, generator=_gen)
Y = torch.sin(X @ torch.randn(6, 3, generator=_gen))
BATCHES = [torch.randint(0, 256, (32,), generator=_gen) for _ in range(STEPS)]


def step(model, optimizer, t: int) -> float:
    optimizer.zero_grad()
    batch = BATCHES[t % STEPS]
    loss = torch.nn.functional.mse_loss(model(X[batch]), Y[batch])
    loss.backward()
    optimizer.step()
    return loss.item()


def close(ours, theirs, what: str, floor: float = 0.1) -> None:
    """Within RTOL, or within RTOL * floor * max|theirs| (entries near zero)."""
    ours, theirs = (np.asarray(v.detach().double().cpu()) for v in (ours, theirs))
    floor *= float(np.max(np.abs(theirs), initial=0.0))
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=RTOL * floor, err_msg=what)


def compare(ours, theirs, a, b, what: str) -> None:
    """Parameters, and torch's state entries against ours of the same name. The state's
    floor is RTOL of its largest entry: moments average gradients from two backward passes
    through parameters that differ by ~1e-6, so entries that are sums of cancelling terms
    are known to that much of the typical gradient, not to RTOL of themselves."""
    shared = ours.param_groups[0]["anyopt_state"]
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        close(p, q, f"{what}: {name}")
        held = {k for k, v in theirs.state[q].items() if torch.is_tensor(v)}
        for key in held:
            value = theirs.state[q][key]
            if key == "step":
                assert int(shared["inner_state.count"]) == int(value), what
            elif key == "mu_product":  # one scalar for the group (torch: one per parameter)
                close(shared["inner_state.mu_product"], value, f"{what}: {key}", 1.0)
            else:
                close(ours.state[p][f"inner_state.{key}"], value, f"{what}: {name}.{key}", 1.0)
        expected = {f"inner_state.{k}" for k in held - {"step", "mu_product"}}
        assert set(ours.state[p]) == expected, what


@pytest.mark.parametrize("name, kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_trains_as_torch_optim(name, kwargs):
    a, b = make_model(), make_model()
    ours = getattr(anyopt.torch, name)(a.parameters(), **kwargs)
    theirs = getattr(torch.optim, name)(b.parameters(), **kwargs)
    assert isinstance(ours, torch.optim.Optimizer) and isinstance(ours, anyopt.torch.Optimizer)
    losses = []
    for t in range(STEPS):
        losses.append(step(a, ours, t))
        assert losses[-1] == pytest.approx(step(b, theirs, t), rel=RTOL), (name, kwargs, t)
        if (t + 1) % EVERY == 0:
            compare(ours, theirs, a, b, f"{name} {kwargs}, step {t + 1}")
    if not kwargs.get("maximize"):
        assert losses[-1] < losses[0]


def _plain(signature):
    return [(p.name, p.default, p.kind) for p in signature.parameters.values()]


@pytest.mark.parametrize("name", NAMES)
def test_signature_is_torchs(name):
    ours, theirs = getattr(anyopt.torch, name), getattr(torch.optim, name)
    assert _plain(inspect.signature(ours)) == _plain(inspect.signature(theirs))
    assert _plain(inspect.signature(ours.__init__)) == _plain(inspect.signature(theirs.__init__))
    assert issubclass(ours, anyopt.torch.Optimizer) and ours.__module__ == "anyopt.torch"
    assert ours.__doc__.startswith(f"torch.optim.{name}'s algorithm with torch's")


@pytest.mark.parametrize("name", NAMES)
def test_groups_hold_torchs_values(name):
    p = torch.nn.Parameter(torch.zeros(2))
    ours, theirs = getattr(anyopt.torch, name)([p]), getattr(torch.optim, name)([p])
    mine = ours.param_groups[0]
    for key, value in theirs.param_groups[0].items():
        if key != "params":
            assert mine[key] == value, key
    assert ours.defaults.items() >= theirs.defaults.items()


def test_positional_arguments_in_torchs_order():
    p = torch.nn.Parameter(torch.zeros(2))
    sgd = anyopt.torch.SGD([p], 0.1, 0.9, 0.0, 1e-4, True)
    expected = {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 1e-4}
    assert sgd.defaults.items() >= {**expected, "nesterov": True}.items()
    rms = anyopt.torch.RMSprop([p], 0.01, 0.9, 1e-8, 0, 0, True, False, None, True)
    assert rms.defaults["centered"] and rms.defaults["maximize"]


def _two(name, args=(), kwargs=None, params=None):
    """The exception torch.optim's ``name`` raises for these arguments, and ours'."""
    errors = []
    for module in (torch.optim, anyopt.torch):
        given = params() if params is not None else [_leaf()]
        try:
            getattr(module, name)(given, *args, **(kwargs or {}))
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        else:
            errors.append(None)
    return errors


def _leaf():
    return torch.nn.Parameter(torch.zeros(2))


BAD = [(n, {"lr": -1.0}) for n in NAMES] + [
    ("SGD", {"momentum": -0.1}),
    ("SGD", {"nesterov": True}),
    ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}),
    ("SGD", {"fused": True, "differentiable": True}),
    ("SGD", {"fused": True, "foreach": True}),
    ("SGD", {"no_such_argument": 1}),
    ("Adam", {"betas": (1.0, 0.999)}),
    ("Adam", {"betas": (0.9, -0.5)}),
    ("Adam", {"eps": -1e-8}),
    ("Adam", {"fused": True, "foreach": True}),
    ("AdamW", {"weight_decay": -1e-2}),
    ("AdamW", {"fused": True, "differentiable": True}),
    ("RMSprop", {"alpha": -0.5}),
    ("RMSprop", {"momentum": -0.9}),
    ("Adagrad", {"lr_decay": -0.1}),
    ("Adagrad", {"initial_accumulator_value": -0.1}),
    ("Adagrad", {"fused": True, "foreach": True}),
    ("Adadelta", {"rho": 1.1}),
    ("Adamax", {"betas": (0.9, 1.0)}),
    ("NAdam", {"momentum_decay": -1e-3}),
    ("RAdam", {"weight_decay": -1.0}),
    ("RAdam", {"maximize": True, "amsgrad": True}),
]


@pytest.mark.parametrize("name, kwargs", BAD, ids=[f"{n}-{k}" for n, k in BAD])
def test_bad_arguments_raise_torchs_exception_type(name, kwargs):
    theirs, ours = _two(name, kwargs=kwargs)
    assert theirs is not None, "torch accepts it: not a case for this test"
    assert isinstance(ours, type(theirs)), (type(ours), type(theirs), ours)


def test_bad_params_raise_torchs_exception_type():
    shared = _leaf()
    cases = [
        ("Adam", lambda: torch.zeros(2)),  # a tensor, not an iterable of them
        ("SGD", lambda: []),
        ("AdamW", lambda: [torch.zeros(2, requires_grad=True) * 2]),  # not a leaf
        ("RMSprop", lambda: [{"params": [shared]}, {"params": [shared]}]),
        ("NAdam", lambda: [{"params": [_leaf()]}, {"lr": 1.0}]),  # a group without params
    ]
    for name, params in cases:
        theirs, ours = _two(name, params=params)
        assert theirs is not None, name
        assert isinstance(ours, type(theirs)), (name, type(ours), type(theirs), ours)
    for name, args in [("SGD", (0.1,) * 6), ("Adam", (1e-3, (0.9, 0.99), 1e-8, 0, False, None))]:
        theirs, ours = _two(name, args=args)
        assert isinstance(theirs, TypeError) and isinstance(ours, TypeError), name


@pytest.mark.parametrize("kwargs", [{"differentiable": True}, {"capturable": True}])
def test_unsupported_switches_raise_value_error(kwargs):
    with pytest.raises(ValueError, match=f"{next(iter(kwargs))}=True"):
        anyopt.torch.Adam([_leaf()], **kwargs)


def test_fused_needs_a_float_parameter_on_a_fused_device():
    meta = torch.nn.Parameter(torch.zeros(2, device="meta"))
    integer = torch.zeros(2, dtype=torch.int64)
    for params in ([meta], [integer]):
        with pytest.raises(ValueError, match="fused=True needs floating point") as caught:
            anyopt.torch.AdamW(params, fused=True)
        assert isinstance(caught.value, RuntimeError)  # torch's type for its own check


@pytest.mark.parametrize("switches", [{"fused": True}, {"foreach": True}, {"foreach": False}])
def test_implementation_switches_change_no_number(switches):
    a, b = make_model(), make_model()
    ours = anyopt.torch.Adam(a.parameters(), lr=1e-2, **switches)
    theirs = anyopt.torch.Adam(b.parameters(), lr=1e-2)
    for t in range(5):
        step(a, ours, t), step(b, theirs, t)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    assert ours.param_groups[0].items() >= switches.items()


def test_hyperparameters_are_float64_tensors():
    """torch's scalar math is in Python floats: float32 betas give 1 - 0.999**t off by 1e-5."""
    a = make_model()
    ours = anyopt.torch.Adam(a.parameters(), lr=1e-2, betas=(0.9, 0.999), weight_decay=0)
    step(a, ours, 0)
    shared = ours.param_groups[0]["anyopt_state"]
    for key in ("lr", "b1", "b2", "eps", "weight_decay"):
        assert shared[f"hyperparams.{key}"].dtype == torch.float64, key
    assert float(shared["hyperparams.b2"]) == 0.999


SCHEDULED = [("SGD", {"lr": 0.05, "momentum": 0.9}), ("AdamW", {"lr": 1e-2}), ("Adadelta", {})]


@pytest.mark.parametrize("name, kwargs", SCHEDULED, ids=[n for n, _ in SCHEDULED])
def test_step_lr_drives_ours_as_torchs(name, kwargs):
    a, b = make_model(), make_model()
    ours = getattr(anyopt.torch, name)(a.parameters(), **kwargs)
    theirs = getattr(torch.optim, name)(b.parameters(), **kwargs)
    schedulers = [
        torch.optim.lr_scheduler.StepLR(o, step_size=10, gamma=0.5) for o in (ours, theirs)
    ]
    for t in range(50):
        assert ours.param_groups[0]["lr"] == theirs.param_groups[0]["lr"]
        step(a, ours, t), step(b, theirs, t)
        for scheduler in schedulers:
            scheduler.step()
    assert (
        schedulers[0].get_last_lr() == schedulers[1].get_last_lr() == [kwargs.get("lr", 1.0) / 32]
    )
    compare(ours, theirs, a, b, f"{name} with StepLR")


def test_values_set_by_hand_between_steps_are_used():
    """weight_decay=0 (an int, torch's default) then 0.1, set by hand: as in torch."""
    a, b = make_model(), make_model()
    ours, theirs = anyopt.torch.Adam(a.parameters(), 1e-2), torch.optim.Adam(b.parameters(), 1e-2)
    for t in range(40):
        if t == 20:
            for o in (ours, theirs):
                o.param_groups[0]["weight_decay"] = 0.1
                o.param_groups[0]["betas"] = (0.8, 0.99)
        step(a, ours, t), step(b, theirs, t)
    compare(ours, theirs, a, b, "Adam, weight_decay and betas set at step 20")


def test_param_groups_and_names_as_torchs():
    a, b = make_model(), make_model()

    def groups(named):
        decay = [(n, p) if named else p for n, p in named.items() if p.ndim > 1]
        rest = [(n, p) if named else p for n, p in named.items() if p.ndim == 1]
        return [{"params": decay}, {"params": rest, "weight_decay": 0.0, "lr": 3e-3}]

    ours = anyopt.torch.AdamW(groups(dict(a.named_parameters())), lr=1e-2, weight_decay=0.1)
    theirs = torch.optim.AdamW(groups(dict(b.named_parameters())), lr=1e-2, weight_decay=0.1)
    for t in range(STEPS):
        step(a, ours, t), step(b, theirs, t)
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        close(p, q, name)
        for key, value in theirs.state[q].items():
            if key != "step":
                close(ours.state[p][f"inner_state.{key}"], value, f"{name}.{key}", 1.0)
    assert ours.param_groups[1]["param_names"] == ["0.bias", "2.bias", "4.bias"]


ROUND_TRIP = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 1e-2, "amsgrad": True}),
    ("RMSprop", {"lr": 1e-3, "centered": True, "momentum": 0.9}),
    ("NAdam", {"weight_decay": 1e-2}),
]


@pytest.mark.parametrize("name, kwargs", ROUND_TRIP, ids=[n for n, _ in ROUND_TRIP])
def test_state_dict_round_trip_continues_identically(name, kwargs):
    cls = getattr(anyopt.torch, name)
    a = make_model()
    ours = cls(a.parameters(), **kwargs)
    for t in range(25):
        step(a, ours, t)
    buffer = io.BytesIO()
    torch.save({"model": a.state_dict(), "optimizer": ours.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    b = make_model()
    b.load_state_dict(saved["model"])
    resumed = cls(b.parameters(), **kwargs)
    resumed.load_state_dict(saved["optimizer"])
    copies = [copy.deepcopy(ours), pickle.loads(pickle.dumps(ours))]
    for t in range(25, 50):
        step(a, ours, t), step(b, resumed, t)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    for p, q in zip(a.parameters(), b.parameters()):
        for key, value in ours.state[p].items():
            assert torch.equal(value, resumed.state[q][key]), key
    for clone in copies:  # whole-object copies keep the class and the groups
        assert type(clone) is cls and clone.param_groups[0]["lr"] == ours.param_groups[0]["lr"]
        assert clone._spec.dtype == "float64" and clone.defaults == ours.defaults
