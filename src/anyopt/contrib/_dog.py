r"""DoG (Ivgi et al., 2023) and DoWG (Khaled et al., 2023): parameter-free step sizes.

DoG, distance over gradients:

.. math::
    \bar r_t = \max(\bar r_{t-1}, \|x_t - x_0\|), \quad G_t = G_{t-1} + \|g_t\|^2, \quad
    \eta_t = \bar r_t / \sqrt{G_t + \epsilon},

with :math:`\bar r_0 = r_\epsilon` set by ``init_step``. DoWG, distance over weighted
gradients:

.. math::
    \bar r_t^2 = \max(\bar r_{t-1}^2, \|x_t - x_0\|^2), \quad
    v_t = v_{t-1} + \bar r_t^2 \|g_t\|^2, \quad \eta_t = \bar r_t^2 / (\sqrt{v_t} + \epsilon).

Both update :math:`x_{t+1} = x_t - \eta_t g_t` (norms over the whole tree).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformation, ScalarOrSchedule, identity
from anyopt._combine import chain
from anyopt.contrib._scalar_state import copy, lowest_dtype, scalar
from anyopt.transforms._adding import add_decayed_weights
from anyopt.transforms._scaling import scale_by_learning_rate

_INIT_STEPS = ("distance", "learning_rate", "heuristic")


class DoGState(NamedTuple):
    """State of DoG."""

    is_init_step: Any  # shape=(), dtype=bool: True until the first update
    init_params: Any  # x_0
    max_dist: Any  # shape=(): the largest distance from x_0 so far (r_eps at first)
    sum_sq_norm_grads: Any  # shape=(): the sum of squared gradient norms


def _cast_like(value, like):
    return _ops.astype(value, _ops.dtype(like))


def scale_by_dog(init_step: tuple, eps: float = 1e-8) -> GradientTransformation:
    """Scales updates by DoG's step size (no learning rate); see ``dog``."""
    kind, value = init_step
    _validate.choice("scale_by_dog", "init_step[0]", kind, _INIT_STEPS)
    _validate.non_negative("scale_by_dog", "eps", eps)

    def init_fn(params):
        dtype, leaf = lowest_dtype("scale_by_dog", params)
        if kind == "distance":
            r_eps = value
        elif kind == "heuristic":
            r_eps = value * (1 + _tree.norm(params))
        else:
            r_eps = 0.0
        return DoGState(
            is_init_step=_tree.count_init(params) < 1,
            init_params=copy(params),
            max_dist=scalar(r_eps, dtype, leaf),
            sum_sq_norm_grads=scalar(0.0, dtype, leaf),
        )

    def update_fn(updates, state, params):
        dist = _tree.norm(_tree.sub(state.init_params, params))
        max_dist = _cast_like(_ops.maximum(state.max_dist, dist), state.max_dist)
        sum_sq = state.sum_sq_norm_grads + _tree.norm(updates, squared=True)
        sum_sq = _cast_like(sum_sq, state.sum_sq_norm_grads)
        learning_rate = max_dist / _ops.sqrt(sum_sq + eps)
        if kind == "learning_rate":
            learning_rate = _ops.where(
                state.is_init_step, _ops.like(value, learning_rate), learning_rate
            )
        new_state = DoGState(
            is_init_step=_ops.zeros_like(state.is_init_step),
            init_params=state.init_params,
            max_dist=max_dist,
            sum_sq_norm_grads=sum_sq,
        )
        return _tree.scale(learning_rate, updates), new_state

    return GradientTransformation(init_fn, update_fn)


def _with_decay(weight_decay, mask, tx, learning_rate):
    return chain(
        identity() if weight_decay is None else add_decayed_weights(weight_decay, mask),
        tx,
        scale_by_learning_rate(learning_rate),
    )


def dog(
    learning_rate: ScalarOrSchedule = 1.0,
    init_step: tuple = ("heuristic", 1e-6),
    eps: float = 1e-8,
    weight_decay: Optional[float] = None,
    mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
):
    """DoG: optional weight decay, ``scale_by_dog``, then ``-learning_rate``.

    ``init_step`` is ``(kind, value)``: ``("distance", r)`` sets :math:`r_\\epsilon = r`,
    ``("heuristic", a)`` sets :math:`r_\\epsilon = a (1 + \\|x_0\\|)` (``init`` needs the
    real parameters) and ``("learning_rate", lr)`` makes the first step size ``lr``.

    Example:
        >>> import numpy as np, anyopt
        >>> params = {"w": np.ones(3, np.float32)}
        >>> tx = anyopt.contrib.dog(init_step=("learning_rate", 0.1))
        >>> state = tx.init(params)
        >>> updates, state = tx.update({"w": np.full(3, 0.5, np.float32)}, state, params)
        >>> updates["w"]
        array([-0.05, -0.05, -0.05], dtype=float32)
    """
    _validate.learning_rate("dog", learning_rate)
    _validate.choice("dog", "init_step[0]", init_step[0], _INIT_STEPS)
    _validate.non_negative("dog", "eps", eps)
    return _with_decay(weight_decay, mask, scale_by_dog(init_step, eps), learning_rate)


class DoWGState(NamedTuple):
    """State of DoWG."""

    init_params: Any  # x_0
    weighted_sq_norm_grads: Any  # shape=(): v, the distance-weighted sum of ||g||^2
    estim_sq_dist: Any  # shape=(): the largest squared distance from x_0 so far


def scale_by_dowg(
    init_estim_sq_dist: Optional[float] = None, eps: float = 1e-4
) -> GradientTransformation:
    """Scales updates by DoWG's step size (no learning rate); see ``dowg``."""
    _validate.non_negative("scale_by_dowg", "eps", eps)

    def init_fn(params):
        dtype, leaf = lowest_dtype("scale_by_dowg", params)
        r2 = eps if init_estim_sq_dist is None else init_estim_sq_dist
        return DoWGState(
            init_params=copy(params),
            weighted_sq_norm_grads=scalar(0.0, dtype, leaf),
            estim_sq_dist=scalar(r2, dtype, leaf),
        )

    def update_fn(updates, state, params):
        sq_dist = _tree.norm(_tree.sub(state.init_params, params), squared=True)
        estim = _cast_like(_ops.maximum(state.estim_sq_dist, sq_dist), state.estim_sq_dist)
        weighted = estim * _tree.norm(updates, squared=True) + state.weighted_sq_norm_grads
        weighted = _cast_like(weighted, state.weighted_sq_norm_grads)
        learning_rate = estim / (_ops.sqrt(weighted) + eps)
        new_state = state._replace(estim_sq_dist=estim, weighted_sq_norm_grads=weighted)
        return _tree.scale(learning_rate, updates), new_state

    return GradientTransformation(init_fn, update_fn)


def dowg(
    learning_rate: ScalarOrSchedule = 1.0,
    init_estim_sq_dist: Optional[float] = None,
    eps: float = 1e-4,
    weight_decay: Optional[float] = None,
    mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
):
    """DoWG: optional weight decay, ``scale_by_dowg``, then ``-learning_rate``.

    ``init_estim_sq_dist`` is the initial guess of the squared distance to the solution
    (``eps`` when None).
    """
    _validate.learning_rate("dowg", learning_rate)
    _validate.non_negative("dowg", "eps", eps)
    return _with_decay(weight_decay, mask, scale_by_dowg(init_estim_sq_dist, eps), learning_rate)
