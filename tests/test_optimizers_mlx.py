"""``anyopt.optimizers`` against the installed ``mlx.optimizers``: the same classes,
signatures, validation, schedules and numbers, on MLX and on every other framework.

The classes and schedules under test are discovered from ``mlx.optimizers``; every class
needs constructor options in ``CONFIGS`` (all of MLX's options, some with a schedule as the
learning rate), each run for 50 steps side by side with MLX on a tree of dicts and a list
with a vector, a 0-d leaf, a tall matrix and a 3-D tensor.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np
import pytest

mx = pytest.importorskip("mlx.core")
mo = pytest.importorskip("mlx.optimizers")
from mlx.utils import tree_flatten, tree_unflatten  # noqa: E402

import anyopt.optimizers as ao  # noqa: E402
from anyopt import backends  # noqa: E402

from conftest import FRAMEWORKS, Backend, relative_error_norm  # noqa: E402

STEPS = 50
CHECKED = (0, 1, 2, 5, 10, 20, 35, 50)  # the steps whose parameters and state are compared
STEP_DTYPE = {"mlx": "uint64", "numpy": "uint64", "torch": "int64", "jax": "int32"}
# Muon transposes the tall matrix but not the 3-D kernel, flattened to a wide (2, 15).
SHAPES = {"tall": (6, 4), "layers": [{"kernel": (2, 5, 3)}, {"bias": (4,), "scale": ()}]}


def _random_tree(rng, scale=1.0):
    def leaf(shape):
        return (scale * rng.standard_normal(shape)).astype(np.float32)

    def build(node):
        if isinstance(node, dict):
            return {k: build(v) for k, v in node.items()}
        if isinstance(node, list):
            return [build(v) for v in node]
        return leaf(node)

    return build(SHAPES)


_RNG = np.random.default_rng(20240611)
PARAMS = _random_tree(_RNG)
GRADS = [_random_tree(_RNG) for _ in range(STEPS)]
# float16 gradients kept away from 0: for a tiny |g|, Adam's (1 - b2) g**2 underflows in
# float16 and the update divides by 0 (in MLX too).
GRADS_FP16 = [
    tree_unflatten(
        [(k, v + np.where(v < 0, -0.25, 0.25).astype(np.float32)) for k, v in tree_flatten(g)]
    )
    for g in GRADS
]


# --- discovery ----------------------------------------------------------------------


def _mlx_classes() -> set[str]:
    return {
        n
        for n in dir(mo)
        if inspect.isclass(getattr(mo, n)) and issubclass(getattr(mo, n), mo.Optimizer)
    }


def _our_classes() -> set[str]:
    """Optimizer classes exported by anyopt.optimizers under a name mlx.optimizers has."""
    return {
        n
        for n in ao.__all__
        if inspect.isclass(getattr(ao, n))
        and issubclass(getattr(ao, n), ao.Optimizer)
        and hasattr(mo, n)
    }


def _mlx_schedules() -> set[str]:
    return {
        n
        for n in dir(mo.schedulers)
        if inspect.isfunction(getattr(mo.schedulers, n))
        and getattr(mo.schedulers, n).__module__ == "mlx.optimizers.schedulers"
    }


ALGORITHMS = sorted(_mlx_classes() - {"Optimizer", "MultiOptimizer"})


def test_every_mlx_class_and_schedule_is_exported():
    assert _our_classes() == _mlx_classes()
    for name in _mlx_classes():
        assert getattr(ao.optimizers, name) is getattr(ao, name)
        assert not issubclass(getattr(ao, name), ao.TransformOptimizer), name
    assert ao.optimizers.clip_grad_norm is ao.clip_grad_norm
    schedules = {n for n in ao.schedulers.__all__ if callable(getattr(ao.schedulers, n))}
    assert schedules == _mlx_schedules()
    for name in schedules:
        assert getattr(ao, name) is getattr(ao.schedulers, name)
    assert set(ao.__all__) >= _mlx_classes() | schedules | {"clip_grad_norm"}


def _signature(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("name", sorted(_mlx_classes() | _mlx_schedules() | {"clip_grad_norm"}))
def test_signatures_match_mlx(name):
    assert _signature(getattr(ao, name)) == _signature(getattr(mo, name))


# --- configurations -----------------------------------------------------------------


class Sched:
    """A learning-rate schedule built from either library's schedulers."""

    def __init__(self, label, build):
        self.label, self.build = label, build

    def __repr__(self):
        return self.label


