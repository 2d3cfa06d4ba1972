"""``anyopt.tree`` (and the top-level tree helpers) against ``optax.tree`` on every backend.

Each case is ``name -> run(lib, inputs)``; ``run`` builds the same call from ``optax`` (on
JAX arrays) and from ``anyopt`` (on the backend's arrays). Results must have the same
structure, values within tolerance, and every leaf in the input's framework and optax's
dtype. Every name in ``anyopt.tree.__all__`` must have a case, so new names get tested.
"""

from __future__ import annotations

import functools
import inspect
import warnings

import jax
import numpy as np
import optax
import pytest

import anyopt
from anyopt import backends

from conftest import Backend, random_tree

RTOL, ATOL = 1e-6, 1e-6
HALF_TOL = 1e-2  # float16 / bfloat16 leaves


def _np_map(f, tree):
    return jax.tree_util.tree_map(f, tree)


class Inputs:
    """The same NumPy data as one framework's arrays."""

    def __init__(self, name: str):
        self.B = B = Backend(name)
        self.x = B.tree(random_tree(1))
        self.y = B.tree(random_tree(2))
        self.z = B.tree(random_tree(3))
        self.pos = B.tree(_np_map(lambda a: np.abs(a) + 0.5, random_tree(4)))
        self.half = B.tree(random_tree(5), "float16")
        self.bf16 = B.tree(random_tree(5), "bfloat16")
        self.count = B.array(np.int32(3))
        self.key = backends.load(name).key(0)
        self.cplx = B.tree(complex_tree())
        self.mixed = {"a": B.array(np.ones(2, np.float32)), "b": B.array(np.ones(3), "float16")}

    def adam_state(self, lib):
        """An Adam state after one step, made by ``lib`` (anyopt or optax)."""
        tx = lib.adam(0.1)
        return tx.update(self.y, tx.init(self.x), self.x)[1]

    def dtype(self, name):
        return self.B.dtype(name)

    def scalar(self, value):
        return self.B.array(np.float32(value))

    def int32(self, value):
        return self.B.array(np.int32(value))

    def flag(self, value):
        # made by a comparison, not a dtype name: test_backends covers dtype("bool") itself
        return self.B.array(np.float32(1.0 if value else -1.0)) > 0


def complex_tree():
    """random_tree(1) + 1j * random_tree(2), complex64 (None kept)."""
    return jax.tree_util.tree_map(
        lambda a, b: (a + 1j * b).astype(np.complex64), random_tree(1), random_tree(2)
    )


def untyped(tree):
    """NamedTuples as dicts keyed ``Class.field``, so anyopt's and optax's states compare."""
    if isinstance(tree, tuple) and hasattr(type(tree), "_fields"):
        return {f"{type(tree).__name__}.{f}": untyped(v) for f, v in zip(tree._fields, tree)}
    if isinstance(tree, (list, tuple)):
        return type(tree)(untyped(v) for v in tree)
    if isinstance(tree, dict):
        return {k: untyped(v) for k, v in tree.items()}
    return tree


def _in_adam(path, _):
    return getattr(path[-1], "tuple_name", None) == "ScaleByAdamState"


@functools.cache
def inputs(name: str) -> Inputs:
    return Inputs(name)


def _norm_cases():
    out = {}
    for label, ord_ in [("None", None), ("1", 1), ("2", 2), ("inf", "inf")]:
        for squared in (False, True):
            key = f"norm/{label}" + ("/squared" if squared else "")
            out[key] = lambda lib, i, o=ord_, s=squared: lib.tree.norm(i.x, o, s)
            out[f"{key}/complex"] = lambda lib, i, o=ord_, s=squared: lib.tree.norm(i.cplx, o, s)
    out["norm/float_inf"] = lambda lib, i: lib.tree.norm(i.x, float("inf"))
    out["norm/half"] = lambda lib, i: lib.tree.norm(i.half)
    return out


