"""Walks optax 0.2.8's public namespaces: every name exists in anyopt, compatibly.

For the top level and each public submodule of optax, every public name must exist at the
same place in anyopt with a compatible signature (``test_public_api.check_compatible``),
unless ``PENDING`` names the open issue that adds it. ``PENDING`` cannot go stale: a name
listed there that anyopt already has fails the test.
"""

from __future__ import annotations

import types
import warnings

import optax
import pytest

import anyopt

from optax_cases import CASES
from test_public_api import TYPE_ALIASES, _kind, _returns_transformation, check_compatible

SUBMODULES = [
    "assignment",
    "contrib",
    "experimental",
    "losses",
    "microbatching",
    "perturbations",
    "projections",
    "schedules",
    "second_order",
    "transforms",
    "tree",
    "tree_utils",
]

# Helpers optax's modules import for themselves (not part of its API).
NOT_API = {"tree_utils.functools", "tree_utils.typing"}

UNSCHEDULED = "in no issue yet (noted on issue 4)"

# "where.name" (top level: "name") -> the open issue that adds it.
PENDING: dict[str, str] = {
    "experimental.aggregating": UNSCHEDULED,
    "perturbations.Gumbel": UNSCHEDULED,
    "perturbations.Normal": UNSCHEDULED,
    "perturbations.make_perturbed_fun": UNSCHEDULED,
}


def public(module) -> list[str]:
    names = set(getattr(module, "__all__", ())) | set(dir(module))
    return sorted(n for n in names if not n.startswith("_"))


def optax_names():
    for name in public(optax):
        if not isinstance(lookup(optax, name)[0], types.ModuleType):
            yield name, name
    for sub in SUBMODULES:
        for name in public(getattr(optax, sub)):
            if f"{sub}.{name}" not in NOT_API:
                yield f"{sub}.{name}", name


def lookup(root, dotted: str):
    """``(object or None, whether getting it warned of a deprecation)``."""
    obj = root
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for part in dotted.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
    return obj, any(issubclass(w.category, DeprecationWarning) for w in caught)


@pytest.mark.parametrize("dotted, name", list(optax_names()), ids=lambda v: str(v))
def test_optax_name_exists_in_anyopt(dotted, name):
    (ours, ours_warns), (theirs, theirs_warns) = lookup(anyopt, dotted), lookup(optax, dotted)
    if dotted in PENDING:
        assert ours is None, f"anyopt.{dotted} exists now; drop it from PENDING"
        return
    assert ours is not None, f"anyopt has no {dotted} (optax 0.2.8 has it)"
    assert ours_warns == theirs_warns, f"{dotted}: optax warns of a deprecation: {theirs_warns}"
    if name in TYPE_ALIASES or isinstance(theirs, types.ModuleType):
        return
    check_compatible(dotted, ours, theirs)


def test_pending_names_are_optax_names():
    known = {dotted for dotted, _ in optax_names()}
    assert set(PENDING) <= known, sorted(set(PENDING) - known)


def contrib_factories() -> set[str]:
    found = set()
    for name in public(anyopt.contrib):
        ours = getattr(anyopt.contrib, name)
        if _kind(ours) == "function" and (
            _returns_transformation(ours)
            or _returns_transformation(getattr(optax.contrib, name, None))
        ):
            found.add(f"contrib.{name}")
    return found


def test_every_contrib_factory_has_a_case():
    from test_public_api import NOT_IN_CASES

    covered = {case.split("/")[0] for case in CASES}
    missing = contrib_factories() - covered - NOT_IN_CASES
    assert not missing, f"contrib transformations without a case: {sorted(missing)}"
