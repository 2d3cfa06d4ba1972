"""Checking that a tree (labels, a mask) is a prefix of the parameters' tree.

The first difference is reported with its path, e.g. ``Dict key mismatch at ['dense']:
the parameters have keys ['b', 'w'], param_labels has keys ['w']``.
"""

from __future__ import annotations

from typing import Any

from anyopt import backends
from anyopt.backends import _pytree


def _kind(x: Any) -> str:
    if x is None:
        return "None"
    if isinstance(x, dict):
        return "dict"
    if isinstance(x, tuple) and hasattr(type(x), "_fields"):
        return type(x).__name__
    if isinstance(x, (list, tuple)):
        return type(x).__name__
    return "leaf"


def _children(x: Any) -> list:
    """``(path entry, child)`` pairs of a dict/list/tuple/NamedTuple node."""
    if isinstance(x, dict):
        return [(("key", k), x[k]) for k in _pytree._sorted_keys(x)]
    if isinstance(x, tuple) and hasattr(type(x), "_fields"):
        return [(("attr", f), v) for f, v in zip(x._fields, x)]
    return [(("index", i), v) for i, v in enumerate(x)]


def _is_container(x: Any) -> bool:
    return x is None or isinstance(x, (dict, list, tuple))


def first_difference(prefix: Any, full: Any, what: str, path: tuple = ()) -> str | None:
    """A message for the first place where ``prefix`` is not a prefix of ``full``, or None."""
    where = _pytree.format_path(path)
    if not _is_container(prefix):
        leaves = backends.flatten(prefix)[0]
        if len(leaves) == 1 and leaves[0] is prefix:
            return None  # a leaf of the prefix covers any subtree
    if not (_is_container(prefix) and _is_container(full)):
        try:  # registered nodes (flax, equinox ...): let the flattener decide
            backends.flatten_up_to(backends.flatten(prefix)[1], full)
            return None
        except ValueError as e:
            return f"structure mismatch at {where}: {e}"
    kp, kf = _kind(prefix), _kind(full)
    if kp != kf:
        return f"Type mismatch at {where}: the parameters have a {kf}, {what} has a {kp}"
    if kp == "dict" and set(prefix) != set(full):
        return (
            f"Dict key mismatch at {where}: the parameters have keys "
            f"{list(_pytree._sorted_keys(full))}, {what} has keys "
            f"{list(_pytree._sorted_keys(prefix))}"
        )
    if kp in ("list", "tuple") and len(prefix) != len(full):
        return (
            f"Length mismatch at {where}: the parameters have a {kp} of length {len(full)}, "
            f"{what} has one of length {len(prefix)}"
        )
    if prefix is None:
        return None
    full_children = dict(_children(full))
    for entry, child in _children(prefix):
        found = first_difference(child, full_children[entry], what, (*path, entry))
        if found:
            return found
    return None


def check_prefix(prefix: Any, full: Any, what: str, owner: str) -> None:
    """``ValueError`` naming the first path where ``prefix`` does not match ``full``."""
    problem = first_difference(prefix, full, what)
    if problem:
        raise ValueError(
            f"{owner}: {what} must be the parameters' tree or a prefix of it. {problem}"
        )
