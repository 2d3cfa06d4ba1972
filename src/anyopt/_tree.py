"""The tree vocabulary every algorithm is written in.

All functions take and return trees of one framework's arrays; ``map`` is the only
place trees are walked, and it checks structures and frameworks as it goes.
"""

from __future__ import annotations

import builtins
import itertools
import operator
from collections.abc import Callable
from typing import Any

from anyopt import _ops, backends

INT32_MAX = 2**31 - 1


def is_none(x: Any) -> bool:
    return x is None


def map(f: Callable, tree: Any, *rest: Any, is_leaf: Callable[[Any], bool] | None = None) -> Any:  # noqa: A001
    """``f`` applied leaf-wise over ``tree`` and trees sharing its structure (or deeper)."""
    leaves, treedef = backends.flatten(tree, is_leaf)
    if not rest:
        backends.check_one_framework(leaves, (tree,))
        return backends.unflatten(treedef, [f(x) for x in leaves])
    others = [backends.flatten_up_to(treedef, r, tree) for r in rest]
    backends.check_one_framework(itertools.chain(leaves, *others), (tree, *rest))
    return backends.unflatten(treedef, [f(*xs) for xs in zip(leaves, *others)])


def leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list:
    return backends.flatten(tree, is_leaf)[0]


def backend_of(tree: Any):
    """The backend module of a tree's arrays (NumPy for an empty tree or Python numbers)."""
    return backends.check_one_framework(leaves(tree), (tree,)) or backends.load("numpy")


def count_init(params: Any):
    """The int32 zero step counter, on the framework (and device) of ``params``."""
    found = leaves(params)
    b = backend_of(params)
    return b.count_zero(found[0] if found else None)


def safe_increment(count: Any) -> Any:
    """``count + 1``, saturating at the dtype's largest value instead of overflowing."""
    name = backends.dtype_name(_ops.dtype(count))
    if name == "int32":  # the step counters: the common case, no lookups
        # int32 + int32: JAX's strict dtype promotion rejects int32 + bool.
        return count + _ops.astype(count < INT32_MAX, "int32")
    try:
        top = backends.dtype_max(name)
    except ValueError:
        raise ValueError(
            f"safe_increment: count must have an integer or real floating dtype; got {name}"
        ) from None
    return count + _ops.astype(count < _ops.full_like(count, top), name)


# --- construction and casting -------------------------------------------------------------
def zeros_like(tree: Any, dtype: Any = None) -> Any:
    return map(lambda x: _ops.zeros_like(x, dtype), tree)


def ones_like(tree: Any, dtype: Any = None) -> Any:
    return map(lambda x: _ops.full_like(x, 1, dtype), tree)


def full_like(tree: Any, fill_value: Any, dtype: Any = None) -> Any:
    return map(lambda x: _ops.full_like(x, fill_value, dtype), tree)


def cast(tree: Any, dtype: Any) -> Any:
    if dtype is None:
        return tree
    return map(lambda x: _ops.astype(x, dtype), tree)


def cast_like(tree: Any, other_tree: Any) -> Any:
    return map(lambda t, o: _ops.astype(t, o.dtype) if hasattr(o, "dtype") else t, tree, other_tree)


_FLOAT_RANK = {
    "float16": 0,
    "bfloat16": 1,
    "float32": 2,
    "float64": 3,
    "complex64": 4,
    "complex128": 5,
}


