r"""Adam (Kingma & Ba, 2014), AdamW (Loshchilov & Hutter, 2019) and their Nesterov forms.

.. math::
    m_k = \beta_1 m_{k-1} + (1 - \beta_1) g_k, \quad
    v_k = \beta_2 v_{k-1} + (1 - \beta_2) g_k^2,

    \hat m_k = m_k / (1 - \beta_1^k), \quad \hat v_k = v_k / (1 - \beta_2^k), \quad
    u_k = \hat m_k / (\sqrt{\hat v_k + \epsilon_{root}} + \epsilon).

NAdam (Dozat, 2016) replaces :math:`\hat m_k` by
:math:`\beta_1 \hat m_{k+1} + (1 - \beta_1) g_k / (1 - \beta_1^k)`.

``nu_dtype`` (an anyopt addition, like optax's ``mu_dtype`` for :math:`v`) keeps the second
moment in another dtype, e.g. float32 for bfloat16 parameters; :math:`g_k^2` is then formed
in that dtype rather than the gradients' (float16 flushes it to 0 below :math:`|g| = 2^{-12}`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformation, ScalarOrSchedule, Updates
from anyopt._combine import chain
from anyopt.algorithms._common import check_betas_eps, nesterov_mu_hat, widen
from anyopt.transforms._adding import add_decayed_weights
from anyopt.transforms._scaling import scale_by_learning_rate


class ScaleByAdamState(NamedTuple):
    """State of Adam."""

    count: Any  # shape=(), dtype=int32
    mu: Updates  # first moment, dtype mu_dtype or the parameters'
    nu: Updates  # second moment, dtype nu_dtype or the parameters'


def scale_by_adam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
    nu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """Rescales updates by Adam's bias-corrected moments (no learning rate).

    ``nu_dtype`` (not in optax): the second moment's dtype; None: the parameters'.
    """
    check_betas_eps("scale_by_adam", b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    _validate.float_dtype("scale_by_adam", "mu_dtype", mu_dtype)
    _validate.float_dtype("scale_by_adam", "nu_dtype", nu_dtype)

    def init_fn(params):
        return ScaleByAdamState(
            count=_tree.count_init(params),
            mu=_tree.zeros_like(params, dtype=mu_dtype),
            nu=_tree.zeros_like(params, dtype=nu_dtype),
        )

    def update_fn(updates, state, params=None):
        del params
        mu = _tree.update_moment(updates, state.mu, b1, 1)
        nu = _tree.update_moment_per_elem_norm(widen(updates, nu_dtype), state.nu, b2, 2)
        count_inc = _tree.safe_increment(state.count)
        if nesterov:
            mu_hat = nesterov_mu_hat(mu, updates, b1, count_inc)
        else:
            mu_hat = _tree.bias_correction(mu, b1, count_inc)
        nu_hat = _tree.bias_correction(nu, b2, count_inc)
        updates = _tree.map(
            lambda m, v: None if m is None else m / (_ops.sqrt(v + eps_root) + eps),
            mu_hat,
            nu_hat,
            is_leaf=_tree.is_none,
        )
        mu = _tree.cast(mu, mu_dtype)
        nu = _tree.cast_like(nu, state.nu)
        return updates, ScaleByAdamState(count=count_inc, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


def adam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
    nu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """Adam: ``scale_by_adam`` followed by ``-learning_rate``.

    ``nu_dtype`` (not in optax): the second moment's dtype; None: the parameters'.

    Example:
        >>> import numpy as np, anyopt
        >>> params = {"w": np.ones(3, np.float32)}
        >>> tx = anyopt.adam(1e-2)
        >>> state = tx.init(params)
        >>> updates, state = tx.update({"w": np.full(3, 0.5, np.float32)}, state)
        >>> anyopt.apply_updates(params, updates)["w"]
        array([0.99, 0.99, 0.99], dtype=float32)
    """
    name = "nadam" if nesterov else "adam"
    _validate.learning_rate(name, learning_rate)
    check_betas_eps(name, b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    _validate.float_dtype(name, "mu_dtype", mu_dtype)
    _validate.float_dtype(name, "nu_dtype", nu_dtype)
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, nu_dtype=nu_dtype),
        scale_by_learning_rate(learning_rate),
    )


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
    *,
    nesterov: bool = False,
    nu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """AdamW: Adam with decoupled weight decay, ``u = -lr * (adam(g) + wd * p)``.

    ``nu_dtype`` (not in optax): the second moment's dtype; None: the parameters'.
    """
    name = "nadamw" if nesterov else "adamw"
    _validate.learning_rate(name, learning_rate)
    check_betas_eps(name, b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    _validate.float_dtype(name, "mu_dtype", mu_dtype)
    _validate.float_dtype(name, "nu_dtype", nu_dtype)
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, nu_dtype=nu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


nadam = functools.partial(adam, nesterov=True)
nadam.__doc__ = "NAdam (Dozat, 2016): ``adam(..., nesterov=True)``."
nadamw = functools.partial(adamw, nesterov=True)
nadamw.__doc__ = "NAdamW: ``adamw(..., nesterov=True)``."
