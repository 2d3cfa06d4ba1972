"""The class API's contract on every framework, through transformations wrapped as classes:
init merges, lazy init, parameter supersets, the state setter, learning rates that change
without recompiling (jax.jit, mx.compile), update(model) for MLX and torch modules, and a
class per functional optimizer that matches the functional API step for step."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import anyopt
import anyopt.optimizers as optim
from anyopt import backends
from anyopt.optimizers._functional_classes import FACTORIES
from anyopt.optimizers._transform import _static_args

from conftest import FRAMEWORKS, Backend, random_tree


def tree(backend: Backend, seed: int, scalar_leaf: bool = True):
    """random_tree without its None leaf (and its 0-d leaf, unless ``scalar_leaf``)."""
    t = random_tree(seed)
    layers = t["layers"] if scalar_leaf else [t["layers"][0], t["layers"][1][0]]
    return backend.tree({"dense": t["dense"], "layers": layers})


def assert_close(a, b, rtol=1e-6, atol=0.0):
    la, lb = _leaves(a), _leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


def _leaves(t):
    return [
        np.asarray(backends.of(x).to_numpy(x), np.float64) if hasattr(x, "dtype") else np.asarray(x)
        for x in backends.flatten(t)[0]
    ]


# --- a class per functional optimizer --------------------------------------------------

# Arguments beyond a learning rate, and extra update arguments, for the classes that need them.
CLASS_ARGS = {
    "COCOB": {},
    "DoG": {},
    "DoWG": {},
    "DAdaptAdamW": {},
    "Prodigy": {},
    "Fromage": {"learning_rate": 0.01},
    "Lars": {"learning_rate": 0.01},
    "PolyakSGD": {"max_learning_rate": 1.0},
    "NoisySGD": {"learning_rate": 0.1, "key": 0},
}
NEEDS_VALUE = {"Momo", "MomoAdam", "PolyakSGD"}
NEEDS_AUTODIFF = {
    "LBFGS",
    "Sophia",
}  # tested on the functional side (test_linesearch, test_autodiff)


def class_kwargs(name: str) -> dict:
    if name in CLASS_ARGS:
        return CLASS_ARGS[name]
    return {"learning_rate": 0.1}


def functional(name: str):
    obj = anyopt
    for part in FACTORIES[name].split("."):
        obj = getattr(obj, part)
    return obj


def test_every_class_form_is_exported_with_its_factory_signature():
    assert set(FACTORIES) <= set(optim.__all__)
    for name in FACTORIES:
        cls = getattr(optim, name)
        assert issubclass(cls, optim.TransformOptimizer) and issubclass(cls, optim.Optimizer)
        ours = list(inspect.signature(cls).parameters)
        assert ours == list(inspect.signature(functional(name)).parameters), name


@pytest.mark.parametrize("name", sorted(set(FACTORIES) - NEEDS_AUTODIFF))
def test_class_form_matches_the_functional_optimizer(name, backend):
    kwargs = class_kwargs(name)
    opt = getattr(optim, name)(**kwargs)
    # The class is the functional optimizer with its real-valued arguments injected: equal
    # to that exactly, and to the plain optimizer (Python-float hyperparameters) to fp32.
    factory = functional(name)
    injected = anyopt.inject_hyperparams(factory, _static_args(factory))(**kwargs)
    got = run_class(opt, backend, name)
    np.testing.assert_array_equal(_flat(got), _flat(run_functional(injected, backend, name)))
    plain = _flat(run_functional(factory(**kwargs), backend, name))
    assert np.linalg.norm(_flat(got) - plain) <= 5e-5 * np.linalg.norm(plain)
    assert int(backends.of(opt.step).to_numpy(opt.step)) == STEPS


STEPS = 6


def _extra(name, backend, k):
    return {"value": backend.array(np.float32(1.0 + k))} if name in NEEDS_VALUE else {}


NO_SCALAR_LEAF = {"SM3"}  # SM3 needs an axis on every parameter


def run_class(opt, backend, name):
    scalar = name not in NO_SCALAR_LEAF
    params = tree(backend, 0, scalar)
    for k in range(STEPS):
        grads = tree(backend, 10 + k, scalar)
        params = opt.apply_gradients(grads, params, **_extra(name, backend, k))
    return params


def run_functional(tx, backend, name):
    scalar = name not in NO_SCALAR_LEAF
    params = tree(backend, 0, scalar)
    state = tx.init(params)
    for k in range(STEPS):
        grads = tree(backend, 10 + k, scalar)
        updates, state = tx.update(grads, state, params, **_extra(name, backend, k))
        params = anyopt.apply_updates(params, updates)
    return params


def _flat(t):
    return np.concatenate([x.ravel() for x in _leaves(t)])


# --- the base class's contract ------------------------------------------------------------


def sgd_class(lr=0.1):
    return optim.from_transform(anyopt.sgd, learning_rate=lr, momentum=0.9)


def test_lazy_init_from_gradients_and_a_superset_of_parameters(backend):
    opt = sgd_class()
    params = tree(backend, 0)
    grads = {"dense": tree(backend, 1)["dense"]}
    new = opt.apply_gradients(grads, params)
    assert set(new) == {"dense"}
    want = anyopt.apply_updates(params["dense"], anyopt.tree.scale(-0.1, grads["dense"]))
    assert_close(new, {"dense": want})
    momentum = opt.state["opt_state"].inner_state[0].trace
    assert set(momentum) == {"dense"}


def test_init_keeps_existing_state_and_the_setter_reinitialises(backend):
    opt = sgd_class()
    params = tree(backend, 0)
    for k in range(3):
        params = opt.apply_gradients(tree(backend, 10 + k), params)
    saved = opt.state
    opt.init(params)  # existing state stays
    assert opt.state["opt_state"] is saved["opt_state"]
    # A checkpoint round trip: flatten to names, rebuild, load into a fresh optimizer.
    restored = optim._trees.tree_unflatten(optim._trees.tree_flatten(saved))
    fresh = sgd_class()
    fresh.state = _from_lists(restored, saved)
    a, b = params, params
    for k in range(3, 6):
        a = opt.apply_gradients(tree(backend, 10 + k), a)
        b = fresh.apply_gradients(tree(backend, 10 + k), b)
    assert_close(a, b, rtol=0)
    assert int(backends.of(fresh.step).to_numpy(fresh.step)) == 6


def _from_lists(restored, like):
    """``like``'s structure (NamedTuples included) with the leaves of ``restored``, by name."""
    flat = dict(optim._trees.tree_flatten(restored))
    names = iter(name for name, _ in optim._trees.tree_flatten(like))
    return optim._trees.tree_map(lambda _: flat[next(names)], like)


