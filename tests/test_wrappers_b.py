"""Wrappers group B beyond parity: partition / freeze / selective_transform properties on
random trees (hypothesis), bad-input errors naming the path, monitoring numbers against
float64 references, and ``anyopt.microbatching`` on every framework."""

from __future__ import annotations

import inspect

import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import anyopt
from anyopt import backends
from anyopt.microbatching import AccumulationType as Acc

from conftest import FRAMEWORKS, Backend

# --- random trees ------------------------------------------------------------------------
shapes = st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple)
nested = st.recursive(
    shapes,
    lambda kids: st.one_of(
        st.dictionaries(st.sampled_from("abcd"), kids, min_size=1, max_size=3),
        st.lists(kids, min_size=1, max_size=3),
        st.lists(kids, min_size=1, max_size=2).map(tuple),
    ),
    max_leaves=6,
)
trees = st.dictionaries(st.sampled_from("pqrs"), nested, min_size=1, max_size=3)
INNERS = {
    "adam": lambda: anyopt.adam(0.05),
    "sgd_momentum": lambda: anyopt.sgd(0.1, momentum=0.9),
    "clip_then_adamw": lambda: anyopt.chain(
        anyopt.clip_by_global_norm(0.5), anyopt.adamw(0.02, weight_decay=0.1)
    ),
    "lion": lambda: anyopt.lion(0.01),
}


def is_shape(x):
    return isinstance(x, tuple) and all(isinstance(d, int) for d in x)


def build(structure, backend, rng):
    """Arrays of the given shapes, in the structure hypothesis drew."""
    leaves, treedef = backends.flatten(structure, is_shape)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in leaves]
    return backend.tree(backends.unflatten(treedef, arrays))


def run(tx, params, grads):
    state = tx.init(params)
    outs = []
    for g in grads:
        updates, state = tx.update(g, state, params)
        outs.append(updates)
        params = anyopt.apply_updates(params, updates)
    return outs, state


def assert_trees_equal(actual, expected, rtol=1e-6):
    a_leaves, a_def = backends.flatten(actual)
    e_leaves, e_def = backends.flatten(expected)
    assert a_def == e_def
    for a, e in zip(a_leaves, e_leaves):
        np.testing.assert_allclose(Backend.numpy(a), Backend.numpy(e), rtol=rtol, atol=1e-7)


def same_label(tree):
    """A full label tree: "only" at every leaf."""
    leaves, treedef = backends.flatten(tree)
    return backends.unflatten(treedef, ["only"] * len(leaves))


def draw(structure, backend, seed, steps=3):
    rng = np.random.default_rng(seed)
    params = build(structure, backend, rng)
    return params, [build(structure, backend, rng) for _ in range(steps)]


# --- properties ----------------------------------------------------------------------------
@pytest.mark.parametrize("framework", FRAMEWORKS)
@settings(max_examples=12, deadline=None, derandomize=True)
@given(structure=trees, inner=st.sampled_from(sorted(INNERS)), seed=st.integers(0, 999))
def test_partition_with_one_label_is_the_inner_transformation(framework, structure, inner, seed):
    params, grads = draw(structure, Backend(framework), seed)
    want, want_state = run(INNERS[inner](), params, grads)
    for labels in ("only", same_label):
        got, state = run(anyopt.partition({"only": INNERS[inner]()}, labels), params, grads)
        assert_trees_equal(got, want)
        assert set(state.inner_states) == {"only"}
        assert_trees_equal(state.inner_states["only"].inner_state, want_state)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@settings(max_examples=12, deadline=None, derandomize=True)
@given(structure=trees, choice=st.lists(st.booleans(), min_size=4, max_size=4), seed=st.integers())
def test_partition_equals_each_transformation_on_its_own_subtree(
    framework, structure, choice, seed
):
    params, grads = draw(structure, Backend(framework), seed % 1000)
    labels = {k: ("adam" if choice[i] else "sgd") for i, k in enumerate(sorted(params))}
    tx = anyopt.partition({"adam": INNERS["adam"](), "sgd": INNERS["sgd_momentum"]()}, labels)
    got, _ = run(tx, params, grads)
    for label, inner in (("adam", "adam"), ("sgd", "sgd_momentum")):
        keys = [k for k in params if labels[k] == label]
        sub = lambda tree: {k: tree[k] for k in keys}  # noqa: E731
        want, _ = run(INNERS[inner](), sub(params), [sub(g) for g in grads])
        assert_trees_equal([sub(u) for u in got], want)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@settings(max_examples=10, deadline=None, derandomize=True)
