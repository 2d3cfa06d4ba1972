"""Summaries of a benchmark run: rich console table, Markdown, JSON and a PNG bar chart."""

from __future__ import annotations

import json
from typing import Any

from anyopt.bench.workloads import label

COLORS = {"numpy": "#4C72B0", "jax": "#DD8452", "torch": "#C44E52", "mlx": "#55A868"}


def summarize(case: dict[str, Any]) -> dict[str, Any]:
    """Add the best peer, best anyopt mode and their ratios to a case with ``variants``."""
    floor = case["floor_ms"]
    for v in case["variants"]:
        v["ratio_floor"] = v["ms"] / floor if v["ms"] and floor else None

    def best(kind: str) -> dict[str, Any] | None:
        timed = [v for v in case["variants"] if v["kind"] == kind and v["ms"]]
        return min(timed, key=lambda v: v["ms"]) if timed else None

    a, p = best("anyopt"), best("peer")
    case["best_anyopt"] = None if a is None else {k: a[k] for k in ("name", "ms", "state_bytes")}
    case["best_peer"] = None if p is None else {k: p[k] for k in ("name", "ms", "state_bytes")}
    case["ratio_peer"] = a["ms"] / p["ms"] if a and p else None
    case["ratio_floor"] = a["ratio_floor"] if a else None
    return case


def fmt_ms(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.3g}" if x < 10 else f"{x:.1f}"


def _ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}×" if x < 10 else f"{x:.0f}×"


def _mb(x: int | None) -> str:
    """Bytes as a short size: ``64 MB``, ``7.8 KB``."""
    if x is None:
        return "n/a"
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x} B"


def _rss(v: dict[str, Any]) -> str:
    """``peak (+growth over the baseline)`` for isolated runs, else ``n/a``."""
    peak, base = v.get("peak_rss_bytes"), v.get("base_rss_bytes")
    if peak is None or base is None:
        return _mb(peak)
    return f"{_mb(peak)} (+{_mb(max(peak - base, 0))})"


def _listing(case: dict[str, Any], kind: str, sep: str) -> str:
    vs = [v for v in case["variants"] if v["kind"] == kind]
    return sep.join(f"{v['name']} {fmt_ms(v['ms'])}" for v in vs) or "—"


def _row(case: dict[str, Any], sep: str) -> list[str]:
    a, p = case["best_anyopt"] or {}, case["best_peer"] or {}
    return [
        case["workload"],
        label(case["optimizer"]),
        case["framework"],
        fmt_ms(case["floor_ms"]),
        _listing(case, "peer", sep),
        _listing(case, "anyopt", sep),
        f"{a.get('name', 'n/a')} {fmt_ms(a.get('ms'))}",
        _ratio(case["ratio_peer"]),
        _ratio(case["ratio_floor"]),
        f"{_mb(a.get('state_bytes'))} / {_mb(p.get('state_bytes'))}",
    ]


HEADERS = [
    "workload", "optimizer", "framework", "floor ms", "native peers (ms/step)",
    "anyopt modes (ms/step)", "best anyopt (ms)", "anyopt / best peer", "anyopt / floor",
    "state anyopt / peer",
]  # fmt: skip


def header_line(data: dict[str, Any]) -> str:
    m, f = data["machine"], data["floor"]
    return (
        f"Floor: {f['gbps']:.1f} GB/s, the best streaming bandwidth measured "
        f"({f['method']}; bytes read + written). "
        f"CPU: {m['cpu']}, {m['cores']} cores; {m['platform']}. "
        f"Median of {data['settings']['repeat']} repetitions, ms per step."
    )


def console_table(data: dict[str, Any]) -> Any:
    """A rich table, one row per (workload, optimizer, framework)."""
    from rich.table import Table

    table = Table(title="anyopt bench: ms per optimizer step", caption=header_line(data))
    for i, h in enumerate(HEADERS):
        if i != 6:  # the best mode is visible in the modes column
            table.add_column(h, justify="left" if i < 6 else "right", overflow="fold")
    for case in data["cases"]:
        row = _row(case, "\n")
        table.add_row(*row[:6], *row[7:])
    return table


