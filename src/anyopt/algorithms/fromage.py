r"""Fromage (Bernstein et al., 2020): a descent step in the Frobenius-norm geometry.

.. math::
    w_{k+1} = \frac{1}{\sqrt{1 + \eta^2}}
              \left(w_k - \eta \frac{\|w_k\|}{\|g_k\|} g_k\right),

per leaf, with both norms floored at ``min_norm``. As optax, this is
``scale_by_trust_ratio``, ``-lr / sqrt(1 + lr^2)`` and a weight decay of
``1 / sqrt(1 + lr^2) - 1``; a schedule is evaluated at each step.
"""

from __future__ import annotations

from anyopt import _ops, _tree, _validate
from anyopt._base import NO_PARAMS_MSG, GradientTransformation, ScalarOrSchedule, init_empty_state
from anyopt._combine import chain
from anyopt.algorithms.lamb import scale_by_trust_ratio
from anyopt.transforms._adding import add_decayed_weights
from anyopt.transforms._scaling import scale_by_learning_rate


def _add_scaled_params(factor) -> GradientTransformation:
    """``updates + factor * params`` for a fixed ``factor`` that may be negative (here it
    always is), which ``add_decayed_weights`` rejects as a weight decay."""

    def update_fn(updates, state, params):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        return _tree.map(lambda u, p: u + _ops.like(factor, p) * p, updates, params), state

    return GradientTransformation(init_empty_state, update_fn)


def fromage(learning_rate: ScalarOrSchedule, min_norm: float = 1e-6) -> GradientTransformation:
    """Fromage: the trust-ratio step shrunk by ``1 / sqrt(1 + learning_rate**2)``."""
    _validate.learning_rate("fromage", learning_rate)
    _validate.non_negative("fromage", "min_norm", min_norm)
    if not callable(learning_rate):
        mult = 1 / (1 + learning_rate**2) ** 0.5
        return chain(
            scale_by_trust_ratio(min_norm),
            scale_by_learning_rate(learning_rate * mult),
            _add_scaled_params(mult - 1),
        )

    def mult_at(count):
        return 1 / (1 + learning_rate(count) ** 2) ** 0.5

    return chain(
        scale_by_trust_ratio(min_norm),
        scale_by_learning_rate(lambda count: mult_at(count) * learning_rate(count)),
        add_decayed_weights(lambda count: mult_at(count) - 1),
    )
