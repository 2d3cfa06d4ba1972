r"""AdaBelief (Zhuang et al., 2020): Adam whose second moment tracks the "belief"
:math:`(g_k - m_k)^2` instead of :math:`g_k^2`.

.. math::
    s_k = \beta_2 s_{k-1} + (1 - \beta_2)(g_k - m_k)^2 + \epsilon_{root}, \quad
    u_k = \hat m_k / (\sqrt{\hat s_k} + \epsilon).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformation, ScalarOrSchedule, Updates
from anyopt._combine import chain
from anyopt.algorithms._common import check_betas_eps, nesterov_mu_hat
from anyopt.transforms._scaling import scale_by_learning_rate


class ScaleByBeliefState(NamedTuple):
    """State of AdaBelief."""

    count: Any  # shape=(), dtype=int32
    mu: Updates
    nu: Updates  # the second central moment s


def scale_by_belief(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """Rescales updates by AdaBelief's moments (no learning rate)."""
    check_betas_eps("scale_by_belief", b1=b1, b2=b2, eps=eps, eps_root=eps_root)

    def init_fn(params):
        return ScaleByBeliefState(
            count=_tree.count_init(params),
            mu=_tree.zeros_like(params),
            nu=_tree.zeros_like(params),
        )

    def update_fn(updates, state, params=None):
        del params
        mu = _tree.update_moment(updates, state.mu, b1, 1)
        prediction_error = _tree.sub(updates, mu)
        nu = _tree.update_moment_per_elem_norm(prediction_error, state.nu, b2, 2)
        nu = _tree.map(lambda v: v + eps_root, nu)
        count_inc = _tree.safe_increment(state.count)
        if nesterov:
            mu_hat = nesterov_mu_hat(mu, updates, b1, count_inc)
        else:
            mu_hat = _tree.bias_correction(mu, b1, count_inc)
        nu_hat = _tree.bias_correction(nu, b2, count_inc)
        updates = _tree.map(
            lambda m, v: None if m is None else m / (_ops.sqrt(v) + eps),
            mu_hat,
            nu_hat,
            is_leaf=_tree.is_none,
        )
        return updates, ScaleByBeliefState(count=count_inc, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


def adabelief(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """AdaBelief: ``scale_by_belief`` followed by ``-learning_rate``."""
    _validate.learning_rate("adabelief", learning_rate)
    check_betas_eps("adabelief", b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    return chain(
        scale_by_belief(b1, b2, eps, eps_root, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )
