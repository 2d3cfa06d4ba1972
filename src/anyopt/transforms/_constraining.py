"""Constraints on updates: parameters kept non-negative, NaN updates zeroed."""

from __future__ import annotations

from typing import Any, NamedTuple

from anyopt import _ops, _tree
from anyopt._base import NO_PARAMS_MSG, EmptyState, GradientTransformation, init_empty_state

# optax's name for the (empty) state of keep_params_nonnegative.
NonNegativeParamsState = EmptyState


def _below_zero(x: Any) -> Any:
    """``x < 0``; complex ``x`` in NumPy's and JAX's lexicographic order (real part first),
    which torch does not provide."""
    if not _ops.is_complex(x):
        return x < 0
    re, im = _ops.real(x), _ops.imag(x)
    return (re < 0) | ((re == 0) & (im < 0))


def keep_params_nonnegative() -> GradientTransformation:
    """Changes updates so that ``params + updates >= 0``: an update that would take a
    parameter below zero becomes ``-params`` (the parameter lands on 0).

    Put it last in a chain; parameters are expected to start non-negative (negative
    ones are moved to 0).
    """

    def update_fn(updates, state, params):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        updates = _tree.map(
            lambda p, u: None if p is None else _ops.where(_below_zero(p + u), -p, u),
            params,
            updates,
            is_leaf=_tree.is_none,
        )
        return updates, state

    return GradientTransformation(init_empty_state, update_fn)


class ZeroNansState(NamedTuple):
    """Per leaf, a 0-d bool: whether the last updates of that leaf held a NaN."""

    found_nan: Any


def zero_nans() -> GradientTransformation:
    """Replaces NaN entries of the updates by 0 and records, per leaf, whether any was
    found (``state.found_nan``; the transformation itself does not read it)."""

    def init_fn(params):
        return ZeroNansState(found_nan=_tree.map(lambda p: _ops.zeros((), "bool", like=p), params))

    def update_fn(updates, state, params=None):
        del params, state
        found_nan = _tree.map(lambda u: _ops.any(_ops.isnan(u)), updates)
        updates = _tree.map(lambda u: _ops.where(_ops.isnan(u), _ops.zeros_like(u), u), updates)
        return updates, ZeroNansState(found_nan=found_nan)

    return GradientTransformation(init_fn, update_fn)
