"""optax.contrib group B beyond the generic harness, on every framework.

* parity with optax over many steps for what the generic harness cannot run: momo and
  momo_adam and reduce_on_plateau (``update(..., value=loss)``), dpsgd and
  differentially_private_aggregate (per-example gradients; noise-free parts exactly,
  the noise itself exactly on JAX, statistically elsewhere), galore (projectors are
  singular vectors, defined up to sign) and split_real_and_imaginary on complex leaves;
* float64 NumPy transcriptions of the papers' updates (MADGRAD, ACProp, MoMo, DP-SGD,
  GaLore with Adam) checked on every framework;
* convergence on a quadratic, dtype preservation and build-time errors.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import optax
import pytest

import anyopt
from anyopt import _tree, backends

from conftest import Backend, random_tree, relative_error_norm
from test_parity_optax import assert_same, plain

JAX = Backend("jax")


def gradient(backend, params, k):
    """g = params + 0.1 * noise_k, leaf-wise (a noisy quadratic's gradient)."""
    noise = backend.tree(random_tree(100 + k))
    return _tree.map(lambda p, n: p + 0.1 * n, params, noise)


def updater(lib, tx):
    """optax's update under ``jax.jit`` (eager optax with ``lax.cond`` is slow); ours eager."""
    if lib is optax:
        import jax

        return jax.jit(tx.update)
    return tx.update


def loss_value(backend, params) -> float:
    return float(sum(0.5 * np.sum(backend.numpy(x) ** 2) for x in _tree.leaves(params)))


def run_with_value(lib, backend, build, steps=40, tree=None):
    """``steps`` of ``build(lib)`` with ``value=`` the quadratic loss; params and state."""
    tx = build(lib)
    params = backend.tree(random_tree(0) if tree is None else tree)
    state, update = tx.init(params), updater(lib, tx)
    for k in range(steps):
        grads = gradient(backend, params, k)
        updates, state = update(grads, state, params, value=loss_value(backend, params))
        params = lib.apply_updates(params, updates)
    return plain(params, backend), plain(state, backend)


# --- momo and momo_adam: parity with optax --------------------------------------------------
MOMO = {
    "momo": lambda lib: lib.contrib.momo(),
    "momo/decay_schedule": lambda lib: lib.contrib.momo(
        lib.linear_schedule(0.5, 0.05, 30), beta=0.8, lower_bound=0.1, weight_decay=0.01
    ),
    "momo/adapt_lower_bound": lambda lib: lib.contrib.momo(
        0.3, weight_decay=0.05, adapt_lower_bound=True
    ),
    "momo_adam": lambda lib: lib.contrib.momo_adam(),
    "momo_adam/decay": lambda lib: lib.contrib.momo_adam(
        0.05, b1=0.8, b2=0.99, eps=1e-6, lower_bound=0.05, weight_decay=0.02
    ),
    "momo_adam/adapt_lower_bound": lambda lib: lib.contrib.momo_adam(
        lib.cosine_decay_schedule(0.1, 40), adapt_lower_bound=True
    ),
}


@functools.cache
def optax_momo(case):
    return run_with_value(optax, JAX, MOMO[case])


@pytest.mark.parametrize("case", sorted(MOMO))
def test_momo_matches_optax(case, backend):
    want_params, want_state = optax_momo(case)
    params, state = run_with_value(anyopt, backend, MOMO[case])
    assert_same(params, want_params, "params")
    assert_same(state, want_state, "state")


def test_momo_needs_params_and_value(backend):
    params = backend.tree({"w": np.ones(3, np.float32)})
    for tx in (anyopt.contrib.momo(), anyopt.contrib.momo_adam()):
        state = tx.init(params)
        with pytest.raises(ValueError, match="value="):
            tx.update(params, state, params, value=None)
        with pytest.raises(ValueError, match="params"):
            tx.update(params, state, None, value=1.0)
        with pytest.raises(TypeError):
            tx.update(params, state, params)  # value is a required keyword


def test_momo_accepts_a_framework_scalar_as_value(backend):
    params = backend.tree({"w": np.arange(3, dtype=np.float32)})
    tx = anyopt.contrib.momo()
    state = tx.init(params)
    got, _ = tx.update(params, state, params, value=backend.array(np.float32(2.5)))
    want, _ = tx.update(params, state, params, value=2.5)
    np.testing.assert_array_equal(backend.numpy(got["w"]), backend.numpy(want["w"]))


# --- reduce_on_plateau: parity with optax ---------------------------------------------------
PLATEAU = {
    "default": dict(),
    "patience_cooldown": dict(factor=0.5, patience=2, cooldown=3, min_scale=0.05),
    "accumulate": dict(factor=0.3, patience=1, accumulation_size=3, rtol=0.0, atol=1e-3),
}
PLATEAU_VALUES = [5.0, 4.0, 3.0] + [3.0 - 1e-5 * k for k in range(25)] + [2.0] + [2.5] * 30


@functools.cache
def optax_plateau(name, chained):
    return run_plateau(optax, JAX, PLATEAU[name], chained)


def run_plateau(lib, backend, kwargs, chained: bool):
    tx = lib.contrib.reduce_on_plateau(**kwargs)
    if chained:  # value= reaches it through a chain; sgd ignores it
        tx = lib.chain(lib.sgd(0.1), tx)
    params = backend.tree(random_tree(0))
    state, update = tx.init(params), updater(lib, tx)
    scales = []
    for k, v in enumerate(PLATEAU_VALUES):
        updates, state = update(gradient(backend, params, k), state, params, value=v)
        params = lib.apply_updates(params, updates)
        scales.append(float(backend.numpy((state[1] if chained else state).scale)))
    return plain(params, backend), plain(state, backend), scales


@pytest.mark.parametrize("chained", [False, True], ids=["alone", "chained"])
@pytest.mark.parametrize("name", sorted(PLATEAU))
def test_reduce_on_plateau_matches_optax(name, chained, backend):
    want_params, want_state, want_scales = optax_plateau(name, chained)
    params, state, scales = run_plateau(anyopt, backend, PLATEAU[name], chained)
    assert scales == pytest.approx(want_scales, rel=1e-6)
    assert len(set(scales)) > 1, "the scale never changed: the test data is too easy"
    assert_same(params, want_params, "params")
    assert_same(state, want_state, "state")


def plateau_reference(values, factor, patience, cooldown, min_scale, rtol=1e-4, atol=0.0):
    """The rule as stated (PyTorch's ReduceLROnPlateau, mode 'min', rel. threshold)."""
    scale, best, bad, cool, out = 1.0, float("inf"), 0, 0, []
    for v in values:
        if v < best * (1 - rtol) - atol:
            best, bad = v, 0
        else:
            bad += 1
        if cool > 0:
            cool, bad = cool - 1, 0
        elif bad == patience:
            scale, bad, cool = max(scale * factor, min_scale), 0, cooldown
        out.append(scale)
    return out


def test_reduce_on_plateau_follows_the_stated_rule(backend):
    kwargs = PLATEAU["patience_cooldown"]
    scales = run_plateau(anyopt, backend, kwargs, chained=False)[2]
    assert scales == pytest.approx(plateau_reference(PLATEAU_VALUES, **kwargs), rel=1e-6)
