r"""Adan (Xie et al., 2022): Adaptive Nesterov momentum over gradients and their differences.

Algorithm 1 of the paper as optax 0.2.8 computes it, with
:math:`\Delta_k = g_k - g_{k-1}` (zero at the first step) and :math:`c = 1 - \beta_2`:

.. math::
    m_k = \beta_1 m_{k-1} + (1 - \beta_1) g_k, \quad
    v_k = \beta_2 v_{k-1} + (1 - \beta_2) \Delta_k,

    n_k = \beta_3 n_{k-1} + (1 - \beta_3) (g_k + c \Delta_k)^2, \quad
    u_k = \frac{\hat m_k + c \hat v_k}{\sqrt{\hat n_k + \epsilon_{root}} + \epsilon}.

Betas are optax's (and the authors' code's): the weight on the *old* value, one minus
the paper's. Hats are Adam's bias corrections (from the authors' code; Algorithm 1 has none);
``adan`` adds decoupled weight decay.

Deviation from the paper (kept for optax parity): the paper's coefficient of the gradient
difference is :math:`1 - \beta_2^{paper}`, i.e. :math:`c = \beta_2` here (0.92), and the
authors' code agrees; optax 0.2.8 uses :math:`c = 1 - \beta_2` (0.08). See
https://github.com/google-deepmind/optax/pull/1715.
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


class ScaleByAdanState(NamedTuple):
    """State of Adan (optax's field names; ``t`` is the int32 step count)."""

    m: Updates  # EMA of gradients
    v: Updates  # EMA of gradient differences
    n: Updates  # EMA of squared corrected gradients
    g: Updates  # the previous gradient
    t: Any  # shape=(), dtype=int32


def scale_by_adan(
    b1: float = 0.98,
    b2: float = 0.92,
    b3: float = 0.99,
    eps: float = 1e-8,
    eps_root: float = 0.0,
) -> GradientTransformation:
    """Rescales updates by Adan's moments (no learning rate, no weight decay)."""
    check_betas_eps("scale_by_adan", b1=b1, b2=b2, b3=b3, eps=eps, eps_root=eps_root)

    def init_fn(params):
        return ScaleByAdanState(
            m=_tree.zeros_like(params),
            v=_tree.zeros_like(params),
            n=_tree.zeros_like(params),
            g=_tree.zeros_like(params),
            t=_tree.count_init(params),
        )

    def update_fn(updates, state, params=None):
        del params
        g = updates
        first = state.t < 1  # t == 0; `==` is avoided: the fused-step tracer cannot record it
        diff = _tree.where(first, _tree.zeros_like(g), _tree.sub(g, state.g))
        m = _tree.update_moment(g, state.m, b1, 1)
        v = _tree.update_moment(diff, state.v, b2, 1)
        n = _tree.update_moment_per_elem_norm(_tree.add_scale(g, 1 - b2, diff), state.n, b3, 2)
        t = _tree.safe_increment(state.t)
        m_hat = _tree.bias_correction(m, b1, t)
        v_hat = _tree.bias_correction(v, b2, t)
        n_hat = _tree.bias_correction(n, b3, t)
        updates = _tree.map(
            lambda mh, vh, nh: (mh + (1 - b2) * vh) / (_ops.sqrt(nh + eps_root) + eps),
            m_hat,
            v_hat,
            n_hat,
        )
        return updates, ScaleByAdanState(m=m, v=v, n=n, g=g, t=t)

    return GradientTransformation(init_fn, update_fn)


def adan(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.98,
    b2: float = 0.92,
    b3: float = 0.99,
    eps: float = 1e-8,
    eps_root: float = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
) -> GradientTransformation:
    """Adan: ``scale_by_adan``, decoupled weight decay, then ``-learning_rate``."""
    _validate.learning_rate("adan", learning_rate)
    check_betas_eps("adan", b1=b1, b2=b2, b3=b3, eps=eps, eps_root=eps_root)
    return chain(
        scale_by_adan(b1=b1, b2=b2, b3=b3, eps=eps, eps_root=eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
