"""The fused mode's batches: one numba call for all leaves that run the same code."""

from __future__ import annotations

import numpy as np
import pytest

import anyopt
from anyopt.backends import _fused, _fused_batch

pytest.importorskip("numba")


def _tree(n_leaves: int, seed: int, dtype=np.float32) -> dict:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 300, n_leaves)
    return {f"w{i:03d}": rng.normal(size=int(s)).astype(dtype) for i, s in enumerate(sizes)}


def _plan(tx, params) -> _fused.Plan:
    return _fused.Plan(anyopt._step.reference_step(tx), params, params, tx.init(params))


def _run(tx, params, grads_seeds, donate=True, freeze=()):
    """Steps of make_step's fused mode and of the reference, from the same start."""
    step = anyopt.make_step(tx, "fused", donate=donate)
    ref_params = {k: v.copy() for k, v in params.items()}
    state, ref_state = step.init(params), tx.init(ref_params)
    for name in freeze:
        params[name].flags.writeable = False
    for seed in grads_seeds:
        rng = np.random.default_rng(seed)
        grads = {k: (0.1 * rng.normal(size=v.shape)).astype(v.dtype) for k, v in params.items()}
        params, state = step(params, grads, state)
        updates, ref_state = tx.update(grads, ref_state, ref_params)
        ref_params = anyopt.apply_updates(ref_params, updates)
    return params, ref_params


def _same_sizes(n, seed):
    rng = np.random.default_rng(seed)
    return {f"w{i:03d}": rng.normal(size=50).astype(np.float32) for i in range(n)}


SPLIT_CASES = [
    (5,),
    (0, 7, 0, 3),
    (70_000,),
    (1, 100_000, 2, 65_536, 9),
    (70_001, 70_001, 40_003),
    (33_000, *[700] * 150, 90_001),
]


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("sizes", SPLIT_CASES)
def test_split_covers_every_element_once_in_balanced_parts(sizes, threads, monkeypatch):
    import numba

    monkeypatch.setattr(numba, "get_num_threads", lambda: threads)
    parts, table, parallel = _fused_batch.split(sizes)
    assert parallel == (sum(sizes) >= _fused_batch.PARALLEL_MIN)
    seen = [np.zeros(s, int) for s in sizes]
    for m, lo, hi in table:
        assert 0 <= lo < hi <= sizes[m]
        seen[m][lo:hi] += 1
    assert all((s == 1).all() for s in seen)
    assert parts[0] == 0 and parts[-1] == len(table) and (np.diff(parts) >= 0).all()
    runs = [table[a:b] for a, b in zip(parts[:-1], parts[1:])]
    work = [sum(hi - lo for _, lo, hi in run) for run in runs]
    large = [m for m, s in enumerate(sizes) if s >= _fused_batch.SPLIT_EACH_MIN]
    # every thread gets the same number of elements, give or take one per large member
    assert max(work) - min(work) <= max(1, len(large))
    if parallel:  # and a slice of every large member
        assert all(set(large) <= {m for m, _, _ in run} for run in runs)


def test_many_leaves_run_as_one_batch_with_scalars_computed_once():
    tx = anyopt.adam(1e-2)
    small, large = _plan(tx, _same_sizes(3, 0)), _plan(tx, _same_sizes(60, 0))
    assert len(small.batches) == len(large.batches) == 1
    assert len(large.batches[0].kernels) == 60
    assert all(large.batches[0].shared)  # one bias correction for every leaf
    # the reference computes its scalars per leaf; the plan evaluates each once
    assert len(large.scalar_order) == len(small.scalar_order)


def test_global_norm_sums_run_as_one_batch_and_match_the_reference():
    tx = anyopt.chain(anyopt.clip_by_global_norm(0.5), anyopt.adamw(1e-2))
    params = _tree(40, 1)
    assert len(set(map(id, _plan(tx, params).sum_batch.values()))) == 1
    got, want = _run(tx, params, range(3))
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6, atol=1e-7)


def test_per_leaf_scalars_are_passed_per_member():
    tx = anyopt.lamb(1e-2)  # a trust ratio per leaf
    params = _tree(30, 2)
    batch = _plan(tx, params).batches[0]
    assert len(batch.kernels) == 30 and not all(batch.shared)
    got, want = _run(tx, params, range(3))
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6, atol=1e-7)


