"""optax parity cases: see tests/optax_cases.py for the format.

``inject_hyperparams`` wraps full optimizers, so all of its variants are optimizers.
(``hyperparam_dtype`` keeps state floats in a dtype other than the parameters', which the
dtype tests forbid for cases; it is tested in tests/test_schedules.py.) Hyperparameters take
the parameters' dtype, as in optax, and bfloat16 rounds 0.999 to 1.0 (Adam's default b2 then
gives NaN in optax too), so the Adam-family cases set ``b2=0.99``.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np

# Full optimizers (their updates include a learning rate).
OPTIMIZERS: set[str] = {"inject_hyperparams", "inject_stateful_hyperparams"}


def _mask(params):
    return {"dense": {"w": True, "b": False}, "layers": [True, (False, True)], "skip": None}


class ShrinkState(NamedTuple):
    count: Any  # int32 steps taken


class ShrinkOnUpdate:
    """A stateful schedule for both libraries: ``value * factor ** updates_so_far``."""

    def __init__(self, value: float, factor: float):
        self.value, self.factor = value, factor

    def init(self):
        return ShrinkState(count=np.zeros([], np.int32))

    def update(self, state, **extra_args):
        return ShrinkState(count=state.count + 1)

    def __call__(self, state, **extra_args):
        return self.value * self.factor**state.count


def _stateful(lib):
    with warnings.catch_warnings():  # deprecated in optax 0.1.9 (and here)
        warnings.simplefilter("ignore", DeprecationWarning)
        return lib.inject_stateful_hyperparams(lib.sgd)(
            learning_rate=ShrinkOnUpdate(0.05, 0.95), momentum=0.8
        )


CASES: dict = {
    "inject_hyperparams": lambda lib: lib.inject_hyperparams(lib.adam)(
        learning_rate=lib.linear_schedule(0.02, 0.002, 30), b1=0.85, b2=0.99
    ),
    "inject_hyperparams/sgd_exponential": lambda lib: lib.inject_hyperparams(lib.sgd)(
        learning_rate=lib.exponential_decay(0.05, 10, 0.7), momentum=0.9, nesterov=True
    ),
    "inject_hyperparams/static_mask": lambda lib: lib.inject_hyperparams(
        lib.adamw, static_args="mask"
    )(
        learning_rate=lib.cosine_onecycle_schedule(50, 0.02),
        b2=0.99,
        weight_decay=lib.piecewise_constant_schedule(0.1, {20: 0.1}),
        mask=_mask,
    ),
    "inject_hyperparams/rmsprop_centered": lambda lib: lib.inject_hyperparams(lib.rmsprop)(
        learning_rate=lib.warmup_exponential_decay_schedule(0.0, 0.02, 5, 10, 0.5),
        decay=0.95,
        centered=True,
    ),
    "inject_hyperparams/stateful_schedule": lambda lib: lib.inject_hyperparams(lib.lion)(
        learning_rate=ShrinkOnUpdate(0.002, 0.9), b2=0.98
    ),
    "inject_hyperparams/wrapped_schedule": lambda lib: lib.inject_hyperparams(lib.adam)(
        learning_rate=0.01, b1=lib.WrappedSchedule(lib.linear_schedule(0.5, 0.9, 20)), b2=0.99
    ),
    "inject_hyperparams/static_learning_rate": lambda lib: lib.inject_hyperparams(
        lib.adam, static_args=("learning_rate",)
    )(lib.piecewise_interpolate_schedule("cosine", 0.01, {10: 2.0, 40: 0.1}), b2=0.99),
    "inject_stateful_hyperparams": _stateful,
}