COSINE = Sched("cosine", lambda m: m.cosine_decay(0.02, 40, end=0.002))
WARMUP = Sched(
    "warmup_exp",
    lambda m: m.join_schedules(
        [m.linear_schedule(0.0, 0.02, 8), m.exponential_decay(0.02, 0.97)], [8]
    ),
)
STEPWISE = Sched("step_decay", lambda m: m.step_decay(0.02, 0.5, 7))

LR = {"learning_rate": 0.01}
CONFIGS = {
    "SGD": [
        LR,
        {"learning_rate": COSINE},
        {**LR, "momentum": 0.9},
        {**LR, "momentum": 0.9, "dampening": 0.5},
        {"learning_rate": WARMUP, "momentum": 0.9, "nesterov": True},
        {**LR, "momentum": 0.8, "weight_decay": 0.05},
        {**LR, "weight_decay": 0.05},
    ],
    "RMSprop": [LR, {"learning_rate": STEPWISE, "alpha": 0.9, "eps": 1e-5}],
    "Adagrad": [LR, {"learning_rate": COSINE, "eps": 1e-4}],
    "AdaDelta": [{"learning_rate": 0.5}, {"learning_rate": WARMUP, "rho": 0.5, "eps": 1e-4}],
    "Adam": [
        LR,
        {**LR, "bias_correction": True},
        {"learning_rate": COSINE, "betas": [0.5, 0.9], "eps": 1e-6, "bias_correction": True},
    ],
    "AdamW": [
        LR,
        {**LR, "weight_decay": 0.1, "bias_correction": True},
        {"learning_rate": WARMUP, "betas": [0.8, 0.95], "eps": 0.0},
    ],
    "Adamax": [LR, {"learning_rate": STEPWISE, "betas": [0.8, 0.99], "eps": 1e-5}],
    "Lion": [LR, {**LR, "weight_decay": 0.1}, {"learning_rate": COSINE, "betas": [0.5, 0.9]}],
    "Adafactor": [
        {},
        {"beta_1": 0.9},
        {"weight_decay": 0.1},
        {"warmup_init": True},
        {"scale_parameter": False},
        {"relative_step": False, "learning_rate": 0.01},
        {"relative_step": False, "scale_parameter": False, "learning_rate": COSINE},
        {"eps": (1e-20, 1e-2), "clip_threshold": 0.5, "decay_rate": -0.5, "beta_1": 0.5},
    ],
    "Muon": [
        LR,
        {**LR, "nesterov": False},
        {**LR, "ns_steps": 3, "weight_decay": 0.0},
        {"learning_rate": COSINE, "momentum": 0.9, "weight_decay": 0.1, "ns_steps": 6},
    ],
}
CASES = [
    pytest.param(name, i, id=f"{name}-{i}-" + "-".join(f"{k}={v}" for k, v in kw.items()))
    for name, kws in CONFIGS.items()
    for i, kw in enumerate(kws)
]


def test_every_class_has_configurations():
    assert set(CONFIGS) == set(ALGORITHMS)


def _build(module, name: str, index: int):
    kwargs = {
        k: v.build(module) if isinstance(v, Sched) else v for k, v in CONFIGS[name][index].items()
    }
    return getattr(module, name)(**kwargs)


def _numpy(x):
    if not hasattr(x, "dtype"):
        return np.asarray(x)
    return np.asarray(backends.of(x).to_numpy(x))


def _dtype(x) -> str:
    return backends.dtype_name(x.dtype)