def markdown(data: dict[str, Any]) -> str:
    """A summary table (for the README) and the table of every timed variant."""
    lines = [header_line(data), "", "| " + " | ".join(HEADERS) + " |"]
    lines.append("|" + "|".join(":--" if i < 3 else "--:" for i in range(len(HEADERS))) + "|")
    lines += ["| " + " | ".join(_row(c, "<br>")) + " |" for c in data["cases"]]
    cols = ["workload", "optimizer", "framework", "kind", "name", "ms/step", "× floor"]
    cols += ["state", "peak RSS (+ over baseline)", "note"]
    lines += ["", "All variants:", "", "| " + " | ".join(cols) + " |"]
    lines.append("|" + "|".join(["---"] * len(cols)) + "|")
    for c in data["cases"]:
        for v in c["variants"]:
            cells = [c["workload"], label(c["optimizer"]), c["framework"], v["kind"], v["name"]]
            cells += [fmt_ms(v["ms"]), _ratio(v["ratio_floor"]), _mb(v["state_bytes"])]
            cells += [_rss(v), v["note"].replace("|", "/")]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_json(data: dict[str, Any], path: str) -> None:
    with open(path, "w") as f:
        json.dump(data, f, indent=1, default=str)
        f.write("\n")


def plot(data: dict[str, Any], path: str) -> None:
    """Grouped bars of ms/floor per framework and variant, one panel per workload (log y)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_rgb
    from matplotlib.figure import Figure

    workloads = list(dict.fromkeys(c["workload"] for c in data["cases"]))
    series = list(
        dict.fromkeys(
            (c["framework"], v["kind"], v["name"])
            for c in data["cases"]
            for v in c["variants"]
            if v["ratio_floor"]
        )
    )
    n_opts = len({c["optimizer"] for c in data["cases"]})
    width_in = min(max(9.0, 3 + 0.14 * len(series) * n_opts), 24)
    fig = Figure(figsize=(width_in, 3.6 * len(workloads)), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(workloads), 1, squeeze=False)[:, 0]
    width = 0.85 / max(len(series), 1)
    for ax, wl in zip(axes, workloads):
        cases = [c for c in data["cases"] if c["workload"] == wl]
        opts = list(dict.fromkeys(c["optimizer"] for c in cases))
        for j, (fw, kind, name) in enumerate(series):
            xs, ys = [], []
            for i, opt in enumerate(opts):
                for c in cases:
                    if (c["optimizer"], c["framework"]) != (opt, fw):
                        continue
                    for v in c["variants"]:
                        if (v["kind"], v["name"]) == (kind, name) and v["ratio_floor"]:
                            xs.append(i - 0.425 + (j + 0.5) * width)
                            ys.append(v["ratio_floor"])
            rgb = to_rgb(COLORS.get(fw, "#777777"))
            k = sum(1 for s in series[:j] if s[:2] == (fw, kind))  # lighter for later ones
            color = tuple(
                ch + (1 - ch) * min(0.22 * k + (0.3 if kind == "peer" else 0), 0.75) for ch in rgb
            )
            hatch = "//" if kind == "anyopt" else None
            tag = f"{fw}: {'anyopt ' if kind == 'anyopt' else ''}{name}"
            ax.bar(xs, ys, width, color=color, hatch=hatch, edgecolor="black", lw=0.4, label=tag)
        ax.axhline(1.0, color="black", lw=1, ls="--")
        ax.set_yscale("log")
        ax.set_xticks(range(len(opts)), [label(o) for o in opts])
        ax.set_ylabel("ms/step ÷ floor")
        ax.set_title(f"{wl}: {data['workloads'][wl]['description']}")
        ax.grid(True, axis="y", which="both", alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    gbps = data["floor"]["gbps"]
    fig.suptitle(f"anyopt bench: ms/step ÷ floor at {gbps:.1f} GB/s (lower is better)")
    fig.tight_layout()
    fig.savefig(path, format="png")
