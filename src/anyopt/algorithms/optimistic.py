r"""Optimistic gradient descent (Mokhtari et al., 2019) and Optimistic Adam
(Daskalakis et al., 2017), for min-max games where plain gradient steps cycle.

.. math::
    u_k = (\alpha + \beta)\, g_k - \beta\, g_{k-1}, \qquad g_0 := g_1

(the first step has no previous gradient and uses the current one, as optax does).
Optimistic Adam feeds Adam's direction :math:`r_k = \hat m_k / (\sqrt{\hat v_k} + \epsilon)`
through the same rule in place of :math:`g_k`.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple, Optional

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformation, ScalarOrSchedule, Updates
from anyopt._combine import chain
from anyopt.algorithms._common import check_betas_eps
from anyopt.algorithms.adam import scale_by_adam
from anyopt.transforms._scaling import scale_by_learning_rate


class ScaleByOptimisticGradientState(NamedTuple):
    """Whether no step was taken yet (0-d bool) and the last incoming gradient."""

    is_initial_step: Any  # shape=(), dtype=bool
    previous_gradient: Updates


def _check_alpha_beta(fn: str, alpha: Any, beta: Any) -> None:
    _validate.non_negative(fn, "alpha", alpha)
    _validate.non_negative(fn, "beta", beta)


def scale_by_optimistic_gradient(alpha: Any = 1.0, beta: Any = 1.0) -> GradientTransformation:
    """``(alpha + beta) * g_k - beta * g_{k-1}`` (no learning rate)."""
    _check_alpha_beta("scale_by_optimistic_gradient", alpha, beta)

    def init_fn(params):
        return ScaleByOptimisticGradientState(
            is_initial_step=_tree.count_init(params) == 0,
            previous_gradient=_tree.zeros_like(params),
        )

    def update_fn(updates, state, params=None):
        del params
        first = state.is_initial_step

        def f(g, prev):
            prev = _ops.where(first, g, prev)
            a, b = _ops.like(alpha, g), _ops.like(beta, g)
            return (a + b) * g - b * prev

        new_updates = _tree.map(f, updates, state.previous_gradient)
        new_state = ScaleByOptimisticGradientState(
            is_initial_step=_ops.zeros_like(first), previous_gradient=updates
        )
        return new_updates, new_state

    return GradientTransformation(init_fn, update_fn)


def optimistic_gradient_descent(
    learning_rate: ScalarOrSchedule,
    alpha: ScalarOrSchedule = 1.0,
    beta: ScalarOrSchedule = 1.0,
) -> GradientTransformation:
    """Optimistic GD: ``scale_by_optimistic_gradient`` followed by ``-learning_rate``.

    Example:
        >>> import numpy as np, anyopt
        >>> tx = anyopt.optimistic_gradient_descent(0.1)
        >>> params = np.array([1.0, 2.0], np.float32)
        >>> state = tx.init(params)
        >>> updates, state = tx.update(params, state)
        >>> anyopt.apply_updates(params, updates)
        array([0.9, 1.8], dtype=float32)
    """
    _validate.learning_rate("optimistic_gradient_descent", learning_rate)
    _check_alpha_beta("optimistic_gradient_descent", alpha, beta)
    return chain(
        scale_by_optimistic_gradient(alpha=alpha, beta=beta),
        scale_by_learning_rate(learning_rate),
    )


def optimistic_adam_v2(
    learning_rate: ScalarOrSchedule,
    *,
    alpha: Any = 1.0,
    beta: Any = 1.0,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-08,
    eps_root: Any = 0.0,
    mu_dtype: Optional[Any] = None,
    nesterov: bool = True,
    nu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """Optimistic Adam: Adam's direction through the optimistic rule, then ``-lr``.

    ``nu_dtype`` (not in optax): Adam's second moment's dtype; None: the parameters'.
    """
    name = "optimistic_adam_v2"
    _validate.learning_rate(name, learning_rate)
    _check_alpha_beta(name, alpha, beta)
    check_betas_eps(name, b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    _validate.float_dtype(name, "mu_dtype", mu_dtype)
    _validate.float_dtype(name, "nu_dtype", nu_dtype)
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, nu_dtype=nu_dtype),
        scale_by_optimistic_gradient(alpha=alpha, beta=beta),
        scale_by_learning_rate(learning_rate),
    )


def optimistic_adam(
    learning_rate: Any,
    optimism: Optional[Any] = None,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-08,
    eps_root: Any = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = True,
) -> GradientTransformation:
    """Deprecated (as in optax): use ``optimistic_adam_v2``.

    ``-(learning_rate * r_k + optimism * (r_k - r_{k-1}))`` with Adam's direction
    ``r_k``; ``optimism`` defaults to ``learning_rate``. Schedules are not accepted.
    """
    warnings.warn(
        "`optimistic_adam` is deprecated, please use `optimistic_adam_v2` instead.",
        category=DeprecationWarning,
        stacklevel=2,
    )
    if callable(learning_rate):
        raise ValueError(
            "optimistic_adam: this version does not accept learning rate schedules; "
            "optimistic_adam_v2 does"
        )
    name = "optimistic_adam"
    _validate.learning_rate(name, learning_rate)
    check_betas_eps(name, b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    _validate.float_dtype(name, "mu_dtype", mu_dtype)
    if optimism is None:
        optimism = learning_rate
    _validate.non_negative(name, "optimism", optimism)
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
        scale_by_optimistic_gradient(alpha=learning_rate, beta=optimism),
        scale_by_learning_rate(1.0),
    )
