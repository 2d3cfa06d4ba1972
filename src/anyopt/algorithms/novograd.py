r"""NovoGrad (Ginsburg et al., 2019): Adam-like steps with one second moment per layer.

For each leaf (layer) :math:`l`, with the gradient's squared norm
:math:`s_k = \|g^l_k\|^2`:

.. math::
    v_1 = s_1, \quad v_k = \beta_2 v_{k-1} + (1 - \beta_2) s_k,

    m_1 = \frac{g_1}{\sqrt{v_1 + \epsilon_{root}} + \epsilon} + \lambda w_1, \quad
    m_k = \beta_1 m_{k-1} + \frac{g_k}{\sqrt{v_k + \epsilon_{root}} + \epsilon} + \lambda w_k,

and the update is :math:`m_k` (``novograd`` scales it by ``-learning_rate``). The
second moment ``nu`` is a 0-d array per leaf. As the paper (and optax), the first
moment is not damped by :math:`1 - \beta_1`; unlike the paper (as optax), :math:`\epsilon`
is added outside the square root.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

from anyopt import _ops, _tree, _validate
from anyopt._base import NO_PARAMS_MSG, GradientTransformation, ScalarOrSchedule, Updates
from anyopt._combine import chain
from anyopt.algorithms._common import check_betas_eps
from anyopt.transforms._scaling import scale_by_learning_rate


class ScaleByNovogradState(NamedTuple):
    """State of NovoGrad."""

    count: Any  # shape=(), dtype=int32
    mu: Updates  # first moment, dtype mu_dtype or the parameters'
    nu: Updates  # one 0-d second moment per leaf, the parameters' dtype


def _check(fn: str, b1, b2, eps, eps_root, weight_decay) -> None:
    check_betas_eps(fn, b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    if not callable(weight_decay):
        _validate.non_negative(fn, "weight_decay", weight_decay)


def scale_by_novograd(
    b1: float = 0.9,
    b2: float = 0.25,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    mu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """NovoGrad's update direction (no learning rate); needs ``params`` for the decay."""
    _check("scale_by_novograd", b1, b2, eps, eps_root, weight_decay)
    _validate.float_dtype("scale_by_novograd", "mu_dtype", mu_dtype)

    def init_fn(params):
        return ScaleByNovogradState(
            count=_tree.count_init(params),
            mu=_tree.zeros_like(params, dtype=mu_dtype),
            nu=_tree.map(lambda p: _ops.zeros((), _ops.dtype(p), like=p), params),
        )

    def squared_norm(g):
        return _ops.sqrt(_ops.sum(_ops.abs_sq(g))) ** 2  # optax squares jnp.linalg.norm

    def update_fn(updates, state, params):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        count_inc = _tree.safe_increment(state.count)
        first = state.count < 1  # count == 0; `==` is avoided: the fused tracer cannot record it

        def new_nu(g, n):
            s = _ops.astype(squared_norm(g), _ops.dtype(n))
            return _ops.where(first, s, b2 * n + (1 - b2) * s)

        nu = _tree.map(new_nu, updates, state.nu)

        def new_mu(g, p, n, m):
            step = g / (_ops.sqrt(n + eps_root) + eps) + _ops.like(weight_decay, p) * p
            return _ops.where(first, step, b1 * m + step)

        mu = _tree.map(new_mu, updates, params, nu, state.mu)
        mu = _tree.cast(mu, mu_dtype)
        return mu, ScaleByNovogradState(count=count_inc, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


def novograd(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.25,
    eps: float = 1e-6,
    eps_root: float = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """NovoGrad: ``scale_by_novograd`` followed by ``-learning_rate``."""
    _validate.learning_rate("novograd", learning_rate)
    _check("novograd", b1, b2, eps, eps_root, weight_decay)
    return chain(
        scale_by_novograd(b1=b1, b2=b2, eps=eps, eps_root=eps_root, weight_decay=weight_decay),
        scale_by_learning_rate(learning_rate),
    )