def test_learning_rate_reads_and_sets_the_injected_value(backend):
    opt = sgd_class(0.1)
    params = opt.apply_gradients(tree(backend, 1), tree(backend, 0))
    assert backends.of(opt.learning_rate).NAME == backend.name
    opt.learning_rate = 0.5
    lr = opt.learning_rate
    assert backends.dtype_name(lr.dtype) == "float32"
    assert float(backends.of(lr).to_numpy(lr)) == pytest.approx(0.5)
    opt.apply_gradients(tree(backend, 2), params)
    assert float(backends.of(opt.learning_rate).to_numpy(opt.learning_rate)) == pytest.approx(0.5)


def test_a_ready_transformation_without_injection_has_no_learning_rate():
    opt = optim.from_transform(anyopt.chain(anyopt.clip_by_global_norm(1.0), anyopt.adamw(1e-3)))
    with pytest.raises(AttributeError, match="not initialised yet"):
        _ = opt.learning_rate
    opt.init({"w": np.ones(2, np.float32)})
    with pytest.raises(KeyError, match="holds no injected hyperparameters"):
        _ = opt.learning_rate


def test_bad_transformations_are_rejected():
    with pytest.raises(TypeError, match="must be a GradientTransformation or a function"):
        optim.from_transform(3)
    with pytest.raises(TypeError, match="arguments are for a factory"):
        optim.from_transform(anyopt.sgd(0.1), learning_rate=0.1)


