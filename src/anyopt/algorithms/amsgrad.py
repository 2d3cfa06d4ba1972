r"""AMSGrad (Reddi et al., 2018): Adam with a running maximum of the second moment.

.. math::
    \hat v^{max}_k = \max(\hat v^{max}_{k-1}, \hat v_k), \quad
    u_k = \hat m_k / (\sqrt{\hat v^{max}_k + \epsilon_{root}} + \epsilon).

Deviation from the paper (as optax): both moments are bias-corrected by default;
``bias_correction_mu=False, bias_correction_nu=False`` gives the paper's update.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformation, ScalarOrSchedule, Updates
from anyopt._combine import chain
from anyopt.algorithms._common import check_betas_eps, widen
from anyopt.transforms._scaling import scale_by_learning_rate


class ScaleByAmsgradState(NamedTuple):
    """State of AMSGrad."""

    count: Any  # shape=(), dtype=int32
    mu: Updates  # first moment, dtype mu_dtype or the parameters'
    nu: Updates  # second moment, dtype nu_dtype or the parameters'
    nu_max: Updates  # max of the (bias-corrected) nu, dtype nu_dtype or the parameters'


def scale_by_amsgrad(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    *,
    nu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """Rescales updates by AMSGrad's moments (no learning rate).

    ``nu_dtype`` (not in optax): dtype of ``nu`` and ``nu_max``; None: the parameters'.
    """
    check_betas_eps("scale_by_amsgrad", b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    _validate.float_dtype("scale_by_amsgrad", "mu_dtype", mu_dtype)
    _validate.float_dtype("scale_by_amsgrad", "nu_dtype", nu_dtype)

    def init_fn(params):
        return ScaleByAmsgradState(
            count=_tree.count_init(params),
            mu=_tree.zeros_like(params, dtype=mu_dtype),
            nu=_tree.zeros_like(params, dtype=nu_dtype),
            nu_max=_tree.zeros_like(params, dtype=nu_dtype),
        )

    def update_fn(updates, state, params=None):
        del params
        mu = _tree.update_moment(updates, state.mu, b1, 1)
        nu = _tree.update_moment_per_elem_norm(widen(updates, nu_dtype), state.nu, b2, 2)
        count_inc = _tree.safe_increment(state.count)
        mu_hat = _tree.bias_correction(mu, b1, count_inc) if bias_correction_mu else mu
        nu_eff = _tree.bias_correction(nu, b2, count_inc) if bias_correction_nu else nu
        nu_max = _tree.map(_ops.maximum, state.nu_max, nu_eff)
        updates = _tree.map(
            lambda m, v: None if m is None else m / (_ops.sqrt(v + eps_root) + eps),
            mu_hat,
            nu_max,
            is_leaf=_tree.is_none,
        )
        mu = _tree.cast(mu, mu_dtype)
        nu, nu_max = _tree.cast(nu, nu_dtype), _tree.cast(nu_max, nu_dtype)
        return updates, ScaleByAmsgradState(count=count_inc, mu=mu, nu=nu, nu_max=nu_max)

    return GradientTransformation(init_fn, update_fn)


def amsgrad(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    *,
    nu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """AMSGrad: ``scale_by_amsgrad`` followed by ``-learning_rate``.

    ``nu_dtype`` (not in optax): dtype of ``nu`` and ``nu_max``; None: the parameters'.
    """
    _validate.learning_rate("amsgrad", learning_rate)
    check_betas_eps("amsgrad", b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    _validate.float_dtype("amsgrad", "mu_dtype", mu_dtype)
    _validate.float_dtype("amsgrad", "nu_dtype", nu_dtype)
    return chain(
        scale_by_amsgrad(
            b1,
            b2,
            eps,
            eps_root,
            mu_dtype,
            bias_correction_mu,
            bias_correction_nu,
            nu_dtype=nu_dtype,
        ),
        scale_by_learning_rate(learning_rate),
    )
