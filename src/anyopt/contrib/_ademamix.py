r"""AdEMAMix (Pagliardini et al., 2024) and its simplified form (Morwani et al., 2025).

AdEMAMix mixes a fast and a slow EMA of the gradients:

.. math::
    m_1 \leftarrow \beta_1 m_1 + (1 - \beta_1) g, \quad
    m_2 \leftarrow \beta_3 m_2 + (1 - \beta_3) g, \quad
    \nu \leftarrow \beta_2 \nu + (1 - \beta_2) g^2,

    u = \frac{m_1 / (1 - \beta_1^t) + \alpha m_2}{\sqrt{\nu / (1 - \beta_2^t) + \bar\epsilon}
        + \epsilon}

(the slow EMA is not bias corrected; ``b3`` and ``alpha`` may be schedules).
Simplified AdEMAMix keeps one undamped momentum and adds the current gradient:

.. math::
    m \leftarrow \beta_1 m + g, \quad n \leftarrow \beta_2 n + (1 - \beta_2) g^2, \quad
    u = \frac{m + \alpha g}{\sqrt{n / (1 - \beta_2^t) + \bar\epsilon} + \epsilon}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformation, ScalarOrSchedule, Updates
from anyopt._combine import chain
from anyopt.algorithms._common import check_betas_eps, widen
from anyopt.transforms._adding import add_decayed_weights
from anyopt.transforms._scaling import scale_by_learning_rate


class ScaleByAdemamixState(NamedTuple):
    """State of AdEMAMix."""

    count: Any  # shape=(), dtype=int32: steps of the fast EMA and the second moment
    count_m2: Any  # shape=(), dtype=int32: steps of the slow EMA (schedules of b3, alpha)
    m1: Updates  # fast EMA of the gradients, dtype mu_dtype or the parameters'
    m2: Updates  # slow EMA of the gradients, dtype mu_dtype or the parameters'
    # EMA of the squared gradients, dtype nu_dtype or the parameters' (mu_dtype if nu_dtype
    # is None, as in optax)
    nu: Updates


def _value(v, count):
    return v(count) if callable(v) else v


def _check(fn: str, b1, b2, b3, eps, eps_root) -> None:
    check_betas_eps(fn, b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    if not callable(b3):
        _validate.unit_interval(fn, "b3", b3)


def scale_by_ademamix(
    b1: float = 0.9,
    b2: float = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 6.0,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    nu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """Rescales updates by AdEMAMix's two EMAs and second moment (no learning rate).

    ``nu_dtype`` (not in optax): the second moment's dtype; None: ``mu_dtype``, as in optax.
    """
    _check("scale_by_ademamix", b1, b2, b3, eps, eps_root)
    _validate.float_dtype("scale_by_ademamix", "mu_dtype", mu_dtype)
    _validate.float_dtype("scale_by_ademamix", "nu_dtype", nu_dtype)
    nu_init_dtype = mu_dtype if nu_dtype is None else nu_dtype

    def init_fn(params):
        return ScaleByAdemamixState(
            count=_tree.count_init(params),
            count_m2=_tree.count_init(params),
            m1=_tree.zeros_like(params, dtype=mu_dtype),
            m2=_tree.zeros_like(params, dtype=mu_dtype),
            nu=_tree.zeros_like(params, dtype=nu_init_dtype),
        )

    def update_fn(updates, state, params=None):
        del params
        b3_t, alpha_t = _value(b3, state.count_m2), _value(alpha, state.count_m2)
        m1 = _tree.update_moment(updates, state.m1, b1, 1)
        m2 = _tree.update_moment(updates, state.m2, b3_t, 1)
        nu = _tree.update_moment_per_elem_norm(widen(updates, nu_dtype), state.nu, b2, 2)
        count_inc = _tree.safe_increment(state.count)
        m1_hat = _tree.bias_correction(m1, b1, count_inc)
        nu_hat = _tree.bias_correction(nu, b2, count_inc)

        def direction(a, b, v, g):
            if g is None:
                return None
            u = (a + _ops.like(alpha_t, b) * b) / (_ops.sqrt(v + eps_root) + eps)
            return _ops.astype(u, _ops.dtype(g))

        new_updates = _tree.map(direction, m1_hat, m2, nu_hat, updates, is_leaf=_tree.is_none)
        return new_updates, ScaleByAdemamixState(
            count=count_inc,
            count_m2=_tree.safe_increment(state.count_m2),
            m1=_tree.cast_like(m1, state.m1),
            m2=_tree.cast_like(m2, state.m2),
            nu=_tree.cast_like(nu, state.nu),
        )

    return GradientTransformation(init_fn, update_fn)


def ademamix(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 5.0,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    weight_decay: float = 0.0,
    mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
    *,
    nu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """AdEMAMix with decoupled weight decay: ``u = -lr * (ademamix(g) + wd * p)``.

    ``nu_dtype`` (not in optax): the second moment's dtype; None: ``mu_dtype``, as in optax.

    Example:
        >>> import numpy as np, anyopt
        >>> params = {"w": np.ones(3, np.float32)}
        >>> tx = anyopt.contrib.ademamix(1e-2)
        >>> state = tx.init(params)
        >>> updates, state = tx.update({"w": np.full(3, 0.5, np.float32)}, state, params)
        >>> np.round(updates["w"], 6)
        array([-0.010005, -0.010005, -0.010005], dtype=float32)
    """
    _validate.learning_rate("ademamix", learning_rate)
    _check("ademamix", b1, b2, b3, eps, eps_root)
    _validate.float_dtype("ademamix", "mu_dtype", mu_dtype)
    _validate.float_dtype("ademamix", "nu_dtype", nu_dtype)
    return chain(
        scale_by_ademamix(b1, b2, b3, alpha, eps, eps_root, mu_dtype, nu_dtype=nu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


class ScaleBySimplifiedAdEMAMixState(NamedTuple):
    """State of simplified AdEMAMix."""

    t: Any  # shape=(), dtype=int32: the step count
    m: Updates  # undamped momentum: m = b1 * m + g
    n: Updates  # EMA of the squared gradients


def scale_by_simplified_ademamix(
    b1: float = 0.99,
    b2: float = 0.95,
    alpha: ScalarOrSchedule = 0.0,
    eps: float = 1e-8,
    eps_root: float = 0.0,
) -> GradientTransformation:
    """Rescales updates by simplified AdEMAMix (no learning rate)."""
    check_betas_eps("scale_by_simplified_ademamix", b1=b1, b2=b2, eps=eps, eps_root=eps_root)

    def init_fn(params):
        return ScaleBySimplifiedAdEMAMixState(
            t=_tree.count_init(params),
            m=_tree.zeros_like(params),
            n=_tree.zeros_like(params),
        )

    def update_fn(updates, state, params=None):
        del params
        alpha_t = _value(alpha, state.t)
        m = _tree.add_scale(updates, b1, state.m)
        # n = g^2 + b2 (n - g^2): optax's lerp, same rounding
        n = _tree.map(
            lambda g, v: None if g is None else g * g + _ops.like(b2, v) * (v - g * g),
            updates,
            state.n,
            is_leaf=_tree.is_none,
        )
        t = _tree.safe_increment(state.t)
        n_hat = _tree.bias_correction(n, b2, t)
        new_updates = _tree.map(
            lambda g, m_, v: (
                None
                if g is None
                else (m_ + _ops.like(alpha_t, g) * g) / (_ops.sqrt(v + eps_root) + eps)
            ),
            updates,
            m,
            n_hat,
            is_leaf=_tree.is_none,
        )
        return new_updates, ScaleBySimplifiedAdEMAMixState(t=t, m=m, n=n)

    return GradientTransformation(init_fn, update_fn)


def simplified_ademamix(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.99,
    b2: float = 0.95,
    alpha: ScalarOrSchedule = 0.0,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
) -> GradientTransformation:
    """Simplified AdEMAMix with decoupled weight decay and ``-learning_rate``."""
    _validate.learning_rate("simplified_ademamix", learning_rate)
    check_betas_eps("simplified_ademamix", b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    return chain(
        scale_by_simplified_ademamix(b1, b2, alpha, eps, eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