@given(structure=trees, choice=st.lists(st.booleans(), min_size=4, max_size=4), seed=st.integers())
def test_freeze_and_selective_transform_on_random_masks(framework, structure, choice, seed):
    params, grads = draw(structure, Backend(framework), seed % 1000)
    mask = {k: choice[i] for i, k in enumerate(sorted(params))}
    frozen, _ = run(anyopt.freeze(mask), params, grads)
    selective, state = run(
        anyopt.selective_transform(anyopt.adam(0.05), freeze_mask=mask), params, grads
    )
    keys = [k for k in params if not mask[k]]
    want, _ = run(
        anyopt.adam(0.05), {k: params[k] for k in keys}, [{k: g[k] for k in keys} for g in grads]
    )
    for step, g in enumerate(grads):
        for k in params:
            expected = anyopt.tree.zeros_like(g[k]) if mask[k] else g[k]
            assert_trees_equal(frozen[step][k], expected, rtol=0)
            if mask[k]:
                assert_trees_equal(selective[step][k], anyopt.tree.zeros_like(g[k]), rtol=0)
        assert_trees_equal({k: selective[step][k] for k in keys}, want[step])
    assert set(state.inner_states) == {"train", "freeze"}


# --- bad input ------------------------------------------------------------------------------
def _params(backend):
    return {
        "layer": [backend.array(np.ones(2, np.float32)), backend.array(np.ones(3, np.float32))],
        "w": backend.array(np.ones(4, np.float32)),
    }


@pytest.mark.parametrize(
    "labels, message",
    [
        (
            {"layer": "a", "w": "c"},
            r"parameters at \['w'\] have the label 'c'.*labels of transforms are \['a', 'b'\]",
        ),
        ({"layer": ["a", "zz"], "w": "a"}, r"parameters at \['layer'\]\[1\] have the label 'zz'"),
        (
            {"layer": "a"},
            r"Dict key mismatch at the tree root: the parameters have keys \['layer', 'w'\], "
            r"param_labels has keys \['layer'\]",
        ),
        (
            {"layer": ["a"], "w": "b"},
            r"Length mismatch at \['layer'\]: the parameters have a list of length 2, "
            "param_labels has one of length 1",
        ),
        (
            {"layer": {"x": "a"}, "w": "b"},
            r"Type mismatch at \['layer'\]: the parameters have a list, param_labels has a dict",
        ),
    ],
)
@pytest.mark.parametrize("as_function", [False, True])
def test_partition_rejects_bad_labels_naming_the_path(backend, labels, message, as_function):
    tx = anyopt.partition(
        {"a": anyopt.sgd(0.1), "b": anyopt.adam(0.1)}, (lambda _: labels) if as_function else labels
    )
    with pytest.raises(ValueError, match=message):
        tx.init(_params(backend))


def test_partition_checks_labels_of_the_updates_too(backend):
    tx = anyopt.partition({"a": anyopt.sgd(0.1)}, lambda tree: {"layer": "a", "w": "a"})
    params = _params(backend)
    state = tx.init(params)
    with pytest.raises(ValueError, match="anyopt.partition"):
        tx.update({"layer": params["layer"], "w": params["w"], "extra": params["w"]}, state)


def test_freeze_and_selective_transform_name_the_mask(backend):
    params = _params(backend)
    with pytest.raises(ValueError, match=r"anyopt.freeze: mask .*Length mismatch at \['layer'\]"):
        anyopt.freeze({"layer": [True], "w": False}).init(params)
    with pytest.raises(
        ValueError, match=r"anyopt.selective_transform: freeze_mask .*Dict key mismatch"
    ):
        anyopt.selective_transform(anyopt.sgd(0.1), freeze_mask={"w": True}).init(params)
    tx = anyopt.freeze({"layer": True, "w": False})
    with pytest.raises(ValueError, match="anyopt.freeze"):
        tx.update({"w": params["w"]}, tx.init(params))


