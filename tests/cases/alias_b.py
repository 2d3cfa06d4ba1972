"""optax parity cases: see tests/optax_cases.py for the format.

Rprop, SM3, optimistic GD/Adam, Polyak SGD, block scalings, DoG and the remaining
gradient transforms (AGC, centralize, block RMS clipping, non-negativity, NaN zeroing).
add_noise and noisy_sgd draw random numbers and are tested in tests/test_alias_b.py.
"""

from __future__ import annotations

import warnings

from anyopt import _ops

# Full optimizers (their updates include a learning rate).
OPTIMIZERS: set[str] = {
    "rprop", "sm3", "optimistic_gradient_descent", "optimistic_adam_v2", "optimistic_adam",
    "polyak_sgd", "keep_params_nonnegative",
}  # fmt: skip

# random_tree's 0-d leaf is layers[1][1]: SM3 rejects 0-d leaves (optax raises IndexError)
# and optax's DoG turns a 0-d update into shape (1,), so those cases leave it at rest.
_NOT_SCALAR = {"dense": {"w": True, "b": True}, "layers": [True, (True, False)], "skip": None}
_SCALAR = {"dense": {"w": False, "b": False}, "layers": [False, (False, True)], "skip": None}


def _without_scalar(lib, tx):
    return lib.chain(lib.masked(tx, _NOT_SCALAR), lib.masked(lib.set_to_zero(), _SCALAR))


def _with_value(lib, tx):
    """``tx`` fed ``value = 0.5 ||params||^2 - 1`` (the Polyak step needs the loss)."""

    def update(updates, state, params=None):
        value = 0.5 * lib.tree_utils.tree_norm(params, squared=True) - 1.0
        return tx.update(updates, state, params, value=value)

    return lib.GradientTransformation(tx.init, update)


def _optimistic_adam(lib):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated in optax too
        return lib.optimistic_adam(0.01, 0.05)


def _nan_maker(lib):
    """Turns update entries above 1 into NaN, for zero_nans to clean."""
    return lib.stateless_with_tree_map(lambda u, p: _ops.where(u > 1.0, float("nan"), u))


CASES = {
    "rprop": lambda lib: lib.rprop(0.01),
    "rprop/bounds": lambda lib: lib.rprop(
        0.05, eta_minus=0.3, eta_plus=1.5, min_step_size=1e-3, max_step_size=0.1
    ),
    "scale_by_rprop": lambda lib: lib.scale_by_rprop(0.1),
    "sm3": lambda lib: _without_scalar(lib, lib.sm3(0.05)),
    "sm3/no_momentum": lambda lib: _without_scalar(lib, lib.sm3(0.02, momentum=0.0)),
    "scale_by_sm3": lambda lib: _without_scalar(lib, lib.scale_by_sm3()),
    "scale_by_sm3/b2": lambda lib: _without_scalar(lib, lib.scale_by_sm3(0.8, 0.95, 1e-6)),
    "scale_by_optimistic_gradient": lambda lib: lib.scale_by_optimistic_gradient(),
    "scale_by_optimistic_gradient/alpha_beta": lambda lib: lib.scale_by_optimistic_gradient(
        0.5, 2.0
    ),
    "optimistic_gradient_descent": lambda lib: lib.optimistic_gradient_descent(0.05),
    "optimistic_gradient_descent/alpha_beta": lambda lib: lib.optimistic_gradient_descent(
        lib.linear_schedule(0.05, 0.01, 30), alpha=0.5, beta=0.8
    ),
    "optimistic_adam_v2": lambda lib: lib.optimistic_adam_v2(0.01),
    "optimistic_adam_v2/no_nesterov": lambda lib: lib.optimistic_adam_v2(
        lib.cosine_decay_schedule(0.02, 40), alpha=0.5, beta=0.3, b1=0.8, nesterov=False
    ),
    "optimistic_adam": _optimistic_adam,
    "scale_by_polyak": lambda lib: _with_value(lib, lib.scale_by_polyak()),
    "scale_by_polyak/sps_plus": lambda lib: _with_value(
        lib, lib.scale_by_polyak(f_min=4.0, max_learning_rate=0.3, eps=1e-3, variant="sps+")
    ),
    "polyak_sgd": lambda lib: _with_value(lib, lib.polyak_sgd()),
    "polyak_sgd/sps_plus": lambda lib: _with_value(
        lib,
        lib.polyak_sgd(0.5, scaling=lib.linear_schedule(1.0, 0.1, 40), f_min=3.0, variant="sps+"),
    ),
    "scale_by_param_block_norm": lambda lib: lib.scale_by_param_block_norm(),
    "scale_by_param_block_norm/min_scale": lambda lib: lib.scale_by_param_block_norm(2.5),
    "scale_by_param_block_rms": lambda lib: lib.scale_by_param_block_rms(),
    "scale_by_param_block_rms/min_scale": lambda lib: lib.scale_by_param_block_rms(0.9),
    "scale_by_distance_over_gradients": lambda lib: _without_scalar(
        lib, lib.scale_by_distance_over_gradients()
    ),
    "scale_by_distance_over_gradients/reps": lambda lib: _without_scalar(
        lib, lib.scale_by_distance_over_gradients(reps_rel=0.5, eps=1e-4, global_scale=-5.0)
    ),
    "adaptive_grad_clip": lambda lib: lib.adaptive_grad_clip(0.1),
    "adaptive_grad_clip/loose": lambda lib: lib.adaptive_grad_clip(0.8, eps=0.5),
    "adaptive_grad_clip/axis": lambda lib: _without_scalar(
        lib, lib.adaptive_grad_clip(0.2, axis=-1)
    ),
    "centralize": lambda lib: lib.centralize(),
    "clip_by_block_rms": lambda lib: lib.clip_by_block_rms(0.8),
    "keep_params_nonnegative": lambda lib: lib.chain(lib.sgd(0.3), lib.keep_params_nonnegative()),
    "normalize_by_update_norm": lambda lib: lib.normalize_by_update_norm(),
    "normalize_by_update_norm/scale": lambda lib: lib.normalize_by_update_norm(-2.0, eps=1e-3),
    "zero_nans": lambda lib: lib.zero_nans(),
    "zero_nans/with_nans": lambda lib: lib.chain(_nan_maker(lib), lib.zero_nans()),
}
