"""anyopt against float64 NumPy transcriptions of the papers' update rules.

Each reference is written from the paper's pseudo-code, independently of anyopt and
optax. anyopt runs in float64 on NumPy (agreement to rounding) and in float32 on
every framework (agreement to float32 accuracy).
"""

from __future__ import annotations

import numpy as np
import pytest

import anyopt
from anyopt import _tree

from conftest import random_tree, relative_error_norm

STEPS = 50


def adam_reference(lr, b1=0.9, b2=0.999, eps=1e-8):
    """Kingma & Ba (2014), Algorithm 1."""

    def init(theta):
        return {"m": np.zeros_like(theta), "v": np.zeros_like(theta), "t": 0}

    def step(theta, g, s):
        t = s["t"] + 1
        m = b1 * s["m"] + (1 - b1) * g
        v = b2 * s["v"] + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        return theta - lr * m_hat / (np.sqrt(v_hat) + eps), {"m": m, "v": v, "t": t}

    return init, step


def sgd_momentum_reference(lr, mu, nesterov=False):
    """Polyak heavy ball v = mu v + g (Sutskever et al. 2013 form for Nesterov)."""

    def init(theta):
        return {"v": np.zeros_like(theta)}

    def step(theta, g, s):
        v = mu * s["v"] + g
        direction = g + mu * v if nesterov else v
        return theta - lr * direction, {"v": v}

    return init, step


def rmsprop_reference(lr, rho=0.9, eps=1e-8):
    """Hinton (2012), lecture 6e: divide by the root of a running mean of g^2."""

    def init(theta):
        return {"ms": np.zeros_like(theta)}

    def step(theta, g, s):
        ms = rho * s["ms"] + (1 - rho) * g * g
        return theta - lr * g / np.sqrt(ms + eps), {"ms": ms}

    return init, step


def lion_reference(lr, b1=0.9, b2=0.99, wd=0.0):
    """Chen et al. (2023), Algorithm 2 (with decoupled weight decay)."""

    def init(theta):
        return {"m": np.zeros_like(theta)}

    def step(theta, g, s):
        c = b1 * s["m"] + (1 - b1) * g
        theta = theta - lr * (np.sign(c) + wd * theta)
        return theta, {"m": b2 * s["m"] + (1 - b2) * g}

    return init, step


CASES = {
    "adam": (lambda: anyopt.adam(0.01), lambda: adam_reference(0.01)),
    "adam/betas": (
        lambda: anyopt.adam(0.02, b1=0.8, b2=0.99, eps=1e-6),
        lambda: adam_reference(0.02, 0.8, 0.99, 1e-6),
    ),
    "sgd/momentum": (
        lambda: anyopt.sgd(0.05, momentum=0.9),
        lambda: sgd_momentum_reference(0.05, 0.9),
    ),
    "sgd/nesterov": (
        lambda: anyopt.sgd(0.05, momentum=0.9, nesterov=True),
        lambda: sgd_momentum_reference(0.05, 0.9, nesterov=True),
    ),
    "rmsprop": (lambda: anyopt.rmsprop(0.01), lambda: rmsprop_reference(0.01)),
    "lion": (
        lambda: anyopt.lion(0.001, weight_decay=0.1),
        lambda: lion_reference(0.001, wd=0.1),
    ),
}


def reference_trajectory(make_reference):
    init, step = make_reference()
    theta = {k: v.astype(np.float64) for k, v in flat_params().items()}
    states = {k: init(v) for k, v in theta.items()}
    for k in range(STEPS):
        noise = flat_noise(k)
        for name in theta:
            g = noise[name] + 0.1 * theta[name]
            theta[name], states[name] = step(theta[name], g, states[name])
    return theta


def flat_params():
    tree = random_tree(0)
    return {"w": tree["dense"]["w"], "b": tree["dense"]["b"], "v": tree["layers"][0]}


def flat_noise(k):
    tree = random_tree(100 + k)
    return {"w": tree["dense"]["w"], "b": tree["dense"]["b"], "v": tree["layers"][0]}


def anyopt_trajectory(tx, to_array, to_numpy):
    params = {k: to_array(v) for k, v in flat_params().items()}
    state = tx.init(params)
    for k in range(STEPS):
        noise = {name: to_array(v) for name, v in flat_noise(k).items()}
        grads = _tree.map(lambda n, p: n + 0.1 * p, noise, params)
        updates, state = tx.update(grads, state, params)
        params = anyopt.apply_updates(params, updates)
    return {k: to_numpy(v) for k, v in params.items()}


def assert_close(actual, expected, rtol):
    for name in expected:
        err = relative_error_norm(actual[name], expected[name])
        assert err <= rtol, f"{name}: relative error {err:.2e} > {rtol}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_numpy_float64_matches_paper(case):
    make_tx, make_reference = CASES[case]
    actual = anyopt_trajectory(make_tx(), lambda a: a.astype(np.float64), np.asarray)
    assert all(v.dtype == np.float64 for v in actual.values())
    assert_close(actual, reference_trajectory(make_reference), 1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_float32_matches_paper_on_every_framework(case, backend):
    make_tx, make_reference = CASES[case]
    actual = anyopt_trajectory(make_tx(), lambda a: backend.array(a, "float32"), backend.numpy)
    assert_close(actual, reference_trajectory(make_reference), 2e-5)
