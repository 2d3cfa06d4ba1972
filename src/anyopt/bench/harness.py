"""Timing core: variants, the measurement loop, state-size accounting and anyopt's step modes."""

from __future__ import annotations

import gc
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any


@dataclass
class Runner:
    """A built case: ``step()`` runs one synchronised optimizer step in place of the last."""

    step: Callable[[], None]
    state: Callable[[], Any]  # the optimizer state, for its size in bytes
    params: Callable[[], dict[str, Any]]  # the current parameters by name (tests check them)


@dataclass
class Variant:
    """One timed implementation: a native peer or an anyopt step mode."""

    framework: str
    kind: str  # "peer" or "anyopt"
    name: str
    build: Callable[[], Runner] | None = None  # None: not available (see note)
    compiled: bool = False  # gets extra warm-up steps so compilation is excluded
    note: str = ""
    # Timed in its own process: torch.compile leaves the process slower for every torch
    # step after it (fused torch.optim SGD on 1000 small tensors: 1.6 -> 2.5 ms).
    own_process: bool = False


@dataclass
class Settings:
    warmup: int = 3
    compiled_warmup: int = 6
    repeat: int = 7
    min_time: float = 0.05  # seconds per repetition; short steps are looped to reach it
    max_inner: int = 200


@dataclass
class Result:
    framework: str
    kind: str
    name: str
    ms: float | None = None
    samples_ms: list[float] = field(default_factory=list)
    inner: int = 0
    setup_s: float | None = None  # build + warm-up (compilation included)
    state_bytes: int | None = None
    peak_rss_bytes: int | None = None  # with --isolate: the subprocess's peak RSS ...
    base_rss_bytes: int | None = None  # ... and its RSS before building the variant
    note: str = ""
    ratio_floor: float | None = None


def measure(variant: Variant, settings: Settings) -> Result:
    """Build ``variant``, warm it up, time it and free its arrays."""
    return measure_in_turns([variant], settings)[0]


def measure_in_turns(variants: list[Variant], settings: Settings) -> list[Result]:
    """Build and warm up every variant, then time them in turns: each repetition times
    every variant once (starting one further along each time), so a machine that speeds
    up or slows down during the case shifts all of them alike; then free their arrays.
    A failing variant is reported in its result, not raised."""
    results = [Result(v.framework, v.kind, v.name, note=v.note) for v in variants]
    runners: dict[int, tuple[Runner, int]] = {}
    try:
        for i, v in enumerate(variants):
            if v.build is not None:
                try:
                    runners[i] = _warm_up(v, settings, results[i])
                except Exception as exc:  # noqa: BLE001
                    _failed(results[i], exc)
        order = list(runners)
        for rep in range(max(settings.repeat, 1)):
            shift = rep % len(order) if order else 0
            for i in [i for i in order[shift:] + order[:shift] if i in runners]:
                runner, inner = runners[i]
                try:
                    t0 = time.perf_counter()
                    for _ in range(inner):
                        runner.step()
                    results[i].samples_ms.append((time.perf_counter() - t0) / inner * 1e3)
                except Exception as exc:  # noqa: BLE001
                    _failed(results[i], exc)
                    del runners[i]
        for i, (runner, inner) in runners.items():
            res = results[i]
            res.ms, res.inner = statistics.median(res.samples_ms), inner
            try:
                res.state_bytes = state_nbytes(runner.state())
            except Exception as exc:  # noqa: BLE001 - the timing stands; the size is unknown
                res.note = f"state size: {type(exc).__name__}: {exc}"[:300]
    finally:
        runners.clear()
        _reset_compilers()
        gc.collect()
    return results


