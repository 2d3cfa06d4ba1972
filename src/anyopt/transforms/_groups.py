"""Parameter groups by name: label and mask trees from name patterns or predicates.

A parameter's name is its path in the tree, dotted: ``encoder.layers.0.weight`` for nested
dicts and lists (MLX's ``tree_flatten`` names), for equinox modules (attribute names) and for
``dict(model.named_parameters())`` (whose keys already are such names).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Optional, Union

from anyopt import backends

Matcher = Union[str, "re.Pattern[str]", Callable[[str, Any], bool], Sequence[Any]]


def param_names(tree: Any) -> list[tuple[str, Any, int]]:
    """``(dotted name, parameter, number of leaves)`` for every parameter of ``tree``.

    A flax ``nnx`` Variable (``nnx.Param`` ...) is one parameter, named without the
    ``.value`` its pytree adds; every other parameter is one leaf.
    """
    found = []
    for path, node in backends.leaves_with_keys(tree, is_leaf=_is_flax_variable):
        if _is_flax_variable(node):
            value = node.get_value() if hasattr(node, "get_value") else node.value
            found.append((_dotted(path), value, len(backends.flatten(node)[0])))
        else:
            found.append((_dotted(path), node, 1))
    return found


def _is_flax_variable(x: Any) -> bool:
    cls = type(x)
    return cls.__module__.startswith("flax.") and (
        hasattr(cls, "get_value") or hasattr(cls, "value")
    )


def _dotted(path: Any) -> str:
    parts = []
    for entry in path:
        for field in ("key", "idx", "name"):
            if hasattr(entry, field):
                parts.append(str(getattr(entry, field)))
                break
        else:
            parts.append(str(entry))
    return ".".join(parts)


def _per_leaf(params: Any, triples: list, values: list) -> Any:
    """``params``' tree with each parameter's leaves replaced by its value."""
    leaves = [v for (_, _, n), v in zip(triples, values) for _ in range(n)]
    return backends.unflatten(backends.flatten(params)[1], leaves)


def _matchers(owner: str, group: Any, matcher: Any) -> list:
    items = matcher if isinstance(matcher, (list, tuple)) else [matcher]
    if not items:
        raise ValueError(f"{owner}: group {group!r} has no pattern or predicate")
    for item in items:
        if not (isinstance(item, (str, re.Pattern)) or callable(item)):
            raise TypeError(
                f"{owner}: group {group!r} must be given by name patterns (str, e.g. "
                f"'encoder.*'), compiled regular expressions or predicates (name, leaf) -> bool; "
                f"got {type(item).__name__} {item!r}"
            )
    return items


def _matches(owner: str, item: Any, name: str, leaf: Any) -> bool:
    if isinstance(item, str):
        # A pattern names a parameter or a whole subtree: "encoder" covers "encoder.w".
        return fnmatch.fnmatchcase(name, item) or fnmatch.fnmatchcase(name, item + ".*")
    if isinstance(item, re.Pattern):
        return item.search(name) is not None
    answer = item(name, leaf)
    if not isinstance(answer, bool):
        raise TypeError(
            f"{owner}: a predicate must return a Python bool (it runs on shapes and names, "
            f"also under jit); {item!r} returned {type(answer).__name__} for {name!r}"
        )
    return answer


def _check_patterns_used(owner: str, named: Mapping[Any, list], hits: Mapping, names: list):
    for group, items in named.items():
        for item in items:
            if isinstance(item, (str, re.Pattern)) and not hits.get((group, id(item))):
                shown = item if isinstance(item, str) else item.pattern
                examples = ", ".join(repr(n) for n in names[:4]) + (
                    ", ..." if len(names) > 4 else ""
                )
                raise ValueError(
                    f"{owner}: the pattern {shown!r} of group {group!r} matches no parameter "
                    f"(names look like {examples}); fix the pattern, or pass strict=False "
                    f"to allow patterns that match nothing"
                )


def _group_of(owner, named, name, leaf, hits, default, first_match):
    found = []
    for group, items in named.items():
        for item in items:
            if _matches(owner, item, name, leaf):
                hits[(group, id(item))] = True
                if group not in found:
                    found.append(group)
    if len(found) > 1 and not first_match:
        raise ValueError(
            f"{owner}: the parameter {name!r} matches the groups {found}; make the groups "
            f"exclusive, or pass first_match=True to give it to the first group listed"
        )
    if found:
        return found[0]
    if default is None:
        raise ValueError(
            f"{owner}: the parameter {name!r} (shape {tuple(getattr(leaf, 'shape', ()))}) "
            f"matches no group of {list(named)}; add a pattern for it or pass default="
        )
    return default


def label_by(
    groups: Mapping[Hashable, Matcher],
    *,
    default: Optional[Hashable] = None,
    first_match: bool = False,
    strict: bool = True,
) -> Callable[[Any], Any]:
    """A function of the parameters returning their labels, for :func:`partition`.

    ``groups`` maps each label to what selects its parameters: a name pattern (``fnmatch``
    syntax on the dotted name; a pattern naming a subtree covers all of it, so
    ``"encoder"`` selects ``encoder.layer.0.w``), a compiled regular expression
    (searched in the name), a predicate ``(name, leaf) -> bool``, or a list of these
    (any may match). A parameter matching no group gets ``default``, or is an error
    when there is none; one matching several groups is an error unless ``first_match``,
    which gives it to the first listed group (as ``mlx.optimizers.MultiOptimizer``). With
    ``strict``, a pattern that matches no parameter at all (usually a typo) is an error.

    Example: Muon on matrices, AdamW without weight decay on biases and norms, the
    encoder frozen::

        labels = anyopt.label_by(
            {
                "frozen": "encoder",
                "muon": lambda name, p: p.ndim >= 2,
                "no_decay": ["*bias", "*norm*"],
            },
            default="adamw",
            first_match=True,
        )
        tx = anyopt.partition(
            {
                "frozen": anyopt.set_to_zero(),
                "muon": anyopt.contrib.muon(0.02),
                "no_decay": anyopt.adam(3e-4),
                "adamw": anyopt.adamw(3e-4, weight_decay=0.1),
            },
            labels,
        )
    """
    owner = "anyopt.label_by"
    if not isinstance(groups, Mapping) or not groups:
        raise TypeError(
            f"{owner}: groups must be a non-empty mapping label -> matcher; got {groups!r}"
        )
    named = {group: _matchers(owner, group, matcher) for group, matcher in groups.items()}

    def labels(params: Any) -> Any:
        triples = param_names(params)
        hits: dict = {}
        found = [_group_of(owner, named, n, x, hits, default, first_match) for n, x, _ in triples]
        if strict:
            _check_patterns_used(owner, named, hits, [n for n, _, _ in triples])
        return _per_leaf(params, triples, found)

    return labels


def mask_by(*matchers: Matcher, invert: bool = False, strict: bool = True) -> Callable[[Any], Any]:
    """A function of the parameters returning a mask (a tree of bools) for ``masked``,
    ``freeze``, ``adamw(mask=...)`` and the like: True where a parameter matches any of
    ``matchers`` (patterns, regular expressions or predicates as in :func:`label_by`),
    the opposite with ``invert``.

    Example: weight decay on everything but biases and norms::

        tx = anyopt.adamw(1e-3, mask=anyopt.mask_by("*bias", "*norm*", invert=True))
    """
    owner = "anyopt.mask_by"
    items = _matchers(owner, "mask", list(matchers))

    def mask(params: Any) -> Any:
        triples = param_names(params)
        hits: dict = {}
        found = []
        for name, leaf, _ in triples:
            hit = False
            for item in items:
                if _matches(owner, item, name, leaf):
                    hits[("mask", id(item))] = hit = True
            found.append(hit != invert)
        if strict:
            _check_patterns_used(owner, {"mask": items}, hits, [n for n, _, _ in triples])
        return _per_leaf(params, triples, found)

    return mask