def dtype(tree: Any, mixed_dtype_handler: str | None = None) -> Any:
    """The dtype of the tree's leaves.

    With ``mixed_dtype_handler=None`` all leaves must share one dtype (``ValueError``
    naming the odd leaf otherwise); ``'highest'``/``'lowest'`` pick the widest/narrowest
    float dtype and ``'promote'`` the type both float16 and bfloat16 promote to.
    """
    pairs = backends.leaves_with_path(tree)
    if not pairs:
        return "float32"  # as optax: e.g. init on tree_map_params' parameter placeholder
    first = _ops.dtype(pairs[0][1])
    if mixed_dtype_handler is None:
        for path, x in pairs:
            if _ops.dtype(x) != first:
                raise ValueError(
                    f"anyopt.tree.dtype: leaves have different dtypes: {pairs[0][0]} is "
                    f"{first}, {path} is {_ops.dtype(x)}; pass mixed_dtype_handler"
                )
        return first
    handlers = ("promote", "highest", "lowest")
    if mixed_dtype_handler not in handlers:
        raise ValueError(
            f"anyopt.tree.dtype: mixed_dtype_handler must be None or one of {handlers}; "
            f"got {mixed_dtype_handler!r}"
        )
    names = {backends.dtype_name(_ops.dtype(x)) for _, x in pairs}
    if len(names) == 1:
        return first
    unknown = names - _FLOAT_RANK.keys()
    if unknown:
        raise ValueError(
            f"anyopt.tree.dtype: only float or complex leaves can be mixed; got {unknown}"
        )
    ranked = sorted(names, key=_FLOAT_RANK.get)
    name = ranked[0] if mixed_dtype_handler == "lowest" else ranked[-1]
    if mixed_dtype_handler == "promote" and {"float16", "bfloat16"} <= names and len(ranked) == 2:
        name = "float32"
    if mixed_dtype_handler == "promote" and name == "complex64" and "float64" in names:
        name = "complex128"  # float64 and complex64 meet at complex128
    return backends.of(pairs[0][1]).dtype(name)


# --- arithmetic ---------------------------------------------------------------------------
def add(tree_x: Any, tree_y: Any, *other_trees: Any) -> Any:
    return map(lambda *xs: builtins.sum(xs[1:], xs[0]), tree_x, tree_y, *other_trees)


def sub(tree_x: Any, tree_y: Any) -> Any:
    return map(operator.sub, tree_x, tree_y)


def mul(tree_x: Any, tree_y: Any) -> Any:
    return map(operator.mul, tree_x, tree_y)


def div(tree_x: Any, tree_y: Any) -> Any:
    return map(operator.truediv, tree_x, tree_y)


def scale(scalar: Any, tree: Any) -> Any:
    return map(lambda x: _ops.like(scalar, x) * x, tree)


def add_scale(tree_x: Any, scalar: Any, tree_y: Any) -> Any:
    return map(
        lambda x, y: None if x is None else x + _ops.like(scalar, y) * y,
        tree_x,
        tree_y,
        is_leaf=is_none,
    )


def clip(tree: Any, min_value: Any = None, max_value: Any = None) -> Any:
    return map(lambda x: _ops.clip(x, min_value, max_value), tree)


def where(condition: Any, tree_x: Any, tree_y: Any) -> Any:
    return map(lambda x, y: _ops.where(condition, x, y), tree_x, tree_y)


# --- reductions ---------------------------------------------------------------------------
def sum(tree: Any, associative_reduction: bool = False) -> Any:  # noqa: A001
    """The sum of all elements of all leaves (``associative_reduction`` accepted for optax
    compatibility: leaves are always summed in order)."""
    del associative_reduction
    return builtins.sum((_ops.sum(x) for x in leaves(tree)), 0)


def vdot(tree_x: Any, tree_y: Any) -> Any:
    return builtins.sum(leaves(map(_ops.vdot, tree_x, tree_y)), 0)


def max(tree: Any) -> Any:  # noqa: A001
    found = [_ops.max(x) for x in leaves(tree) if _ops.size(x)]
    out = -float("inf")
    for m in found:
        out = _ops.maximum(m, out)
    return out


def size(tree: Any) -> int:
    return builtins.sum(_ops.size(x) for x in leaves(tree))


def norm(tree: Any, ord: Any = None, squared: bool = False) -> Any:  # noqa: A002
    """The norm of the tree seen as one flat vector (ord None/2, 1 or 'inf'); real, also
    for complex leaves (``|x|`` element-wise)."""
    if ord is None or ord == 2:
        sq = sum(map(_square_magnitude, tree))
        return sq if squared else _ops.sqrt(_as_array(sq, tree))
    if ord == 1:
        out = sum(map(_ops.abs, tree))
    elif ord in (float("inf"), "inf", "infinity"):
        out = max(map(_ops.abs, tree))
    else:
        raise ValueError(f"anyopt.tree.norm: ord must be None, 1, 2 or 'inf'; got {ord!r}")
    return out * out if squared else out


def _square_magnitude(x: Any) -> Any:
    """``|x|**2`` as optax's tree norm computes it: ``re**2 + im**2`` for complex leaves
    (not ``abs_sq``'s product, which XLA may round differently), ``x * x`` for real."""
    if not _ops.is_complex(x):
        return x * x
    re, im = _ops.real(x), _ops.imag(x)
    return re * re + im * im


