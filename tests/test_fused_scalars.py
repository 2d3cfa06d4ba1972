"""The fused step's scalar program, and its 0-d state read and written in place."""

from __future__ import annotations

import math

import numpy as np
import pytest

import anyopt
from anyopt.backends import _fused, _trace
from anyopt.backends._fused_scalars import LIBM, compile_scalars
from libc_math import LIBC_MATH

pytest.importorskip("numba")

TRANSFORMS = {
    "adam": lambda: anyopt.adam(1e-2),
    "nadam_cosine": lambda: anyopt.nadam(anyopt.cosine_decay_schedule(1e-2, 300)),
    "radam": lambda: anyopt.radam(1e-3),
    "clip_adamw": lambda: anyopt.chain(anyopt.clip_by_global_norm(1.0), anyopt.adamw(1e-2)),
    "inject_warmup": lambda: anyopt.inject_hyperparams(anyopt.adamw)(
        learning_rate=anyopt.warmup_cosine_decay_schedule(0.0, 1e-2, 50, 300)
    ),
    "lion_exponential": lambda: anyopt.lion(anyopt.exponential_decay(1e-3, 10, 0.9)),
    "sgd_polynomial": lambda: anyopt.sgd(anyopt.polynomial_schedule(0.1, 0.01, 2, 100), 0.9),
    "lamb": lambda: anyopt.lamb(1e-3),
    "yogi": lambda: anyopt.yogi(1e-2),
}


def _ufunc_value(x, values):
    """One node with NumPy's ufuncs, or C's float64 functions for ``LIBM``'s operations on
    floats (the independent reference for the generated code)."""
    args = [values[id(a)] if isinstance(a, _trace.Sym) else a for a in x.args]
    if x.op in LIBM and x.dtype.kind == "f":
        operands = [float(x.dtype.type(a)) for a in args]
        return x.dtype.type(getattr(LIBC_MATH, x.op)(*operands))
    if x.op in ("const", "cast"):
        return np.asarray(args[0]).astype(x.dtype)[()]
    if x.op == "fill":
        return x.dtype.type(args[0])
    if x.op == "where":
        return np.where(*args)[()]
    return {**_trace._UNARY, **_trace._BINARY}[x.op](*args)


def _random_input(x, rng):
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        return x.dtype.type(rng.choice([0, 1, 7, int(rng.integers(0, 1 << 20)), info.max]))
    if x.dtype.kind == "b":
        return np.bool_(rng.integers(0, 2))
    return x.dtype.type(
        rng.choice([0.0, 1.0, float(rng.uniform(0, 2)), float(rng.uniform(0, 1e-3))])
    )


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_generated_scalar_program_equals_ufunc_evaluation_bitwise(name):
    tx = TRANSFORMS[name]()
    params = {"a": np.ones((4, 3), np.float32), "b": np.ones(5, np.float32)}
    plan = _fused.Plan(anyopt._step.reference_step(tx), params, params, tx.init(params))
    program = compile_scalars(plan.scalar_order)
    rng = np.random.default_rng(0)
    for _ in range(200):
        inputs = {id(s): _random_input(s, rng) for s in plan.inputs.values() if s.scalar}
        sums = {id(x): x.dtype.type(rng.uniform(0, 10)) for x in plan.scalar_order if x.op == "sum"}
        expected = dict(inputs)
        with np.errstate(all="ignore"):
            for x in plan.scalar_order:
                if x.op == "sum":
                    expected[id(x)] = sums[id(x)]
                elif x.op != "in":
                    expected[id(x)] = _ufunc_value(x, expected)
            actual = program(dict(inputs), sums.__getitem__)
        for x in plan.scalar_order:
            a, e = actual[id(x)], expected[id(x)]
            assert np.asarray(a).dtype == np.asarray(e).dtype == x.dtype, (name, x.op)
            np.testing.assert_array_equal(a, e, err_msg=f"{name}: {x.op}")


def test_casts_to_integers_convert_as_astype_does():
    count = _trace.Sym("in", (), True, np.dtype("int32"), leaf=(2, 0))
    as_float = _trace.Sym("cast", (count,), True, np.dtype("float32"))
    back = _trace.Sym("cast", (_trace.node("div", as_float, 0.0),), True, np.dtype("int32"))
    order = [count, as_float, back.args[0], back]
    with np.errstate(all="ignore"):
        out = compile_scalars(order)({id(count): np.int32(3)}, None)
        expected = np.asarray(np.float32(np.inf)).astype(np.int32)[()]
    assert out[id(as_float)] == np.float32(3.0) and out[id(as_float)].dtype == np.float32
    assert out[id(back)] == expected and out[id(back)].dtype == np.int32


