"""Command-line entry point: ``anyopt demo ...``, ``anyopt bench ...``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _cmd_demo(args: argparse.Namespace) -> int:
    from anyopt.demo.run import get_optimizer, resolve_backends, run_demo

    try:
        backends = resolve_backends(args.backends)
        get_optimizer(args.optimizer, args.lr)
        if args.steps < 1:
            raise ValueError("--steps must be >= 1")
    except ValueError as exc:
        print(f"anyopt demo: error: {exc}", file=sys.stderr)
        return 2
    run_demo(
        optimizer=args.optimizer,
        backends=backends,
        steps=args.steps,
        lr=args.lr,
        out=args.out,
        seed=args.seed,
        show_progress=not args.no_progress,
    )
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from anyopt.bench.run import run_from_args

    return run_from_args(args)


def build_parser() -> argparse.ArgumentParser:
    """The ``anyopt`` argument parser, one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="anyopt", description="Optax-style optimizers for JAX, PyTorch, MLX and NumPy."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="train an MLP on two spirals with every installed framework",
        description="Train the same MLP on two spirals with each framework and compare losses.",
    )
    demo.add_argument("--optimizer", default="adam", help="anyopt optimizer name (default: adam)")
    demo.add_argument(
        "--backends",
        default=None,
        help="comma-separated subset of numpy,jax,torch,mlx (default: all installed)",
    )
    demo.add_argument("--steps", type=int, default=500, help="training steps (default: 500)")
    demo.add_argument("--lr", type=float, default=1e-2, help="learning rate (default: 1e-2)")
    demo.add_argument(
        "--out", default="anyopt_demo.png", help="PNG for the loss curves (default: %(default)s)"
    )
    demo.add_argument("--seed", type=int, default=0, help="data and init seed (default: 0)")
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    demo.set_defaults(func=_cmd_demo)

    from anyopt.bench.run import add_arguments  # imports no array library

    bench = sub.add_parser(
        "bench",
        help="time anyopt against each framework's own optimizers",
        description="Time one optimizer step of anyopt and of each framework's native "
        "optimizers on large, many-leaf and tiny workloads, against the memory-bandwidth floor.",
    )
    add_arguments(bench)
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
