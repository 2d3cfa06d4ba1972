"""Adding a multiple of the parameters to the updates (decoupled weight decay)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

from anyopt import _ops, _tree, _validate
from anyopt._base import NO_PARAMS_MSG, EmptyState, GradientTransformation, ScalarOrSchedule
from anyopt.transforms._masking import masked


class WeightDecaySchedule(NamedTuple):
    """The step counter of a scheduled weight decay."""

    count: Any  # shape=(), dtype=int32


def add_decayed_weights(
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
) -> GradientTransformation:
    """``updates + weight_decay * params``; ``weight_decay`` may be a schedule.

    ``mask`` (a boolean tree or a function of the parameters) limits the decay to
    the leaves where it is True.
    """
    if not callable(weight_decay):
        _validate.non_negative("add_decayed_weights", "weight_decay", weight_decay)

    def init_fn(params):
        if callable(weight_decay):
            return WeightDecaySchedule(count=_tree.count_init(params))
        return EmptyState()

    def update_fn(updates, state, params):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        if callable(weight_decay):
            s = weight_decay(state.count)
            new_state = WeightDecaySchedule(count=_tree.safe_increment(state.count))
        else:
            s, new_state = weight_decay, state
        if isinstance(weight_decay, (int, float)) and weight_decay == 0.0:
            return updates, new_state
        updates = _tree.map(
            lambda g, p: None if g is None else g + _ops.like(s, p) * p,
            updates,
            params,
            is_leaf=_tree.is_none,
        )
        return updates, new_state

    tx = GradientTransformation(init_fn, update_fn)
    return tx if mask is None else masked(tx, mask)
