r"""Mechanic (Cutkosky et al., 2023): learns the scale of a base optimizer's updates.

The base optimizer's updates accumulate into :math:`\Delta` (recomputed from
:math:`x_t = x_0 - (\sum_i s_i) \Delta_t`); for each of ``num_betas`` decays
:math:`\beta_i = 1 - 10^{-i}`, with :math:`\tilde g = g + \lambda (\sum s)
\|g\| / (\|x\| + \epsilon)\, x` and :math:`h = \langle \tilde g, \Delta_{t} \rangle`:

.. math::
    m_i \leftarrow \max(\beta_i m_i, |h| + \epsilon), \quad
    v_i \leftarrow \beta_i^2 v_i + h^2, \quad
    r_i \leftarrow \beta_i r_i + \mathrm{clip}(h, -m_i^{old}, m_i^{old})\, s_i,

    s_i = \frac{(s_{init} / n) m_i + \max(r_i, 0)}{\sqrt{v_i} + \epsilon}, \quad
    x_{t+1} = x_0 - \Big(\sum_i s_i\Big) (\Delta_t - u^{base}_t).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from anyopt import _ops, _tree, _validate
from anyopt._base import (
    NO_PARAMS_MSG,
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    Updates,
    with_extra_args_support,
)
from anyopt.contrib._scalar_state import copy, lowest_dtype, vector


class MechanicState(NamedTuple):
    """State of Mechanic."""

    base_optimizer_state: OptState
    count: Any  # shape=(), dtype=int32
    r: Any  # shape=(num_betas,): the wealth per decay
    m: Any  # shape=(num_betas,): the running max of |h|
    v: Any  # shape=(num_betas,): the running sum of h^2
    s: Any  # shape=(num_betas,): the scales; the learned step is their sum
    x0: Updates  # the parameters at the first update


def mechanize(
    base_optimizer: GradientTransformation,
    weight_decay: float = 1e-2,
    eps: float = 1e-8,
    s_init: float = 1e-6,
    num_betas: int = 6,
) -> GradientTransformationExtraArgs:
    """Wraps ``base_optimizer`` (its learning rate best set to 1.0) to learn its scale.

    Example:
        >>> import numpy as np, anyopt
        >>> params = {"w": np.ones(3, np.float32)}
        >>> tx = anyopt.contrib.mechanize(anyopt.sgd(1.0))
        >>> state = tx.init(params)
        >>> updates, state = tx.update({"w": np.full(3, 0.5, np.float32)}, state, params)
        >>> np.round(updates["w"] * 1e6, 2)  # about -s_init * g (float32 near 1)
        array([-0.48, -0.48, -0.48], dtype=float32)
    """
    _validate.non_negative("mechanize", "weight_decay", weight_decay)
    _validate.non_negative("mechanize", "eps", eps)
    _validate.non_negative("mechanize", "s_init", s_init)
    if not isinstance(num_betas, int) or num_betas < 1:
        raise ValueError(f"mechanize: num_betas must be an int >= 1; got {num_betas!r}")
    base_optimizer = with_extra_args_support(base_optimizer)
    decays = [1.0 - 0.1**i for i in range(1, num_betas + 1)]

    def init_fn(params):
        dtype, leaf = lowest_dtype("mechanize", params)

        def zeros():  # distinct arrays: fast paths update states in place
            return vector([0.0] * num_betas, dtype, leaf)

        return MechanicState(
            base_optimizer_state=base_optimizer.init(params),
            count=_tree.count_init(params),
            r=zeros(),
            m=zeros(),
            v=zeros(),
            s=vector([s_init] * num_betas, dtype, leaf),
            x0=copy(params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        base_updates, base_state = base_optimizer.update(
            updates, state.base_optimizer_state, params, **extra_args
        )
        first = state.count < 1  # restart from the parameters actually used
        x0 = _tree.map(lambda p, x: _ops.where(first, p, x), params, state.x0)
        s_sum = _ops.sum(state.s)
        decay_scale = weight_decay * s_sum * _tree.norm(updates) / (_tree.norm(params) + eps)
        updates = _tree.map(lambda g, p: g + _ops.like(decay_scale, p) * p, updates, params)
        denom = s_sum + eps
        delta_prev = _tree.map(lambda x, x_0: (x_0 - x) / _ops.like(denom, x), params, x0)
        delta = _tree.map(lambda d, u: d - u, delta_prev, base_updates)
        h = _ops.like(_tree.vdot(updates, delta_prev), state.m)
        clipped_h = _ops.minimum(_ops.maximum(h, -state.m), state.m)
        betas = vector(decays, _ops.dtype(state.s), state.s)
        m = _ops.maximum(betas * state.m, _ops.abs(h) + eps)
        v = (betas**2) * state.v + h**2
        r = betas * state.r + clipped_h * state.s
        wealth = (s_init / num_betas) * m + _ops.maximum(r, 0.0)
        s = wealth / (_ops.sqrt(v) + eps)
        step = _ops.sum(s)
        new_updates = _tree.map(
            lambda x_0, d, p: (x_0 - _ops.like(step, d) * d) - p, x0, delta, params
        )
        new_state = MechanicState(
            base_optimizer_state=base_state,
            count=_tree.safe_increment(state.count),
            r=r,
            m=m,
            v=v,
            s=s,
            x0=x0,
        )
        return new_updates, new_state

    return GradientTransformationExtraArgs(init_fn, update_fn)
