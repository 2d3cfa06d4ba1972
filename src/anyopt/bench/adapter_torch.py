"""``anyopt.torch`` rows: the adapter stepped as a torch training loop steps it.

``torch.Optimizer`` is ``anyopt.torch.Optimizer(named_parameters, anyopt.<optimizer>)``
(clip+adamw: the ready ``chain(clip_by_global_norm, adamw)``), in its default step mode;
``torch.Optimizer adopt_params`` the same with ``adopt_params=True`` (small leaves only).
``torch.Adam`` / ``torch.AdamW`` / ``torch.SGD`` are anyopt's torch-named classes (torch's
formulas; clip+adamw runs ``clip_grad_norm_`` first, as the torch.optim peer does).
"""

from __future__ import annotations

import functools
from typing import Any

from anyopt._step import FLAT_MEAN_LEAF
from anyopt.bench import workloads as W
from anyopt.bench.harness import Runner, Variant
from anyopt.bench.peers_torch import to_native

_CLASSES = {"adam": "Adam", "adamw": "AdamW", "clip_adamw": "AdamW", "sgd": "SGD"}


def _factory_optimizer(opt: str, named: list, **switches: Any) -> Any:
    import anyopt
    import anyopt.torch

    def make(tx: Any, **hyperparams: Any) -> Any:
        return anyopt.torch.Optimizer(named, tx, **switches, **hyperparams)

    betas = (W.B1, W.B2)
    if opt == "adam":
        return make(anyopt.adam, lr=W.LR, betas=betas, eps=W.EPS)
    if opt == "adamw":
        return make(anyopt.adamw, lr=W.LR, betas=betas, eps=W.EPS, weight_decay=W.ADAMW_WD)
    if opt == "sgd":
        return make(anyopt.sgd, lr=W.LR, momentum=W.MOMENTUM)
    if opt == "lion":
        return make(anyopt.lion, lr=W.LR, betas=(W.LION_B1, W.LION_B2), weight_decay=W.LION_WD)
    return make(W.make_tx(anyopt, opt))


def _class_optimizer(opt: str, named: list) -> Any:
    import anyopt.torch

    cls = getattr(anyopt.torch, _CLASSES[opt])
    if opt == "sgd":
        return cls(named, lr=W.LR, momentum=W.MOMENTUM)
    wd = {"adam": 0.0}.get(opt, W.ADAMW_WD)
    return cls(named, lr=W.LR, betas=(W.B1, W.B2), eps=W.EPS, weight_decay=wd)


def _build(opt: str, workload: Any, kind: str) -> Runner:
    import torch

    params_np, grads_np = workload.arrays()
    named = [(k, p.requires_grad_()) for k, p in to_native(params_np).items()]
    for (_, p), g in zip(named, to_native(grads_np).values()):
        p.grad = g  # the same gradients every step
    params = [p for _, p in named]
    if kind in ("factory", "adopt"):
        optimizer = _factory_optimizer(opt, named, adopt_params=kind == "adopt")
        clip = False
    else:
        optimizer = _class_optimizer(opt, named)
        clip = opt == "clip_adamw"

    def step() -> None:
        if clip:
            torch.nn.utils.clip_grad_norm_(params, W.MAX_NORM, foreach=True)
        optimizer.step()

    return Runner(step, lambda: list(optimizer.state.values()), lambda: dict(named))


def variants(opt: str, workload: Any) -> list[Variant]:
    """The adapter around anyopt's optimizer, and the torch-named class where there is one."""
    out = [
        Variant(
            "torch",
            "anyopt",
            "torch.Optimizer",
            functools.partial(_build, opt, workload, "factory"),
            compiled=True,  # "auto" may compile on the first step
        )
    ]
    n_leaves = workload.n_leaves
    if n_leaves > 1 and workload.n_params < FLAT_MEAN_LEAF * n_leaves:  # flat buffers
        out.append(
            Variant(
                "torch",
                "anyopt",
                "torch.Optimizer adopt_params",
                functools.partial(_build, opt, workload, "adopt"),
                compiled=True,
            )
        )
    if opt in _CLASSES:
        name = f"torch.{_CLASSES[opt]}"
        out.append(
            Variant(
                "torch",
                "anyopt",
                name,
                functools.partial(_build, opt, workload, "class"),
                compiled=True,
            )
        )
    return out
