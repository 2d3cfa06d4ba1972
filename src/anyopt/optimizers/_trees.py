"""The tree helpers of the class API, with mlx.utils' semantics on any framework's arrays.

Trees are dicts, lists and tuples; anything else is a leaf. ``tree_map`` walks the first
tree and indexes the others with its keys, so they may be supersets of it (parameters of
which only some have gradients; a state that also holds ``step``). Names are dotted paths,
as ``mlx.utils.tree_flatten`` writes them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from anyopt import backends


def tree_map(fn: Callable, tree: Any, *rest: Any, is_leaf: Callable | None = None) -> Any:
    """``fn`` on every leaf of ``tree`` and the matching entries of ``rest``."""
    if is_leaf is not None and is_leaf(tree):
        return fn(tree, *rest)
    if isinstance(tree, (list, tuple)):
        children = [
            tree_map(fn, child, *[r[i] for r in rest], is_leaf=is_leaf)
            for i, child in enumerate(tree)
        ]
        return type(tree)(children) if not hasattr(type(tree), "_fields") else type(tree)(*children)
    if isinstance(tree, dict):
        return {
            k: tree_map(fn, child, *[r[k] for r in rest], is_leaf=is_leaf)
            for k, child in tree.items()
        }
    return fn(tree, *rest)


def tree_flatten(tree: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``(dotted name, leaf)`` pairs in the tree's own order."""
    if isinstance(tree, (list, tuple)):
        items = [(str(i), child) for i, child in enumerate(tree)]
    elif isinstance(tree, dict):
        items = [(str(k), child) for k, child in tree.items()]
    else:
        return [(prefix, tree)]
    found = []
    for key, child in items:
        found.extend(tree_flatten(child, f"{prefix}.{key}" if prefix else key))
    return found


def tree_unflatten(pairs: list[tuple[str, Any]]) -> Any:
    """The tree ``tree_flatten`` came from: numeric keys are list positions, and list
    positions without leaves hold ``{}``."""
    if len(pairs) == 1 and pairs[0][0] == "":
        return pairs[0][1]
    groups: dict[str, list] = {}
    for name, leaf in pairs:
        head, _, tail = name.partition(".")
        groups.setdefault(head, []).append((tail, leaf))
    if not pairs[0][0].split(".", 1)[0].isdigit():
        return {k: tree_unflatten(v) for k, v in groups.items()}
    items: list = []
    for index in sorted(groups, key=int):
        items.extend({} for _ in range(int(index) - len(items)))
        items.append(tree_unflatten(groups[index]))
    return items


def tree_merge(a: Any, b: Any) -> Any:
    """The union of two trees with disjoint leaves (``{}`` or ``None`` count as empty)."""
    if a is None or (isinstance(a, (dict, list, tuple)) and len(a) == 0):
        return b
    if b is None or (isinstance(b, (dict, list, tuple)) and len(b) == 0):
        return a
    if isinstance(a, dict) and isinstance(b, dict):
        merged = dict(a)
        for k, v in b.items():
            merged[k] = tree_merge(a[k], v) if k in a else v
        return merged
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a)(tree_merge(x, y) for x, y in itertools.zip_longest(a, b))
    raise ValueError(
        f"anyopt.optimizers: cannot merge two trees that both have a leaf here: {a!r}, {b!r}"
    )


def first_leaf(tree: Any) -> Any:
    """The first array of ``tree`` (any pytree: a leaf with a dtype), or None."""
    for leaf in backends.flatten(tree)[0]:
        if hasattr(leaf, "dtype") and hasattr(leaf, "shape"):
            return leaf
    return None
