r"""ADOPT (Taniguchi et al., 2024): Adam that normalises by the *previous* second moment.

.. math::
    v_0 = g_0^2, \quad
    \tilde g_t = \mathrm{clip}\big(g_t / \max(\sqrt{v_{t-1}}, \epsilon), -c_t, c_t\big),

    m_t = \beta_1 m_{t-1} + (1 - \beta_1) \tilde g_t, \quad
    v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \quad u_t = m_t

with :math:`c_t = t^{1/4}` by default (``clip_value_fn``), :math:`t` counting from 0, and
the first step only initialising :math:`v` (its update is 0). With ``nesterov`` the
update is :math:`\beta_1 m_t + (1 - \beta_1) \tilde g_t`. Complex parameters need
``use_clipping=False`` (:math:`g^2` is then :math:`|g|^2`); with clipping they raise
``ValueError``, as optax fails on them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformation, GradientTransformationExtraArgs, ScalarOrSchedule
from anyopt._combine import chain
from anyopt.algorithms._common import check_betas_eps, widen
from anyopt.algorithms.adam import ScaleByAdamState
from anyopt.transforms._scaling import scale_by_learning_rate


def _check(fn: str, b1, b2, eps, mu_dtype, nu_dtype) -> None:
    check_betas_eps(fn, b1=b1, b2=b2, eps=eps)
    _validate.float_dtype(fn, "mu_dtype", mu_dtype)
    _validate.float_dtype(fn, "nu_dtype", nu_dtype)


_NO_CLIP_HINT = "; use_clipping=False supports them"


def scale_by_adopt(
    b1: float = 0.9,
    b2: float = 0.9999,
    eps: float = 1e-6,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[Any], Any] = lambda x: x**0.25,
    nu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """Rescales updates by ADOPT's moments (no learning rate); state is ``ScaleByAdamState``.

    ``nu_dtype`` (not in optax): the second moment's dtype; None: the parameters'.
    """
    _check("scale_by_adopt", b1, b2, eps, mu_dtype, nu_dtype)

    def init_fn(params):
        if use_clipping:  # complex values have no order to clip by (optax fails too)
            _validate.real_leaves("scale_by_adopt", params, hint=_NO_CLIP_HINT)
        return ScaleByAdamState(
            count=_tree.count_init(params),
            mu=_tree.zeros_like(params, dtype=mu_dtype),
            nu=_tree.zeros_like(params, dtype=nu_dtype),
        )

    def update_fn(updates, state, params=None):
        del params
        started = state.count > 0
        b1_ = _ops.where(started, b1, 1.0)  # the first step leaves mu at 0
        b2_ = _ops.where(started, b2, 0.0)  # ... and sets nu to g**2
        nu = _tree.update_moment_per_elem_norm(widen(updates, nu_dtype), state.nu, b2_, 2)
        clip_value = clip_value_fn(state.count) if use_clipping else None

        def normalise(g, v):
            if g is None:
                return None
            # On the first step v = 0 and the result is multiplied by 0: divide by 1, not eps,
            # so that it cannot overflow (float16) into 0 * inf.
            out = g / _ops.where(started, _ops.maximum(_ops.sqrt(v), eps), 1.0)
            if clip_value is None:
                return out
            c = _ops.like(clip_value, out)
            return _ops.clip(out, -c, c)

        mu_updates = _tree.map(normalise, updates, state.nu, is_leaf=_tree.is_none)
        mu = _tree.update_moment(mu_updates, state.mu, b1_, 1)
        out = _tree.update_moment(mu_updates, mu, b1_, 1) if nesterov else mu
        out = _tree.cast_like(out, updates)
        if nu_dtype is None:
            mu = _tree.cast(mu, mu_dtype)
        else:  # g / sqrt(nu) may come out wider than mu's dtype
            mu = _tree.cast_like(mu, state.mu)
        nu = _tree.cast_like(nu, state.nu)
        return out, ScaleByAdamState(count=_tree.safe_increment(state.count), mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


def adopt(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.9999,
    eps: float = 1e-6,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[Any], Any] = lambda x: x**0.25,
    nu_dtype: Optional[Any] = None,
) -> GradientTransformationExtraArgs:
    """ADOPT: ``scale_by_adopt`` followed by ``-learning_rate``.

    ``nu_dtype`` (not in optax): the second moment's dtype; None: the parameters'.

    Example:
        >>> import numpy as np, anyopt
        >>> params = {"w": np.ones(3, np.float32)}
        >>> tx = anyopt.contrib.adopt(1e-2)
        >>> state = tx.init(params)
        >>> updates, state = tx.update({"w": np.full(3, 0.5, np.float32)}, state)
        >>> updates["w"]  # the first step only initialises the second moment
        array([-0., -0., -0.], dtype=float32)
    """
    _validate.learning_rate("adopt", learning_rate)
    _check("adopt", b1, b2, eps, mu_dtype, nu_dtype)
    return chain(
        scale_by_adopt(
            b1,
            b2,
            eps,
            mu_dtype,
            nesterov=nesterov,
            use_clipping=use_clipping,
            clip_value_fn=clip_value_fn,
            nu_dtype=nu_dtype,
        ),
        scale_by_learning_rate(learning_rate),
    )
