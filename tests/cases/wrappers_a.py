"""optax parity cases for the wrappers of group A: see tests/optax_cases.py for the format.

``CASES`` run in the generic harness (parity, dtypes, jit, fast paths). ``OWN_CASES`` have
the same format but states with int32 counters that optax does not call ``count``
(``mini_step``, ``gradient_step``, ``notfinite_count``, ``step``, ``steps_since_sync``) or
a float32 accumulator by design (``MultiSteps``' ``acc_grads``), which tests/test_dtypes.py
cannot tell from stray leaves: tests/test_wrappers_a.py runs them through the same parity
harness, with a dtype check that knows those fields.
"""

from __future__ import annotations

import functools


def _mask(params):
    return {"dense": {"w": True, "b": False}, "layers": [True, (False, True)], "skip": None}


_PREFIX_MASK = {"dense": True, "layers": [False, True], "skip": None}
_OUTER_MASK = {"dense": True, "layers": True, "skip": None}
_INNER_MASK = {"dense": {"w": False, "b": True}, "layers": [True, (True, False)], "skip": None}


def _lookahead_tx(lib, tx):
    """Lookahead as a transformation of plain parameters: the slow weights live in the
    state, so the harness (which holds the fast weights) can run it."""

    def init(params):
        return (tx.init(lib.LookaheadParams.init_synced(params)), params)

    def update(updates, state, params):
        inner_state, slow = state
        pair = lib.LookaheadParams(fast=params, slow=slow)
        new, inner_state = tx.update(updates, inner_state, pair)
        return new.fast, (inner_state, lib.apply_updates(slow, new.slow))

    return lib.GradientTransformation(init, update)


def _k_schedule(step):
    return 1 + 2 * (step >= 3)  # 1 mini-step per update for 3 updates, then 3


def _every_third(step):
    return step % 3 == 0


def _first_twenty(step):
    return step < 20


OPTIMIZERS: set[str] = set()
OWN_OPTIMIZERS = {"MultiSteps", "lookahead"}  # base names of OWN_CASES with a learning rate

CASES: dict = {
    "apply_every": lambda lib: lib.apply_every(4),
    "apply_every/after_adam": lambda lib: lib.chain(lib.scale_by_adam(), lib.apply_every(5)),
    "flatten": lambda lib: lib.flatten(lib.scale_by_adam()),
    "flatten/needs_params": lambda lib: lib.flatten(
        lib.chain(lib.add_decayed_weights(0.1), lib.trace(0.9))
    ),
    "masked/fn": lambda lib: lib.masked(lib.scale_by_adam(), _mask),
    "masked/prefix": lambda lib: lib.masked(lib.scale_by_rms(), _PREFIX_MASK),
    "masked/needs_params": lambda lib: lib.masked(lib.add_decayed_weights(0.3), _PREFIX_MASK),
    "masked/nested": lambda lib: lib.masked(
        lib.masked(lib.scale_by_adam(), _INNER_MASK), _OUTER_MASK
    ),
}

OWN_CASES: dict = {
    "MultiSteps": lambda lib: lib.MultiSteps(lib.adam(0.01), 3).gradient_transformation(),
    "MultiSteps/sum": lambda lib: lib.MultiSteps(
        lib.sgd(0.01, momentum=0.9), 2, use_grad_mean=False
    ).gradient_transformation(),
    "MultiSteps/k_schedule": lambda lib: lib.MultiSteps(
        lib.adam(lib.linear_schedule(0.02, 0.001, 10)), _k_schedule
    ).gradient_transformation(),
    "MultiSteps/nested": lambda lib: lib.MultiSteps(
        lib.chain(lib.clip_by_global_norm(1.0), lib.masked(lib.adamw(0.01), _mask)), 2
    ).gradient_transformation(),
    "MultiSteps/skip_large_updates": lambda lib: lib.MultiSteps(
        lib.adam(0.01),
        2,
        should_skip_update_fn=functools.partial(lib.skip_large_updates, max_squared_norm=40.0),
    ).gradient_transformation(),
    "MultiSteps/skip_not_finite": lambda lib: lib.MultiSteps(
        lib.adam(0.01), 4, should_skip_update_fn=lib.skip_not_finite
    ).gradient_transformation(),
    "MultiSteps/accumulator_dtype_none": lambda lib: lib.MultiSteps(
        lib.rmsprop(0.01), 2, accumulator_dtype=None
    ).gradient_transformation(),
    "apply_if_finite": lambda lib: lib.apply_if_finite(lib.adam(0.01), 2),
    "conditionally_transform": lambda lib: lib.conditionally_transform(
        lib.scale_by_adam(), _every_third
    ),
    "conditionally_mask": lambda lib: lib.conditionally_mask(lib.scale_by_adam(), _first_twenty),
    "lookahead": lambda lib: _lookahead_tx(lib, lib.lookahead(lib.adam(0.01), 4, 0.5)),
    "lookahead/reset": lambda lib: _lookahead_tx(
        lib, lib.lookahead(lib.sgd(0.02, momentum=0.9), 3, 0.3, reset_state=True)
    ),
}
