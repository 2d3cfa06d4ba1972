"""Two-spirals demo: train the same MLP with anyopt on every installed framework.

Nothing heavy is imported here; use ``from anyopt.demo.run import run_demo``
(or ``anyopt.demo.run_demo``, which is resolved lazily).
"""

from __future__ import annotations

__all__ = ["run_demo"]


def __getattr__(name: str):
    if name == "run_demo":
        from anyopt.demo.run import run_demo

        return run_demo
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
