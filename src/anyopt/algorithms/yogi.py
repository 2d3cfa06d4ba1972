r"""Yogi (Zaheer et al., 2018): Adam whose second moment moves additively, not multiplicatively.

.. math::
    m_k = \beta_1 m_{k-1} + (1 - \beta_1) g_k, \quad
    v_k = v_{k-1} - (1 - \beta_2)\operatorname{sign}(v_{k-1} - |g_k|^2)\, |g_k|^2,

    u_k = \hat m_k / (\sqrt{\hat v_k + \epsilon_{root}} + \epsilon).

Deviation from the paper (as optax): both moments start at ``initial_accumulator_value``
and are bias-corrected like Adam's; :math:`\epsilon` defaults to 1e-3 as in the paper.
"""

from __future__ import annotations

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformation, ScalarOrSchedule
from anyopt._combine import chain
from anyopt.algorithms._common import check_betas_eps
from anyopt.algorithms.adam import ScaleByAdamState
from anyopt.transforms._scaling import scale_by_learning_rate


def scale_by_yogi(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-3,
    eps_root: float = 0.0,
    initial_accumulator_value: float = 1e-6,
) -> GradientTransformation:
    """Rescales updates by Yogi's moments (no learning rate); state as Adam's."""
    check_betas_eps("scale_by_yogi", b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    _validate.positive("scale_by_yogi", "initial_accumulator_value", initial_accumulator_value)

    def init_fn(params):
        return ScaleByAdamState(
            count=_tree.count_init(params),
            mu=_tree.full_like(params, initial_accumulator_value),
            nu=_tree.full_like(params, initial_accumulator_value),
        )

    def second_moment(g, v):
        g2 = _ops.abs_sq(g)  # |g|**2, real for complex g
        return v - (1 - b2) * _ops.sign(v - g2) * g2

    def update_fn(updates, state, params=None):
        del params
        mu = _tree.update_moment(updates, state.mu, b1, 1)
        nu = _tree.map(second_moment, updates, state.nu)
        count_inc = _tree.safe_increment(state.count)
        mu_hat = _tree.bias_correction(mu, b1, count_inc)
        nu_hat = _tree.bias_correction(nu, b2, count_inc)
        updates = _tree.map(lambda m, v: m / (_ops.sqrt(v + eps_root) + eps), mu_hat, nu_hat)
        return updates, ScaleByAdamState(count=count_inc, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


def yogi(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-3,
) -> GradientTransformation:
    """Yogi: ``scale_by_yogi`` followed by ``-learning_rate``."""
    _validate.learning_rate("yogi", learning_rate)
    check_betas_eps("yogi", b1=b1, b2=b2, eps=eps)
    return chain(scale_by_yogi(b1=b1, b2=b2, eps=eps), scale_by_learning_rate(learning_rate))