TREE_CASES = {
    "add": lambda lib, i: lib.tree.add(i.x, i.y),
    "add/three": lambda lib, i: lib.tree.add(i.x, i.y, i.z),
    "add_scale": lambda lib, i: lib.tree.add_scale(i.x, 0.3, i.y),
    "add_scale/array_scalar": lambda lib, i: lib.tree.add_scale(i.x, i.scalar(0.3), i.y),
    "add_scale/numpy_float64_scalar": lambda lib, i: lib.tree.add_scale(i.x, np.float64(0.3), i.y),
    "allclose/same": lambda lib, i: lib.tree.allclose(i.x, i.x),
    "allclose/different": lambda lib, i: lib.tree.allclose(i.x, i.y),
    "allclose/loose": lambda lib, i: lib.tree.allclose(i.x, i.y, rtol=10.0, atol=10.0),
    "allclose/half": lambda lib, i: lib.tree.allclose(i.half, i.half),
    "allclose/bfloat16": lambda lib, i: lib.tree.allclose(i.bf16, i.bf16),
    "batch_shape": lambda lib, i: lib.tree.batch_shape(i.x, (2,)),
    "batch_shape/default": lambda lib, i: lib.tree.batch_shape(i.x),
    "batch_shape/two_axes": lambda lib, i: lib.tree.batch_shape(i.half, (3, 2)),
    "bias_correction": lambda lib, i: lib.tree.bias_correction(i.x, 0.9, i.count),
    "bias_correction/half": lambda lib, i: lib.tree.bias_correction(i.half, 0.999, i.count),
    "cast": lambda lib, i: lib.tree.cast(i.x, i.dtype("float16")),
    "cast/name": lambda lib, i: lib.tree.cast(i.x, "bfloat16"),
    "cast/none": lambda lib, i: lib.tree.cast(i.x, None),
    "cast_like": lambda lib, i: lib.tree.cast_like(i.x, i.half),
    "clip": lambda lib, i: lib.tree.clip(i.x, -0.5, 0.5),
    "clip/upper_only": lambda lib, i: lib.tree.clip(i.x, None, 0.2),
    "conj": lambda lib, i: lib.tree.conj(i.x),
    "conj/complex": lambda lib, i: lib.tree.conj(i.cplx),
    "div": lambda lib, i: lib.tree.div(i.x, i.pos),
    "dtype": lambda lib, i: lib.tree.dtype(i.x),
    "dtype/half": lambda lib, i: lib.tree.dtype(i.half),
    "dtype/promote": lambda lib, i: lib.tree.dtype(i.mixed, "promote"),
    "dtype/highest": lambda lib, i: lib.tree.dtype(i.mixed, "highest"),
    "dtype/lowest": lambda lib, i: lib.tree.dtype(i.mixed, "lowest"),
    "dtype/complex": lambda lib, i: lib.tree.dtype([i.cplx, i.x], "promote"),
    "full_like": lambda lib, i: lib.tree.full_like(i.x, 2.5),
    "full_like/dtype": lambda lib, i: lib.tree.full_like(i.x, 2.5, i.dtype("float16")),
    "get": lambda lib, i: lib.tree.get(i.adam_state(lib), "mu"),
    "get/filtered_count": lambda lib, i: lib.tree.get(i.adam_state(lib), "count", None, _in_adam),
    "get/state_by_class_name": lambda lib, i: untyped(
        lib.tree.get(i.adam_state(lib), "ScaleByAdamState")
    ),
    "get/default": lambda lib, i: lib.tree.get(i.adam_state(lib), "no_such_key", 7),
    "get_all_with_path": lambda lib, i: [
        v for _, v in lib.tree.get_all_with_path(i.adam_state(lib), "nu")
    ],
    "map_params": lambda lib, i: untyped(
        lib.tree.map_params(lib.adam(0.1), lambda p: 2 * p, i.adam_state(lib))
    ),
    "map_params/rest_and_non_params": lambda lib, i: untyped(
        lib.tree.map_params(
            lib.adam(0.1),
            lambda p, q: p - q,
            i.adam_state(lib),
            i.z,
            transform_non_params=lambda v: v + 1,
        )
    ),
    "max": lambda lib, i: lib.tree.max(i.x),
    "max/half": lambda lib, i: lib.tree.max(i.half),
    "max/bfloat16": lambda lib, i: lib.tree.max(i.bf16),
    "norm/inf/bfloat16": lambda lib, i: lib.tree.norm(i.bf16, "inf"),
    "min": lambda lib, i: lib.tree.min(i.x),
    "min/half": lambda lib, i: lib.tree.min(i.half),
    "min/bfloat16": lambda lib, i: lib.tree.min(i.bf16),
    "mul": lambda lib, i: lib.tree.mul(i.x, i.y),
    **_norm_cases(),
    "ones_like": lambda lib, i: lib.tree.ones_like(i.x),
    "ones_like/dtype": lambda lib, i: lib.tree.ones_like(i.x, i.dtype("bfloat16")),
    "random_like": lambda lib, i: lib.tree.random_like(i.key, i.x),
    "random_like/dtype": lambda lib, i: lib.tree.random_like(i.key, i.x, dtype=i.dtype("float16")),
    "real": lambda lib, i: lib.tree.real(i.x),
    "real/complex": lambda lib, i: lib.tree.real(i.cplx),
    "scale": lambda lib, i: lib.tree.scale(0.5, i.x),
    "set": lambda lib, i: untyped(lib.tree.set(i.adam_state(lib), mu=i.z)),
    "set/filtered": lambda lib, i: untyped(
        lib.tree.set(i.adam_state(lib), _in_adam, count=i.int32(9))
    ),
    "set/state_by_class_name": lambda lib, i: untyped(
        lib.tree.set(i.adam_state(lib), EmptyState=(i.int32(1),))
    ),
    "scale/array_scalar": lambda lib, i: lib.tree.scale(i.scalar(0.5), i.x),
    "scale/numpy_float64_scalar": lambda lib, i: lib.tree.scale(np.float64(0.5), i.x),
    "size": lambda lib, i: lib.tree.size(i.x),
    "split_key_like": lambda lib, i: lib.tree.split_key_like(i.key, i.x),
    "sub": lambda lib, i: lib.tree.sub(i.x, i.y),
    "sum": lambda lib, i: lib.tree.sum(i.x),
    "unwrap_random_key_data": lambda lib, i: lib.tree.unwrap_random_key_data(
        lib.tree.split_key_like(i.key, i.x)
    ),
    "update_infinity_moment": lambda lib, i: lib.tree.update_infinity_moment(i.x, i.pos, 0.9, 1e-3),
    "update_moment/order1": lambda lib, i: lib.tree.update_moment(i.x, i.y, 0.9, 1),
    "update_moment/order2": lambda lib, i: lib.tree.update_moment(i.x, i.pos, 0.999, 2),
    "update_moment_per_elem_norm": lambda lib, i: lib.tree.update_moment_per_elem_norm(
        i.x, i.pos, 0.99, 2
    ),
    "vdot": lambda lib, i: lib.tree.vdot(i.x, i.y),
    "where/python_bool": lambda lib, i: lib.tree.where(True, i.x, i.y),
    "where/array": lambda lib, i: lib.tree.where(i.flag(False), i.x, i.y),
    "zeros_like": lambda lib, i: lib.tree.zeros_like(i.x),
    "zeros_like/dtype": lambda lib, i: lib.tree.zeros_like(i.x, i.dtype("float16")),
}

