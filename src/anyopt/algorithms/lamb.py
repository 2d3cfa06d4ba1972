r"""Layer-wise trust ratios: LARS (You et al., 2017) and LAMB (You et al., 2020).

``scale_by_trust_ratio`` rescales each leaf's update :math:`u` by

.. math::
    \tau = c \, \frac{\max(\|w\|, n_{min})}{\max(\|u\|, n_{min}) + \epsilon}
    \quad (\tau = 1 \text{ if either norm is } 0),

norms taken over the whole leaf. LARS applies it to ``g + wd * w`` before heavy-ball
momentum; LAMB applies it to Adam's direction plus decoupled weight decay.
Deviations from the papers (as optax): LAMB's trust ratio has no clipping function
:math:`\phi`; LARS divides by :math:`\|g + wd\, w\|`, not :math:`\|g\| + wd \|w\|`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

from anyopt import _ops, _tree, _validate
from anyopt._base import NO_PARAMS_MSG, GradientTransformation, ScalarOrSchedule, init_empty_state
from anyopt._combine import chain
from anyopt.algorithms._common import check_betas_eps
from anyopt.algorithms.adam import scale_by_adam
from anyopt.transforms._accumulation import trace
from anyopt.transforms._adding import add_decayed_weights
from anyopt.transforms._masking import masked
from anyopt.transforms._scaling import scale_by_learning_rate

MaskOrFn = Union[Any, Callable[[Any], Any], None]


def _leaf_norm(x, min_norm):
    """``max(||x||, min_norm)`` over the whole leaf (real, also for complex ``x``)."""
    norm = _ops.sqrt(_ops.sum(_ops.abs_sq(x)))
    return _ops.where(norm <= min_norm, min_norm, norm)


def scale_by_trust_ratio(
    min_norm: float = 0.0, trust_coefficient: float = 1.0, eps: float = 0.0
) -> GradientTransformation:
    """Scales each leaf's update by its trust ratio; stateless, needs ``params``."""
    for arg, value in (("min_norm", min_norm), ("trust_coefficient", trust_coefficient)):
        _validate.non_negative("scale_by_trust_ratio", arg, value)
    _validate.non_negative("scale_by_trust_ratio", "eps", eps)

    def scale_leaf(u, p):
        param_norm = _leaf_norm(p, min_norm)
        update_norm = _leaf_norm(u, min_norm)
        ratio = trust_coefficient * param_norm / (update_norm + eps)
        # Norms are >= 0, so `<= 0` is `== 0` (which the fused-step tracer cannot record).
        ratio = _ops.where(param_norm <= 0, 1.0, _ops.where(update_norm <= 0, 1.0, ratio))
        return u * ratio

    def update_fn(updates, state, params):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        return _tree.map(scale_leaf, updates, params), state

    return GradientTransformation(init_empty_state, update_fn)


def lamb(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-6,
    eps_root: float = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    """LAMB: Adam's direction, weight decay, the trust ratio, then ``-learning_rate``."""
    _validate.learning_rate("lamb", learning_rate)
    check_betas_eps("lamb", b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    return chain(
        scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root),
        add_decayed_weights(weight_decay=weight_decay, mask=mask),
        scale_by_trust_ratio(),
        scale_by_learning_rate(learning_rate),
    )


def lars(
    learning_rate: ScalarOrSchedule,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: MaskOrFn = True,
    trust_coefficient: float = 0.001,
    eps: float = 0.0,
    trust_ratio_mask: MaskOrFn = True,
    momentum: float = 0.9,
    nesterov: bool = False,
) -> GradientTransformation:
    """LARS: weight decay, the (masked) trust ratio, ``-learning_rate``, then momentum."""
    _validate.learning_rate("lars", learning_rate)
    _validate.non_negative("lars", "trust_coefficient", trust_coefficient)
    _validate.non_negative("lars", "eps", eps)
    _validate.non_negative("lars", "momentum", momentum)
    return chain(
        add_decayed_weights(weight_decay, mask=weight_decay_mask),
        masked(
            scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps),
            mask=trust_ratio_mask,
        ),
        scale_by_learning_rate(learning_rate),
        trace(decay=momentum, nesterov=nesterov),
    )