def test_in_place_outputs_share_the_input_pointer():
    tx = anyopt.adam(1e-2)
    params = _same_sizes(8, 3)
    step = anyopt.make_step(tx, "fused")
    state = step.init(params)
    mu_before = state[0].mu["w000"]
    new_params, state = step(params, dict(params), state)
    assert new_params["w000"] is params["w000"] and state[0].mu["w000"] is mu_before
    plan = next(iter(step._impl["numpy"].run.plans.values()))
    assert -1 not in plan.batches[0].pattern
    assert "o0 = a" in plan.batches[0].source(plan.batches[0].pattern)


def test_without_donation_the_inputs_are_kept():
    tx = anyopt.adamw(1e-2)
    params = _tree(20, 4)
    before = {k: v.copy() for k, v in params.items()}
    got, want = _run(tx, params, [7], donate=False)
    for k in want:
        np.testing.assert_array_equal(params[k], before[k])
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6, atol=1e-7)


def test_read_only_leaves_among_writable_ones_get_new_arrays():
    tx = anyopt.lion(1e-2)
    params = _tree(12, 5)
    frozen = dict(params)
    got, want = _run(tx, params, range(2), freeze=["w003", "w007"])
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6, atol=1e-7)
    assert got["w003"] is not frozen["w003"] and got["w000"] is frozen["w000"]


def test_leaves_of_two_dtypes_run_in_two_batches():
    tx = anyopt.adam(1e-2)
    params = {**_tree(5, 6), **{f"d{k}": v for k, v in _tree(5, 7, np.float64).items()}}
    assert len(_plan(tx, params).batches) == 2
    got, want = _run(tx, params, range(2))
    for k in want:
        assert got[k].dtype == want[k].dtype
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6, atol=1e-7)


def test_torch_tensors_are_stepped_through_their_own_memory():
    torch = pytest.importorskip("torch")
    tx = anyopt.adam(1e-2)
    params = {k: torch.tensor(v) for k, v in _same_sizes(10, 8).items()}
    pointers = {k: v.data_ptr() for k, v in params.items()}
    ref = {k: v.clone() for k, v in params.items()}
    step = anyopt.make_step(tx, "fused")
    state, ref_state = step.init(params), tx.init(ref)
    grads = {k: torch.full_like(v, 0.5) for k, v in params.items()}
    params, state = step(params, grads, state)
    updates, ref_state = tx.update(grads, ref_state, ref)
    ref = anyopt.apply_updates(ref, updates)
    for k in ref:
        assert params[k].data_ptr() == pointers[k]
        torch.testing.assert_close(params[k], ref[k], rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="mode 'fused' cannot run.*different sizes"):
        step({k: v[::2] for k, v in params.items()}, grads, state)


def test_jax_fused_step_writes_into_the_donated_buffers():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    tx = anyopt.adam(1e-2)
    start = _same_sizes(6, 9)
    params = {k: jnp.asarray(v) for k, v in start.items()}
    ref = {k: jnp.asarray(v) for k, v in start.items()}
    pointers = {k: v.unsafe_buffer_pointer() for k, v in params.items()}
    step = anyopt.make_step(tx, "fused")
    state, ref_state = step.init(params), tx.init(ref)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        grads = {k: jnp.asarray(rng.normal(size=v.shape), jnp.float32) for k, v in start.items()}
        params, state = step(params, grads, state)
        updates, ref_state = tx.update(grads, ref_state, ref)
        ref = anyopt.apply_updates(ref, updates)
    for k in ref:
        assert params[k].unsafe_buffer_pointer() == pointers[k]  # updated in place
        np.testing.assert_allclose(np.asarray(params[k]), np.asarray(ref[k]), rtol=1e-6)


def test_auto_on_jax_fuses_large_leaves_only():
    jax = pytest.importorskip("jax")
    large = {"w": jax.numpy.zeros(1 << 17), "b": jax.numpy.zeros(1 << 17)}
    small = {f"w{i}": jax.numpy.zeros(10) for i in range(20)}
    for tree, mode in ((large, "fused"), (small, "compiled")):
        step = anyopt.make_step(anyopt.adam(1e-3))
        step.init(tree)
        assert step.mode == mode