# --- partition: extra arguments, jit, convergence --------------------------------------------
def test_partition_masks_extra_args_shaped_like_the_updates(backend):
    seen = []

    def record(updates, state, params=None, *, weights, **extra):
        seen.append(weights)
        return updates, state

    probe = anyopt.GradientTransformationExtraArgs(anyopt.init_empty_state, record)
    params = _params(backend)
    tx = anyopt.partition(
        {"a": probe, "b": anyopt.identity()},
        {"layer": "a", "w": "b"},
        mask_compatible_extra_args=True,
    )
    tx.update(params, tx.init(params), params, weights=params)
    assert isinstance(seen[0]["w"], anyopt.MaskedNode)
    assert backends.of(seen[0]["layer"][0]).NAME == backend.name


def test_jitted_partition_matches_eager():
    import jax

    params, grads = draw({"a": (3,), "b": [(2, 2), ()]}, Backend("jax"), 0)
    tx = anyopt.partition({"x": anyopt.adam(0.1), "y": anyopt.sgd(0.1, 0.9)}, {"a": "x", "b": "y"})
    state = tx.init(params)
    eager = tx.update(grads[0], state, params)
    jitted = jax.jit(tx.update)(grads[0], state, params)
    assert_trees_equal(jitted, eager)


def test_partition_converges_on_a_quadratic(backend):
    target = {
        "w": np.linspace(-1, 1, 6).reshape(2, 3).astype(np.float32),
        "b": np.float32([0.5, -2.0]),
    }
    params = backend.tree({k: np.zeros_like(v) for k, v in target.items()})
    t = backend.tree(target)
    tx = anyopt.partition({"m": anyopt.adam(0.05), "v": anyopt.sgd(0.2)}, {"w": "m", "b": "v"})
    state = tx.init(params)
    for _ in range(300):
        grads = anyopt.tree.scale(2.0, anyopt.tree.sub(params, t))
        updates, state = tx.update(grads, state, params)
        params = anyopt.apply_updates(params, updates)
    for k in target:
        np.testing.assert_allclose(backend.numpy(params[k]), target[k], atol=1e-3)


# --- monitoring -----------------------------------------------------------------------------
def test_snapshot_and_monitor_record_float64_reference_numbers(backend):
    rng = np.random.default_rng(0)
    grads = [{"a": rng.standard_normal(3), "b": rng.standard_normal((2, 2))} for _ in range(4)]
    tx = anyopt.chain(
        anyopt.scale(0.5),
        anyopt.snapshot("half_norm", anyopt.tree.norm),
        anyopt.monitor(
            {"max": anyopt.tree.max, "norm_ema": anyopt.measure_with_ema(anyopt.tree.norm, 0.9)}
        ),
        anyopt.clip_by_global_norm(0.1),
    )
    params = backend.tree({k: np.zeros_like(v, np.float32) for k, v in grads[0].items()})
    state = tx.init(params)
    ema = 0.0
    for step, g in enumerate(grads, start=1):
        _, state = tx.update(backend.tree(g, "float32"), state, params)
        norm = 0.5 * np.sqrt(sum(np.sum(v**2) for v in g.values()))
        ema = 0.9 * ema + 0.1 * norm
        np.testing.assert_allclose(
            backend.numpy(anyopt.tree.get(state, "half_norm")), norm, rtol=1e-6
        )
        np.testing.assert_allclose(
            backend.numpy(anyopt.tree.get(state, "max")),
            0.5 * max(v.max() for v in g.values()),
            rtol=1e-6,
        )
        np.testing.assert_allclose(
            backend.numpy(anyopt.tree.get(state, "norm_ema")), ema / (1 - 0.9**step), rtol=1e-5
        )


def test_monitor_passes_updates_through(backend):
    params = _params(backend)
    tx = anyopt.monitor({"n": anyopt.tree.norm})
    updates, state = tx.update(params, tx.init(params), params)
    assert updates is params and state.measurements.keys() == {"n"}


