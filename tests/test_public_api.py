"""``anyopt``'s public API is optax 0.2.8's, and every optimizer in it is under test.

* every name in ``anyopt.__all__`` exists at optax's top level and is compatible with it:
  functions have the same parameter names, kinds and defaults; NamedTuple states the same
  ``_fields``; protocols the same ``__call__``; submodules compatible name by name;
* every transformation factory in ``anyopt.__all__`` (found automatically) has a case in
  ``tests/optax_cases.py``, so a new optimizer cannot go untested.
"""

from __future__ import annotations

import enum
import functools
import inspect
import types
import typing

import numpy as np
import optax
import pytest

import anyopt

from optax_cases import CASES

# Names whose signature cannot be compared; only their presence in optax is checked.
# Type aliases (typing constructs): optax's versions name JAX types, anyopt's name ``Any``.
TYPE_ALIASES = {
    "ArrayTree",
    "MaskOrFn",
    "OptState",
    "Params",
    "Updates",
    "Schedule",
    "ScalarOrSchedule",
}

# anyopt's own additions beyond optax, each tested in its own file.
EXTENSIONS = {
    "make_step",  # one-call step with the fast paths: tests/test_step.py
    "step_modes",  # the fast paths available per framework: tests/test_step.py
    "label_by",  # parameter groups by name: tests/test_groups.py
    "mask_by",
    "hyperparams",  # hyperparameters by name: tests/test_hyperparams.py
    "get_hyperparam",
    "set_hyperparam",
}

# Transformation factories that need no case in optax_cases.CASES, and why.
NOT_IN_CASES = {
    # An adapter: wraps an existing transformation so its update accepts (and ignores)
    # extra keyword arguments, adding no numerics; tested directly below.
    "with_extra_args_support",
    # Random: each framework draws its own noise (optax's state holds a typed JAX key), so
    # no trajectory can match; tests/test_alias_b.py checks the noise schedule's mean and
    # variance, reproducibility from a seed and, on JAX, equality with optax's draws.
    "add_noise",
    "noisy_sgd",
    # optax.contrib, tested against optax in tests/test_contrib_b.py instead: their update
    # needs value= (momo, momo_adam, reduce_on_plateau), per-example gradients with a batch
    # axis (dpsgd, differentially_private_aggregate), or a tree without None leaves (galore).
    "contrib.momo",
    "contrib.momo_adam",
    "contrib.reduce_on_plateau",
    "contrib.dpsgd",
    "contrib.differentially_private_aggregate",
    "contrib.galore",
    "contrib.scale_by_galore",
    # Line searches: their update needs value=, grad= and value_fn= (an objective to
    # differentiate); tested against optax in tests/test_linesearch.py on JAX, torch and MLX.
    "scale_by_backtracking_linesearch",
    "scale_by_zoom_linesearch",
    # SAM: its state counts steps in steps_since_sync (optax's name), an integer leaf the
    # dtype test cannot tell from a stray one; tested against optax (both modes, every
    # framework, with dtypes) in tests/test_autodiff.py.
    "contrib.sam",
    # Their states count steps in int32 fields optax does not call ``count`` (notfinite_count,
    # step, steps_since_sync), which the dtype test cannot tell from stray integers; they run
    # through the same parity harness (every framework, 50 steps, params and state) with a
    # dtype check that knows those fields, from tests/cases/wrappers_a.py's OWN_CASES, in
    # tests/test_wrappers_a.py (which also feeds apply_if_finite NaN gradients).
    "apply_if_finite",
    "conditionally_mask",
    "conditionally_transform",
    "lookahead",
}


def _kind(obj) -> str:
    if isinstance(obj, types.ModuleType):
        return "module"
    if obj is typing.Any or typing.get_origin(obj) is not None:
        return "alias"
    if isinstance(obj, type):
        if issubclass(obj, tuple) and hasattr(obj, "_fields"):
            return "namedtuple"
        if getattr(obj, "_is_protocol", False):
            return "protocol"
        return "class"
    if inspect.isfunction(obj) or isinstance(obj, functools.partial) or inspect.isbuiltin(obj):
        return "function"
    return "other"


