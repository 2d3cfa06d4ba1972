"""Wrappers of group A: MultiSteps, apply_every, apply_if_finite, conditionally_*, lookahead,
flatten and masked, against optax and against independent float64 references.

OWN_CASES (tests/cases/wrappers_a.py) run here through the generic parity harness, with a
dtype check that knows their counters; the rest are behaviours the harness cannot drive:
NaN gradients, extra arguments, large-batch equivalence, jit retracing and bad input.
"""

from __future__ import annotations

import functools

import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import anyopt
from anyopt import _tree, backends
from test_dtypes import DOUBLE, LOW_PRECISION, SINGLE, assert_dtypes, assert_finite, bounded_tree
from test_parity_optax import assert_same, gradient, plain

from cases.wrappers_a import OWN_CASES, OWN_OPTIMIZERS
from conftest import FRAMEWORKS, Backend, random_tree

STEPS = 50


def multiplier(case: str) -> float:
    return 1.0 if case.split("/")[0] in OWN_OPTIMIZERS else -0.01


def run(lib, backend: Backend, case: str, steps: int = STEPS):
    tx = OWN_CASES[case](lib)
    params = backend.tree(random_tree(0))
    state = tx.init(params)
    for k in range(steps):
        grads = gradient(params, backend.tree(random_tree(100 + k)))
        updates, state = tx.update(grads, state, params)
        params = lib.apply_updates(params, lib.tree_utils.tree_scale(multiplier(case), updates))
    return plain(params, backend), plain(state, backend)


@functools.cache
def optax_trajectory(case: str):
    return run(optax, Backend("jax"), case)


@pytest.mark.slow  # a JAX compile crashed (segfault) in this test under load; see issue 5 notes
@pytest.mark.parametrize("case", sorted(OWN_CASES))
def test_own_cases_match_optax_trajectory(case, backend):
    expected_params, expected_state = optax_trajectory(case)
    params, state = run(anyopt, backend, case)
    assert_same(params, expected_params, "params")
    assert_same(state, expected_state, "state")


# --- dtypes ---------------------------------------------------------------------------------
FLOAT32_BY_DESIGN = {"acc_grads"}  # MultiSteps' accumulator: float32 unless told otherwise


def fields(node, out=None, name=""):
    """(field name, leaf) for every leaf, named after its nearest NamedTuple field."""
    out = [] if out is None else out
    if isinstance(node, tuple) and hasattr(type(node), "_fields"):
        for f, child in zip(node._fields, node):
            fields(child, out, f)
    elif isinstance(node, (list, tuple)):
        for child in node:
            fields(child, out, name)
    elif isinstance(node, dict):
        for child in node.values():
            fields(child, out, name)
    elif node is not None:
        out.append((name, node))
    return out


def assert_state_dtypes(state, dtype: str, case: str):
    accumulator_none = case.endswith("accumulator_dtype_none")
    for name, leaf in fields(state):
        got = backends.dtype_name(leaf.dtype)
        if "float" in got:
            fixed = name in FLOAT32_BY_DESIGN and not accumulator_none
            assert got == ("float32" if fixed else dtype), f"{case}: {name} is {got}"
        else:
            assert got in ("int32", "bool") and tuple(leaf.shape) == (), f"{case}: {name} {got}"


def dtype_params():
    """float16/bfloat16 are the demanding cases; float32/float64 are exhaustive (slow)."""
    slow = [pytest.param(*p, marks=pytest.mark.slow) for p in DOUBLE + SINGLE]
    return LOW_PRECISION + slow


@pytest.mark.parametrize("case", sorted(OWN_CASES))
@pytest.mark.parametrize(("backend", "dtype"), dtype_params(), indirect=["backend"])
def test_own_cases_keep_the_parameter_dtype(backend, dtype, case):
    tx = OWN_CASES[case](anyopt)
    params = backend.tree(bounded_tree(0), dtype)
    state = tx.init(params)
    assert_state_dtypes(state, dtype, case)
    for k in range(3):
        grads = backend.tree(bounded_tree(100 + k), dtype)
        updates, state = tx.update(grads, state, params)
        assert_dtypes(updates, dtype, f"{case} step {k} updates")
        assert_finite(backend, updates, f"{case} step {k} updates")
        assert_state_dtypes(state, dtype, case)
        params = anyopt.apply_updates(params, anyopt.tree_utils.tree_scale(0.1, updates))
        assert_dtypes(params, dtype, f"{case} step {k} params")


