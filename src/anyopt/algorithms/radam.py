r"""RAdam (Liu et al., 2020): Adam with its adaptive step on once its variance is tractable.

.. math::
    \rho_\infty = \frac{2}{1 - \beta_2} - 1, \quad
    \rho_k = \rho_\infty - \frac{2 k \beta_2^k}{1 - \beta_2^k}, \quad
    r_k = \sqrt{\frac{(\rho_k - 4)(\rho_k - 2)\rho_\infty}
                     {(\rho_\infty - 4)(\rho_\infty - 2)\rho_k}},

    u_k = r_k \hat m_k / (\sqrt{\hat v_k + \epsilon_{root}} + \epsilon)
    \text{ if } \rho_k \geq \text{threshold, else } \hat m_k.

The paper's threshold is 4; optax's default (5) is kept. :math:`\rho_k` and :math:`r_k`
are computed in float32 (float64 for float64 leaves), like the bias corrections.
``nesterov=True`` uses NAdam's first moment.
"""

from __future__ import annotations

from anyopt import _ops, _tree, _validate, backends
from anyopt._base import GradientTransformation, ScalarOrSchedule
from anyopt._combine import chain
from anyopt.algorithms._common import check_betas_eps, nesterov_mu_hat
from anyopt.algorithms.adam import ScaleByAdamState
from anyopt.transforms._scaling import scale_by_learning_rate


def scale_by_radam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    threshold: float = 5.0,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """Rescales updates by RAdam's rectified moments (no learning rate); state as Adam's."""
    check_betas_eps("scale_by_radam", b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    ro_inf = 2.0 / (1.0 - b2) - 1.0

    def rectification(count, leaf):
        """``(ro_k >= threshold, r_k)`` with ``r_k`` in the leaf's dtype."""
        wide = backends.dtype_name(_ops.dtype(leaf)) in ("float64", "complex128")
        k = _ops.astype(count, "float64" if wide else "float32")
        b2k = b2**k
        ro = ro_inf - 2 * k * b2k / (1 - b2k)
        tractable = ro >= threshold
        ratio = (ro - 4) * (ro - 2) * ro_inf / ((ro_inf - 4) * (ro_inf - 2) * ro)
        r = _ops.sqrt(_ops.where(tractable, ratio, 1.0))  # no sqrt of negatives when unused
        return tractable, _ops.astype(r, _ops.dtype(leaf))

    def init_fn(params):
        return ScaleByAdamState(
            count=_tree.count_init(params),
            mu=_tree.zeros_like(params),
            nu=_tree.zeros_like(params),
        )

    def update_fn(updates, state, params=None):
        del params
        mu = _tree.update_moment(updates, state.mu, b1, 1)
        nu = _tree.update_moment_per_elem_norm(updates, state.nu, b2, 2)
        count_inc = _tree.safe_increment(state.count)
        if nesterov:
            mu_hat = nesterov_mu_hat(mu, updates, b1, count_inc)
        else:
            mu_hat = _tree.bias_correction(mu, b1, count_inc)
        nu_hat = _tree.bias_correction(nu, b2, count_inc)

        def direction(m, v):
            tractable, r = rectification(count_inc, m)
            return _ops.where(tractable, r * m / (_ops.sqrt(v + eps_root) + eps), m)

        updates = _tree.map(direction, mu_hat, nu_hat)
        return updates, ScaleByAdamState(count=count_inc, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


def radam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    threshold: float = 5.0,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """RAdam: ``scale_by_radam`` followed by ``-learning_rate``."""
    _validate.learning_rate("radam", learning_rate)
    check_betas_eps("radam", b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    return chain(
        scale_by_radam(b1, b2, eps, eps_root, threshold, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )
