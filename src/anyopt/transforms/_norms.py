"""Per-leaf norms shared by the block-wise transformations (complex leaves included)."""

from __future__ import annotations

from typing import Any

from anyopt import _ops, backends


def is_complex(x: Any) -> bool:
    return (backends.dtype_name(_ops.dtype(x)) or "").startswith("complex")


def abs_sq(x: Any) -> Any:
    """``|x|**2`` element-wise, real for complex ``x``."""
    return _ops.real(x * _ops.conj(x)) if is_complex(x) else x * x


def block_norm(x: Any) -> Any:
    """The L2 norm of a whole leaf, as a 0-d array."""
    return _ops.sqrt(_ops.sum(abs_sq(x)))


def block_rms(x: Any) -> Any:
    """The root mean square of a whole leaf, as a 0-d array."""
    return _ops.sqrt(_ops.mean(abs_sq(x)))