TOP_CASES = {
    "global_norm": lambda lib, i: lib.global_norm(i.x),
    "global_norm/half": lambda lib, i: lib.global_norm(i.half),
    "bias_correction": lambda lib, i: lib.bias_correction(i.x, 0.9, i.count),
    "update_moment": lambda lib, i: lib.update_moment(i.x, i.y, 0.9, 1),
    "update_moment_per_elem_norm": lambda lib, i: lib.update_moment_per_elem_norm(
        i.x, i.pos, 0.99, 2
    ),
    "update_infinity_moment": lambda lib, i: lib.update_infinity_moment(i.x, i.pos, 0.9, 1e-3),
    "apply_updates": lambda lib, i: lib.apply_updates(i.x, i.y),
    "apply_updates/half_params": lambda lib, i: lib.apply_updates(i.half, i.y),
    "apply_updates/bfloat16_params": lambda lib, i: lib.apply_updates(i.bf16, i.y),
    "incremental_update": lambda lib, i: lib.incremental_update(i.x, i.y, 0.3),
    "incremental_update/array_step": lambda lib, i: lib.incremental_update(i.x, i.y, i.scalar(0.3)),
    "periodic_update/take_new": lambda lib, i: lib.periodic_update(i.x, i.y, 4, 2),
    "periodic_update/keep_old": lambda lib, i: lib.periodic_update(i.x, i.y, 3, 2),
    "periodic_update/array_take_new": lambda lib, i: lib.periodic_update(i.x, i.y, i.int32(4), 2),
    "periodic_update/array_keep_old": lambda lib, i: lib.periodic_update(i.x, i.y, i.int32(5), 2),
}
TOP_NAMES = [
    "global_norm", "bias_correction", "update_moment", "update_moment_per_elem_norm",
    "update_infinity_moment", "apply_updates", "incremental_update", "periodic_update",
]  # fmt: skip
RANDOM = {"random_like", "split_key_like", "unwrap_random_key_data"}
KEYS = {"split_key_like", "unwrap_random_key_data"}  # results are each framework's keys


