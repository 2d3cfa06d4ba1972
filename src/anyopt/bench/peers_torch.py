"""PyTorch: ``torch.optim`` with ``foreach=False``, ``foreach=True`` and ``fused=True``."""

from __future__ import annotations

import functools
from typing import Any

from anyopt.bench import workloads as W
from anyopt.bench.harness import Runner, Variant

FRAMEWORK = "torch"
FLAVORS = {"foreach=False": {"foreach": False}, "foreach=True": {"foreach": True}}
FLAVORS["fused=True"] = {"fused": True}


def to_native(tree: dict[str, Any]) -> dict[str, Any]:
    import torch

    return {k: torch.tensor(v) for k, v in tree.items()}  # copies: updates stay private


def sync(tree: Any) -> None:
    """torch runs CPU kernels synchronously."""


def _optimizer(opt: str, params: list, flavor: dict[str, bool]) -> Any:
    import torch

    betas = (W.B1, W.B2)
    if opt == "adam":
        return torch.optim.Adam(params, lr=W.LR, betas=betas, eps=W.EPS, **flavor)
    if opt in ("adamw", "clip_adamw"):
        wd = W.ADAMW_WD
        return torch.optim.AdamW(params, lr=W.LR, betas=betas, eps=W.EPS, weight_decay=wd, **flavor)
    if opt == "sgd":
        return torch.optim.SGD(params, lr=W.LR, momentum=W.MOMENTUM, **flavor)
    raise ValueError(f"torch.optim has no {opt}")


def _build(opt: str, workload: Any, flavor: dict[str, bool]) -> Runner:
    import torch

    params_np, grads_np = workload.arrays()
    params = [p.requires_grad_() for p in to_native(params_np).values()]
    for p, g in zip(params, to_native(grads_np).values()):
        p.grad = g  # the same gradients every step
    optimizer = _optimizer(opt, params, flavor)
    foreach = flavor.get("foreach", True)

    def step() -> None:
        if opt == "clip_adamw":
            torch.nn.utils.clip_grad_norm_(params, W.MAX_NORM, foreach=foreach)
        optimizer.step()

    named = dict(zip(params_np, params))
    return Runner(step, lambda: list(optimizer.state.values()), lambda: named)


def peers(opt: str, workload: Any) -> list[Variant]:
    if opt == "lion":
        return [Variant(FRAMEWORK, "peer", "torch.optim", note="n/a: torch has no Lion")]
    return [
        Variant(FRAMEWORK, "peer", f"optim {name}", functools.partial(_build, opt, workload, fl))
        for name, fl in FLAVORS.items()
    ]