def _torch_run(tx, state_edit=None, donate=True, steps=5):
    """Fused steps on torch and reference steps from the same start; ``state_edit(state,
    t, fused)`` changes the fused and the reference state before step ``t``."""
    torch = pytest.importorskip("torch")
    step = anyopt.make_step(tx, "fused", donate=donate)
    params = {"w": torch.linspace(-1, 1, 50), "b": torch.ones(3)}
    ref_params = {k: v.clone() for k, v in params.items()}
    state, ref_state = step.init(params), tx.init(ref_params)
    first = state
    for t in range(steps):
        if state_edit is not None:
            state, ref_state = state_edit(state, t, True), state_edit(ref_state, t, False)
        gen = torch.Generator().manual_seed(t)
        grads = {k: torch.randn(v.shape, generator=gen) for k, v in params.items()}
        before = state
        params, state = step(params, grads, state)
        updates, ref_state = tx.update(grads, ref_state, ref_params)
        ref_params = anyopt.apply_updates(ref_params, updates)
        for k in params:
            np.testing.assert_allclose(params[k].numpy(), ref_params[k].numpy(), rtol=1e-6)
    return first, before, state


def test_torch_donated_step_writes_counts_in_place_and_keeps_hyperparameters():
    tx = anyopt.inject_hyperparams(anyopt.adam)(learning_rate=0.01)
    first, before, state = _torch_run(tx)
    assert state is before  # every leaf updated in place: the same tree comes back
    assert state.count is first.count and int(state.count) == 5
    assert state.inner_state[0].count is first.inner_state[0].count
    assert state.hyperparams["learning_rate"] is first.hyperparams["learning_rate"]


def test_torch_step_without_donation_leaves_the_counts_untouched():
    first, before, state = _torch_run(anyopt.adam(0.01), donate=False, steps=2)
    assert int(first[0].count) == 0 and int(before[0].count) == 1
    assert int(state[0].count) == 2 and state[0].count is not before[0].count


def test_torch_count_shared_by_two_leaves_is_written_once():
    torch = pytest.importorskip("torch")
    tx = anyopt.inject_hyperparams(anyopt.adam)(learning_rate=0.01)

    def share(state, t, fused):  # the inner count becomes the outer count's tensor
        if t:
            return state
        return state._replace(
            inner_state=(state.inner_state[0]._replace(count=state.count), *state.inner_state[1:])
        )

    _, _, state = _torch_run(tx, share)
    assert int(state.count) == 5 and int(state.inner_state[0].count) == 5
    assert state.count.data_ptr() != state.inner_state[0].count.data_ptr()
    assert isinstance(state.count, torch.Tensor)


def test_torch_count_given_new_memory_is_read_again():
    torch = pytest.importorskip("torch")

    def jump(state, t, fused):
        if t != 3:
            return state
        new = torch.tensor(100, dtype=torch.int32)
        if fused:  # same tensor object, other memory: a cached view would be stale
            state[0].count.data = new
            return state
        return (state[0]._replace(count=new), *state[1:])

    _, _, state = _torch_run(anyopt.adam(0.01), jump, steps=6)
    assert int(state[0].count) == 103


_SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -2.0, 3.0, -3.0, 1 / 3, 709.0, 710.0, -746.0]
_SPECIAL += [1025.0, -1025.0, 1e308, 5e-324, math.inf, -math.inf, math.nan]


@pytest.mark.parametrize("op", sorted(LIBM))
def test_libm_operations_give_the_c_librarys_results(op):
    """``LIBM`` wraps ``math`` where it raises; the C library itself is the reference."""
    rng = np.random.default_rng(0)
    values = _SPECIAL + [float(v) for v in rng.normal(scale=30, size=200)]
    pairs = [(x, y) for x in values for y in values] if op == "pow" else [(x,) for x in values]
    for args in pairs:
        ours, theirs = LIBM[op](*args), getattr(LIBC_MATH, op)(*args)
        same = (math.isnan(ours) and math.isnan(theirs)) or (
            ours == theirs and math.copysign(1, ours) == math.copysign(1, theirs)
        )
        assert same, (op, args, ours, theirs)