def to_np(x):
    """A leaf as float64/int NumPy; half-precision leaves via float32 in their framework."""
    name = backends.dtype_name(x.dtype)
    if name in ("float16", "bfloat16"):
        x = anyopt._ops.astype(x, "float32")
    return Backend.numpy(x)


def compare(actual, expected, backend: str, case: str):
    """Same structure; leaves in ``backend``'s framework with optax's dtype; close values."""
    if isinstance(expected, (int, bool)) or case.startswith("allclose"):
        assert type(actual) in (int, bool) or hasattr(actual, "dtype"), type(actual)
        assert bool(actual) == bool(expected) and int(actual) == int(expected)
        return
    a_leaves, a_def = jax.tree_util.tree_flatten(actual)
    e_leaves, e_def = jax.tree_util.tree_flatten(expected)
    assert a_def == e_def, f"structure {a_def} != {e_def}"
    random = case.split("/")[0] in RANDOM
    for k, (a, e) in enumerate(zip(a_leaves, e_leaves)):
        where = f"{case} leaf {k}"
        if isinstance(e, np.dtype):  # tree.dtype
            name = backends.dtype_name(e)
            assert backends.dtype_name(a) == name, where
            assert backends.load(backend).dtype(name) == a, f"{where}: {a!r}"
            continue
        assert backends.of(a).NAME == backend, f"{where}: {type(a)}"
        assert tuple(a.shape) == tuple(e.shape), f"{where}: shape {a.shape} != {e.shape}"
        e_name = backends.dtype_name(e.dtype)
        if case in KEYS:  # keys are each framework's own kind of key
            e_name = backends.dtype_name(backends.load(backend).key(0).dtype)
        assert backends.dtype_name(a.dtype) == e_name, f"{where}: dtype {a.dtype} != {e_name}"
        if random and backend != "jax":
            continue  # other frameworks draw other numbers; shapes and dtypes checked above
        tol = HALF_TOL if e_name in ("float16", "bfloat16") else RTOL
        np.testing.assert_allclose(
            to_np(a), to_np(e), rtol=tol, atol=ATOL if tol == RTOL else tol, err_msg=where
        )