def test_jax_jit_functional_pattern_does_not_retrace_when_the_learning_rate_changes():
    import jax

    backend = Backend("jax")
    opt = optim.from_transform(anyopt.adamw, learning_rate=0.1)
    params = tree(backend, 0)
    opt.init(params)
    traces = []

    @jax.jit
    def step(params, opt_state, grads):
        traces.append(1)
        opt.state = opt_state
        params = opt.apply_gradients(grads, params)
        return params, opt.state

    eager = optim.from_transform(anyopt.adamw, learning_rate=0.1)
    want = params
    state = opt.state
    for k in range(4):
        if k == 2:
            opt.state = state
            opt.learning_rate = 0.01
            state = opt.state
            eager.learning_rate = 0.01
        grads = tree(backend, 10 + k)
        params, state = step(params, state, grads)
        want = eager.apply_gradients(grads, want)
    assert len(traces) == 1
    assert_close(params, want, rtol=1e-5, atol=1e-7)  # XLA fuses differently


def test_mlx_compiled_training_step_with_model_and_optimizer_state():
    from functools import partial

    import mlx.core as mx
    import mlx.nn as nn

    def build():
        mx.random.seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
        tx = anyopt.chain(anyopt.clip_by_global_norm(1.0), anyopt.adamw(0.05, weight_decay=0.1))
        return model, optim.from_transform(tx)

    def loss_fn(model, x, y):
        return nn.losses.mse_loss(model(x), y)

    x = mx.array(np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32))
    y = mx.sum(x, axis=1, keepdims=True)

    model, optimizer = build()
    state = [model.state, optimizer.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        optimizer.update(model, grads)
        return loss

    eager_model, eager_optimizer = build()
    for _ in range(20):
        loss = step(x, y)
        mx.eval(state)
        eager_loss, grads = nn.value_and_grad(eager_model, loss_fn)(eager_model, x, y)
        eager_optimizer.update(eager_model, grads)
        mx.eval(eager_model.parameters())
        np.testing.assert_allclose(np.array(loss), np.array(eager_loss), rtol=1e-5)
    first = float(np.array(loss_fn(model, x, y)))
    assert first < float(np.array(loss_fn(build()[0], x, y)))
    assert int(np.array(optimizer.step)) == 20


def test_update_a_torch_module_in_place():
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    weight = model[0].weight
    opt = optim.from_transform(anyopt.sgd, learning_rate=0.1)
    x = torch.randn(8, 3)
    model(x).pow(2).mean().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    opt.update(model, grads)
    assert model[0].weight is weight  # the same Parameter, updated in place
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), before[n] - 0.1 * grads[n])
    nested = {"0": {"weight": grads["0.weight"]}, "2": {"bias": grads["2.bias"]}}
    opt2 = optim.from_transform(anyopt.sgd, learning_rate=0.1)
    snapshot = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt2.update(model, nested)
    torch.testing.assert_close(
        model[0].weight.detach(), snapshot["0.weight"] - 0.1 * grads["0.weight"]
    )
    torch.testing.assert_close(model[0].bias.detach(), snapshot["0.bias"])  # no gradient given
    with pytest.raises(KeyError, match=r"gradients for \['3.weight'\] match no parameter"):
        opt2.update(model, {"3.weight": grads["0.weight"]})


