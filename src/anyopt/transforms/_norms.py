"""Per-leaf norms shared by the block-wise transformations (complex leaves included)."""

from __future__ import annotations

from typing import Any

from anyopt import _ops

is_complex = _ops.is_complex
abs_sq = _ops.abs_sq  # ``|x|**2`` element-wise, real for complex ``x``


def block_norm(x: Any) -> Any:
    """The L2 norm of a whole leaf, as a 0-d array."""
    return _ops.sqrt(_ops.sum(abs_sq(x)))


def block_rms(x: Any) -> Any:
    """The root mean square of a whole leaf, as a 0-d array."""
    return _ops.sqrt(_ops.mean(abs_sq(x)))