# --- JAX: jit -----------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(OWN_CASES))
def test_own_cases_jit_once_and_match_eager(case):
    import jax

    tx, traces = OWN_CASES[case](anyopt), []

    def update(grads, state, params):
        traces.append(1)
        return tx.update(grads, state, params)

    jitted, jax_backend = jax.jit(update), Backend("jax")
    params = jax_backend.tree(random_tree(0))
    state = jit_state = tx.init(params)
    for k in range(7):
        grads = gradient(params, jax_backend.tree(random_tree(100 + k)))
        updates, state = tx.update(grads, state, params)
        jit_updates, jit_state = jitted(grads, jit_state, params)
        # XLA fuses the jitted step; lookahead's fast + u - slow cancels, so 1e-5 relative.
        assert_same(plain(jit_updates, jax_backend), plain(updates, jax_backend), "updates")
        assert_same(plain(jit_state, jax_backend), plain(state, jax_backend), "state")
        params = anyopt.apply_updates(params, anyopt.tree_utils.tree_scale(0.1, updates))
    assert len(traces) == 1, "traced more than once under jit"


@pytest.mark.skipif("mlx" not in FRAMEWORKS, reason="needs MLX")
@pytest.mark.parametrize("case", ["MultiSteps/skip_large_updates", "apply_if_finite", "lookahead"])
def test_own_cases_compile_under_mlx(case):
    tx, mlx = OWN_CASES[case](anyopt), Backend("mlx")
    step = anyopt.make_step(tx, "compiled")
    params = ref = mlx.tree(random_tree(0))
    state, ref_state = step.init(params), tx.init(ref)
    for k in range(5):
        grads = mlx.tree(random_tree(10 + k))
        params, state = step(params, grads, state)
        updates, ref_state = tx.update(grads, ref_state, ref)
        ref = anyopt.apply_updates(ref, updates)
    assert_same(plain(params, mlx), plain(ref, mlx), "params", 1e-6)


# --- MultiSteps: k micro-batches == one large-batch step ------------------------------------
def linear_gradient(w, b, x, y):
    """Gradient of mean((x @ w + b - y)**2) in float64: (dw, db)."""
    r = x @ w + b - y
    return 2.0 * x.T @ r / len(y), 2.0 * np.mean(r)


def as_numpy(backend, tree):
    return _tree.map(lambda a: backend.numpy(a), tree)


@pytest.mark.parametrize("use_grad_mean", [True, False])
def test_multi_steps_equal_large_batch_steps(backend, use_grad_mean):
    rng = np.random.default_rng(0)
    k, batch, outer = 4, 8, 3
    x, y = rng.standard_normal((k * batch * outer, 5)), rng.standard_normal(k * batch * outer)
    lr = anyopt.linear_schedule(0.1, 0.02, outer)  # counts real (large-batch) steps
    inner = anyopt.adam(lr) if use_grad_mean else anyopt.sgd(lr)
    scale = 1.0 if use_grad_mean else 1.0 / k  # summed gradients: k times the mean
    multi = anyopt.MultiSteps(anyopt.chain(anyopt.scale(scale), inner), k, use_grad_mean)
    tx = multi.gradient_transformation()
    large = anyopt.chain(anyopt.scale(1.0), anyopt.adam(lr) if use_grad_mean else anyopt.sgd(lr))
    init = {"w": np.zeros(5, np.float32), "b": np.zeros((), np.float32)}
    params, big = backend.tree(init), backend.tree(init)
    state, big_state = tx.init(params), large.init(big)

    def grads_at(p, rows):
        dw, db = linear_gradient(
            *(np.asarray(v, np.float64) for v in (p["w"], p["b"])), x[rows], y[rows]
        )
        return backend.tree({"w": dw.astype(np.float32), "b": np.float32(db)})

    for t in range(outer):
        window = np.arange(t * k * batch, (t + 1) * k * batch)
        before = as_numpy(backend, params)
        for j in range(k):
            g = grads_at(as_numpy(backend, params), window[j * batch : (j + 1) * batch])
            updates, state = tx.update(g, state, params)
            params = anyopt.apply_updates(params, updates)
            assert bool(multi.has_updated(state)) == (j == k - 1)
            if j < k - 1:  # no step until the k-th mini-batch
                np.testing.assert_array_equal(as_numpy(backend, params)["w"], before["w"])
        updates, big_state = large.update(grads_at(as_numpy(backend, big), window), big_state, big)
        big = anyopt.apply_updates(big, updates)
        got, want = as_numpy(backend, params), as_numpy(backend, big)
        for name in ("w", "b"):
            np.testing.assert_allclose(got[name], want[name], rtol=2e-6, atol=1e-7)
        assert int(backend.numpy(state.gradient_step)) == t + 1
    inner_count = state.inner_opt_state[1][0].count if use_grad_mean else None
    if inner_count is not None:  # the inner schedule saw one step per window
        assert int(backend.numpy(inner_count)) == outer


