"""Tree-wise choices between two computed results, for wrappers that branch on array flags.

Two helpers, both traceable under ``jax.jit``:

- ``select(pred, on_true, on_false)``: leaf-wise ``where``; both results already exist.
- ``cond(pred, true_fn, false_fn, *operands)``: ``jax.lax.cond`` under JAX (where the
  branches' float results differ in dtype, both give the wider one); a Python branch
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
    if hasattr(b, "cond"):  # JAX, whose branches must give equal dtypes
        dtypes = _common_dtypes(b.eval_shape(true_fn, *operands), b.eval_shape(false_fn, *operands))
        if dtypes is not None:
            true_fn, false_fn = _cast_to(true_fn, dtypes), _cast_to(false_fn, dtypes)
        return b.cond(pred, true_fn, false_fn, *operands)
    if b.NAME == "numpy":
        return true_fn(*operands) if bool(pred) else false_fn(*operands)
    on_true, on_false = true_fn(*operands), false_fn(*operands)
    dtypes = _common_dtypes(on_true, on_false)
    if dtypes is not None:  # as under JAX: the wider dtype, not select's on_false one
        on_true, on_false = _cast(on_true, dtypes), _cast(on_false, dtypes)
    return select(pred, on_true, on_false)


_FLOATS = ("float16", "bfloat16", "float32", "float64", "complex64", "complex128")


def _common_dtype(a: Any, b: Any) -> Any:
    """The dtype two branch results share: the wider float (float16 with bfloat16: float32);
    None where they already agree or are not both floats (``lax.cond`` then checks them)."""
    names = {backends.dtype_name(a), backends.dtype_name(b)}
    if len(names) == 1 or not names <= set(_FLOATS):
        return None
    return "float32" if names == {"float16", "bfloat16"} else max(names, key=_FLOATS.index)


def _common_dtypes(true_out: Any, false_out: Any) -> Any:
    """Per leaf of the branches' abstract results, the dtype both must give (None: as is);
    None overall when nothing differs or the structures do (``lax.cond`` then explains)."""
    leaves, treedef = backends.flatten(true_out)
    try:
        others = backends.flatten_up_to(treedef, false_out, true_out)
    except backends.TreeMismatchError:
        return None
    dtypes = [
        _common_dtype(t.dtype, f.dtype) if hasattr(t, "dtype") and hasattr(f, "dtype") else None
        for t, f in zip(leaves, others)
    ]
    return dtypes if any(d is not None for d in dtypes) else None


def _cast(tree: Any, dtypes: list) -> Any:
    """``tree``'s leaves cast to ``dtypes`` (None: left as they are), e.g. the zeros that
    stand for float32 updates of bfloat16 parameters with float32 moments."""
    leaves, treedef = backends.flatten(tree)
    cast = [x if d is None else _ops.astype(x, d) for x, d in zip(leaves, dtypes)]
    return backends.unflatten(treedef, cast)


def _cast_to(fn: Callable, dtypes: list) -> Callable:
    return lambda *operands: _cast(fn(*operands), dtypes)


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