@functools.cache
def optax_result(table: str, case: str):
    with warnings.catch_warnings():  # optax.global_norm is deprecated in optax 0.2.8
        warnings.simplefilter("ignore", DeprecationWarning)
        return (TREE_CASES if table == "tree" else TOP_CASES)[case](optax, inputs("jax"))


@pytest.mark.parametrize("case", sorted(TREE_CASES))
def test_tree_function_matches_optax(case, backend):
    actual = TREE_CASES[case](anyopt, inputs(backend.name))
    compare(actual, optax_result("tree", case), backend.name, case)


@pytest.mark.parametrize("case", sorted(TOP_CASES))
def test_top_level_tree_helper_matches_optax(case, backend):
    actual = TOP_CASES[case](anyopt, inputs(backend.name))
    compare(actual, optax_result("top", case), backend.name, case)


def test_every_tree_name_has_a_case():
    covered = {case.split("/")[0] for case in TREE_CASES}
    missing = set(anyopt.tree.__all__) - covered
    assert not missing, f"anyopt.tree names without a case in TREE_CASES: {sorted(missing)}"
    assert set(TOP_NAMES) <= {case.split("/")[0] for case in TOP_CASES}
    assert set(TOP_NAMES) <= set(anyopt.__all__)


def test_random_functions_are_deterministic(backend):
    i = inputs(backend.name)
    for fn in (anyopt.tree.random_like, anyopt.tree.split_key_like):
        first, second = fn(i.key, i.x), fn(i.key, i.x)
        for a, b in zip(jax.tree_util.tree_leaves(first), jax.tree_util.tree_leaves(second)):
            np.testing.assert_array_equal(to_np(a), to_np(b))


def test_random_like_uses_the_given_sampler_on_jax():
    i = inputs("jax")
    got = anyopt.tree.random_like(i.key, i.x, sampler=jax.random.uniform)
    want = optax.tree.random_like(i.key, i.x, sampler=jax.random.uniform)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_tree_dtype_of_mixed_dtypes_raises_naming_the_odd_leaf(backend):
    tree = {"a": backend.array(np.ones(2), "float32"), "b": backend.array(np.ones(2), "float16")}
    with pytest.raises(ValueError) as info:
        anyopt.tree.dtype(tree)
    assert "['b']" in str(info.value), str(info.value)
    with pytest.raises(ValueError):
        optax.tree.dtype(
            Backend("jax").tree({"a": np.ones(2, np.float32), "b": np.ones(2, np.float16)})
        )


def test_tree_norm_rejects_an_unknown_ord(backend):
    with pytest.raises(ValueError, match="ord"):
        anyopt.tree.norm(inputs(backend.name).x, ord=3)


# Defaults that cannot match: optax's random_like samples with jax.random.normal by default;
# anyopt's default (None) means "the key's framework's normal", so importing anyopt never
# imports JAX.
DEFAULT_EXCEPTIONS = {("random_like", "sampler")}


@pytest.mark.parametrize("name", sorted(anyopt.tree.__all__))
def test_tree_signature_matches_optax(name):
    ours = inspect.signature(getattr(anyopt.tree, name)).parameters
    theirs = inspect.signature(getattr(optax.tree, name)).parameters
    assert [(p.name, p.kind) for p in ours.values()] == [
        (p.name, p.kind) for p in theirs.values()
    ], f"anyopt.tree.{name}{inspect.signature(getattr(anyopt.tree, name))} vs optax.tree.{name}"
    for p in ours.values():
        if (name, p.name) not in DEFAULT_EXCEPTIONS:
            assert p.default == theirs[p.name].default, (name, p.name)


def test_tree_utils_aliases_are_the_tree_functions():
    classes = {"NamedTupleKey"}  # tree_utils only, as in optax
    names = set(anyopt.tree_utils.__all__) - classes
    assert sorted(names) == sorted(f"tree_{n}" for n in anyopt.tree.__all__)
    assert classes <= set(anyopt.tree_utils.__all__)
    assert all(hasattr(optax.tree_utils, c) for c in classes)
    for name in anyopt.tree.__all__:
        assert getattr(anyopt.tree_utils, f"tree_{name}") is getattr(anyopt.tree, name), name
        assert hasattr(optax.tree, name), f"optax.tree has no {name}"
        assert hasattr(optax.tree_utils, f"tree_{name}"), f"optax.tree_utils has no tree_{name}"