def test_multi_steps_jit_does_not_recompile_and_accumulates_in_float32():
    import jax
    import jax.numpy as jnp

    multi = anyopt.MultiSteps(anyopt.adam(0.1), 3, should_skip_update_fn=anyopt.skip_not_finite)
    traces = []

    def update(grads, state, params):
        traces.append(1)
        return multi.update(grads, state, params)

    update = jax.jit(update)
    params = {"w": jnp.ones(4, jnp.bfloat16)}
    state = multi.init(params)
    for k in range(10):
        grads = {"w": jnp.full(4, 0.5 if k != 4 else jnp.nan, jnp.bfloat16)}
        updates, state = update(grads, state, params)
        assert updates["w"].dtype == jnp.bfloat16
        assert state.acc_grads["w"].dtype == jnp.float32
    assert len(traces) == 1
    assert int(state.gradient_step) == 3 and int(state.mini_step) == 0  # 9 finite mini-steps
    assert int(state.skip_state["num_not_finite"]) == 0


def test_multi_steps_accumulator_dtype_is_honoured(backend):
    params = backend.tree({"w": np.ones(3, np.float32)}, "float16")
    for dtype, want in [("float32", "float32"), (None, "float16"), ("bfloat16", "bfloat16")]:
        if want == "bfloat16" and backend.name == "numpy":
            continue
        multi = anyopt.MultiSteps(anyopt.sgd(0.1), 2, accumulator_dtype=dtype)
        state = multi.init(params)
        _, state = multi.update(params, state, params)
        assert backends.dtype_name(state.acc_grads["w"].dtype) == want


def test_multi_steps_skip_not_finite_matches_optax(backend):
    def trajectory(lib, b):
        multi = lib.MultiSteps(lib.adam(0.1), 2, should_skip_update_fn=lib.skip_not_finite)
        params = b.tree({"w": np.linspace(-1, 1, 4).astype(np.float32)})
        state = multi.init(params)
        for k in range(9):
            g = np.full(4, 0.25 * (k + 1), np.float32)
            g[k % 4] = np.nan if k in (2, 5) else (np.inf if k == 6 else g[k % 4])
            updates, state = multi.update(b.tree({"w": g}), state, params)
            params = lib.apply_updates(params, updates)
        return plain(params, b), plain(state, b)

    want_params, want_state = trajectory(optax, Backend("jax"))
    got_params, got_state = trajectory(anyopt, backend)
    assert_same(got_params, want_params, "params")
    assert_same(got_state, want_state, "state")


# --- apply_if_finite and conditionally_* ----------------------------------------------------
@pytest.mark.parametrize("nan_steps", [(2, 5, 6), (2, 5, 6, 7)])  # the 2nd gives up at step 7
def test_apply_if_finite_with_nan_gradients_matches_optax(backend, nan_steps):
    def trajectory(lib, b):
        tx = lib.apply_if_finite(lib.adam(0.1), max_consecutive_errors=2)
        params = b.tree({"w": np.linspace(-1, 1, 6).astype(np.float32), "s": np.float32(2)})
        state = tx.init(params)
        for k in range(10):
            g = {"w": np.full(6, 0.1 * k - 0.3, np.float32), "s": np.float32(0.5)}
            if k in nan_steps:
                g["w"][k % 6] = np.nan
            updates, state = tx.update(b.tree(g), state, params)
            params = lib.apply_updates(params, updates)
        return plain(params, b), plain(state, b)

    want_params, want_state = trajectory(optax, Backend("jax"))
    got_params, got_state = trajectory(anyopt, backend)
    gave_up = len(nan_steps) == 4
    assert np.isnan(want_params["w"]).any() == gave_up  # the oracle did what the test means
    if gave_up:
        np.testing.assert_array_equal(np.isnan(got_params["w"]), np.isnan(want_params["w"]))
        assert int(got_state["total_notfinite"]) == int(want_state["total_notfinite"]) == 4
        return
    assert_same(got_params, want_params, "params")
    assert_same(got_state, want_state, "state")


