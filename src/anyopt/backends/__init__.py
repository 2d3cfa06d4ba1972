"""The backend dispatcher: the one place that maps arrays to their framework.

Framework modules (``_numpy``, ``_jax``, ``_torch``, ``_mlx``) are imported lazily, the
first time an array of theirs is seen; the framework is read off the leaf's type
without importing anything.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from anyopt.backends import _pytree

FRAMEWORKS = ("numpy", "jax", "torch", "mlx")
_ROOTS = {
    "numpy": "numpy",
    "ml_dtypes": "numpy",
    "jax": "jax",
    "jaxlib": "jax",
    "torch": "torch",
    "mlx": "mlx",
}
_NEUTRAL = (int, float, bool, complex)
_BY_TYPE: dict[type, ModuleType] = {}
_BY_NAME: dict[str, ModuleType] = {}


def load(name: str) -> ModuleType:
    """The backend module for a framework name ('numpy', 'jax', 'torch', 'mlx')."""
    b = _BY_NAME.get(name)
    if b is None:
        if name not in FRAMEWORKS:
            raise ValueError(f"anyopt: unknown framework {name!r}; expected one of {FRAMEWORKS}")
        b = _BY_NAME[name] = importlib.import_module(f"anyopt.backends._{name}")
    return b


def of_type(t: type) -> ModuleType:
    b = _BY_TYPE.get(t)
    if b is None:
        name = "numpy" if t in _NEUTRAL else _ROOTS.get(t.__module__.split(".")[0])
        if name is None:
            raise TypeError(
                f"anyopt: a leaf of type {t.__module__}.{t.__qualname__} is not an array of a "
                f"supported framework ({', '.join(FRAMEWORKS)})"
            )
        b = _BY_TYPE[t] = load(name)
    return b


def of(x: Any) -> ModuleType:
    """The backend module owning array ``x`` (Python scalars go to NumPy)."""
    return of_type(type(x))


def _jax_tree_util():
    jax = sys.modules.get("jax")
    if jax is None:
        return None
    torch = sys.modules.get("torch")
    if torch is not None and torch.compiler.is_compiling():
        return None  # torch.compile traces Python, not JAX's C++ flattener
    return jax.tree_util


# Tree flattening: JAX's (which also knows flax/equinox nodes) once JAX is loaded, else ours.
# Both flatten dict/list/tuple/NamedTuple/None the same way, so leaf order never changes.
def flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None):
    jtu = _jax_tree_util()
    if jtu is not None:
        return jtu.tree_flatten(tree, is_leaf=is_leaf)
    return _pytree.flatten(tree, is_leaf)


def unflatten(treedef: Any, leaves: Iterable[Any]) -> Any:
    if hasattr(treedef, "unflatten"):
        return treedef.unflatten(leaves)
    return _pytree.unflatten(treedef, leaves)


def leaves_with_path(tree: Any, is_leaf=None) -> list[tuple[str, Any]]:
    """``(path string, leaf)`` pairs, e.g. ``("['layer']['w']", array)``."""
    jtu = _jax_tree_util()
    if jtu is not None:
        pairs = jtu.tree_flatten_with_path(tree, is_leaf=is_leaf)[0]
        return [(jtu.keystr(p) or "the tree root", x) for p, x in pairs]
    return [(_pytree.format_path(p), x) for p, x in _pytree.leaves_with_path(tree, is_leaf)]


def leaves_with_keys(tree: Any, is_leaf=None) -> list:
    """``(key path, leaf)`` pairs; the path entries are ``jax.tree_util``'s key types
    (DictKey, SequenceKey, GetAttrKey ...) once JAX is loaded, else look-alikes."""
    jtu = _jax_tree_util()
    if jtu is not None:
        return jtu.tree_flatten_with_path(tree, is_leaf=is_leaf)[0]
    return _pytree.leaves_with_keys(tree, is_leaf)


def dict_key(key: Any) -> Any:
    """The key-path entry of a dict key, of the kind ``leaves_with_keys`` returns."""
    jtu = _jax_tree_util()
    return jtu.DictKey(key) if jtu is not None else _pytree.DictKey(key)


class TreeMismatchError(ValueError):
    """Two trees that must share a structure do not."""


def flatten_up_to(treedef: Any, tree: Any, reference: Any = None) -> list:
    """Leaves of ``tree`` cut at ``treedef``'s leaves; a clear error names the first bad path."""
    if hasattr(treedef, "flatten_up_to"):
        try:
            return treedef.flatten_up_to(tree)
        except (ValueError, TypeError) as e:
            raise TreeMismatchError(_mismatch_message(reference, tree, f"({e})")) from None
    try:
        return _pytree.flatten_up_to(treedef, tree)
    except _pytree.StructureError as e:
        detail = f"at {_pytree.format_path(e.path)}: expected {e.expected}, got {e.got}"
        raise TreeMismatchError(_mismatch_message(reference, tree, detail)) from None


