r"""Normalizing the updates to unit global L2 norm: :math:`u = g / \|g\|_2`.

The building block of SAM's adversarial step (``chain(normalize(), sgd(rho))``).
A zero gradient gives NaN, as in optax.
"""

from __future__ import annotations

from anyopt import _ops, _tree
from anyopt._base import EmptyState, GradientTransformation, init_empty_state

NormalizeState = EmptyState


def normalize() -> GradientTransformation:
    """Divides every leaf by the global L2 norm of all the updates together."""

    def update_fn(updates, state, params=None):
        del params
        g_norm = _tree.norm(updates)
        return _tree.map(lambda g: g / _ops.like(g_norm, g), updates), state

    return GradientTransformation(init_empty_state, update_fn)