def _snapshot(params, state) -> dict:
    """Every leaf of the parameters and the state, by dotted name, as NumPy."""
    flat = {"params." + k: v for k, v in tree_flatten(params)}
    flat.update({"state." + k: v for k, v in tree_flatten(state)})
    return {k: (_numpy(v), _dtype(v)) for k, v in flat.items()}


def _run(optimizer, backend: Backend, dtype: str, steps=STEPS, checked=CHECKED) -> list:
    params = backend.tree(PARAMS, dtype)
    optimizer.init(params)
    snapshots = [_snapshot(params, optimizer.state)] if 0 in checked else []
    grads = GRADS_FP16 if dtype == "float16" else GRADS
    for t in range(1, steps + 1):
        params = optimizer.apply_gradients(backend.tree(grads[t - 1], dtype), params)
        if t in checked:
            snapshots.append(_snapshot(params, optimizer.state))
    return snapshots


@functools.cache
def _mlx_reference(name: str, index: int, dtype: str = "float32", steps: int = STEPS) -> list:
    checked = tuple(t for t in CHECKED if t <= steps)
    return _run(_build(mo, name, index), Backend("mlx"), dtype, steps, checked)


def _compare(ours: list, reference: list, rtol: float, framework: str, same_dtypes: bool):
    assert len(ours) == len(reference)
    for t, got, want in zip(CHECKED, ours, reference):
        assert got.keys() == want.keys(), f"step {t}: the state's entries differ"
        for key, (a, a_dtype) in got.items():
            b, b_dtype = want[key]
            if key == "state.step":
                assert int(a) == int(b) == t
                assert a_dtype == STEP_DTYPE[framework]
                continue
            if same_dtypes:
                assert a_dtype == b_dtype, f"step {t}, {key}: {a_dtype} != {b_dtype}"
            assert a.shape == b.shape, key
            err = relative_error_norm(a, b)
            assert err <= rtol, f"step {t}, {key}: relative error {err:.2e} > {rtol:.0e}"


# Relative errors in the norm of each leaf after 50 steps. On MLX the same operations give
# the same bits, except Muon's matmul + add where MLX calls addmm; elsewhere reductions,
# matmuls and pow/cos round differently (measured: at most 4e-7).
RTOL = {
    "mlx": 1e-7,
    ("Muon", "mlx"): 1e-6,
    "numpy": 2e-6,
    "torch": 2e-6,
    "jax": 2e-6,
}


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("name, index", CASES)
def test_matches_mlx(name, index, framework):
    reference = _mlx_reference(name, index)
    ours = _run(_build(ao, name, index), Backend(framework), "float32")
    _compare(ours, reference, RTOL.get((name, framework), RTOL[framework]), framework, True)


@pytest.mark.parametrize("name, index", CASES)
def test_float64_numpy_matches_mlx(name, index):
    reference = _mlx_reference(name, index)
    ours = _run(_build(ao, name, index), Backend("numpy"), "float64")
    for snapshot in ours:
        for key, (_, dtype) in snapshot.items():
            if key.startswith("params.") or key.count(".") > 1:  # parameters and their state
                assert dtype == "float64", key
    _compare(ours, reference, 1e-4, "numpy", False)  # float32 against float64 rounding


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("name, index", CASES)
def test_float16_stays_float16(name, index, framework):
    """float16 parameters keep float16 parameters and state on every framework, with MLX's
    numbers to float16 rounding (compared in the tree norm of the parameters and of each
    state entry: one rounding flips a sign, or cancels in a 0-d leaf, differently)."""
    steps = 5
    reference = _mlx_reference(name, index, "float16", steps)
    ours = _run(_build(ao, name, index), Backend(framework), "float16", steps, CHECKED[:4])
    for snapshot, want in zip(ours, reference):
        assert snapshot.keys() == want.keys()
        groups: dict = {}
        for key, (value, dtype) in snapshot.items():
            assert dtype == want[key][1] or key == "state.step", (key, dtype, want[key][1])
            if key.startswith("params.") or key.count(".") > 1:  # parameters and their state
                assert dtype == "float16", key
                assert np.all(np.isfinite(value)), key
                group = "params" if key.startswith("params.") else key.rsplit(".", 1)[1]
                groups.setdefault(group, []).append((value.ravel(), want[key][0].ravel()))
        for group, pairs in groups.items():
            got, expected = (np.concatenate(side) for side in zip(*pairs))
            assert relative_error_norm(got, expected) <= 0.02, group