@pytest.mark.parametrize("wrapper", ["conditionally_mask", "conditionally_transform"])
def test_conditionally_forwards_extra_args_to_the_condition(backend, wrapper):
    def condition(step, loss, **extra):
        del step, extra
        return loss > 0.1

    tx = getattr(anyopt, wrapper)(anyopt.sgd(1.0, momentum=0.5), condition, forward_extra_args=True)
    params = backend.tree({"w": np.zeros(2, np.float32)})
    grads = backend.tree({"w": np.ones(2, np.float32)})
    state = tx.init(params)
    for loss, want in [(0.5, -1.0), (0.5, -1.5), (0.0, 0.0 if wrapper.endswith("mask") else 1.0)]:
        loss = backend.array(np.float32(loss))
        updates, state = tx.update(grads, state, params, loss=loss)
        np.testing.assert_allclose(backend.numpy(updates["w"]), [want, want])
    assert int(backend.numpy(state.step)) == 3
    trace = state.inner_state[0].trace["w"]  # momentum kept from the second step
    np.testing.assert_allclose(backend.numpy(trace), [1.5, 1.5])


# --- masked ---------------------------------------------------------------------------------
def test_masked_with_a_mismatched_mask_names_the_path(backend):
    params = backend.tree({"a": np.ones(2, np.float32), "c": {"d": np.ones(3, np.float32)}})
    mask = {"a": True, "c": {"d": True, "extra": False}}
    with pytest.raises(ValueError, match=r"masked: .*\['c'\].*'extra'"):
        anyopt.masked(anyopt.scale_by_adam(), mask).init(params)
    with pytest.raises(ValueError, match=r"masked: .*\['a'\]: mask has a list of length 2"):
        anyopt.masked(anyopt.scale_by_adam(), {"a": [True, False], "c": True}).init(params)
    good = anyopt.masked(anyopt.scale_by_adam(), {"a": True, "c": True})
    state = good.init(params)
    wrong = backend.tree({"a": np.ones(2, np.float32), "b": np.ones(3, np.float32)})
    with pytest.raises(ValueError, match=r"masked: .*updates.*'b'"):
        good.update(wrong, state)


def test_masked_treats_a_callable_tree_of_booleans_as_a_mask(backend):
    from typing import NamedTuple

    class Module(NamedTuple):
        w: object

        def __call__(self, x):  # callable, like an equinox module
            raise AssertionError("masked must not call a tree of booleans")

    params = Module(backend.array(np.ones(3, np.float32)))
    tx = anyopt.masked(anyopt.sgd(1.0), Module(False))
    updates, _ = tx.update(params, tx.init(params))
    np.testing.assert_array_equal(backend.numpy(updates.w), np.ones(3))


def test_masked_works_with_tree_map_params(backend):
    params = backend.tree({"a": np.ones(2, np.float32), "b": np.ones(3, np.float32)})
    tx = anyopt.masked(anyopt.sgd(0.1, momentum=0.9), {"a": True, "b": False})
    state = tx.init(params)
    doubled = anyopt.tree.map_params(tx, lambda p: p + 1, state)
    trace = doubled.inner_state[0].trace
    np.testing.assert_array_equal(backend.numpy(trace["a"]), np.ones(2))
    assert isinstance(trace["b"], anyopt.MaskedNode)


def test_masked_with_an_all_false_mask_passes_updates_through(backend):
    params = backend.tree(random_tree(0))
    mask = {"dense": False, "layers": [False, (False, False)], "skip": None}
    tx = anyopt.masked(anyopt.adam(0.1), mask)
    state = tx.init(params)
    for k in range(3):
        grads = backend.tree(random_tree(10 + k))
        updates, state = tx.update(grads, state, params)
        for u, g in zip(_tree.leaves(updates), _tree.leaves(grads)):
            assert u is g
    assert _tree.leaves(state.inner_state[0].mu) == []  # no state for masked-out leaves
    # The step count still lives on the parameters' framework, as optax's does.
    assert backends.of(state.inner_state[0].count).NAME == backend.name


