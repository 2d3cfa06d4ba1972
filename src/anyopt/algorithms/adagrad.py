r"""AdaGrad (Duchi et al., 2011): divide by the root of the sum of all squared gradients.

.. math::
    G_k = G_{k-1} + |g_k|^2, \quad
    u_k = g_k / \sqrt{G_k + \epsilon} \;\; (0 \text{ where } G_k = 0).

:math:`G_0` is ``initial_accumulator_value`` (0.1, as optax and TensorFlow); the
learning rate is applied by ``adagrad``. Complex gradients accumulate the real
:math:`|g|^2 = \bar g g` (in a state of the parameters' complex dtype, as optax).
"""

from __future__ import annotations

from typing import NamedTuple

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformation, ScalarOrSchedule, Updates
from anyopt._combine import chain
from anyopt.transforms._scaling import scale_by_learning_rate


class ScaleByRssState(NamedTuple):
    """State of AdaGrad: the running sum of squared gradients."""

    sum_of_squares: Updates


def _check(fn: str, initial_accumulator_value, eps) -> None:
    _validate.non_negative(fn, "initial_accumulator_value", initial_accumulator_value)
    _validate.non_negative(fn, "eps", eps)


def scale_by_rss(
    initial_accumulator_value: float = 0.1, eps: float = 1e-7
) -> GradientTransformation:
    """Rescales updates by the root of the sum of their squares to date (no learning rate)."""
    _check("scale_by_rss", initial_accumulator_value, eps)

    def init_fn(params):
        return ScaleByRssState(sum_of_squares=_tree.full_like(params, initial_accumulator_value))

    def update_fn(updates, state, params=None):
        del params
        sum_of_squares = _tree.map(lambda g, s: _ops.abs_sq(g) + s, updates, state.sum_of_squares)
        updates = _tree.map(
            lambda g, s: _ops.where(_ops.real_part(s) > 0, 1 / _ops.sqrt(s + eps), 0.0) * g,
            updates,
            sum_of_squares,
        )
        return updates, ScaleByRssState(sum_of_squares=sum_of_squares)

    return GradientTransformation(init_fn, update_fn)


def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: float = 0.1,
    eps: float = 1e-7,
) -> GradientTransformation:
    """AdaGrad: ``scale_by_rss`` followed by ``-learning_rate``.

    Example:
        >>> import numpy as np, anyopt
        >>> tx = anyopt.adagrad(0.1, initial_accumulator_value=0.0, eps=0.0)
        >>> params = {"w": np.ones(2)}
        >>> updates, _ = tx.update({"w": np.array([2.0, -0.5])}, tx.init(params))
        >>> updates["w"]
        array([-0.1,  0.1])
    """
    _validate.learning_rate("adagrad", learning_rate)
    _check("adagrad", initial_accumulator_value, eps)
    return chain(
        scale_by_rss(initial_accumulator_value, eps),
        scale_by_learning_rate(learning_rate),
    )