def test_compiled_steps_match():
    """The state is a tree of arrays: a step compiles with jax.jit and mx.compile."""
    jax = pytest.importorskip("jax")

    def build(module):
        return module.Adam(learning_rate=COSINE.build(module), bias_correction=True)

    reference = _run(build(mo), Backend("mlx"), "float32", 3, (3,))[0]
    optimizer = build(ao)
    params = Backend("jax").tree(PARAMS)
    optimizer.init(params)

    def jax_step(state, params, grads):
        optimizer.state = state
        params = optimizer.apply_gradients(grads, params)
        return optimizer.state, params

    step, state = jax.jit(jax_step), optimizer.state
    for t in range(3):
        state, params = step(state, params, Backend("jax").tree(GRADS[t]))
    got = _snapshot(params, state)

    optimizer = build(ao)
    mx_params = Backend("mlx").tree(PARAMS)
    optimizer.init(mx_params)
    mx_step = mx.compile(
        lambda p, g: optimizer.apply_gradients(g, p),
        inputs=[optimizer.state],
        outputs=[optimizer.state],
    )
    for t in range(3):
        mx_params = mx_step(mx_params, Backend("mlx").tree(GRADS[t]))
    mx_got = _snapshot(mx_params, optimizer.state)
    for key, (value, _) in reference.items():
        assert relative_error_norm(got[key][0], value) <= 2e-6, key
        assert relative_error_norm(mx_got[key][0], value) <= 1e-6, key


# --- MultiOptimizer ---------------------------------------------------------------------


def _multi(module):
    return module.MultiOptimizer(
        [
            module.Adam(learning_rate=0.01),
            module.SGD(learning_rate=COSINE.build(module), momentum=0.9),
        ],
        [lambda name, g: len(g.shape) >= 2],
    )


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_multi_optimizer_matches_mlx(framework):
    steps, checked = 10, CHECKED[:5]
    reference = _run(_multi(mo), Backend("mlx"), "float32", steps, checked)
    ours = _run(_multi(ao), Backend(framework), "float32", steps, checked)
    for got, want in zip(ours, reference):
        assert got.keys() == want.keys()
        for key, (a, _) in got.items():
            assert relative_error_norm(a, want[key][0]) <= 1e-5, key


# --- schedules ----------------------------------------------------------------------

SCHEDULES = {
    "exponential_decay": [(0.1, 0.97), (2.0, 0.5)],
    "step_decay": [(0.1, 0.9, 10), (1.0, 0.5, 1)],
    "cosine_decay": [(0.1, 150), (0.1, 1000, 0.01), (1.0, 1)],
    "linear_schedule": [(0.0, 0.1, 100), (1.0, 0.25, 7)],
    "join_schedules": [
        (
            lambda m: [m.linear_schedule(0.0, 0.1, 10), m.cosine_decay(0.1, 200)],
            [10],
        ),
        (
            lambda m: [
                m.exponential_decay(0.5, 0.9),
                m.step_decay(0.2, 0.5, 5),
                m.linear_schedule(0.1, 0.0, 50),
            ],
            [20, 60],
        ),
        (lambda m: [m.cosine_decay(0.3, 40)], []),
    ],
}
SCHEDULE_CASES = [
    pytest.param(name, i, id=f"{name}-{i}")
    for name, args in SCHEDULES.items()
    for i in range(len(args))
]


