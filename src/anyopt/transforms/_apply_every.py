r"""``apply_every``: sum the updates of k steps and emit them on the k-th.

.. math::
    a_t = g_t + [t \bmod k \ne 0]\, a_{t-1}, \qquad
    u_t = [t \bmod k = k - 1]\, a_t.

Transformations chained before it still update their state at every step, so this is
not a large-batch step (see ``MultiSteps`` for that).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformation, Params


class ApplyEvery(NamedTuple):
    """State of ``apply_every``."""

    count: Any  # shape=(), dtype=int32: steps into the current window, in [0, k)
    grad_acc: Params


def apply_every(k: int = 1) -> GradientTransformation:
    """Accumulates updates and returns their sum every ``k`` steps (zeros in between)."""
    _validate.positive("apply_every", "k", k)

    def init_fn(params):
        return ApplyEvery(count=_tree.count_init(params), grad_acc=_tree.zeros_like(params))

    def update_fn(updates, state, params=None):
        del params
        c = _ops.remainder(state.count, k)
        keep = c != 0
        emit = c == k - 1
        grad_acc = _tree.map(lambda g, a: _ops.where(keep, a + g, g), updates, state.grad_acc)
        new_updates = _tree.map(lambda a: _ops.where(emit, a, _ops.zeros_like(a)), grad_acc)
        count = _ops.remainder(_tree.safe_increment(state.count), k)
        return new_updates, ApplyEvery(count=count, grad_acc=grad_acc)

    return GradientTransformation(init_fn, update_fn)
