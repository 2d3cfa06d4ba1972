"""``tree_dtype``: the dtype of a tree, with optax's handlers for mixed dtypes.

Mixed dtypes are ordered by JAX's type-promotion lattice (``a <= b`` when ``a`` promotes
to ``b``), on every framework: 'promote' is the least upper bound, 'highest' / 'lowest'
the largest / smallest dtype when all leaves are comparable (``ValueError`` otherwise,
e.g. for float16 with bfloat16).
"""

from __future__ import annotations

import functools
from typing import Any, Optional

from anyopt import _ops, backends

# JAX's promotion lattice, edges upwards; "float*" is the weakly typed Python float.
_UP = {
    "bool": ("uint8", "int8"),
    "uint8": ("uint16", "int16"),
    "uint16": ("uint32", "int32"),
    "uint32": ("uint64", "int64"),
    "uint64": ("float*",),
    "int8": ("int16",),
    "int16": ("int32",),
    "int32": ("int64",),
    "int64": ("float*",),
    "float*": ("bfloat16", "float16"),
    "bfloat16": ("float32",),
    "float16": ("float32",),
    "float32": ("float64", "complex64"),
    "float64": ("complex128",),
    "complex64": ("complex128",),
    "complex128": (),
}
HANDLERS = (None, "promote", "highest", "lowest")


@functools.cache
def _above(name: str) -> frozenset:
    if name not in _UP:
        raise ValueError(f"anyopt.tree.dtype: cannot order dtype {name} with other dtypes")
    return frozenset({name}).union(*(_above(n) for n in _UP[name]))


def _promote_names(a: str, b: str) -> str:
    common = _above(a) & _above(b)
    least = next(n for n in common if _above(n) >= common)
    return "float64" if least == "float*" else least


def _lower(b, d1: Any, d2: Any) -> Any:
    joined = _promote(b, d1, d2)
    if joined == d1:
        return d2
    if joined == d2:
        return d1
    raise ValueError(
        f"anyopt.tree.dtype: dtypes {d1} and {d2} cannot be ordered: neither promotes to the "
        "other; use mixed_dtype_handler='promote'"
    )


def _higher(b, d1: Any, d2: Any) -> Any:
    return d2 if _lower(b, d1, d2) == d1 else d1


def _promote(b, d1: Any, d2: Any) -> Any:
    if hasattr(b, "promote_types"):  # JAX: its own rules, x64 canonicalization included
        return b.promote_types(d1, d2)
    return b.dtype(_promote_names(backends.dtype_name(d1), backends.dtype_name(d2)))


def tree_dtype(tree: Any, mixed_dtype_handler: Optional[str] = None) -> Any:
    """The dtype of ``tree``'s leaves, as the leaves' framework spells it.

    ``mixed_dtype_handler``: None requires one dtype (``ValueError`` naming the first leaf
    that differs); 'promote' returns the dtype all leaves promote to; 'highest' / 'lowest'
    the largest / smallest leaf dtype. An empty tree has dtype float32.
    """
    if mixed_dtype_handler not in HANDLERS:
        raise ValueError(
            f"anyopt.tree.dtype: mixed_dtype_handler must be one of {HANDLERS}; "
            f"got {mixed_dtype_handler!r}"
        )
    pairs = backends.leaves_with_path(tree)
    if not pairs:
        return backends.load("numpy").dtype("float32")
    b = backends.check_one_framework([x for _, x in pairs], (tree,)) or backends.load("numpy")
    dtypes = [_ops.dtype(x) for _, x in pairs]
    if mixed_dtype_handler is None:
        for (path, _), d in zip(pairs, dtypes):
            if d != dtypes[0]:
                raise ValueError(
                    f"anyopt.tree.dtype: leaves have different dtypes: {pairs[0][0]} is "
                    f"{dtypes[0]}, {path} is {d}; pass mixed_dtype_handler"
                )
        return dtypes[0]
    combine = {"promote": _promote, "highest": _higher, "lowest": _lower}[mixed_dtype_handler]
    return functools.reduce(lambda d1, d2: combine(b, d1, d2), dtypes)