def _schedule(module, name: str, index: int):
    args = SCHEDULES[name][index]
    if name == "join_schedules":
        return module.join_schedules(args[0](module), args[1])
    return getattr(module, name)(*args)


def _mlx_schedule_values(name: str, index: int):
    """MLX's schedule at steps 0..200, and the tolerance of float32 rounding at its scale:
    cos(pi t / T) near -1 leaves a tiny difference of rounded numbers at the end of a
    cosine decay."""
    values = np.array(_schedule(mo, name, index)(mx.arange(201, dtype=mx.uint64)))
    return values, 2e-7 * float(np.abs(values).max())


def test_every_schedule_is_tested():
    assert set(SCHEDULES) == _mlx_schedules()


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("name, index", SCHEDULE_CASES)
def test_schedule_matches_mlx(name, index, framework):
    steps = np.arange(201)
    want, atol = _mlx_schedule_values(name, index)
    backend = Backend(framework)
    ours = _schedule(ao, name, index)
    got = ours(backend.array(steps, STEP_DTYPE[framework]))
    assert _dtype(got) == "float32"
    np.testing.assert_allclose(_numpy(got), want, rtol=1e-6, atol=atol)
    for t in (0, 1, 9, 10, 11, 60, 200):  # a 0-d step, as optimizers pass it
        value = ours(backend.array(np.asarray(t), STEP_DTYPE[framework]))
        assert _dtype(value) == "float32"
        np.testing.assert_allclose(_numpy(value), want[t], rtol=1e-6, atol=atol)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("name, index", SCHEDULE_CASES)
def test_learning_rate_after_updates_matches_mlx(name, index, framework):
    reference = mo.SGD(learning_rate=_schedule(mo, name, index))
    ours = ao.SGD(learning_rate=_schedule(ao, name, index))
    backend = Backend(framework)
    atol = _mlx_schedule_values(name, index)[1]
    p_ref, p_ours = {"w": mx.zeros((2,))}, {"w": backend.array(np.zeros(2, np.float32))}
    for k in range(30):
        assert _dtype(ours.learning_rate) == "float32"
        np.testing.assert_allclose(
            _numpy(ours.learning_rate), np.array(reference.learning_rate), rtol=1e-6, atol=atol
        )
        assert int(_numpy(ours.step)) == reference.step.item() == k
        p_ref = reference.apply_gradients({"w": mx.ones((2,))}, p_ref)
        p_ours = ours.apply_gradients({"w": backend.array(np.ones(2, np.float32))}, p_ours)
    np.testing.assert_allclose(_numpy(p_ours["w"]), np.array(p_ref["w"]), rtol=1e-6)


def test_learning_rate_setter_matches_mlx():
    reference, ours = mo.Adam(learning_rate=0.1), ao.Adam(learning_rate=0.1)
    params = {"w": np.ones(3, np.float32)}
    reference.init({"w": mx.array(params["w"])})
    ours.init(params)
    reference.learning_rate = 0.05
    ours.learning_rate = 0.05
    assert _dtype(ours.learning_rate) == "float32"
    assert float(ours.learning_rate) == reference.learning_rate.item()


# --- validation ---------------------------------------------------------------------