# --- microbatching ------------------------------------------------------------------------
def data(backend, n=12, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x, y, w = rng.standard_normal((n, d)), rng.standard_normal(n), rng.standard_normal(d)
    as_b = lambda a: backend.array(a.astype(np.float32))  # noqa: E731
    return (x, y, w), (as_b(x), as_b(y), as_b(w))


@pytest.mark.parametrize("size", [1, 2, 3, 6, 12])
def test_microbatch_accumulations_match_the_full_batch(backend, size):
    (x, y, w), (bx, by, bw) = data(backend)

    def fun(w_, x_, y_):
        r = x_ @ w_ - y_
        return {
            "per_example": r * 2,
            "sum": (r**2).sum(),
            "mean": (r**2).mean(),
            "run": (r**2).mean(),
        }

    acc = {"per_example": Acc.CONCAT, "sum": Acc.SUM, "mean": Acc.MEAN, "run": Acc.RUNNING_MEAN}
    out = anyopt.microbatch(fun, argnums=(1, 2), microbatch_size=size, accumulator=acc)(bw, bx, by)
    r = x @ w - y
    np.testing.assert_allclose(backend.numpy(out["per_example"]), 2 * r, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(backend.numpy(out["sum"]), np.sum(r**2), rtol=1e-5)
    np.testing.assert_allclose(backend.numpy(out["mean"]), np.mean(r**2), rtol=1e-5)
    np.testing.assert_allclose(backend.numpy(out["run"]), np.mean(r**2), rtol=1e-5)


def test_microbatches_are_strided_and_stop_early(backend):
    x = np.arange(12, dtype=np.float32) + 1
    rows = anyopt.microbatch(
        lambda v: v, argnums=0, microbatch_size=3, accumulator=Acc.CONCAT, num_real_microbatches=2
    )(backend.array(x))
    n = 4  # microbatch j holds rows j, j + 4, j + 8
    kept = np.isin(np.arange(12) % n, [0, 1])
    np.testing.assert_array_equal(backend.numpy(rows), np.where(kept, x, 0))
    split = anyopt.microbatching.reshape_batch_axis(
        backend.array(np.arange(24, dtype=np.int32).reshape(2, 12)), 3, axis=1
    )
    assert tuple(split.shape) == (2, 4, 3)
    np.testing.assert_array_equal(backend.numpy(split)[1, 2], 12 + np.array([2, 6, 10]))


def test_microbatch_keyword_arguments_and_in_axes(backend):
    (x, _, w), (bx, _, bw) = data(backend)
    fun = lambda w_, *, xt: (w_ @ xt).sum()  # noqa: E731
    out = anyopt.microbatch(fun, argnums=(), argnames="xt", in_axes=1, microbatch_size=4)(
        bw, xt=backend.array(x.T.astype(np.float32))
    )
    np.testing.assert_allclose(backend.numpy(out), np.sum(w @ x.T), rtol=1e-5)


def test_micro_vmap_equals_a_loop(backend):
    (x, _, w), (bx, _, bw) = data(backend)
    fun = lambda w_, row, *, scale: ((row * w_).sum() * scale, row * 2)  # noqa: E731
    out = anyopt.microbatching.micro_vmap(fun, in_axes=(None, 0), microbatch_size=4)(
        bw, bx, scale=backend.array(np.full(12, 3.0, np.float32))
    )
    np.testing.assert_allclose(backend.numpy(out[0]), 3 * (x @ w), rtol=1e-5)
    np.testing.assert_allclose(backend.numpy(out[1]), 2 * x, rtol=1e-6)
    total = anyopt.microbatching.micro_vmap(
        lambda r: r.sum(), accumulator=Acc.SUM, microbatch_size=3
    )(bx)
    np.testing.assert_allclose(backend.numpy(total), x.sum(), rtol=1e-5)


def mse(w, x, y):
    r = x @ w - y
    return 0.5 * (r**2).mean()


@pytest.mark.parametrize("keep_batch_dim", [True, False])
def test_micro_grad_per_example_gradients_against_float64(backend, keep_batch_dim):
    (x, y, w), (bx, by, bw) = data(backend)
    grad_fn = anyopt.microbatching.micro_grad(
        mse, batch_argnums=(1, 2), keep_batch_dim=keep_batch_dim, microbatch_size=4,
        accumulator=Acc.MEAN, transform_fn=lambda g: (g, g * g), metrics_fn=lambda g: (g * g).sum(),
    )  # fmt: skip
    if backend.name == "numpy":
        with pytest.raises(NotImplementedError, match="micro_grad does not run on numpy"):
            grad_fn(bw, bx, by)
        return
    (g, g2), aux = grad_fn(bw, bx, by)
    per = (x @ w - y)[:, None] * x  # per-example gradients of 0.5 * r**2
    np.testing.assert_allclose(backend.numpy(g), per.mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(backend.numpy(g2), (per**2).mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(backend.numpy(aux.values), 0.5 * (x @ w - y) ** 2, rtol=1e-4)
    np.testing.assert_allclose(backend.numpy(aux.metrics), (per**2).sum(1), rtol=1e-4)
    assert aux.aux is None


def test_micro_grad_matches_optax_on_jax():
    (_, _, _), (bx, by, bw) = data(Backend("jax"))
    kwargs = dict(batch_argnums=(1, 2), microbatch_size=3, transform_fn=lambda g: g * 2)
    ours = anyopt.microbatching.micro_grad(mse, **kwargs)(bw, bx, by)
    theirs = optax.microbatching.micro_grad(mse, **kwargs)(bw, bx, by)
    assert type(ours[1]).__name__ == type(theirs[1]).__name__ == "Aux"
    assert ours[1]._fields == theirs[1]._fields
    assert_trees_equal((ours[0], tuple(ours[1])), (theirs[0], tuple(theirs[1])), rtol=1e-6)


def test_microbatch_errors(backend):
    (_, _, _), (bx, by, _) = data(backend)
    with pytest.raises(ValueError, match="divisible"):
        anyopt.microbatch(lambda a: a.sum(), argnums=0, microbatch_size=5)(bx)
    with pytest.raises(ValueError, match="equal-size batch axes"):
        anyopt.microbatch(lambda a, b: a.sum(), argnums=(0, 1), microbatch_size=2)(bx, by[:6])
    with pytest.raises(ValueError, match="Unknown accumulator"):
        anyopt.microbatch(lambda a: a.sum(), argnums=0, microbatch_size=2, accumulator="sum")(bx)
    ints = backend.array(np.arange(12, dtype=np.int32))
    with pytest.raises(ValueError, match="floating-point"):
        anyopt.microbatch(lambda a: a, argnums=0, microbatch_size=2, accumulator=Acc.MEAN)(ints)
    with pytest.raises(NotImplementedError, match="out_axis"):
        anyopt.microbatching.micro_vmap(lambda a: a, out_axes=1)


# Defaults that cannot be equal: optax's are jax.vmap and lambdas of its own module.
MICRO_DEFAULTS = {
    ("micro_vmap", "vmap_fn"),
    ("micro_grad", "transform_fn"),
    ("micro_grad", "metrics_fn"),
}


@pytest.mark.parametrize("name", sorted(anyopt.microbatching.__all__))
def test_microbatching_names_match_optax(name):
    ours, theirs = getattr(anyopt.microbatching, name), getattr(optax.microbatching, name)
    if inspect.isclass(ours):
        if issubclass(ours, anyopt.microbatching.AccumulationType):
            assert [m.name for m in ours] == [m.name for m in theirs]
            assert [m.value for m in ours] == [m.value for m in theirs]
        else:
            assert [f.name for f in ours.__dataclass_fields__.values()] == list(
                theirs.__dataclass_fields__
            )
        return
    a, b = inspect.signature(ours).parameters, inspect.signature(theirs).parameters
    assert [(p.name, p.kind) for p in a.values()] == [(p.name, p.kind) for p in b.values()]
    for p in a.values():
        if (name, p.name) not in MICRO_DEFAULTS:
            want = b[p.name].default
            got = p.default
            assert getattr(got, "name", got) == getattr(want, "name", want), (name, p.name)
    assert anyopt.microbatch is anyopt.microbatching.microbatch


def test_micro_grad_of_a_python_number_with_early_stopping(backend):
    if backend.name == "numpy":
        pytest.skip("no autodiff on NumPy (asserted in test_micro_grad_per_example_gradients)")
    grad_fn = anyopt.microbatching.micro_grad(
        lambda c, x: c * x.sum(), microbatch_size=4, num_real_microbatches=3
    )
    result, aux = grad_fn(1.0, backend.array(np.ones(16, np.float32)))
    assert float(backend.numpy(result)) == 12.0  # 3 microbatches of 4 rows, d/dc = 1 each
    # microbatch j holds rows j, j + 4, j + 8, j + 12: row r ran iff r % 4 < 3
    np.testing.assert_array_equal(backend.numpy(aux.values), np.tile([1.0, 1, 1, 0], 4))
