r"""Rprop, resilient backpropagation (Riedmiller & Braun, 1993), in the iRprop- form
(Igel & Hüsken, 2003) that optax implements.

Each coordinate has its own step size :math:`\Delta`, adapted from the sign of
:math:`s = g_k \cdot u_{k-1}`, the product of the gradient with the previous update:

.. math::
    \Delta_k = \begin{cases}
        \operatorname{clip}(\eta^+ \Delta_{k-1}, \Delta_{\min}, \Delta_{\max}) & s > 0 \\
        \operatorname{clip}(\eta^- \Delta_{k-1}, \Delta_{\min}, \Delta_{\max}) & s < 0 \\
        \Delta_{k-1} & s = 0 \end{cases}, \qquad
    u_k = \begin{cases} 0 & s < 0 \\ \Delta_k \operatorname{sign}(g_k) & \text{else.}
    \end{cases}

As in optax, the transformation emits :math:`u_{k-1}` (zeroed where :math:`s < 0`), so
the first step is zero; ``rprop`` negates it. Complex parameters raise ``ValueError``
(their products have no sign to compare; optax fails on them too).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformation, Updates
from anyopt._combine import chain
from anyopt.transforms._scaling import scale


class ScaleByRpropState(NamedTuple):
    """State of Rprop: per-coordinate step sizes and the last update."""

    step_sizes: Updates
    prev_updates: Updates


def _check(fn: str, learning_rate, eta_minus, eta_plus, min_step_size, max_step_size) -> None:
    _validate.non_negative(fn, "learning_rate", learning_rate)
    _validate.unit_interval(fn, "eta_minus", eta_minus, closed=True)
    _validate.non_negative(fn, "eta_plus", eta_plus)
    _validate.non_negative(fn, "min_step_size", min_step_size)
    _validate.non_negative(fn, "max_step_size", max_step_size)
    concrete = all(isinstance(v, (int, float)) for v in (min_step_size, max_step_size))
    if concrete and min_step_size > max_step_size:
        raise ValueError(
            f"{fn}: min_step_size must be <= max_step_size; got "
            f"min_step_size={min_step_size!r}, max_step_size={max_step_size!r}"
        )


def scale_by_rprop(
    learning_rate: Any,
    eta_minus: Any = 0.5,
    eta_plus: Any = 1.2,
    min_step_size: Any = 1e-6,
    max_step_size: Any = 50.0,
) -> GradientTransformation:
    """Rprop's sign-based steps (``learning_rate`` is the initial step size)."""
    _check("scale_by_rprop", learning_rate, eta_minus, eta_plus, min_step_size, max_step_size)

    def init_fn(params):
        _validate.real_leaves("scale_by_rprop", params)
        return ScaleByRpropState(
            step_sizes=_tree.full_like(params, learning_rate),
            prev_updates=_tree.zeros_like(params),
        )

    def new_step_size(s, step):
        grown = _ops.clip(step * eta_plus, min_step_size, max_step_size)
        shrunk = _ops.clip(step * eta_minus, min_step_size, max_step_size)
        # |s| <= 0 is s == 0 (NaN included); the fused tracer does not overload ==.
        return _ops.where(_ops.abs(s) <= 0, step, _ops.where(s > 0, grown, shrunk))

    def update_fn(updates, state, params=None):
        del params
        sign = _tree.map(lambda g, prev: g * prev, updates, state.prev_updates)
        step_sizes = _tree.map(new_step_size, sign, state.step_sizes)
        prev_updates = _tree.map(
            lambda s, g, step: _ops.where(s < 0, _ops.zeros_like(g), step * _ops.sign(g)),
            sign,
            updates,
            step_sizes,
        )
        updates = _tree.map(
            lambda s, prev: _ops.where(s < 0, _ops.zeros_like(prev), prev),
            sign,
            state.prev_updates,
        )
        return updates, ScaleByRpropState(step_sizes=step_sizes, prev_updates=prev_updates)

    return GradientTransformation(init_fn, update_fn)


def rprop(
    learning_rate: Any,
    eta_minus: Any = 0.5,
    eta_plus: Any = 1.2,
    min_step_size: Any = 1e-6,
    max_step_size: Any = 50.0,
) -> GradientTransformation:
    """Rprop: ``scale_by_rprop`` followed by a sign flip.

    Example:
        >>> import numpy as np, anyopt
        >>> params = np.array([1.0, -2.0], np.float32)
        >>> tx = anyopt.rprop(0.1)
        >>> state = tx.init(params)
        >>> for _ in range(3):
        ...     updates, state = tx.update(2 * params, state)
        ...     params = anyopt.apply_updates(params, updates)
        >>> params
        array([ 0.78, -1.78], dtype=float32)
    """
    _check("rprop", learning_rate, eta_minus, eta_plus, min_step_size, max_step_size)
    return chain(
        scale_by_rprop(learning_rate, eta_minus, eta_plus, min_step_size, max_step_size),
        scale(-1.0),
    )