VALIDATION = {
    "SGD nesterov without momentum": lambda m: m.SGD(0.1, nesterov=True),
    "SGD nesterov with dampening": lambda m: m.SGD(0.1, momentum=0.9, dampening=0.1, nesterov=True),
    "RMSprop alpha < 0": lambda m: m.RMSprop(0.1, alpha=-0.1),
    "RMSprop eps = 0": lambda m: m.RMSprop(0.1, eps=0.0),
    "Adagrad eps < 0": lambda m: m.Adagrad(0.1, eps=-1e-8),
    "AdaDelta rho < 0": lambda m: m.AdaDelta(0.1, rho=-0.5),
    "AdaDelta eps = 0": lambda m: m.AdaDelta(0.1, eps=0.0),
    "Adam beta1 = 1": lambda m: m.Adam(0.1, betas=[1.0, 0.999]),
    "Adam beta2 < 0": lambda m: m.Adam(0.1, betas=[0.9, -0.1]),
    "Adam eps < 0": lambda m: m.Adam(0.1, eps=-1e-8),
    "AdamW beta2 = 1": lambda m: m.AdamW(0.1, betas=[0.9, 1.0]),
    "AdamW eps < 0": lambda m: m.AdamW(0.1, eps=-1.0),
    "Adamax beta1 > 1": lambda m: m.Adamax(0.1, betas=[1.5, 0.9]),
    "Lion beta1 < 0": lambda m: m.Lion(0.1, betas=[-0.1, 0.99]),
    "Lion beta2 = 1": lambda m: m.Lion(0.1, betas=[0.9, 1.0]),
    "Adafactor without a learning rate": lambda m: m.Adafactor(relative_step=False).apply_gradients(
        {"w": m.array}, {"w": m.array}
    ),
    "MultiOptimizer filters": lambda m: m.MultiOptimizer([m.SGD(0.1)], [lambda n, g: True]),
    "clip_grad_norm max_norm < 0": lambda m: m.clip_grad_norm({"w": m.array}, -1.0),
    "step_decay step_size = 0": lambda m: m.step_decay(0.1, 0.9, 0),
    "cosine_decay decay_steps = 0": lambda m: m.cosine_decay(0.1, 0),
    "join_schedules none": lambda m: m.join_schedules([], []),
    "join_schedules boundaries": lambda m: m.join_schedules([m.exponential_decay(0.1, 0.9)], [3]),
    "linear_schedule steps = 0": lambda m: m.linear_schedule(0.0, 0.1, 0),
}


class _Namespace:
    """A library's module, with a small array of its framework as ``array``."""

    def __init__(self, module, array):
        self._module, self.array = module, array

    def __getattr__(self, name):
        return getattr(self._module, name)


@pytest.mark.parametrize("case", sorted(VALIDATION))
def test_errors_match_mlx(case):
    with pytest.raises(Exception) as mlx_error:
        VALIDATION[case](_Namespace(mo, mx.ones((2,))))
    with pytest.raises(Exception) as error:
        VALIDATION[case](_Namespace(ao, np.ones(2, np.float32)))
    assert type(error.value) is mlx_error.type, error.value


# --- clip_grad_norm -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float16", "mixed"])
@pytest.mark.parametrize("max_norm", [0.5, 1e3, 0.0])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_clip_grad_norm_matches_mlx(framework, max_norm, dtype):
    grads = _random_tree(np.random.default_rng(3), scale=2.0)
    dtypes = {"tall": "float16"} if dtype == "mixed" else {}

    def convert(backend):
        tree = backend.tree(grads, "float32" if dtype == "mixed" else dtype)
        for key, d in dtypes.items():
            tree[key] = backend.array(grads[key], d)
        return tree

    want, want_norm = mo.clip_grad_norm(convert(Backend("mlx")), max_norm)
    got, got_norm = ao.clip_grad_norm(convert(Backend(framework)), max_norm)
    assert _dtype(got_norm) == _dtype(want_norm)
    np.testing.assert_allclose(_numpy(got_norm), np.array(want_norm), rtol=1e-6)
    rtol = 1e-6 if dtype == "float32" else 1e-3
    want_leaves = dict(tree_flatten(want))
    for key, leaf in tree_flatten(got):
        assert _dtype(leaf) == _dtype(want_leaves[key]), key
        np.testing.assert_allclose(
            _numpy(leaf).astype(np.float64), np.array(want_leaves[key], np.float64), rtol=rtol
        )


def test_clip_grad_norm_of_no_gradients():
    want_grads, want_norm = mo.clip_grad_norm({}, 1.0)
    grads, norm = ao.clip_grad_norm({}, 1.0)
    assert grads == want_grads == {}
    assert _dtype(norm) == "float32" and float(norm) == want_norm.item() == 0.0
