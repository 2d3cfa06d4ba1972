r"""SGD with the stochastic Polyak step size (Loizou et al., 2021; SPS+ from Garrigos
et al., 2023).

.. math::
    \gamma_k = \min\left\{\frac{f(x_k) - f^\star}{\|g_k\|^2 + \epsilon},
        \gamma_{\max}\right\}, \qquad u_k = -s\, \gamma_k\, g_k

(``'sps+'`` replaces the gap by its positive part; :math:`\gamma_k = 0` when
:math:`\|g_k\|^2 + \epsilon` is below float64's machine epsilon). The loss value
:math:`f(x_k)` reaches ``update`` as the keyword argument ``value``.

As in optax, ``polyak_sgd`` computes the step from the update already scaled by
:math:`-s`, so below the cap the step is :math:`\text{gap} / (s \|g_k\|^2)` rather than
the formula's :math:`s\, \text{gap} / \|g_k\|^2` (they agree for the default
:math:`s = 1`).
"""

from __future__ import annotations

from typing import Any, Optional

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformationExtraArgs, ScalarOrSchedule, init_empty_state
from anyopt._combine import chain
from anyopt.algorithms.sgd import sgd

_VARIANTS = ("sps", "sps+")
_FLOAT64_EPS = 2.220446049250313e-16  # optax compares with jnp.finfo(float).eps


def _check(fn: str, max_learning_rate, eps, variant) -> None:
    _validate.non_negative(fn, "max_learning_rate", max_learning_rate)
    _validate.non_negative(fn, "eps", eps)
    _validate.choice(fn, "variant", variant, _VARIANTS)


def scale_by_polyak(
    f_min: Any = 0.0,
    max_learning_rate: Any = 1.0,
    eps: Any = 0.0,
    variant: str = "sps",
) -> GradientTransformationExtraArgs:
    """Scales the updates by Polyak's step size; ``update`` needs ``value=f(x)``."""
    _check("scale_by_polyak", max_learning_rate, eps, variant)

    def update_fn(updates, state, params: Optional[Any] = None, *, value: Any, **extra_args):
        del params, extra_args
        sq_norm = _tree.norm(updates, squared=True)
        gap = _ops.like(value - f_min, sq_norm) + _ops.zeros_like(sq_norm)
        if variant == "sps+":
            gap = _ops.maximum(gap, 0.0)
        denominator = sq_norm + eps
        step = _ops.where(
            denominator <= _FLOAT64_EPS,
            _ops.zeros_like(denominator),
            _ops.minimum(gap / denominator, max_learning_rate),
        )
        return _tree.scale(step, updates), state

    return GradientTransformationExtraArgs(init_empty_state, update_fn)


def polyak_sgd(
    max_learning_rate: Any = 1.0,
    scaling: ScalarOrSchedule = 1.0,
    f_min: Any = 0.0,
    eps: Any = 0.0,
    variant: str = "sps",
) -> GradientTransformationExtraArgs:
    """SGD with Polyak's step size: ``sgd(scaling)`` then ``scale_by_polyak``.

    Example:
        >>> import numpy as np, anyopt
        >>> params = np.array([1.0, 2.0, 3.0], np.float32)
        >>> tx = anyopt.polyak_sgd()
        >>> state = tx.init(params)
        >>> value, grad = float(np.sum(params**2)), 2 * params
        >>> updates, state = tx.update(grad, state, params, value=value)
        >>> anyopt.apply_updates(params, updates)
        array([0.5, 1. , 1.5], dtype=float32)
    """
    _check("polyak_sgd", max_learning_rate, eps, variant)
    return chain(
        sgd(learning_rate=scaling),
        scale_by_polyak(max_learning_rate=max_learning_rate, f_min=f_min, eps=eps, variant=variant),
    )