# --- float64 NumPy references ----------------------------------------------------------------
def _np_leaves(tree):
    return [np.asarray(a, np.complex128 if np.iscomplexobj(a) else np.float64) for a in
            jax.tree_util.tree_leaves(tree)]  # fmt: skip


def _ref_norm(tree, ord_):
    flat = np.concatenate([np.abs(a).ravel() for a in _np_leaves(tree)])
    return {None: np.sqrt(np.sum(flat**2)), 1: np.sum(flat), "inf": np.max(flat)}[ord_]


# name -> (anyopt call, reference from the float64 NumPy data of Inputs: x = random_tree(1) ...)
REFERENCES = {
    "min": (lambda i: anyopt.tree.min(i.x), lambda: min(a.min() for a in _np_leaves(X))),
    "max": (lambda i: anyopt.tree.max(i.x), lambda: max(a.max() for a in _np_leaves(X))),
    "conj": (lambda i: anyopt.tree.conj(i.cplx), lambda: [np.conj(a) for a in _np_leaves(C)]),
    "real": (lambda i: anyopt.tree.real(i.cplx), lambda: [a.real for a in _np_leaves(C)]),
    "batch_shape": (
        lambda i: anyopt.tree.batch_shape(i.x, (3, 2)),
        lambda: [np.broadcast_to(a, (3, 2, *a.shape)) for a in _np_leaves(X)],
    ),
    "norm/complex": (lambda i: anyopt.tree.norm(i.cplx), lambda: _ref_norm(C, None)),
    "norm/complex/1": (lambda i: anyopt.tree.norm(i.cplx, 1), lambda: _ref_norm(C, 1)),
    "norm/complex/inf": (lambda i: anyopt.tree.norm(i.cplx, "inf"), lambda: _ref_norm(C, "inf")),
    "norm/complex/squared": (
        lambda i: anyopt.tree.norm(i.cplx, squared=True),
        lambda: _ref_norm(C, None) ** 2,
    ),
    "norm/inf/squared": (
        lambda i: anyopt.tree.norm(i.x, "inf", squared=True),
        lambda: _ref_norm(X, "inf") ** 2,
    ),
}
X, C = random_tree(1), complex_tree()


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_tree_function_matches_float64_numpy_reference(name, backend):
    call, reference = REFERENCES[name]
    got = call(inputs(backend.name))
    want = reference()
    got_leaves = jax.tree_util.tree_leaves(got)
    want_leaves = want if isinstance(want, list) else [want]
    assert len(got_leaves) == len(want_leaves)
    for g, w in zip(got_leaves, want_leaves):
        assert backends.of(g).NAME == backend.name
        np.testing.assert_allclose(Backend.numpy(g), w, rtol=2e-6, atol=1e-6, err_msg=name)


# --- tree.dtype ------------------------------------------------------------------------------
def test_tree_dtype_orders_dtypes_by_promotion(backend):
    f16, bf16 = backend.array(np.ones(2), "float16"), backend.array(np.ones(2), "bfloat16")
    f32 = backend.array(np.ones(2), "float32")
    assert backends.dtype_name(anyopt.tree.dtype([f16, f32], "lowest")) == "float16"
    assert backends.dtype_name(anyopt.tree.dtype([bf16, f32], "highest")) == "float32"
    assert backends.dtype_name(anyopt.tree.dtype([bf16, f16], "promote")) == "float32"
    for handler in ("lowest", "highest"):  # neither promotes to the other, as in optax
        with pytest.raises(ValueError, match="cannot be ordered"):
            anyopt.tree.dtype([bf16, f16], handler)
    with pytest.raises(ValueError, match="mixed_dtype_handler"):
        anyopt.tree.dtype([f16], "widest")