def test_update_needs_a_module():
    with pytest.raises(TypeError, match="use the functional form"):
        sgd_class().update({"w": np.ones(2)}, {"w": np.ones(2)})


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_multi_optimizer_routes_by_name_and_gradient(framework):
    backend = Backend(framework)
    fast, slow = optim.from_transform(anyopt.sgd, learning_rate=1.0), sgd_class(0.01)
    opt = optim.MultiOptimizer([fast, slow], [lambda name, g: name.endswith(".w")])
    params = tree(backend, 0)
    grads = tree(backend, 1)
    new = opt.apply_gradients(grads, params)
    np.testing.assert_allclose(
        _leaves(new["dense"]["w"])[0],
        _leaves(params["dense"]["w"])[0] - _leaves(grads["dense"]["w"])[0],
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        _leaves(new["dense"]["b"])[0],
        _leaves(params["dense"]["b"])[0] - 0.01 * _leaves(grads["dense"]["b"])[0],
        rtol=1e-6,
    )
    assert set(opt.state) == {"states"} and len(opt.state["states"]) == 2
    with pytest.raises(ValueError, match="Given 0 filters but 1 needed"):
        optim.MultiOptimizer([fast, slow])


def test_learning_rate_set_before_the_state_exists_is_applied_at_init(backend):
    opt = optim.Lamb(learning_rate=1e-2)
    assert float(np.asarray(opt.learning_rate)) == pytest.approx(1e-2)
    opt.learning_rate = 5e-3
    params = opt.apply_gradients(tree(backend, 1), tree(backend, 0))
    lr = opt.learning_rate
    assert backends.of(lr).NAME == backend.name
    assert float(backends.of(lr).to_numpy(lr)) == pytest.approx(5e-3)
    want = anyopt.apply_updates(
        tree(backend, 0),
        anyopt.lamb(5e-3).update(
            tree(backend, 1), anyopt.lamb(5e-3).init(tree(backend, 0)), tree(backend, 0)
        )[0],
    )
    assert_close(params, want, rtol=1e-5, atol=1e-7)


def test_every_exported_class_is_tested():
    """Each Optimizer class is MLX's (tests/test_optimizers_mlx.py) or a functional
    optimizer's class form (above)."""
    import mlx.optimizers

    mlx_classes = {
        n
        for n in dir(mlx.optimizers)
        if isinstance(getattr(mlx.optimizers, n), type)
        and issubclass(getattr(mlx.optimizers, n), mlx.optimizers.Optimizer)
    }
    exported = {
        n
        for n in optim.__all__
        if isinstance(getattr(optim, n), type) and issubclass(getattr(optim, n), optim.Optimizer)
    }
    assert exported == mlx_classes | set(FACTORIES) | {"TransformOptimizer"}


# Prodigy's and D-Adaptation's estimates underflow float16 (tests/test_dtypes.py's
# FLOAT16_UNDERFLOWS): they keep bfloat16, which NumPy lacks.
UNDERFLOW_FLOAT16 = {"Prodigy", "DAdaptAdamW"}
LOW_PRECISION_RUNS = [
    (name, framework, "bfloat16" if name in UNDERFLOW_FLOAT16 else "float16")
    for name in sorted(set(FACTORIES) - NEEDS_AUTODIFF - NO_SCALAR_LEAF)
    for framework in FRAMEWORKS
    if not (name in UNDERFLOW_FLOAT16 and framework == "numpy")
]


@pytest.mark.parametrize("name, framework, dtype", LOW_PRECISION_RUNS)
def test_class_forms_keep_low_precision_parameters(name, framework, dtype):
    backend = Backend(framework)
    opt = getattr(optim, name)(**class_kwargs(name))
    params = backend.tree(
        {"w": np.full((3, 2), 0.5, np.float32), "b": np.ones(2, np.float32)}, dtype
    )
    for k in range(3):
        grads = backend.tree(
            {"w": np.full((3, 2), 0.1 * (k + 1), np.float32), "b": np.full(2, -0.2, np.float32)},
            dtype,
        )
        params = opt.apply_gradients(grads, params, **_extra(name, backend, k))
    for leaf in backends.flatten(params)[0]:
        assert backends.dtype_name(leaf.dtype) == dtype, name
        assert np.all(np.isfinite(np.asarray(backends.of(leaf).to_numpy(leaf), np.float32))), name
