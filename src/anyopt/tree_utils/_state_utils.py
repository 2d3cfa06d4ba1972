"""Finding, replacing and mapping values inside optimizer states.

Paths are tuples of key entries: ``jax.tree_util``'s DictKey / SequenceKey / GetAttrKey
(look-alikes with the same fields when JAX is not loaded), plus ``NamedTupleKey`` for a
field of a NamedTuple, which also records the tuple's class name so that equal field
names in different states (``count`` of Adam and of a schedule) can be told apart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Protocol, Union, runtime_checkable

from anyopt import backends

KeyPath = tuple
Filter = Callable[[KeyPath, Any], bool]


@dataclasses.dataclass(frozen=True)
class NamedTupleKey:
    """Path entry for the field ``name`` of a NamedTuple of class ``tuple_name``."""

    tuple_name: str
    name: str

    def __str__(self):
        return f"{self.tuple_name}.{self.name}"


@runtime_checkable
class Initable(Protocol):
    """An object with an ``init(params) -> state`` method."""

    def init(self, params: Any) -> Any: ...


class _ParamsPlaceholder(NamedTuple):
    """Stands for the parameters: a node without leaves in every flattener."""


def _is_named_tuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _node_has_keys(node: Any, keys: tuple) -> bool:
    if _is_named_tuple(node):
        return type(node).__name__ in keys or any(k in node._fields for k in keys)
    return isinstance(node, dict) and any(k in node for k in keys)


def _leaves_with_named_path(tree: Any, is_leaf: Optional[Callable] = None) -> list:
    """``leaves_with_keys``, with NamedTuple fields as ``NamedTupleKey`` entries."""
    stop = is_leaf or (lambda _: False)
    out = []
    for path, node in backends.leaves_with_keys(tree, lambda x: stop(x) or _is_named_tuple(x)):
        if stop(node) or not _is_named_tuple(node):
            out.append((tuple(path), node))
            continue
        for field in node._fields:
            entry = NamedTupleKey(type(node).__name__, field)
            for sub_path, value in _leaves_with_named_path(getattr(node, field), is_leaf):
                out.append(((*path, entry, *sub_path), value))
    return out


def _children_with_path(path: KeyPath, node: Any) -> list:
    if _is_named_tuple(node):
        name = type(node).__name__
        return [((*path, NamedTupleKey(name, f)), getattr(node, f)) for f in node._fields]
    if isinstance(node, dict):
        return [((*path, backends.dict_key(k)), v) for k, v in node.items()]
    raise ValueError(f"anyopt.tree: expected a dict or a NamedTuple; got {type(node).__name__}")


def _key_of(entry: Any) -> Any:
    """The plain key (str or int) of a path entry."""
    if isinstance(entry, NamedTupleKey):
        return entry.name
    kind = type(entry).__name__
    if kind == "DictKey":
        if isinstance(entry.key, (str, int)):
            return entry.key
        raise KeyError(f"anyopt.tree: only str and int dict keys can be matched; got {entry.key!r}")
    if kind == "FlattenedIndexKey":
        return entry.key
    if kind == "GetAttrKey":
        return entry.name
    if kind == "SequenceKey":
        return entry.idx
    raise KeyError(f"anyopt.tree: unknown key entry {entry!r} of type {kind}")


def _find(tree: Any, key: Any) -> list:
    has_key = lambda node: _node_has_keys(node, (key,))  # noqa: E731
    found = []
    holders = [(p, n) for p, n in _leaves_with_named_path(tree, has_key) if has_key(n)]
    for path, node in holders:
        if _is_named_tuple(node) and type(node).__name__ == key:
            found.append((path, node))
        elif _is_named_tuple(node):
            found.append(((*path, NamedTupleKey(type(node).__name__, key)), getattr(node, key)))
        else:
            found.append(((*path, backends.dict_key(key)), node[key]))
    for path, node in holders:  # the same key deeper down
        for child_path, child in _children_with_path(path, node):
            found += [((*child_path, *p), v) for p, v in _find(child, key)]
    return found


def tree_get_all_with_path(tree: Any, key: Any, filtering: Optional[Filter] = None) -> list:
    """Every ``(path, value)`` in ``tree`` under the dict key or NamedTuple field ``key``,
    or every NamedTuple whose class is called ``key``; ``filtering(path, value)`` keeps some.
    """
    found = _find(tree, key)
    if filtering is not None:
        found = [(p, v) for p, v in found if filtering(p, v)]
    return found


def tree_get(
    tree: Any, key: Any, default: Optional[Any] = None, filtering: Optional[Filter] = None
) -> Any:
    """The one value of ``tree`` matching ``key`` (see ``tree_get_all_with_path``);
    ``default`` if none does, ``KeyError`` if several do."""
    found = tree_get_all_with_path(tree, key, filtering=filtering)
    if len(found) > 1:
        paths = ", ".join("".join(map(str, p)) or "the root" for p, _ in found)
        raise KeyError(f"Found multiple values for '{key}' in the tree: at {paths}")
    return found[0][1] if found else default


def tree_set(tree: Any, filtering: Optional[Filter] = None, /, **kwargs: Any) -> Any:
    """A copy of ``tree`` with every value matching a keyword's name replaced by its value
    (``KeyError`` for a keyword that matches nothing)."""
    for key in kwargs:
        if not tree_get_all_with_path(tree, key, filtering):
            how = " given the filtering operation" if filtering else ""
            raise KeyError(f"Found no values matching '{key}'{how} in {tree}")
    keys = tuple(kwargs)
    has_any = lambda node: _node_has_keys(node, keys)  # noqa: E731
    wanted = lambda path, node: filtering is None or filtering(path, node)  # noqa: E731

    def replace(path, node):
        if not has_any(node):
            return node
        if _is_named_tuple(node) and type(node).__name__ in kwargs and wanted(path, node):
            return kwargs[type(node).__name__]
        children = {}
        for child_path, child in _children_with_path(path, node):
            key = _key_of(child_path[-1])
            if key in kwargs and wanted(child_path, child):
                children[key] = kwargs[key]
            elif isinstance(child, (dict, list, tuple)):
                children[key] = replace(child_path, child)
            else:
                children[key] = child
        return node._replace(**children) if _is_named_tuple(node) else children

    treedef = backends.flatten(tree, has_any)[1]
    pairs = _leaves_with_named_path(tree, has_any)
    return backends.unflatten(treedef, [replace(p, n) for p, n in pairs])


def tree_map_params(
    initable: Union[Callable[[Any], Any], Initable],
    f: Callable[..., Any],
    state: Any,
    /,
    *rest: Any,
    transform_non_params: Optional[Callable[..., Any]] = None,
    is_leaf: Optional[Callable[[Any], bool]] = None,
) -> Any:
    """``f`` mapped over every copy of the parameters' tree inside ``state`` (``mu``,
    ``nu`` ...), with the leaves of ``rest`` as extra arguments.

    Which parts of the state are parameter-shaped is found by running ``init`` on a
    placeholder; ``transform_non_params`` (if given) maps every other state leaf.
    """
    init = initable.init if isinstance(initable, Initable) else initable
    skeleton = init(_ParamsPlaceholder())
    is_placeholder = lambda x: isinstance(x, _ParamsPlaceholder)  # noqa: E731

    def map_one(marker, value):
        if is_placeholder(marker):
            leaves, treedef = backends.flatten(value, is_leaf)
            others = [backends.flatten_up_to(treedef, r, value) for r in rest]
            return backends.unflatten(treedef, [f(*xs) for xs in zip(leaves, *others)])
        return value if transform_non_params is None else transform_non_params(value)

    markers, treedef = backends.flatten(skeleton, is_placeholder)
    values = backends.flatten_up_to(treedef, state, skeleton)
    return backends.unflatten(treedef, [map_one(m, v) for m, v in zip(markers, values)])