def _mismatch_message(reference, tree, detail: str) -> str:
    if reference is not None:
        want = [p for p, _ in leaves_with_path(reference)]
        got = [p for p, _ in leaves_with_path(tree)]
        for a, b in zip(want, got):
            if a != b:
                return f"anyopt: tree structures differ: expected a leaf at {a}, got one at {b}"
        if len(want) != len(got):
            first = (want if len(want) > len(got) else got)[min(len(want), len(got))]
            side = "missing from" if len(want) > len(got) else "unexpected in"
            return f"anyopt: tree structures differ: {first} is {side} the second tree"
    return f"anyopt: tree structures differ {detail}"


def check_one_framework(leaves: Iterable[Any], trees: tuple = ()) -> ModuleType | None:
    """The single backend of ``leaves``; ``TypeError`` naming both if frameworks mix
    (NumPy arrays among JAX arrays are fine: JAX accepts them, as optax does)."""
    found: dict[str, type] = {}
    backend = None
    for t in set(map(type, leaves)):
        if t in _NEUTRAL or t is type(None):
            continue
        b = _BY_TYPE.get(t)
        if b is None and _ROOTS.get(t.__module__.split(".")[0]) is None:
            continue  # not an array (a subtree cut by flatten_up_to, a MaskedNode ...)
        backend = b or of_type(t)
        found.setdefault(backend.NAME, t)
    if found.keys() == {"numpy", "jax"}:
        return load("jax")  # JAX takes NumPy arrays wherever it takes arrays; so does optax
    if len(found) > 1:
        raise TypeError(_mixed_message(found, trees))
    return backend


def _mixed_message(found: dict[str, type], trees: tuple) -> str:
    names = sorted(found)
    where = {}
    for tree in trees:
        for path, x in leaves_with_path(tree):
            if type(x) not in _NEUTRAL and x is not None:
                where.setdefault(of(x).NAME, path)
    parts = [f"{n} ({found[n].__module__}.{found[n].__qualname__}" for n in names]
    parts = [p + (f" at {where[n]})" if n in where else ")") for p, n in zip(parts, names)]
    return (
        f"anyopt: arrays from different frameworks in one call: {' and '.join(parts)}; "
        "convert every leaf to one framework"
    )


def dtype_name(d: Any) -> str | None:
    """Canonical name ('float32', 'bfloat16' ...) of a dtype from any framework, or a string."""
    if d is None or isinstance(d, str):
        return d
    text = str(d)
    if text.startswith(("torch.", "mlx.core.")):
        return text.rsplit(".", 1)[-1]
    np = load("numpy").xp
    try:
        return np.dtype(d).name
    except TypeError:
        pass
    try:
        return np.dtype(d.dtype).name
    except (AttributeError, TypeError):
        return text  # a dtype NumPy does not know, e.g. JAX's typed PRNG keys


def dtype_max(name: str) -> int | float:
    """The largest finite value of the dtype called ``name``; ValueError if it has none."""
    np = load("numpy").xp
    d = load("numpy").dtype(name)
    if np.issubdtype(d, np.integer):
        return int(np.iinfo(d).max)
    if name == "bfloat16":
        import ml_dtypes

        return float(ml_dtypes.finfo(d).max)
    if np.issubdtype(d, np.floating):
        return float(np.finfo(d).max)
    raise ValueError(f"{name} has no largest value")