# Defaults that cannot match: optax's random_like samples with jax.random.normal by default;
# anyopt's None means "the key's framework's normal", so that importing anyopt never
# imports JAX. Names and kinds of these parameters are still compared.
# adafactor's decay_rate_fn: each library's default is its own private function of the same
# formula, 1 - (t + 1) ** -0.8 (compared in tests/test_alias_a.py).
DEFAULT_EXCEPTIONS = {
    ("tree.random_like", "sampler"),
    ("tree_utils.tree_random_like", "sampler"),
    ("scale_by_factored_rms", "decay_rate_fn"),
    # Default transformations built at import (a zoom line search, Hutchinson's estimator):
    # each library's instance is its own pair of closures (same settings, tested in
    # tests/test_linesearch.py and tests/test_autodiff.py).
    ("lbfgs", "linesearch"),
    ("contrib.sophia", "hessian_diagonal_fn"),
    # optax's reduce_fn default is jnp.mean; anyopt's is its own mean for every framework.
    ("losses.ranking_softmax_loss", "reduce_fn"),
    # ADOPT's default clip_value_fn is a lambda (step ** 0.25) in both libraries.
    ("contrib.adopt", "clip_value_fn"),
    ("contrib.scale_by_adopt", "clip_value_fn"),
    # optax's defaults are jax.vmap and lambdas of its own module; anyopt's None means the
    # arrays' framework's vmap (importing anyopt imports no JAX).
    ("microbatching.micro_vmap", "vmap_fn"),
    ("microbatching.micro_grad", "transform_fn"),
    ("microbatching.micro_grad", "metrics_fn"),
}


def _default(value):
    """Dtype and enum defaults compare by name: anyopt writes "float32" where optax has
    jnp.float32, and "highest" where optax has jax.lax.Precision.HIGHEST."""
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if isinstance(value, type) and not issubclass(value, (int, float, str, bool)):
        try:
            return np.dtype(value).name
        except TypeError:
            return value
    return value


# anyopt's keyword-only additions to optax's functions (documented in their docstrings;
# tests/test_mixed_precision.py): ``_params`` drops them where they come after every other
# parameter, keyword-only, so optax's signature stays the same by position and by name.
EXTRA_KEYWORDS = {
    (name, "nu_dtype")  # the second moment's dtype, beside optax's mu_dtype
    for name in (
        "scale_by_adam",
        "adam",
        "adamw",
        "nadam",
        "nadamw",
        "scale_by_amsgrad",
        "amsgrad",
        "optimistic_adam_v2",
        "contrib.scale_by_adopt",
        "contrib.adopt",
        "contrib.scale_by_ademamix",
        "contrib.ademamix",
        "contrib.muon",
    )
}


def _params(fn, name: str = ""):
    params = list(inspect.signature(fn).parameters.values())
    while (
        params
        and (name, params[-1].name) in EXTRA_KEYWORDS
        and params[-1].kind is inspect.Parameter.KEYWORD_ONLY
    ):
        params.pop()
    return [
        (p.name, p.kind, None if (name, p.name) in DEFAULT_EXCEPTIONS else _default(p.default))
        for p in params
    ]


def check_compatible(name: str, ours, theirs) -> None:
    kind = _kind(ours)
    if name.rsplit(".", 1)[-1] in TYPE_ALIASES:
        assert kind == "alias", f"{name} is documented as a type alias but is a {kind}"
        return
    if kind == "module":
        assert isinstance(theirs, types.ModuleType), f"optax.{name} is not a module"
        problems = []
        for sub in ours.__all__:  # names both modules share must be compatible
            if hasattr(theirs, sub):
                try:
                    check_compatible(f"{name}.{sub}", getattr(ours, sub), getattr(theirs, sub))
                except AssertionError as e:
                    problems.append(str(e).split("\nassert")[0])
        assert not problems, "\n".join(problems)
        return
    if kind == "namedtuple":
        assert isinstance(theirs, type) and issubclass(theirs, tuple), f"optax.{name}"
        assert ours._fields == theirs._fields, f"{name}: {ours._fields} != {theirs._fields}"
        return
    if kind == "protocol":
        assert _params(ours.__call__) == _params(theirs.__call__), name
        return
    if kind == "class":
        assert isinstance(theirs, type), f"optax.{name} is not a class"
        shared = [m for m in ("__init__", "__call__", "init", "update") if hasattr(theirs, m)]
        for method in shared:
            assert hasattr(ours, method), f"{name} has no {method}"
            assert _params(getattr(ours, method)) == _params(getattr(theirs, method)), (
                f"{name}.{method}{inspect.signature(getattr(ours, method))}\n"
                f"  optax: {inspect.signature(getattr(theirs, method))}"
            )
        return
    assert kind == "function", f"{name}: unexpected kind of object {type(ours)}"
    assert _params(ours, name) == _params(theirs, name), (
        f"{name}{inspect.signature(ours)}\n  optax: {name}{inspect.signature(theirs)}"
    )