def _as_array(value: Any, tree: Any) -> Any:
    if isinstance(value, (int, float)):
        return backend_of(tree).asarray(float(value))
    return value


def allclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False):
    def close(x, y):
        bx = backends.of(x)
        x, y = bx.to_numpy(x), backends.of(y).to_numpy(y)
        return bool(backends.load("numpy").xp.allclose(x, y, rtol, atol, equal_nan))

    return builtins.all(leaves(map(close, a, b)))


# --- moments ------------------------------------------------------------------------------
def _power(g: Any, order: Any) -> Any:
    """``g**order``; integer powers of complex leaves by repeated products (MLX's complex
    ``**`` goes through exp/log and loses bits; JAX multiplies too)."""
    if isinstance(order, int) and order >= 1 and _ops.is_complex(g):
        out = g
        for _ in range(order - 1):
            out = out * g
        return out
    return g**order


def update_moment(updates: Any, moments: Any, decay: Any, order: int) -> Any:
    """EMA of the ``order``-th power: ``(1 - decay) * g**order + decay * m``."""
    return map(
        lambda g, m: (
            None
            if g is None
            else _ops.like(1 - decay, m) * _power(g, order) + _ops.like(decay, m) * m
        ),
        updates,
        moments,
        is_leaf=is_none,
    )


def _norm_power(g: Any, order: Any) -> Any:
    """``|g|**order``: ``g**order`` for real leaves, ``abs_sq(g)**(order / 2)`` (real) for
    complex ones, as optax computes it."""
    if not _ops.is_complex(g):
        return g**order
    half = order / 2
    sq = _ops.abs_sq(g)
    return sq if half == 1 else sq ** (int(half) if float(half).is_integer() else half)


def update_moment_per_elem_norm(updates: Any, moments: Any, decay: Any, order: int) -> Any:
    """EMA of ``|g|**order`` (element-wise; equals ``g**order`` for real leaves).

    For complex ``g`` the moment accumulates the real ``|g|**order``; it keeps the
    moment's own dtype (complex moments stay complex with a zero imaginary part, as in
    optax).
    """
    return map(
        lambda g, m: (
            None
            if g is None
            else _ops.like(1 - decay, m) * _norm_power(g, order) + _ops.like(decay, m) * m
        ),
        updates,
        moments,
        is_leaf=is_none,
    )


def update_infinity_moment(updates: Any, moments: Any, decay: Any, eps: Any) -> Any:
    """``max(|g| + eps, decay * m)``: the infinity-norm moment of Adamax."""
    return map(
        lambda g, m: None if g is None else _ops.maximum(_ops.abs(g) + eps, decay * m),
        updates,
        moments,
        is_leaf=is_none,
    )


def bias_correction(moment: Any, decay: Any, count: Any) -> Any:
    """``moment / (1 - decay**count)``.

    The correction is computed in float32 (float64 for float64 leaves) from ``decay``
    rounded to that precision, as optax does, then cast to each leaf's dtype.
    """
    corrections: dict = {}

    def correct(t):
        key = _ops.dtype(t)
        if key not in corrections:
            corrections[key] = _ops.bias_correction_denominator(decay, count, t)
        return t / corrections[key]

    return map(correct, moment)


# --- random -------------------------------------------------------------------------------
def split_key_like(rng_key: Any, target_tree: Any) -> Any:
    """One fresh key per leaf of ``target_tree``, keys of ``rng_key``'s framework."""
    treedef = backends.flatten(target_tree)[1]
    n = len(leaves(target_tree))
    keys = backends.of(rng_key).split(rng_key, n) if n else []
    return backends.unflatten(treedef, [keys[i] for i in range(n)])


def random_like(rng_key: Any, target_tree: Any, sampler: Any = None, dtype: Any = None) -> Any:
    """A tree like ``target_tree`` of standard normal draws (or ``sampler(key, shape, dtype)``)."""
    b = backends.of(rng_key)

    def draw(key, x):
        d = b.dtype(backends.dtype_name(dtype if dtype is not None else _ops.dtype(x)))
        return (sampler or b.normal)(key, tuple(x.shape), d)

    return map(draw, split_key_like(rng_key, target_tree), target_tree)
