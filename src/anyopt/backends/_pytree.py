"""A dependency-free pytree flattener for dict/list/tuple/NamedTuple/None trees.

It mirrors ``jax.tree_util`` on those containers (dict keys sorted, None an empty
node) so that trees flatten to the same leaf order on every framework.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

_LEAF = "*"


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _sorted_keys(d: dict) -> tuple:
    try:
        return tuple(sorted(d))
    except TypeError:
        return tuple(d)


def _node(x: Any):
    """Returns (kind, meta, children) for a container, or None for a leaf."""
    if x is None:
        return (None, None, ())
    t = type(x)
    if t is dict or (isinstance(x, dict) and not isinstance(x, OrderedDict)):
        keys = _sorted_keys(x)
        return (dict, keys, tuple(x[k] for k in keys))
    if isinstance(x, OrderedDict):
        keys = tuple(x)
        return (OrderedDict, keys, tuple(x[k] for k in keys))
    if t is tuple or t is list:
        return (t, len(x), tuple(x))
    if _is_namedtuple(x):
        return (t, None, tuple(x))
    return None


_LEAF_TYPES: set = set()  # types ``_node`` found to be leaves (it decides by type alone)
_NAMED_TUPLES: set = set()  # NamedTuple classes it has seen


def flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None):
    """Returns ``(leaves, treedef)``; treedefs compare equal iff structures match."""
    leaves: list = []
    append, leaf_types, named_tuples = leaves.append, _LEAF_TYPES, _NAMED_TUPLES

    def rec(x):
        if is_leaf is not None and is_leaf(x):
            append(x)
            return _LEAF
        t = type(x)
        if t in leaf_types:
            append(x)
            return _LEAF
        if t is dict:  # the common containers first, without building ``_node``'s tuple
            keys = _sorted_keys(x)
            return (dict, keys, tuple([rec(x[k]) for k in keys]))
        if t is tuple or t is list:
            return (t, len(x), tuple([rec(c) for c in x]))
        if t in named_tuples:
            return (t, None, tuple([rec(c) for c in x]))
        node = _node(x)
        if node is None:
            leaf_types.add(t)
            append(x)
            return _LEAF
        kind, meta, children = node
        if kind is t and meta is None:
            named_tuples.add(t)
        return (kind, meta, tuple([rec(c) for c in children]))

    treedef = rec(tree)
    return leaves, treedef


def unflatten(treedef: Any, leaves) -> Any:
    it = iter(leaves)

    def rec(d):
        if d == _LEAF:
            return next(it)
        kind, meta, children = d
        values = [rec(c) for c in children]
        if kind is None:
            return None
        if kind is dict or kind is OrderedDict:
            return kind(zip(meta, values))
        if kind is tuple or kind is list:
            return kind(values)
        return kind(*values)

    return rec(treedef)


def flatten_up_to(treedef: Any, tree: Any) -> list:
    """Leaves of ``tree`` cut at the leaves of ``treedef`` (``tree`` may be deeper)."""
    out: list = []

    def rec(d, x, path):
        if d == _LEAF:
            out.append(x)
            return
        kind, meta, children = d
        node = _node(x)
        if node is None or node[0] is not kind or node[1] != meta:
            raise StructureError(path, _describe_def(d), _describe(x))
        for (key, c), child in zip(_child_keys(d), node[2]):
            rec(c, child, path + (key,))

    rec(treedef, tree, ())
    return out


class StructureError(ValueError):
    def __init__(self, path, expected, got):
        self.path, self.expected, self.got = path, expected, got
        super().__init__(f"at {format_path(path)}: expected {expected}, got {got}")


def _child_keys(d):
    kind, meta, children = d
    if kind is dict or kind is OrderedDict:
        keys = [("key", k) for k in meta]
    elif kind is tuple or kind is list:
        keys = [("index", i) for i in range(len(children))]
    elif kind is None:
        keys = []
    else:
        keys = [("attr", f) for f in kind._fields]
    return list(zip(keys, children))


def _describe_def(d) -> str:
    kind, meta, _ = d
    if kind is None:
        return "None"
    if kind is dict or kind is OrderedDict:
        return f"{kind.__name__} with keys {list(meta)}"
    if kind is tuple or kind is list:
        return f"{kind.__name__} of length {meta}"
    return f"{kind.__name__}"


def _describe(x) -> str:
    node = _node(x)
    if node is None:
        return f"a leaf of type {type(x).__name__}"
    kind, meta, children = node
    if kind is None:
        return "None"
    if isinstance(x, dict):
        return f"{type(x).__name__} with keys {list(meta)}"
    if kind is tuple or kind is list:
        return f"{kind.__name__} of length {meta}"
    return type(x).__name__


def format_path(path) -> str:
    if not path:
        return "the tree root"
    parts = []
    for kind, k in path:
        parts.append(f".{k}" if kind == "attr" else f"[{k!r}]")
    return "".join(parts)


def leaves_with_path(tree: Any, is_leaf=None):
    out = []

    def rec(x, path):
        if is_leaf is not None and is_leaf(x):
            out.append((path, x))
            return
        node = _node(x)
        if node is None:
            out.append((path, x))
            return
        d = (node[0], node[1], node[2])
        for (key, _), child in zip(_child_keys(d), node[2]):
            rec(child, path + (key,))

    rec(tree, ())
    return out


# Key-path entries with jax.tree_util's names and fields, for trees flattened without JAX.
@dataclasses.dataclass(frozen=True)
class DictKey:
    key: Any

    def __str__(self):
        return f"[{self.key!r}]"


@dataclasses.dataclass(frozen=True)
class SequenceKey:
    idx: int

    def __str__(self):
        return f"[{self.idx}]"


@dataclasses.dataclass(frozen=True)
class GetAttrKey:
    name: str

    def __str__(self):
        return f".{self.name}"


_KEY_TYPES = {"key": DictKey, "index": SequenceKey, "attr": GetAttrKey}


def leaves_with_keys(tree: Any, is_leaf=None) -> list:
    """``(key path, leaf)`` pairs, key paths made of DictKey/SequenceKey/GetAttrKey."""
    return [
        (tuple(_KEY_TYPES[kind](k) for kind, k in path), x)
        for path, x in leaves_with_path(tree, is_leaf)
    ]