@pytest.mark.parametrize("empty", [{}, [], (), None])
def test_tree_dtype_of_an_empty_tree_is_float32_as_in_optax(empty):
    assert anyopt.tree.dtype(empty) == optax.tree.dtype(empty) == np.float32


# --- get / set / get_all_with_path / map_params ---------------------------------------------
def test_get_all_with_path_gives_optax_paths_on_jax():
    params = jax.numpy.ones(3)
    ours = anyopt.chain(anyopt.add_noise(1.0, 0.9, 0), anyopt.inject_hyperparams(anyopt.adam)(0.1))
    theirs = optax.chain(optax.add_noise(1.0, 0.9, 0), optax.inject_hyperparams(optax.adam)(0.1))
    for key in ("count", "learning_rate", "mu", "ScaleByAdamState"):
        got = anyopt.tree.get_all_with_path(ours.init(params), key)
        want = optax.tree.get_all_with_path(theirs.init(params), key)
        assert ["".join(map(str, p)) for p, _ in got] == ["".join(map(str, p)) for p, _ in want]
        assert [type(e).__name__ for p, _ in got for e in p] == [
            type(e).__name__ for p, _ in want for e in p
        ]


def test_paths_without_jax_use_look_alike_key_entries():
    from anyopt.backends import _pytree

    found = _pytree.leaves_with_keys(
        {"a": [1, (2, anyopt.EmptyState())], "b": anyopt.TraceState(3)}
    )
    assert [("".join(map(str, p)), x) for p, x in found] == [
        ("['a'][0]", 1),
        ("['a'][1][0]", 2),
        ("['b'].trace", 3),
    ]
    assert [p[-1] for p, _ in found] == [
        _pytree.SequenceKey(0),
        _pytree.SequenceKey(0),
        _pytree.GetAttrKey("trace"),
    ]


def test_get_and_set_errors_name_the_key(backend):
    state = inputs(backend.name).adam_state(anyopt)
    two = (state, state)
    with pytest.raises(KeyError, match=r"multiple values for 'count'.*\[0\].*\[1\]"):
        anyopt.tree.get(two, "count")
    with pytest.raises(KeyError, match="no values matching 'lr'"):
        anyopt.tree.set(state, lr=0.1)
    with pytest.raises(KeyError, match="given the filtering operation"):
        anyopt.tree.set(state, lambda p, v: False, mu=0.1)


def test_set_then_get_round_trips_and_keeps_the_rest(backend):
    i = inputs(backend.name)
    tx = anyopt.inject_hyperparams(anyopt.adam)(learning_rate=0.1)
    state = tx.init(i.x)
    new = anyopt.tree.set(state, learning_rate=i.scalar(0.25))
    assert float(Backend.numpy(anyopt.tree.get(new, "learning_rate"))) == 0.25
    old_mu, new_mu = anyopt.tree.get(state, "mu"), anyopt.tree.get(new, "mu")
    assert all(a is b for a, b in zip(anyopt._tree.leaves(new_mu), anyopt._tree.leaves(old_mu)))
    assert new.count is state.count and new.hyperparams_states == state.hyperparams_states


def test_map_params_of_a_partition_and_none_results(backend):
    i = inputs(backend.name)
    tx = anyopt.adagrad(0.1)
    state = tx.init(i.x)
    mapped = anyopt.tree.map_params(tx, lambda _: None, state)
    assert jax.tree_util.tree_leaves(mapped) == []  # every params-shaped leaf became None


def test_unwrap_random_key_data_of_typed_jax_keys_matches_optax():
    key = jax.random.key(3)
    tree = {"k": jax.random.split(key, 2), "x": jax.numpy.ones(2)}
    got, want = anyopt.tree.unwrap_random_key_data(tree), optax.tree.unwrap_random_key_data(tree)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert got["k"].dtype == np.uint32
