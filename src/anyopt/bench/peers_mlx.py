"""MLX: ``mlx.optimizers`` plain and under ``mx.compile`` (optimizer state captured)."""

from __future__ import annotations

import functools
from typing import Any

from anyopt.bench import workloads as W
from anyopt.bench.harness import Runner, Variant

FRAMEWORK = "mlx"


def to_native(tree: dict[str, Any]) -> dict[str, Any]:
    import mlx.core as mx

    return {k: mx.array(v) for k, v in tree.items()}


def sync(tree: Any) -> None:
    import mlx.core as mx

    mx.eval(tree)


def _optimizer(opt: str) -> Any:
    import mlx.optimizers as optim

    betas = [W.B1, W.B2]
    if opt == "adam":
        return optim.Adam(W.LR, betas=betas, eps=W.EPS, bias_correction=True)
    if opt in ("adamw", "clip_adamw"):
        wd = W.ADAMW_WD
        return optim.AdamW(W.LR, betas=betas, eps=W.EPS, weight_decay=wd, bias_correction=True)
    if opt == "sgd":
        return optim.SGD(W.LR, momentum=W.MOMENTUM)
    if opt == "lion":
        return optim.Lion(W.LR, betas=[W.LION_B1, W.LION_B2], weight_decay=W.LION_WD)
    raise ValueError(f"mlx.optimizers has no {opt}")


def _build(opt: str, workload: Any, compiled: bool) -> Runner:
    import mlx.core as mx
    import mlx.optimizers as optim

    params_np, grads_np = workload.arrays()
    optimizer = _optimizer(opt)
    cell = [to_native(params_np)]
    grads = to_native(grads_np)
    optimizer.init(cell[0])

    def update(params, grads):
        if opt == "clip_adamw":
            grads, _ = optim.clip_grad_norm(grads, W.MAX_NORM)
        return optimizer.apply_gradients(grads, params)

    if compiled:
        state = [optimizer.state]
        update = mx.compile(update, inputs=state, outputs=state)

    def step() -> None:
        cell[0] = update(cell[0], grads)
        mx.eval(cell[0], optimizer.state)

    return Runner(step, lambda: optimizer.state, lambda: cell[0])


def peers(opt: str, workload: Any) -> list[Variant]:
    plain = functools.partial(_build, opt, workload, False)
    compiled = functools.partial(_build, opt, workload, True)
    return [
        Variant(FRAMEWORK, "peer", "optimizers", plain),
        Variant(FRAMEWORK, "peer", "optimizers compiled", compiled, compiled=True),
    ]
