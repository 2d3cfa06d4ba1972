"""``anyopt bench`` (also ``python benchmarks/run.py``): options and the benchmark loop."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from anyopt.bench.cases import excluded, run_isolated, variants
from anyopt.bench.harness import Result, Settings, measure_in_turns
from anyopt.bench.workloads import OPTIMIZERS, WORKLOADS, label, make_workload

FRAMEWORKS = ("numpy", "jax", "torch", "mlx")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``anyopt bench`` options."""
    p.add_argument("--workloads", help="comma-separated subset of large,many,tiny (default: all)")
    p.add_argument("--size", type=int, help="a single-leaf workload of N float32 parameters")
    p.add_argument("--optimizers", default=",".join(OPTIMIZERS), help="default: %(default)s")
    p.add_argument("--frameworks", help="subset of numpy,jax,torch,mlx (default: all installed)")
    p.add_argument("--repeat", type=int, help="timed repetitions, median kept (default: 7)")
    p.add_argument(
        "--warmup",
        type=int,
        default=3,
        help="warm-up steps (default: 3; compiled variants +3, and without --quick +16 more: "
        "fused steps compile their scalar programs then)",
    )
    p.add_argument("--quick", action="store_true", help="smoke test: 3 repetitions, small floor")
    p.add_argument("--isolate", action="store_true", help="each variant in a subprocess (peak RSS)")
    p.add_argument("--exclude", help="skip variants: comma-separated framework:name globs")
    p.add_argument("--timeout", type=float, help="with --isolate: seconds allowed per variant")
    p.add_argument("--out", default="bench_out", help="output folder (default: %(default)s)")
    p.add_argument("--floor-mb", type=int, help="floor copy size in MB (default: 256)")
    p.add_argument("--from-json", help="only redraw the table, Markdown and PNG from a JSON")
    p.add_argument("--no-progress", action="store_true", help="print only the final table")


def _split(text: str | None, allowed: Sequence[str], what: str) -> list[str]:
    names = list(dict.fromkeys(s.strip().lower() for s in (text or "").split(",") if s.strip()))
    bad = [n for n in names if n not in allowed]
    if bad:
        raise ValueError(f"unknown {what} {bad[0]!r}; choose from {', '.join(allowed)}")
    return names


def resolve(args: argparse.Namespace) -> tuple[list[str], list[str], list[str]]:
    """``(workloads, optimizers, frameworks)`` from the options; ``ValueError`` if bad."""
    from anyopt.demo.models import is_installed

    workloads = _split(args.workloads, WORKLOADS, "workload")
    if args.size is not None:
        make_workload(f"size={args.size}")
        workloads.append(f"size={args.size}")
    workloads = workloads or list(WORKLOADS)
    optimizers = _split(args.optimizers, OPTIMIZERS, "optimizer")
    frameworks = _split(args.frameworks, FRAMEWORKS, "framework")
    for fw in frameworks:
        if not is_installed(fw):
            raise ValueError(f"framework {fw!r} requested but it is not installed")
    frameworks = frameworks or [fw for fw in FRAMEWORKS if is_installed(fw)]
    if not optimizers or not frameworks:
        raise ValueError("nothing to run: no optimizers or no frameworks selected")
    if (args.repeat is not None and args.repeat < 1) or args.warmup < 1:
        raise ValueError("--repeat and --warmup must be >= 1")
    return workloads, optimizers, frameworks


def make_settings(args: argparse.Namespace) -> Settings:
    repeat = args.repeat or (3 if args.quick else 7)
    min_time = 0.0 if args.quick else 0.05
    from anyopt.backends._fused_prologue import COMPILE_AFTER  # fused steps compile then

    compiled_warmup = args.warmup + 3 + (0 if args.quick else COMPILE_AFTER)
    return Settings(args.warmup, compiled_warmup, repeat, min_time)