def test_masked_masks_compatible_extra_args(backend):
    seen = {}

    def update(updates, state, params=None, *, tags=None, **extra):
        seen["tags"] = tags
        return updates, state

    inner = anyopt.GradientTransformationExtraArgs(lambda p: anyopt.EmptyState(), update)
    params = backend.tree({"a": np.ones(2, np.float32), "b": np.ones(3, np.float32)})
    tags = backend.tree({"a": np.zeros(2, np.float32), "b": np.zeros(3, np.float32)})
    tx = anyopt.masked(inner, {"a": True, "b": False}, mask_compatible_extra_args=True)
    tx.update(params, tx.init(params), tags=tags)
    assert isinstance(seen["tags"]["b"], anyopt.MaskedNode)
    assert not isinstance(seen["tags"]["a"], anyopt.MaskedNode)


# --- property tests: random trees -----------------------------------------------------------
shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


def containers(children):
    """Lists and dicts of ``children`` (the recursive step of ``leaf_shapes``)."""
    lists = st.lists(children, min_size=1, max_size=3)
    dicts = st.dictionaries(st.sampled_from("abcde"), children, min_size=1, max_size=3)
    return st.one_of(lists, dicts)


leaf_shapes = st.recursive(shapes, containers, max_leaves=6)


def tree_of(spec, rng):
    return _tree.map(
        lambda s: rng.standard_normal(s).astype(np.float32),
        spec,
        is_leaf=lambda s: isinstance(s, tuple),
    )


def run_steps(tx, params, grads_list):
    state, out = tx.init(params), []
    for grads in grads_list:
        updates, state = tx.update(grads, state, params)
        params = anyopt.apply_updates(params, updates)
        out.append(params)
    return out


def assert_trees_close(a, b):
    assert backends.flatten(a)[1] == backends.flatten(b)[1]
    for x, y in zip(_tree.leaves(a), _tree.leaves(b)):
        np.testing.assert_allclose(Backend.numpy(x), Backend.numpy(y), rtol=1e-6, atol=1e-7)


@settings(max_examples=30, deadline=None)
@given(spec=leaf_shapes, seed=st.integers(0, 2**16), framework=st.sampled_from(FRAMEWORKS))
def test_flatten_equals_the_unflattened_transformation(spec, seed, framework):
    rng, b = np.random.default_rng(seed), Backend(framework)
    params = b.tree(tree_of(spec, rng))
    grads = [b.tree(tree_of(spec, rng)) for _ in range(3)]
    inner = anyopt.chain(anyopt.add_decayed_weights(0.1), anyopt.adam(0.05))
    for a, c in zip(
        run_steps(anyopt.flatten(inner), params, grads), run_steps(inner, params, grads)
    ):
        assert_trees_close(a, c)


@settings(max_examples=30, deadline=None)
@given(spec=leaf_shapes, seed=st.integers(0, 2**16), framework=st.sampled_from(FRAMEWORKS))
def test_masked_with_an_all_true_mask_equals_the_inner_transformation(spec, seed, framework):
    rng, b = np.random.default_rng(seed), Backend(framework)
    params = b.tree(tree_of(spec, rng))
    grads = [b.tree(tree_of(spec, rng)) for _ in range(3)]
    inner = anyopt.adamw(0.05, weight_decay=0.1)
    full_mask = _tree.map(lambda _: True, params)
    for mask in (True, full_mask, lambda p: _tree.map(lambda _: True, p)):
        got = run_steps(anyopt.masked(inner, mask), params, grads)
        for a, c in zip(got, run_steps(inner, params, grads)):
            assert_trees_close(a, c)


# --- float64 references -----------------------------------------------------------------------
def lookahead_reference(theta, grad, lr, momentum, k, alpha, steps, reset):
    """Zhang et al. (2019), Algorithm 1, with heavy-ball SGD as the inner optimizer."""
    slow, fast, velocity, history = theta.copy(), theta.copy(), np.zeros_like(theta), []
    for t in range(steps):
        velocity = momentum * velocity + grad(fast)
        fast = fast - lr * velocity
        if (t + 1) % k == 0:  # synchronise: slow moves towards fast, fast restarts there
            slow = slow + alpha * (fast - slow)
            fast = slow.copy()
            if reset:
                velocity = np.zeros_like(theta)
        history.append((fast.copy(), slow.copy()))
    return history


