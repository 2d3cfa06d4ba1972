"""NumPy: a hand-written in-place loop per optimizer (``out=`` ufuncs, one scratch buffer)."""

from __future__ import annotations

import math
from typing import Any

from anyopt.bench import workloads as W
from anyopt.bench.harness import Runner, Variant

FRAMEWORK = "numpy"


def to_native(tree: dict[str, Any]) -> dict[str, Any]:
    return {k: v.copy() for k, v in tree.items()}


def sync(tree: Any) -> None:
    """NumPy is synchronous."""


def _adam_leaf(np, p, g, m, v, t, k, gscale, wd):
    """m, v, p updated in place; ``t`` is scratch; ``gscale`` folds in gradient clipping."""
    np.multiply(g, (1 - W.B1) * gscale, out=t)
    np.multiply(m, W.B1, out=m)
    np.add(m, t, out=m)
    np.multiply(g, g, out=t)
    np.multiply(t, (1 - W.B2) * gscale * gscale, out=t)
    np.multiply(v, W.B2, out=v)
    np.add(v, t, out=v)
    bc1, bc2 = 1 - W.B1**k, 1 - W.B2**k
    np.multiply(v, 1 / bc2, out=t)
    np.sqrt(t, out=t)
    np.add(t, W.EPS, out=t)
    np.divide(m, t, out=t)
    if wd:
        np.multiply(p, 1 - W.LR * wd, out=p)
    np.multiply(t, W.LR / bc1, out=t)
    np.subtract(p, t, out=p)


def _sgd_leaf(np, p, g, m, t):
    np.multiply(m, W.MOMENTUM, out=m)
    np.add(m, g, out=m)
    np.multiply(m, W.LR, out=t)
    np.subtract(p, t, out=p)


def _lion_leaf(np, p, g, m, t, u):
    np.multiply(m, W.LION_B1, out=t)  # c = sign(b1 m + (1 - b1) g)
    np.multiply(g, 1 - W.LION_B1, out=u)
    np.add(t, u, out=t)
    np.sign(t, out=t)
    np.multiply(p, 1 - W.LR * W.LION_WD, out=p)  # p -= lr (c + wd p)
    np.multiply(t, W.LR, out=t)
    np.subtract(p, t, out=p)
    np.multiply(m, W.LION_B2, out=m)  # m = b2 m + (1 - b2) g
    np.multiply(g, 1 - W.LION_B2, out=u)
    np.add(m, u, out=m)


def _build(opt: str, workload: Any) -> Runner:
    import numpy as np

    params_np, grads_np = workload.arrays()
    ps, gs = list(to_native(params_np).values()), list(grads_np.values())
    n_state = 2 if opt in ("adam", "adamw", "clip_adamw") else 1
    state = [[np.zeros_like(p) for p in ps] for _ in range(n_state)]
    biggest = max(p.size for p in ps)
    scratch = [np.empty(biggest, np.float32) for _ in range(2)]
    count = [0]

    def step() -> None:
        count[0] += 1
        k = count[0]
        gscale = 1.0
        if opt == "clip_adamw":
            norm = math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in gs))
            gscale = W.MAX_NORM / max(norm, W.MAX_NORM)
        for i, (p, g) in enumerate(zip(ps, gs)):
            t = scratch[0][: p.size].reshape(p.shape)
            m = state[0][i]
            if opt == "sgd":
                _sgd_leaf(np, p, g, m, t)
            elif opt == "lion":
                _lion_leaf(np, p, g, m, t, scratch[1][: p.size].reshape(p.shape))
            else:
                wd = 0.0 if opt == "adam" else W.ADAMW_WD
                _adam_leaf(np, p, g, m, state[1][i], t, k, gscale, wd)

    return Runner(step, lambda: state, lambda: dict(zip(params_np, ps)))


def peers(opt: str, workload: Any) -> list[Variant]:
    return [Variant(FRAMEWORK, "peer", "in-place loop", lambda: _build(opt, workload))]
