"""How microbatch results combine: sum, mean, running mean, concatenation, or your own.

An ``Accumulator`` is the program ``carry = init(x_0); carry = update(carry, x_i, i)
for each microbatch i; return finalize(carry)``, plus ``aggregate`` to reduce a batch
axis at once (``micro_vmap``). Under JAX ``init`` receives the ``jax.ShapeDtypeStruct``
of one microbatch's result (as in optax); on the other frameworks it receives the first
microbatch's result itself.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any

from anyopt import _ops, backends

PyTreeFn = Callable[[Any], Any]
UpdateFn = Callable[[Any, Any, int], Any]


@dataclasses.dataclass(frozen=True)
class Accumulator:
    """``init(example) -> carry``, ``update(carry, value, index) -> carry``,
    ``finalize(carry) -> result`` and ``aggregate(values with a leading batch axis)``."""

    init: PyTreeFn
    update: UpdateFn
    finalize: PyTreeFn
    aggregate: PyTreeFn


class AccumulationType(enum.Enum):
    """The built-in accumulations."""

    MEAN = enum.auto()  # the average of the microbatch results
    SUM = enum.auto()  # their sum
    RUNNING_MEAN = enum.auto()  # the average over the microbatches actually run
    CONCAT = enum.auto()  # concatenated along axis 0, in the original batch order


def tree_map(f: Callable, tree: Any, *rest: Any) -> Any:
    """``f`` over the leaves of ``tree`` and the matching subtrees of ``rest`` (structure only)."""
    leaves, treedef = backends.flatten(tree)
    others = [backends.flatten_up_to(treedef, r, tree) for r in rest]
    return backends.unflatten(treedef, [f(*xs) for xs in zip(leaves, *others)])


def _floating_only(fn: Callable) -> Callable:
    def checked(value):
        name = backends.dtype_name(value.dtype)
        if not (name.startswith("float") or name == "bfloat16"):
            raise ValueError("MEAN and RUNNING_MEAN Accumulators require floating-point values.")
        return fn(value)

    return checked


def _lift(acc: Accumulator) -> Accumulator:
    """An array accumulator applied leaf by leaf to trees."""
    return Accumulator(
        lambda value: tree_map(acc.init, value),
        lambda carry, value, i: tree_map(lambda c, v: acc.update(c, v, i), carry, value),
        lambda carry: tree_map(acc.finalize, carry),
        lambda values: tree_map(acc.aggregate, values),
    )


def compose(accumulators: Any) -> Accumulator:
    """One accumulator from a tree of them (a prefix of the results' tree)."""
    return Accumulator(
        lambda values: tree_map(lambda a, v: a.init(v), accumulators, values),
        lambda carry, values, i: tree_map(
            lambda a, c, v: a.update(c, v, i), accumulators, carry, values
        ),
        lambda carry: tree_map(lambda a, c: a.finalize(c), accumulators, carry),
        lambda values: tree_map(lambda a, v: a.aggregate(v), accumulators, values),
    )


def _sum() -> Accumulator:
    return _lift(
        Accumulator(
            init=_ops.zeros_like,
            update=lambda carry, value, _: carry + value,
            finalize=lambda carry: carry,
            aggregate=lambda x: _ops.sum(x, axis=0),
        )
    )


def _positive(num_microbatches: int) -> None:
    if num_microbatches <= 0:
        raise ValueError(f"num_microbatches={num_microbatches} must be positive.")


def _mean(num_microbatches: int) -> Accumulator:
    _positive(num_microbatches)
    return _lift(
        Accumulator(
            init=_floating_only(_ops.zeros_like),
            update=lambda carry, value, _: carry + value,
            finalize=lambda carry: carry / num_microbatches,
            aggregate=lambda x: _ops.mean(x, axis=0),
        )
    )


def _running_mean() -> Accumulator:
    def update(carry, value, index):
        p = index / (index + 1)
        return carry * p + value * (1 - p)

    return _lift(
        Accumulator(
            init=_floating_only(_ops.zeros_like),
            update=update,
            finalize=lambda carry: carry,
            aggregate=lambda x: _ops.mean(x, axis=0),
        )
    )


def _index_set(carry: Any, value: Any, index: Any) -> Any:
    b = backends.of(carry)
    if hasattr(b, "index_set"):  # JAX: the index may be traced
        return b.index_set(carry, index, value)
    parts = [carry[:index], _ops.expand_dims(value, 0), carry[index + 1 :]]
    return _ops.concatenate(parts, axis=0)


def _concat(num_microbatches: int) -> Accumulator:
    _positive(num_microbatches)

    def init(value):
        shape = (num_microbatches, *tuple(value.shape))
        return _ops.broadcast_to(_ops.zeros_like(value), shape)

    def finalize(carry):  # (microbatch, row, ...) -> rows in the original batch order
        shape = tuple(carry.shape)
        return _ops.reshape(_ops.swapaxes(carry, 0, 1), (shape[0] * shape[1], *shape[2:]))

    return _lift(Accumulator(init, _index_set, finalize, lambda x: x))


def canonicalize(tree: Any, num_microbatches: int | None) -> Accumulator:
    """One Accumulator from a tree of Accumulators and AccumulationTypes."""

    def build(acc):
        if isinstance(acc, Accumulator):
            return acc
        if acc is AccumulationType.MEAN:
            return _mean(num_microbatches)
        if acc is AccumulationType.SUM:
            return _sum()
        if acc is AccumulationType.RUNNING_MEAN:
            return _running_mean()
        if acc is AccumulationType.CONCAT:
            return _concat(num_microbatches)
        raise ValueError(f"Unknown accumulator: {acc}")

    return compose(tree_map(build, tree))
