"""Numerical helpers exported at the top level, as in optax."""

from __future__ import annotations

from typing import Any

from anyopt import _tree


def safe_increment(count: Any) -> Any:
    """``count + 1`` for an int32 counter, staying at the int32 maximum instead of wrapping."""
    return _tree.safe_increment(count)


safe_int32_increment = safe_increment


def global_norm(updates: Any) -> Any:
    """The L2 norm of all leaves of ``updates`` taken together."""
    return _tree.norm(updates)
