"""The backend layer: framework detection, tree flattening, dtype names, random keys and
the saturating step counter."""

from __future__ import annotations

import decimal
import fractions
import warnings
from collections import OrderedDict
from typing import NamedTuple

import jax
import numpy as np
import pytest

import anyopt
from anyopt import backends
from anyopt.backends import _pytree

from conftest import FRAMEWORKS, Backend

INT32_MAX = 2**31 - 1


def as_np(x):
    """A leaf as NumPy; half-precision leaves go through float32 in their own framework."""
    if backends.dtype_name(x.dtype) in ("bfloat16", "float16"):
        x = anyopt._ops.astype(x, "float32")
    return Backend.numpy(x)


# --- detection ------------------------------------------------------------------------------
def test_of_finds_the_framework_of_its_arrays(backend):
    arrays = [
        backend.array(np.ones((2, 3), np.float32)),
        backend.array(np.float32(1.5)),
        backend.array(np.arange(3, dtype=np.int32)),
        backend.array(np.ones(2), "float16"),
        backend.array(np.ones(2), "bfloat16"),
    ]
    for x in arrays:
        assert backends.of(x).NAME == backend.name, type(x)
    assert backends.load(backend.name).NAME == backend.name


@pytest.mark.parametrize("value", [1.5, 3, True, np.float32(2.0), np.int64(4), np.bool_(True)])
def test_python_and_numpy_scalars_go_to_numpy(value):
    assert backends.of(value).NAME == "numpy"


def test_framework_specific_array_types():
    import jax.numpy as jnp
    import torch

    assert backends.of(torch.nn.Parameter(torch.ones(2))).NAME == "torch"
    assert backends.of(torch.ones(2, requires_grad=True) * 2).NAME == "torch"
    seen = []

    @jax.jit
    def f(x):
        seen.append(backends.of(x).NAME)  # x is a tracer here
        return x

    f(jnp.ones(2))
    assert seen == ["jax"]


class NotAnArray:
    pass


@pytest.mark.parametrize(
    "leaf",
    [NotAnArray(), decimal.Decimal("1.5"), fractions.Fraction(1, 3), "a string", object()],
    ids=["custom_class", "Decimal", "Fraction", "str", "object"],
)
def test_non_array_leaf_gives_type_error_naming_its_type(leaf):
    with pytest.raises(TypeError) as info:
        backends.of(leaf)
    assert type(leaf).__qualname__ in str(info.value), str(info.value)


def test_every_installed_framework_has_a_backend():
    assert set(FRAMEWORKS) <= set(backends.FRAMEWORKS)
    assert {backends.load(name).NAME for name in FRAMEWORKS} == set(FRAMEWORKS)


def test_unknown_framework_name_is_rejected():
    with pytest.raises(ValueError, match="tensorflow"):
        backends.load("tensorflow")


# --- flattening -----------------------------------------------------------------------------
class Point(NamedTuple):
    y: object
    x: object


def _trees():
    """Containers of distinct int leaves, so that leaf order is observable."""
    return {
        "dict_unsorted": {"b": 0, "a": 1, "c": {"z": 2, "y": 3}},
        "ordered_dict": OrderedDict([("b", 0), ("a", 1), ("c", OrderedDict([("z", 2), ("y", 3)]))]),
        "list": [0, [1, 2], 3],
        "tuple": (0, (1, 2), 3),
        "namedtuple": Point(y=0, x=Point(y=1, x=2)),
        "none": {"a": None, "b": 0, "c": [None, 1, (None,)]},
        "mixed": {
            "dense": Point(y=[0, (1, 2)], x={"w": 3, "b": 4}),
            "skip": None,
            "od": OrderedDict([("k", 5), ("j", (6, None))]),
        },
        "empty": {"a": {}, "b": [], "c": (), "d": None, "e": 0},
        "leaf": 7,
        "root_none": None,
    }


TREES = _trees()


