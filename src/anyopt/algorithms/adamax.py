r"""AdaMax (Kingma & Ba, 2014, section 7.1): Adam with an infinity-norm second moment.

.. math::
    m_k = \beta_1 m_{k-1} + (1 - \beta_1) g_k, \quad
    u_k = \max(\beta_2 u_{k-1}, |g_k| + \epsilon), \quad
    \Delta_k = \frac{m_k}{(1 - \beta_1^k)\, u_k}.

Deviation from the paper (as optax): :math:`\epsilon` is added inside the maximum, so
the denominator is never zero. ``adamaxw`` adds decoupled weight decay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional, Union

from anyopt import _tree, _validate
from anyopt._base import GradientTransformation, ScalarOrSchedule
from anyopt._combine import chain
from anyopt.algorithms._common import check_betas_eps
from anyopt.algorithms.adam import ScaleByAdamState
from anyopt.transforms._adding import add_decayed_weights
from anyopt.transforms._scaling import scale_by_learning_rate


def scale_by_adamax(
    b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> GradientTransformation:
    """Rescales updates by AdaMax's moments (no learning rate); state as Adam's."""
    check_betas_eps("scale_by_adamax", b1=b1, b2=b2, eps=eps)

    def init_fn(params):
        return ScaleByAdamState(
            count=_tree.count_init(params),
            mu=_tree.zeros_like(params),
            nu=_tree.zeros_like(params),
        )

    def update_fn(updates, state, params=None):
        del params
        count_inc = _tree.safe_increment(state.count)
        mu = _tree.update_moment(updates, state.mu, b1, 1)
        nu = _tree.update_infinity_moment(updates, state.nu, b2, eps)
        mu_hat = _tree.bias_correction(mu, b1, count_inc)
        updates = _tree.map(lambda m, u: m / u, mu_hat, nu)
        return updates, ScaleByAdamState(count=count_inc, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


def adamax(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
) -> GradientTransformation:
    """AdaMax: ``scale_by_adamax`` followed by ``-learning_rate``."""
    _validate.learning_rate("adamax", learning_rate)
    check_betas_eps("adamax", b1=b1, b2=b2, eps=eps)
    return chain(scale_by_adamax(b1, b2, eps), scale_by_learning_rate(learning_rate))


def adamaxw(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
) -> GradientTransformation:
    """AdaMaxW: ``-lr * (adamax(g) + weight_decay * p)`` (decoupled weight decay)."""
    _validate.learning_rate("adamaxw", learning_rate)
    check_betas_eps("adamaxw", b1=b1, b2=b2, eps=eps)
    return chain(
        scale_by_adamax(b1, b2, eps),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
