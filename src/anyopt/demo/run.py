"""Training loop, results table and loss-curve plot for the two-spirals demo."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any

REFERENCE = "numpy"


def get_optimizer(name: str, learning_rate: float) -> Any:
    """Build ``anyopt.<name>(learning_rate=...)``."""
    import anyopt

    factory = getattr(anyopt, name, None)
    if name.startswith("_") or not callable(factory):
        raise ValueError(f"unknown optimizer {name!r}: anyopt has no such optimizer")
    try:
        tx = factory(learning_rate=learning_rate)
    except TypeError as exc:
        raise ValueError(f"anyopt.{name}(learning_rate=...) failed: {exc}") from exc
    if not (hasattr(tx, "init") and hasattr(tx, "update")):
        raise ValueError(f"anyopt.{name} is not an optimizer (no init/update)")
    return tx


def train_backend(name, tx, params0, x, labels, steps, on_step=None) -> dict[str, Any]:
    """Train one backend from NumPy ``params0``; return its loss history and metrics."""
    import numpy as np

    import anyopt
    from anyopt.demo.data import one_hot
    from anyopt.demo.models import make_backend

    be = make_backend(name)
    params = {k: be.to_native(v) for k, v in params0.items()}
    xs, ys = be.to_native(x), be.to_native(one_hot(labels))
    float(be.loss_and_grad(params, xs, ys)[0])  # warm-up (JIT compilation) outside the timer
    losses = []
    start = time.perf_counter()
    state = tx.init(params)
    for _ in range(steps):
        loss, grads = be.loss_and_grad(params, xs, ys)
        losses.append(float(loss))
        updates, state = tx.update(grads, state, params)
        params = anyopt.apply_updates(params, updates)
        be.sync(params, state)
        if on_step is not None:
            on_step()
    loss, _ = be.loss_and_grad(params, xs, ys)
    losses.append(float(loss))
    elapsed = time.perf_counter() - start
    logits = be.to_numpy(be.forward(params, xs))
    accuracy = float(np.mean(np.argmax(logits, axis=1) == labels))
    return {"losses": losses, "final_loss": losses[-1], "accuracy": accuracy, "time_s": elapsed}


def resolve_backends(backends: Sequence[str] | str | None) -> list[str]:
    """Validate requested backend names; ``None`` means every installed framework."""
    from anyopt.demo.models import BACKENDS, installed_backends, is_installed

    if backends is None:
        return installed_backends()
    if isinstance(backends, str):
        backends = [b for b in backends.split(",") if b.strip()]
    names = list(dict.fromkeys(b.strip().lower() for b in backends))
    for b in names:
        if b not in BACKENDS:
            raise ValueError(f"unknown backend {b!r}; choose from {', '.join(BACKENDS)}")
        if not is_installed(b):
            raise ValueError(f"backend {b!r} requested but it is not installed")
    if not names:
        raise ValueError("no backends selected")
    return names


def run_demo(
    optimizer: str = "adam",
    backends: Sequence[str] | str | None = None,
    steps: int = 500,
    lr: float = 1e-2,
    out: str | None = "anyopt_demo.png",
    seed: int = 0,
    n_points: int = 512,
    show_progress: bool = True,
    console: Any = None,
) -> dict[str, dict[str, Any]]:
    """Train the MLP on each backend and print a table (and save a plot to ``out``).

    Returns ``{backend: {"losses", "final_loss", "accuracy", "time_s", "diff", "rel_diff"}}``
    where ``diff``/``rel_diff`` compare the final loss with the NumPy backend (or the
    first backend when NumPy is not selected).
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from anyopt.demo.data import make_spirals
    from anyopt.demo.models import init_params

    if steps < 1:
        raise ValueError("steps must be >= 1")
    names = resolve_backends(backends)
    tx = get_optimizer(optimizer, lr)
    console = console or Console()
    x, labels = make_spirals(n_points, seed=seed)
    params0 = init_params(seed=seed)

    results: dict[str, dict[str, Any]] = {}
    columns = (TextColumn("{task.description:>6}"), BarColumn(), MofNCompleteColumn())
    columns += (TimeElapsedColumn(),)
    with Progress(*columns, console=console, disable=not show_progress) as progress:
        for name in names:
            task = progress.add_task(name, total=steps)
            step = functools.partial(progress.advance, task)
            results[name] = train_backend(name, tx, params0, x, labels, steps, step)

    ref = REFERENCE if REFERENCE in results else names[0]
    ref_loss = results[ref]["final_loss"]
    for r in results.values():
        r["diff"] = r["final_loss"] - ref_loss
        r["rel_diff"] = abs(r["diff"]) / max(abs(ref_loss), 1e-12)

    console.print(make_table(results, ref, optimizer, lr, steps))
    if out:
        plot_losses(results, out, title=f"anyopt.{optimizer}(learning_rate={lr:g})")
        console.print(f"Saved loss curves to [bold]{out}[/bold]")
    return results


def make_table(results: dict, ref: str, optimizer: str, lr: float, steps: int) -> Any:
    """A rich table with one row per backend."""
    from rich.table import Table

    table = Table(title=f"anyopt.{optimizer}(learning_rate={lr:g}), {steps} steps, two spirals")
    table.add_column("framework")
    for col in ("final loss", "accuracy", "wall time", f"Δ loss vs {ref}", "rel. Δ"):
        table.add_column(col, justify="right")
    for name, r in results.items():
        table.add_row(
            name,
            f"{r['final_loss']:#.6g}",
            f"{r['accuracy']:.1%}",
            f"{r['time_s']:.2f} s",
            "—" if name == ref else f"{r['diff']:+.2e}",
            "—" if name == ref else f"{r['rel_diff']:.1e}",
        )
    return table


def plot_losses(results: dict, out: str, title: str = "") -> None:
    """Save loss-vs-step curves (log-scale y), one line per backend, as a PNG via Agg."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    styles = ("-", "--", "-.", ":")
    for i, (name, r) in enumerate(results.items()):
        ax.plot(r["losses"], styles[i % len(styles)], label=name, linewidth=1.8)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, format="png")