@pytest.mark.parametrize("reset", [False, True])
def test_lookahead_matches_the_papers_algorithm(backend, reset):
    a, c = np.array([1.0, 3.0, 0.5, 2.0]), np.array([0.3, -1.0, 2.0, 0.0])

    def grad(x):  # of 0.5 * sum(a * x**2) - c @ x
        return a * x - c

    theta = np.array([1.0, -2.0, 0.5, 3.0])
    want = lookahead_reference(theta, grad, 0.1, 0.5, 3, 0.4, 10, reset)
    tx = anyopt.lookahead(anyopt.sgd(0.1, momentum=0.5), 3, 0.4, reset_state=reset)
    params = anyopt.LookaheadParams.init_synced(backend.array(theta.astype(np.float32)))
    state = tx.init(params)
    for fast_want, slow_want in want:
        g = backend.array(grad(backend.numpy(params.fast)).astype(np.float32))
        updates, state = tx.update(g, state, params)
        params = anyopt.apply_updates(params, updates)
        np.testing.assert_allclose(backend.numpy(params.fast), fast_want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(backend.numpy(params.slow), slow_want, rtol=1e-5, atol=1e-6)


def test_apply_every_sums_k_updates_and_emits_them_on_the_kth(backend):
    rng = np.random.default_rng(1)
    grads = rng.standard_normal((9, 3))
    tx = anyopt.apply_every(3)
    params = backend.array(np.zeros(3, np.float32))
    state = tx.init(params)
    for t, g in enumerate(grads):
        updates, state = tx.update(backend.array(g.astype(np.float32)), state)
        want = grads[t - 2 : t + 1].sum(0) if t % 3 == 2 else np.zeros(3)
        np.testing.assert_allclose(backend.numpy(updates), want, rtol=1e-6, atol=1e-6)


# --- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (
            lambda: anyopt.MultiSteps(anyopt.sgd(0.1), 0),
            ValueError,
            "every_k_schedule must be >= 1; got 0",
        ),
        (
            lambda: anyopt.MultiSteps(anyopt.sgd(0.1), -2),
            ValueError,
            "every_k_schedule must be >= 1; got -2",
        ),
        (lambda: anyopt.MultiSteps(anyopt.sgd(0.1), 2.5), TypeError, "positive int or a function"),
        (
            lambda: anyopt.MultiSteps(anyopt.sgd(0.1), 2, accumulator_dtype="int32"),
            ValueError,
            "accumulator_dtype must be a floating dtype",
        ),
        (
            lambda: anyopt.MultiSteps(anyopt.sgd(0.1), 2, should_skip_update_fn=3),
            TypeError,
            "should_skip_update_fn must be a function",
        ),
        (lambda: anyopt.apply_every(0), ValueError, "apply_every: k must be > 0; got 0"),
        (
            lambda: anyopt.lookahead(anyopt.sgd(0.1), 0, 0.5),
            ValueError,
            "sync_period must be >= 1; got 0",
        ),
        (
            lambda: anyopt.lookahead(anyopt.sgd(0.1), 2, -0.5),
            ValueError,
            "slow_step_size must be >= 0",
        ),
        (
            lambda: anyopt.apply_if_finite(anyopt.sgd(0.1), -1),
            ValueError,
            "max_consecutive_errors must be >= 0",
        ),
    ],
)
def test_bad_hyperparameters_are_rejected_when_built(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_multi_steps_rejects_a_skip_function_without_a_boolean_flag(backend):
    multi = anyopt.MultiSteps(anyopt.sgd(0.1), 2, should_skip_update_fn=lambda u, s, p: (s, ()))
    params = backend.tree({"w": np.ones(2, np.float32)})
    state = multi.init(params)
    with pytest.raises(ValueError, match="must return a 0-d boolean array first; got dtype int32"):
        multi.update(params, state, params)


def test_flatten_of_a_tree_without_leaves_is_a_clear_error():
    with pytest.raises(ValueError, match="flatten: the tree has no leaves"):
        anyopt.flatten(anyopt.sgd(0.1)).init({"a": None})
