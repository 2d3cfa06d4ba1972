"""One (workload, optimizer, framework) case: its variants, and running one in a subprocess.

``python -m anyopt.bench.cases '<json spec>'`` is the child side of ``--isolate``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from anyopt.bench.harness import Result, Settings, Variant, anyopt_variants, measure
from anyopt.bench.workloads import make_workload

_MARK = "ANYOPT_BENCH_RESULT "


def variants(framework: str, opt: str, workload: Any) -> list[Variant]:
    """The framework's native peers, anyopt's step modes, then (torch) ``anyopt.torch``."""
    mod = importlib.import_module(f"anyopt.bench.peers_{framework}")
    out = mod.peers(opt, workload) + anyopt_variants(mod, opt, workload)
    if framework == "torch":
        out += importlib.import_module("anyopt.bench.adapter_torch").variants(opt, workload)
    return out


def excluded(framework: str, v: Variant, patterns: Sequence[str]) -> bool:
    """Whether ``framework:name`` or ``framework:kind:name`` matches one of ``patterns``."""
    keys = (f"{framework}:{v.name}", f"{framework}:{v.kind}:{v.name}")
    return any(fnmatch.fnmatchcase(k, p) for p in patterns for k in keys)


def run_isolated(spec: dict[str, Any], timeout: float | None = None) -> Result:
    """Measure one variant in a fresh interpreter; its peak RSS comes back with it."""
    import anyopt

    env = dict(os.environ)
    src = str(Path(anyopt.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "anyopt.bench.cases", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        note = f"timed out after {timeout:g} s"
        return Result(spec["framework"], spec["kind"], spec["name"], note=note)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(_MARK):
            return Result(**json.loads(line[len(_MARK) :]))
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return Result(spec["framework"], spec["kind"], spec["name"], note=f"error: {tail[0]}"[:300])


def case_main(spec: dict[str, Any]) -> int:
    """Child side of ``run_isolated``: measure one variant, print its result as JSON."""
    from anyopt.bench.machine import current_rss_bytes, peak_rss_bytes

    wl = make_workload(spec["workload"])
    v = next(
        v
        for v in variants(spec["framework"], spec["optimizer"], wl)
        if (v.kind, v.name) == (spec["kind"], spec["name"])
    )
    wl.arrays()  # the shared NumPy data counts as baseline
    base = current_rss_bytes()
    res = measure(v, Settings(**spec["settings"]))
    res.base_rss_bytes = base
    res.peak_rss_bytes = peak_rss_bytes()
    print(_MARK + json.dumps(dataclasses.asdict(res)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(case_main(json.loads(sys.argv[1])))
