"""Parity with optax 0.2.8: the same 50-step trajectory on every framework.

optax runs on JAX (float32); anyopt runs on each installed framework from the same
initial parameters and gradient noise. Gradients depend on the parameters, so any
divergence compounds. Final parameters and every state leaf must agree.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
import optax
import pytest

import anyopt
from anyopt import _tree as anyopt_tree
from anyopt import capabilities

from conftest import Backend, random_tree, relative_error_norm
from optax_cases import BLOCK_STEP, CASES, OPTIMIZERS, gap

STEPS = 50
RTOL = 1e-5


def gradient(params, noise):
    """g = noise + 0.1 * params, leaf-wise, on any framework's arrays."""
    return anyopt_tree.map(lambda n, p: n + 0.1 * p, noise, params)


def run(lib, backend: Backend, case: str):
    tx = CASES[case](lib)
    multiplier = 1.0 if case.split("/")[0] in OPTIMIZERS else BLOCK_STEP
    params = backend.tree(random_tree(0))
    state = tx.init(params)
    # optax runs compiled: eager JAX dispatches op by op (minutes for Muon's Newton-Schulz).
    update = jax.jit(tx.update) if lib is optax else tx.update
    for k in range(STEPS):
        noise = backend.tree(random_tree(100 + k))
        grads = gradient(params, noise)
        updates, state = update(grads, state, params)
        params = lib.apply_updates(params, lib.tree_utils.tree_scale(multiplier, updates))
    return plain(params, backend), plain(state, backend)


def plain(tree, backend):
    """Containers as dicts/lists keyed by type and field names; leaves as NumPy."""
    if tree is None:
        return None
    if isinstance(tree, tuple) and hasattr(type(tree), "_fields"):
        return {
            "type": type(tree).__name__,
            **{f: plain(v, backend) for f, v in tree._asdict().items()},
        }
    if isinstance(tree, (list, tuple)):
        return [plain(v, backend) for v in tree]
    if isinstance(tree, dict):
        return {k: plain(v, backend) for k, v in tree.items()}
    return backend.numpy(tree)


@functools.cache
def optax_trajectory(case: str):
    return run(optax, Backend("jax"), case)


def pairs(actual, expected, path="root"):
    """Matching leaves of two plain trees; asserts equal structure, names and shapes."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected a mapping, got {type(actual)}"
        assert actual.keys() == expected.keys(), (
            f"{path}: keys {actual.keys()} != {expected.keys()}"
        )
        for k in expected:
            yield from pairs(actual[k], expected[k], f"{path}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected)):
            yield from pairs(a, e, f"{path}[{i}]")
    elif isinstance(expected, str) or expected is None:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
    else:
        assert np.shape(actual) == np.shape(expected), f"{path}: shape {np.shape(actual)}"
        yield path, np.asarray(actual), np.asarray(expected)


def assert_same(actual, expected, name, rtol=RTOL):
    """Integer leaves equal; float leaves within rtol in relative 2-norm over the whole tree."""
    found = list(pairs(actual, expected, name))
    floats = [(p, a, e) for p, a, e in found if e.dtype.kind == "f"]
    for path, a, e in found:
        if e.dtype.kind != "f":
            np.testing.assert_array_equal(a, e, err_msg=path)
    if floats:
        a = np.concatenate([x.ravel() for _, x, _ in floats])
        e = np.concatenate([x.ravel() for _, _, x in floats])
        err = relative_error_norm(a, e)
        worst = max(floats, key=lambda t: float(np.max(np.abs(t[1] - t[2]), initial=0)))[0]
        assert err <= rtol, f"{name}: relative error {err:.2e} > {rtol} (worst leaf {worst})"


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_optax_trajectory(case, backend):
    name = case.split("/")[0]
    if gap(case, backend.name):
        with pytest.raises(NotImplementedError, match=f"{name} does not run on {backend.name}"):
            run(anyopt, backend, case)
        return
    rtol = capabilities.TOLERANCES.get(name, (RTOL, ""))[0]
    expected_params, expected_state = optax_trajectory(case)
    params, state = run(anyopt, backend, case)
    assert_same(params, expected_params, "params", rtol)
    assert_same(state, expected_state, "state", rtol)