def _warm_up(variant: Variant, settings: Settings, res: Result) -> tuple[Runner, int]:
    """The built runner, after its warm-up steps, and how many steps one sample loops."""
    t_setup = time.perf_counter()
    runner = variant.build()
    warm = settings.compiled_warmup if variant.compiled else settings.warmup
    times = []
    for _ in range(max(warm, 1)):
        t0 = time.perf_counter()
        runner.step()
        times.append(time.perf_counter() - t0)
    res.setup_s = time.perf_counter() - t_setup
    per_step = statistics.median(times[-3:])
    inner = max(1, min(settings.max_inner, math.ceil(settings.min_time / max(per_step, 1e-7))))
    return runner, inner


def _failed(res: Result, exc: Exception) -> None:
    res.ms, res.samples_ms = None, []
    res.note = f"error: {type(exc).__name__}: {exc}"[:300]


def _reset_compilers() -> None:
    """Forget torch.compile's graphs, so that variants never share its recompile budget."""
    dynamo = sys.modules.get("torch._dynamo")
    if dynamo is not None:
        dynamo.reset()


def _array_bytes(x: Any) -> tuple[Any, int] | None:
    """``(identity key, bytes)`` for an array of any framework, else ``None``."""
    root = type(x).__module__.split(".")[0]
    if root == "torch" and hasattr(x, "untyped_storage"):
        storage = x.untyped_storage()  # views of one buffer share their storage
        return ("torch", storage.data_ptr()), storage.nbytes()
    if root == "numpy" and hasattr(x, "base"):
        while getattr(x, "base", None) is not None and hasattr(x.base, "nbytes"):
            x = x.base
        return ("numpy", id(x)), int(x.nbytes)
    if root in ("jax", "jaxlib", "mlx") and hasattr(x, "nbytes"):
        return (root, id(x)), int(x.nbytes)
    return None


def state_nbytes(tree: Any) -> int:
    """Bytes held by the arrays in an optimizer state (shared buffers counted once)."""
    seen: set = set()
    total = 0
    stack = [tree]
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            stack.extend(x.values())
        elif isinstance(x, (list, tuple)):
            stack.extend(x)
        elif (info := _array_bytes(x)) is not None:
            if info[0] not in seen:
                seen.add(info[0])
                total += info[1]
        elif hasattr(x, "__dict__") and not isinstance(x, (type, ModuleType)):
            if id(x) not in seen:
                seen.add(id(x))
                stack.extend(vars(x).values())
    return total


def anyopt_modes(framework: str) -> list[str]:
    """anyopt's step modes for ``framework``, plus ``flat params``: the parameters kept in
    one buffer per dtype by the caller (``step.flatten``), stepped in the auto mode."""
    import anyopt

    return [*anyopt.step_modes(framework), "flat params"]


def anyopt_variants(fw: ModuleType, opt: str, workload: Any) -> list[Variant]:
    """One variant per anyopt step mode on framework module ``fw`` (a ``peers_*`` module)."""

    def build(mode: str) -> Runner:
        import anyopt
        from anyopt.bench.workloads import make_tx

        params_np, grads_np = workload.arrays()
        step = anyopt.make_step(make_tx(anyopt, opt), "auto" if mode == "flat params" else mode)
        params, grads = fw.to_native(params_np), fw.to_native(grads_np)
        if mode == "flat params":
            params, grads = step.flatten(params), step.flatten(grads)
        cell = [params, step.init(params)]
        if mode == "flat":
            cell[0] = step.adopt(params)  # the flat mode's own buffer: no copies per step

        def run() -> None:
            cell[0], cell[1] = step(cell[0], grads, cell[1])
            fw.sync(cell)

        def by_name() -> Any:
            return step.unflatten(cell[0]) if mode == "flat params" else cell[0]

        return Runner(run, lambda: cell[1], by_name)

    return [
        Variant(
            fw.FRAMEWORK,
            "anyopt",
            mode,
            lambda m=mode: build(m),
            compiled=True,
            own_process=fw.FRAMEWORK == "torch" and mode == "compiled",
        )
        for mode in anyopt_modes(fw.FRAMEWORK)
    ]
