r"""ACProp (Zhuang et al., 2021): AdaBelief's centered second moment, used asynchronously.

.. math::
    m_k = \beta_1 m_{k-1} + (1 - \beta_1) g_k, \quad
    s_k = \beta_2 s_{k-1} + (1 - \beta_2) (g_k - m_{k-1})^2 + \bar\epsilon,

    u_k = g_k / (\sqrt{s_{k-1} / (1 - \beta_2^{k-1})} + \epsilon)

The denominator uses :math:`s_{k-1}` (information up to the previous step only); on the
first step it is 1. As in optax, the prediction error is taken against :math:`m_{k-1}`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional, Union

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformation, ScalarOrSchedule
from anyopt._combine import chain
from anyopt.algorithms._common import check_betas_eps
from anyopt.algorithms.adabelief import ScaleByBeliefState
from anyopt.transforms._adding import add_decayed_weights
from anyopt.transforms._scaling import scale_by_learning_rate


def scale_by_acprop(
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-16,
    eps_root: Any = 1e-16,
) -> GradientTransformation:
    """Rescales updates by ACProp's lagged, bias-corrected belief (no learning rate)."""
    check_betas_eps("scale_by_acprop", b1=b1, b2=b2, eps=eps, eps_root=eps_root)

    def init_fn(params):
        return ScaleByBeliefState(
            count=_tree.count_init(params),
            mu=_tree.zeros_like(params),
            nu=_tree.zeros_like(params),
        )

    def update_fn(updates, state, params=None):
        del params
        mu = _tree.update_moment(updates, state.mu, b1, 1)
        errors = _tree.map(lambda g, m: g - m, updates, state.mu)
        nu = _tree.update_moment_per_elem_norm(errors, state.nu, b2, 2)
        nu = _tree.map(lambda v: v + eps_root, nu)
        count_inc = _tree.safe_increment(state.count)
        first = state.count < 1  # count == 0 (counts are never negative)
        # The previous s_{k-1}, bias-corrected with k-1 (with k on the first step, where
        # the correction is replaced by 1 anyway: this avoids dividing by zero).
        nu_hat = _tree.bias_correction(state.nu, b2, _ops.where(first, count_inc, state.count))
        nu_hat = _tree.map(lambda v: _ops.where(first, 1.0, v), nu_hat)
        updates = _tree.map(lambda g, v: g / (_ops.sqrt(v) + eps), updates, nu_hat)
        return updates, ScaleByBeliefState(count=count_inc, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


def acprop(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-16,
    eps_root: Any = 1e-16,
    weight_decay: Any = 0.0,
    mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
) -> GradientTransformation:
    """ACProp: ``scale_by_acprop``, weight decay (times the learning rate), ``-lr``.

    Example:
        >>> import numpy as np, anyopt
        >>> params = {"w": np.ones(3, np.float32)}
        >>> tx = anyopt.contrib.acprop(1e-2)
        >>> state = tx.init(params)
        >>> updates, state = tx.update({"w": np.full(3, 0.5, np.float32)}, state, params)
        >>> anyopt.apply_updates(params, updates)["w"]
        array([0.995, 0.995, 0.995], dtype=float32)

    References:
        Zhuang et al., `Momentum Centering and Asynchronous Update for Adaptive Gradient
        Methods <https://arxiv.org/abs/2110.05454>`_, 2021.
    """
    _validate.learning_rate("acprop", learning_rate)
    check_betas_eps("acprop", b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    _validate.non_negative("acprop", "weight_decay", weight_decay)
    return chain(
        scale_by_acprop(b1=b1, b2=b2, eps=eps, eps_root=eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
