r"""Lookahead (Zhang et al., 2019): k fast steps forward, one slow step back.

The fast optimizer updates the fast weights :math:`\phi`; every ``sync_period`` steps the
slow weights move towards them and the fast weights restart from there:

.. math::
    \theta \leftarrow \theta + \alpha\,(\phi - \theta), \qquad \phi \leftarrow \theta.

As one update of ``LookaheadParams(fast, slow)``, with :math:`d = \phi + u - \theta`
(:math:`u` the fast optimizer's update) and :math:`s` = 1 at a synchronisation, else 0:

.. math::
    \Delta\theta = \alpha\, s\, d, \qquad \Delta\phi = u - (1 - \alpha)\, s\, d.

Apply the returned updates unchanged so that both copies stay in sync.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformation, OptState, Params
from anyopt.transforms._select import select

_log = logging.getLogger(__name__)


class LookaheadState(NamedTuple):
    """State of ``lookahead``."""

    fast_state: OptState  # the fast optimizer's state
    steps_since_sync: Any  # shape=(), dtype=int32


class LookaheadParams(NamedTuple):
    """The fast weights (for gradients) and the slow weights (for evaluation)."""

    fast: Params
    slow: Params

    @classmethod
    def init_synced(cls, params: Params) -> LookaheadParams:
        """Fast and slow weights both equal to ``params``."""
        return cls(slow=params, fast=params)


def lookahead(
    fast_optimizer: GradientTransformation,
    sync_period: int,
    slow_step_size: float,
    reset_state: bool = False,
) -> GradientTransformation:
    """Wraps ``fast_optimizer`` in Lookahead; ``update`` takes gradients at the fast
    weights and ``params`` as ``LookaheadParams``, and returns ``LookaheadParams`` updates.

    ``reset_state`` re-initialises the fast optimizer's state at each synchronisation.

    Example::

        opt = anyopt.lookahead(anyopt.sgd(1e-2), sync_period=5, slow_step_size=0.5)
        params = anyopt.LookaheadParams.init_synced(params)
        state = opt.init(params)
        updates, state = opt.update(grads_at(params.fast), state, params)
        params = anyopt.apply_updates(params, updates)
    """
    if sync_period < 1:
        raise ValueError(f"lookahead: sync_period must be >= 1; got {sync_period!r}")
    _validate.non_negative("lookahead", "slow_step_size", slow_step_size)

    def init_fn(params):
        fast = getattr(params, "fast", None)
        if fast is None:
            _log.warning(
                "lookahead: params has no attribute `fast`; assuming the fast parameters "
                "alone were passed to init."
            )
            fast = params
        return LookaheadState(
            fast_state=fast_optimizer.init(fast), steps_since_sync=_tree.count_init(fast)
        )

    def update_fn(updates, state, params):
        updates, fast_state = fast_optimizer.update(updates, state.fast_state, params.fast)
        sync = state.steps_since_sync == sync_period - 1
        new_updates = _lookahead_update(updates, sync, params, slow_step_size)
        if reset_state:
            fast_state = select(sync, fast_optimizer.init(params.fast), fast_state)
        steps = _ops.remainder(state.steps_since_sync + 1, sync_period)
        return new_updates, LookaheadState(fast_state=fast_state, steps_since_sync=steps)

    return GradientTransformation(init_fn, update_fn)


def _lookahead_update(updates, sync, params: LookaheadParams, alpha) -> LookaheadParams:
    diff = _tree.map(lambda f, u, s: f + u - s, params.fast, updates, params.slow)

    def slow(d):
        return _ops.like(alpha, d) * _ops.like(sync, d) * d

    def fast(u, d):
        return u - _ops.like(sync, d) * (1 - _ops.like(alpha, d)) * d

    return LookaheadParams(fast=_tree.map(fast, updates, diff), slow=_tree.map(slow, diff))
