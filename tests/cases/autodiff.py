"""optax parity cases: see tests/optax_cases.py for the format.

Only the members of the autodiff family whose ``update`` needs no objective run here: L-BFGS
without a line search and Sophia with a deterministic Hessian-diagonal transformation. The
line searches, ``lbfgs`` with its default zoom search, Hutchinson's estimator and SAM (whose
``steps_since_sync`` counter is an integer leaf not named ``count``) are tested against
optax in tests/test_linesearch.py and tests/test_autodiff.py, as is
``scale_by_lbfgs(scale_init_precond=False)``: on this harness's noisy gradients its unscaled
curvature pairs make the trajectory chaotic, so one-ulp differences between XLA's compiled
``lax.scan`` and our unrolled loop grow without bound. (optax's L-BFGS is also slow eagerly,
about 2 s a step, so the cases here are few.)
"""

from __future__ import annotations


def _curvature(lib):
    """A positive Hessian-diagonal stand-in that needs no autodiff: ``g**2 + 0.5``."""
    return lib.stateless_with_tree_map(lambda g, p: g * g + 0.5)


def _mask(params):
    return {"dense": {"w": True, "b": False}, "layers": [True, (False, True)], "skip": None}


# Full optimizers (their updates include a learning rate).
OPTIMIZERS: set[str] = {"lbfgs", "contrib.sophia"}

CASES: dict = {
    "scale_by_lbfgs": lambda lib: lib.scale_by_lbfgs(memory_size=3),
    "lbfgs/no_linesearch": lambda lib: lib.lbfgs(
        lib.linear_schedule(0.05, 0.01, 30), memory_size=4, linesearch=None
    ),
    "contrib.sophia": lambda lib: lib.contrib.sophia(
        0.01, hessian_diagonal_fn=_curvature(lib), update_interval=3
    ),
    "contrib.sophia/mask_gamma": lambda lib: lib.contrib.sophia(
        0.01,
        b1=0.9,
        weight_decay=0.1,
        weight_decay_mask=_mask,
        gamma=0.05,
        clip_threshold=0.5,
        hessian_diagonal_fn=_curvature(lib),
    ),
}