def same(a, b) -> bool:
    """Equal structure, container types and leaves (an OrderedDict's order included)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, OrderedDict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, dict):
        return set(a) == set(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("name", sorted(TREES))
def test_flatten_round_trips_in_jax_leaf_order(name):
    tree = TREES[name]
    expected = jax.tree_util.tree_leaves(tree)
    leaves, treedef = backends.flatten(tree)
    assert leaves == expected
    assert same(backends.unflatten(treedef, leaves), tree)


@pytest.mark.parametrize("name", sorted(TREES))
def test_pure_python_flattener_matches_jax(name):
    tree = TREES[name]
    leaves, treedef = _pytree.flatten(tree)
    assert leaves == jax.tree_util.tree_leaves(tree)
    assert same(_pytree.unflatten(treedef, leaves), tree)
    # a tree with the same structure and other leaves rebuilds with those leaves
    shifted = [x + 100 for x in leaves]
    assert _pytree.unflatten(treedef, shifted) == jax.tree_util.tree_unflatten(
        jax.tree_util.tree_structure(tree), shifted
    )


@pytest.mark.parametrize("name", sorted(TREES))
def test_pure_python_paths_match_jax_keystr(name):
    tree = TREES[name]
    ours = [(_pytree.format_path(p), x) for p, x in _pytree.leaves_with_path(tree)]
    theirs = [
        (jax.tree_util.keystr(p) or "the tree root", x)
        for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]
    ]
    assert ours == theirs
    assert backends.leaves_with_path(tree) == theirs


@pytest.mark.parametrize("name", sorted(TREES))
def test_is_leaf_matches_jax(name):
    tree = TREES[name]

    def is_leaf(x):
        return x is None or isinstance(x, tuple) and not hasattr(x, "_fields")

    expected = jax.tree_util.tree_leaves(tree, is_leaf=is_leaf)
    assert _pytree.flatten(tree, is_leaf)[0] == expected
    assert backends.flatten(tree, is_leaf)[0] == expected
    assert [x for _, x in _pytree.leaves_with_path(tree, is_leaf)] == expected


def test_pure_treedefs_are_equal_iff_structures_match():
    def structure(t):
        return _pytree.flatten(t)[1]

    assert structure({"a": 1, "b": [2, 3]}) == structure({"b": [5, 6], "a": 4})
    assert structure(Point(1, 2)) == structure(Point(3, 4))
    assert structure({"a": 1, "b": [2, 3]}) != structure({"a": 1, "b": (2, 3)})
    assert structure({"a": 1, "b": [2, 3]}) != structure({"a": 1, "c": [2, 3]})
    assert structure([1, 2]) != structure([1, 2, 3])
    assert structure(Point(1, 2)) != structure((1, 2))
    assert structure({"a": None}) != structure({"a": 1})
    assert structure(OrderedDict(a=1, b=2)) != structure(OrderedDict(b=2, a=1))


def test_pure_flatten_up_to_cuts_at_the_prefix_leaves():
    prefix = {"a": 0, "b": [0, 0], "n": None}
    tree = {"a": {"x": 1, "y": (2, 3)}, "b": [[4], Point(5, 6)], "n": None}
    _, treedef = _pytree.flatten(prefix)
    expected = jax.tree_util.tree_structure(prefix).flatten_up_to(tree)
    assert _pytree.flatten_up_to(treedef, tree) == expected
    assert backends.flatten_up_to(treedef, tree) == expected


@pytest.mark.parametrize(
    "tree, path, expected, got",
    [
        ({"a": 1, "b": [1]}, "['b']", "list of length 2", "list of length 1"),
        ({"a": 1, "c": [1, 2]}, "the tree root", "['a', 'b']", "['a', 'c']"),
        ({"a": 1, "b": (1, 2)}, "['b']", "list", "tuple"),
        ({"a": 1, "b": 2}, "['b']", "list of length 2", "a leaf of type int"),
    ],
)
def test_pure_flatten_up_to_reports_where_structures_differ(tree, path, expected, got):
    _, treedef = _pytree.flatten({"a": 0, "b": [0, 0]})
    with pytest.raises(_pytree.StructureError) as info:
        _pytree.flatten_up_to(treedef, tree)
    assert isinstance(info.value, ValueError)
    assert _pytree.format_path(info.value.path) == path
    assert expected in info.value.expected and got in info.value.got
    with pytest.raises(backends.TreeMismatchError, match=r"differ at " + path.replace("[", r"\[")):
        backends.flatten_up_to(treedef, tree)


def test_backend_flatten_uses_jax_flattener_once_jax_is_imported():
    # JAX is imported in this process, so custom JAX pytree nodes must flatten too.
    @jax.tree_util.register_pytree_node_class
    class Box:
        def __init__(self, a, b):
            self.a, self.b = a, b

        def tree_flatten(self):
            return (self.a, self.b), None

        @classmethod
        def tree_unflatten(cls, aux, children):
            return cls(*children)

    leaves, treedef = backends.flatten({"k": Box(1, [2, 3])})
    assert leaves == [1, 2, 3]
    rebuilt = backends.unflatten(treedef, [4, 5, 6])
    assert isinstance(rebuilt["k"], Box) and rebuilt["k"].b == [5, 6]


# --- dtype names ----------------------------------------------------------------------------
def _dtype_cases():
    import jax.numpy as jnp
    import mlx.core as mx
    import torch

    return [
        (np.float32, "float32"),
        (np.dtype("float64"), "float64"),
        (np.int32, "int32"),
        (jnp.bfloat16, "bfloat16"),
        (jnp.float32, "float32"),
        (jnp.dtype("float16"), "float16"),
        (torch.float16, "float16"),
        (torch.bfloat16, "bfloat16"),
        (torch.int32, "int32"),
        (mx.bfloat16, "bfloat16"),
        (mx.float32, "float32"),
        (mx.int32, "int32"),
        ("float32", "float32"),
        ("bfloat16", "bfloat16"),
        (None, None),
    ]


def test_dtype_name_gives_canonical_names():
    for d, name in _dtype_cases():
        assert backends.dtype_name(d) == name, d


@pytest.mark.parametrize("name", ["float32", "float16", "bfloat16", "int32", "uint32", "bool"])
def test_dtype_name_of_array_dtypes_round_trips(backend, name):
    x = backend.array(np.ones(2), name)
    assert backends.dtype_name(x.dtype) == name
    assert backends.load(backend.name).dtype(backends.dtype_name(x.dtype)) == x.dtype


# --- random keys ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_random_keys(backend, dtype):
    b = backends.load(backend.name)
    d = b.dtype(dtype)
    key = b.key(42)
    draw = b.normal(key, (3, 4), d)
    assert backends.of(draw).NAME == backend.name
    assert tuple(draw.shape) == (3, 4) and backends.dtype_name(draw.dtype) == dtype
    # same key, same draws (and a fresh key from the same seed is the same key)
    np.testing.assert_array_equal(as_np(draw), as_np(b.normal(key, (3, 4), d)))
    np.testing.assert_array_equal(as_np(draw), as_np(b.normal(b.key(42), (3, 4), d)))
    assert not np.array_equal(as_np(draw), as_np(b.normal(b.key(43), (3, 4), d)))
    # split keys: deterministic, and each gives different draws
    keys = b.split(key, 3)
    assert len(keys) == 3 and backends.of(keys[0]).NAME == backend.name
    np.testing.assert_array_equal(as_np(keys), as_np(b.split(key, 3)))
    draws = [as_np(b.normal(keys[i], (3, 4), d)) for i in range(3)]
    draws.append(as_np(draw))
    for i in range(len(draws)):
        for j in range(i):
            assert not np.array_equal(draws[i], draws[j]), (i, j)
    # standard normal: a large draw has mean ~0 and std ~1
    big = as_np(b.normal(key, (20000,), b.dtype("float32")))
    assert abs(big.mean()) < 0.05 and abs(big.std() - 1) < 0.05


def test_default_normal_dtype_is_float32(backend):
    b = backends.load(backend.name)
    assert backends.dtype_name(b.normal(b.key(0), (2,)).dtype) == "float32"


def _target(backend):
    return {
        "w": backend.array(np.zeros((4, 3)), "float32"),
        "h": [backend.array(np.zeros(5), "float16"), (backend.array(np.zeros(()), "float32"),)],
        "skip": None,
    }


def test_random_like_gives_a_tree_like_the_target(backend):
    b = backends.load(backend.name)
    target = _target(backend)
    out = anyopt.tree.random_like(b.key(0), target)
    want_leaves, want_def = backends.flatten(target)
    got_leaves, got_def = backends.flatten(out)
    assert got_def == want_def
    for got, want in zip(got_leaves, want_leaves):
        assert backends.of(got).NAME == backend.name
        assert tuple(got.shape) == tuple(want.shape)
        assert backends.dtype_name(got.dtype) == backends.dtype_name(want.dtype)
    # deterministic in the key, different leaves get different draws
    again = anyopt.tree.random_like(b.key(0), target)
    for x, y in zip(got_leaves, backends.flatten(again)[0]):
        np.testing.assert_array_equal(as_np(x), as_np(y))
    flat = [as_np(x).ravel()[:3] for x in got_leaves[:2]]
    assert not np.array_equal(flat[0], flat[1])
    # an explicit dtype applies to every leaf
    half = anyopt.tree.random_like(b.key(0), target, dtype="bfloat16")
    assert {backends.dtype_name(x.dtype) for x in backends.flatten(half)[0]} == {"bfloat16"}


def test_split_key_like_gives_one_distinct_key_per_leaf(backend):
    b = backends.load(backend.name)
    target = _target(backend)
    keys = anyopt.tree.split_key_like(b.key(0), target)
    assert backends.flatten(keys)[1] == backends.flatten(target)[1]
    found = backends.flatten(keys)[0]
    assert len(found) == 3
    key_dtype = backends.dtype_name(b.key(0).dtype)
    for k in found:
        assert backends.of(k).NAME == backend.name
        assert backends.dtype_name(k.dtype) == key_dtype
    as_tuples = {tuple(as_np(k).ravel().tolist()) for k in found}
    assert len(as_tuples) == 3


# --- the saturating step counter ------------------------------------------------------------
@pytest.mark.parametrize("fn", ["safe_increment", "safe_int32_increment"])
@pytest.mark.parametrize(
    "count, expected", [(0, 1), (41, 42), (INT32_MAX - 1, INT32_MAX), (INT32_MAX, INT32_MAX)]
)
def test_safe_increment_saturates_at_int32_max(backend, fn, count, expected):
    c = backend.array(np.int32(count))
    out = getattr(anyopt, fn)(c)
    assert backends.of(out).NAME == backend.name
    assert backends.dtype_name(out.dtype) == "int32"
    assert int(Backend.numpy(out)) == expected


def test_safe_increment_of_count_init_counts_up(backend):
    count = anyopt.adam(0.1).init(backend.tree({"w": np.ones(2, np.float32)}))[0].count
    assert backends.dtype_name(count.dtype) == "int32" and backends.of(count).NAME == backend.name
    for _ in range(3):
        count = anyopt.safe_increment(count)
    assert int(Backend.numpy(count)) == 3 and backends.dtype_name(count.dtype) == "int32"


def test_safe_increment_numpy_int32_scalar_saturates_without_overflow_warning():
    """0-d NumPy results are often ``np.int32`` scalars; their ``+ 1`` at the maximum warns."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = anyopt.safe_increment(np.int32(INT32_MAX))
    assert int(out) == INT32_MAX and np.asarray(out).dtype == np.int32


def test_safe_increment_under_jax_jit():
    import jax.numpy as jnp

    out = jax.jit(anyopt.safe_increment)(jnp.asarray(INT32_MAX, jnp.int32))
    assert int(out) == INT32_MAX and out.dtype == jnp.int32
