"""Applying updates to parameters."""

from __future__ import annotations

from typing import Any

from anyopt import _ops, _tree
from anyopt._base import Params, Updates


def apply_updates(params: Params, updates: Updates) -> Params:
    """``params + updates`` leaf-wise, each result in its parameter's dtype."""

    def apply(p, u):
        if p is None:
            return None
        out = p + u
        d = getattr(p, "dtype", None)
        return out if d is None or out.dtype == d else _ops.astype(out, d)

    return _tree.map(apply, params, updates, is_leaf=_tree.is_none)


def incremental_update(new_tensors: Params, old_tensors: Params, step_size: Any) -> Params:
    """Polyak averaging: ``step_size * new + (1 - step_size) * old``."""
    return _tree.map(
        lambda new, old: (
            None
            if new is None
            else _ops.like(step_size, new) * new + (1.0 - _ops.like(step_size, new)) * old
        ),
        new_tensors,
        old_tensors,
        is_leaf=_tree.is_none,
    )


def periodic_update(new_tensors: Params, old_tensors: Params, steps: Any, update_period: Any):
    """``new_tensors`` when ``steps`` is a multiple of ``update_period``, else ``old_tensors``."""
    take_new = steps % update_period == 0
    if isinstance(take_new, bool):
        return new_tensors if take_new else old_tensors
    return _tree.map(lambda new, old: _ops.where(take_new, new, old), new_tensors, old_tensors)
