"""Clipping updates element-wise or by their global norm."""

from __future__ import annotations

from typing import Any

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformation, init_empty_state


def clip(max_delta: Any) -> GradientTransformation:
    """Clips every update element to ``[-max_delta, max_delta]``; complex updates raise
    ``ValueError`` (as in optax: they have no order)."""
    _validate.non_negative("clip", "max_delta", max_delta)

    def update_fn(updates, state, params=None):
        del params
        _validate.real_leaves("clip", updates, "updates", _CLIP_HINT)
        return _tree.clip(updates, -max_delta, max_delta), state

    return GradientTransformation(init_empty_state, update_fn)


_CLIP_HINT = "; clip complex updates by norm: clip_by_global_norm or clip_by_block_rms"


def clip_by_global_norm(max_norm: Any) -> GradientTransformation:
    r"""Rescales updates so that their global L2 norm is at most ``max_norm``:
    :math:`g \cdot \text{max\_norm} / \max(\|g\|, \text{max\_norm})`."""
    _validate.positive("clip_by_global_norm", "max_norm", max_norm)

    def update_fn(updates, state, params=None):
        del params
        g_norm = _tree.norm(updates)
        factor = max_norm / _ops.maximum(g_norm, max_norm)
        return _tree.map(lambda t: t * _ops.like(factor, t), updates), state

    return GradientTransformation(init_empty_state, update_fn)