@pytest.mark.parametrize("name", sorted(set(anyopt.__all__) - EXTENSIONS))
def test_name_exists_in_optax_with_a_compatible_signature(name):
    assert hasattr(anyopt, name), f"anyopt.__all__ lists {name} but anyopt has no such name"
    assert hasattr(optax, name), f"optax 0.2.8 has no top-level {name}"
    check_compatible(name, getattr(anyopt, name), getattr(optax, name))


@pytest.mark.parametrize(("name", "param"), sorted(EXTRA_KEYWORDS))
def test_extra_keywords_are_keyword_only_with_default_none(name, param):
    ours = functools.reduce(getattr, name.split("."), anyopt)
    found = inspect.signature(ours).parameters.get(param)
    assert found is not None, f"anyopt.{name} has no parameter {param}"
    assert found.kind is inspect.Parameter.KEYWORD_ONLY and found.default is None, (
        f"anyopt.{name}: {found} must be keyword-only with default None"
    )
    theirs = functools.reduce(getattr, name.split("."), optax)
    assert param not in inspect.signature(theirs).parameters, f"optax.{name} has {param} now"


def test_extensions_are_public_and_absent_from_optax():
    for name in EXTENSIONS:
        assert name in anyopt.__all__ and not hasattr(optax, name), name


def test_all_is_sorted_and_unique():
    assert len(set(anyopt.__all__)) == len(anyopt.__all__)
    assert sorted(anyopt.__all__) == list(anyopt.__all__)


def _returns_transformation(fn) -> bool:
    try:
        annotation = inspect.signature(fn).return_annotation
    except (TypeError, ValueError):
        return False
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return "GradientTransformation" in str(text)


def transformation_factories() -> set[str]:
    """Functions in ``anyopt.__all__`` returning a GradientTransformation (by anyopt's or
    optax's return annotation)."""
    found = set()
    for name in anyopt.__all__:
        ours = getattr(anyopt, name)
        if _kind(ours) != "function":
            continue
        if _returns_transformation(ours) or _returns_transformation(getattr(optax, name, None)):
            found.add(name)
    return found


def test_discovery_finds_the_known_optimizers():
    found = transformation_factories()
    known = {"adam", "sgd", "chain", "masked", "clip_by_global_norm", "scale_by_adam", "nadam"}
    assert known <= found, known - found
    assert not found & {"apply_updates", "linear_schedule", "global_norm", "safe_increment"}


def test_every_transformation_factory_has_a_case():
    covered = {case.split("/")[0] for case in CASES}
    missing = transformation_factories() - covered - NOT_IN_CASES
    assert not missing, f"transformations without a case in tests/optax_cases.py: {sorted(missing)}"
    stale = NOT_IN_CASES & covered
    assert not stale, f"{sorted(stale)} now have cases; drop them from NOT_IN_CASES"


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_case_builds_a_transformation(case):
    tx = CASES[case](anyopt)
    assert isinstance(tx, anyopt.GradientTransformation)
    assert callable(tx.init) and callable(tx.update)


def test_with_extra_args_support(backend):
    params = backend.tree({"w": np.ones(3, np.float32)})
    grads = backend.tree({"w": np.full(3, 0.5, np.float32)})
    sgd = anyopt.sgd(0.1, momentum=0.9)  # an ExtraArgs chain; strip it to a plain one
    plain = anyopt.GradientTransformation(sgd.init, lambda u, s, p=None: sgd.update(u, s, p))
    wrapped = anyopt.with_extra_args_support(plain)
    assert isinstance(wrapped, anyopt.GradientTransformationExtraArgs)
    assert anyopt.with_extra_args_support(wrapped) is wrapped
    want, _ = plain.update(grads, plain.init(params), params)
    got, _ = wrapped.update(grads, wrapped.init(params), params, loss=1.0, step=3)
    np.testing.assert_array_equal(backend.numpy(got["w"]), backend.numpy(want["w"]))
    with pytest.raises(TypeError):
        plain.update(grads, plain.init(params), params, loss=1.0)
