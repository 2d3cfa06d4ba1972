r"""AdaDelta (Zeiler, 2012): step sizes from running averages of squared gradients and steps.

.. math::
    E[g^2]_k = \rho E[g^2]_{k-1} + (1 - \rho) g_k^2, \quad
    u_k = \frac{\sqrt{E[\Delta^2]_{k-1} + \epsilon}}{\sqrt{E[g^2]_k + \epsilon}} g_k, \quad
    E[\Delta^2]_k = \rho E[\Delta^2]_{k-1} + (1 - \rho) u_k^2.

The paper has no learning rate; ``adadelta`` takes an optional one (as optax, None
means no scaling at all, so the updates are not negated either) and a weight decay that
is added to the gradient before the rescaling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformation, ScalarOrSchedule, Updates
from anyopt._combine import chain
from anyopt.algorithms._common import check_betas_eps
from anyopt.transforms._adding import add_decayed_weights
from anyopt.transforms._scaling import scale_by_learning_rate


class ScaleByAdaDeltaState(NamedTuple):
    """State of AdaDelta."""

    e_g: Updates  # running average of squared gradients
    e_x: Updates  # running average of squared updates


def scale_by_adadelta(rho: float = 0.9, eps: float = 1e-6) -> GradientTransformation:
    """Rescales updates by AdaDelta's ratio of running RMS values (no learning rate)."""
    check_betas_eps("scale_by_adadelta", rho=rho, eps=eps)

    def init_fn(params):
        return ScaleByAdaDeltaState(e_g=_tree.zeros_like(params), e_x=_tree.zeros_like(params))

    def update_fn(updates, state, params=None):
        del params
        e_g = _tree.update_moment(updates, state.e_g, rho, 2)
        updates = _tree.map(
            lambda g, eg, ex: _ops.sqrt(ex + eps) / _ops.sqrt(eg + eps) * g,
            updates,
            e_g,
            state.e_x,
        )
        e_x = _tree.update_moment(updates, state.e_x, rho, 2)
        return updates, ScaleByAdaDeltaState(e_g=e_g, e_x=e_x)

    return GradientTransformation(init_fn, update_fn)


def adadelta(
    learning_rate: Optional[ScalarOrSchedule] = None,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
) -> GradientTransformation:
    """AdaDelta: ``add_decayed_weights``, ``scale_by_adadelta``, then ``-learning_rate``."""
    if learning_rate is not None:
        _validate.learning_rate("adadelta", learning_rate)
    check_betas_eps("adadelta", rho=rho, eps=eps)
    return chain(
        add_decayed_weights(weight_decay, mask=weight_decay_mask),
        scale_by_adadelta(rho=rho, eps=eps),
        scale_by_learning_rate(learning_rate),
    )