def run_bench(
    workloads: Sequence[str],
    optimizers: Sequence[str],
    frameworks: Sequence[str],
    settings: Settings | None = None,
    out: str | None = "bench_out",
    *,
    isolate: bool = False,
    exclude: Sequence[str] = (),
    timeout: float | None = None,
    floor_mb: int = 256,
    floor_reps: int = 10,
    console: Any = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Time every (workload, optimizer, framework) case; write and return all numbers."""
    from rich.console import Console

    from anyopt.bench import report
    from anyopt.bench.floor import floor_ms, measure_bandwidth
    from anyopt.bench.machine import machine_info

    settings = settings or Settings()
    console = console or Console(width=None if sys.stdout.isatty() else 150)
    start = time.perf_counter()
    bw = measure_bandwidth(floor_mb, floor_reps, frameworks)
    if progress:
        console.print(f"floor: {bw['gbps']:.1f} GB/s ({bw['method']})", highlight=False)
    data: dict[str, Any] = {"settings": dataclasses.asdict(settings), "floor": bw}
    data.update(workloads={}, cases=[], isolate=isolate, exclude=list(exclude))
    data["loadavg_before"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    if out:
        os.makedirs(out, exist_ok=True)
        paths = {ext: os.path.join(out, f"bench.{ext}") for ext in ("json", "md", "png")}
    for wname in workloads:
        wl = make_workload(wname)
        data["workloads"][wname] = wl.to_dict()
        for opt in optimizers:
            floor = floor_ms(opt, wl.n_params, bw["gbps"])
            for fw in frameworks:
                t_case, case_variants = time.perf_counter(), variants(fw, opt, wl)
                results = _measure_case(case_variants, settings, exclude, isolate)
                results = [
                    run_isolated(_spec(wname, opt, v, settings), timeout) if r is None else r
                    for v, r in zip(case_variants, results)
                ]
                variants_ = [dataclasses.asdict(r) for r in results]
                case = dict(workload=wname, optimizer=opt, framework=fw, floor_ms=floor)
                case["wall_s"] = time.perf_counter() - t_case
                data["cases"].append(report.summarize(dict(case, variants=variants_)))
                if out:  # partial results survive an interrupted run
                    report.write_json(data, paths["json"])
                if progress:
                    done = ", ".join(f"{r.kind[0]}:{r.name} {report.fmt_ms(r.ms)}" for r in results)
                    console.print(f"{wname} {label(opt)} {fw}: {done}", highlight=False)
        wl.release()
        gc.collect()
    data["machine"] = machine_info()
    data["elapsed_s"] = time.perf_counter() - start
    data["loadavg_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    write_reports(data, out, console)
    return data


def _measure_case(case_variants: list, settings: Settings, exclude, isolate: bool) -> list:
    """Results of one case's variants, timed in turns (``None``: to be timed in a process
    of its own, with ``--isolate`` or ``Variant.own_process``)."""
    results: list = []
    timed = []
    for v in case_variants:
        skip = v.build is not None and excluded(v.framework, v, exclude)
        results.append(
            Result(v.framework, v.kind, v.name, note="skipped (--exclude)") if skip else None
        )
        if not skip and not ((isolate or v.own_process) and v.build is not None):
            timed.append(len(results) - 1)
    measured = measure_in_turns([case_variants[i] for i in timed], settings)
    for i, res in zip(timed, measured):
        results[i] = res
    return results


def _spec(wname: str, opt: str, v: Any, settings: Settings) -> dict:
    spec = dict(workload=wname, optimizer=opt, framework=v.framework, kind=v.kind, name=v.name)
    return dict(spec, settings=dataclasses.asdict(settings))


def write_reports(data: dict[str, Any], out: str | None, console: Any) -> None:
    """Print the table; write ``bench.json``, ``bench.md`` and ``bench.png`` under ``out``."""
    from anyopt.bench import report

    console.print(report.console_table(data))
    if out:
        os.makedirs(out, exist_ok=True)
        paths = {ext: os.path.join(out, f"bench.{ext}") for ext in ("json", "md", "png")}
        report.write_json(data, paths["json"])
        Path(paths["md"]).write_text(report.markdown(data))
        report.plot(data, paths["png"])
        console.print(f"Wrote {', '.join(paths.values())} ({data['elapsed_s']:.0f} s run)")


def run_from_args(args: argparse.Namespace) -> int:
    if args.from_json:
        import json

        from rich.console import Console

        with open(args.from_json) as f:
            data = json.load(f)
        write_reports(data, args.out or None, Console(width=None if sys.stdout.isatty() else 150))
        return 0
    try:
        workloads, optimizers, frameworks = resolve(args)
    except ValueError as exc:
        print(f"anyopt bench: error: {exc}", file=sys.stderr)
        return 2
    floor_mb = args.floor_mb or (32 if args.quick else 256)
    run_bench(
        workloads, optimizers, frameworks, make_settings(args), args.out or None,
        isolate=args.isolate, exclude=[p for p in (args.exclude or "").split(",") if p],
        timeout=args.timeout, floor_mb=floor_mb, floor_reps=3 if args.quick else 10,
        progress=not args.no_progress,
    )  # fmt: skip
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="anyopt bench", description="Time anyopt against each framework's own optimizers."
    )
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
