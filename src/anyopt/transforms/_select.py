"""Tree-wise choices between two computed results, for wrappers that branch on array flags.

Two helpers, both traceable under ``jax.jit``:

- ``select(pred, on_true, on_false)``: leaf-wise ``where``; both results already exist.
- ``cond(pred, true_fn, false_fn, *operands)``: ``jax.lax.cond`` under JAX; a Python branch
  on NumPy (host arrays: no synchronisation, and the unused branch, which may see NaNs,
  never runs); on torch and MLX both branches run and ``select`` picks, so that a device
  flag never forces a host synchronisation and the step stays compilable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from anyopt import _ops, _tree, backends


def _same_dtype(out: Any, like: Any) -> Any:
    d = getattr(like, "dtype", None)
    if d is None or _ops.dtype(out) == d:
        return out
    return _ops.astype(out, d)


def select(pred: Any, on_true: Any, on_false: Any) -> Any:
    """``on_true`` where the 0-d flag ``pred`` holds, else ``on_false``, leaf by leaf.

    Leaves keep ``on_false``'s dtypes (so a state never drifts to another dtype).
    """
    if isinstance(pred, bool):
        return on_true if pred else on_false

    def pick(t, f):
        if t is f:
            return f
        return _same_dtype(_ops.where(pred, t, f), f)

    return _tree.map(pick, on_true, on_false)


def _framework(tree: Any):
    arrays = [x for x in _tree.leaves(tree) if hasattr(x, "dtype")]
    return backends.check_one_framework(arrays) or backends.load("numpy")


def branches_lazily(pred: Any, tree: Any = ()) -> bool:
    """Whether ``cond`` runs only the taken branch: a Python bool, JAX or NumPy."""
    if isinstance(pred, bool):
        return True
    b = _framework((pred, tree))
    return hasattr(b, "cond") or b.NAME == "numpy"


def cond(pred: Any, true_fn: Callable, false_fn: Callable, *operands: Any) -> Any:
    """``true_fn(*operands) if pred else false_fn(*operands)`` for a 0-d boolean ``pred``."""
    if isinstance(pred, bool):
        return true_fn(*operands) if pred else false_fn(*operands)
    b = _framework((pred, operands))
    if hasattr(b, "cond"):  # JAX
        return b.cond(pred, true_fn, false_fn, *operands)
    if b.NAME == "numpy":
        return true_fn(*operands) if bool(pred) else false_fn(*operands)
    return select(pred, true_fn(*operands), false_fn(*operands))


def true_like(tree: Any) -> Any:
    """A 0-d boolean ``True`` on the framework (and device) of ``tree``'s arrays."""
    count = _tree.count_init(tree)
    return count == count


def all_finite(tree: Any) -> Any:
    """A 0-d boolean: whether every element of every leaf is finite."""
    out = true_like(tree)
    for x in _tree.leaves(tree):
        out = out & _ops.all(_ops.isfinite(x))
    return out
