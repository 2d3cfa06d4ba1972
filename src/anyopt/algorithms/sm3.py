r"""SM3 (Anil et al., 2019): memory-efficient adaptive steps from per-axis accumulators.

A leaf of shape :math:`(n_1, \dots, n_d)` keeps one vector :math:`\mu^{(i)}` of length
:math:`n_i` per axis instead of a full second moment (SM3-II with the axis cover):

.. math::
    \nu_k = \beta_2\text{-mix}\big(g_k^2, \min_i \mu^{(i)}_{k-1}\big), \quad
    \mu^{(i)}_k = \max_{\text{axes} \ne i} \nu_k, \quad
    m_k = \beta_1 m_{k-1} + (1 - \beta_1)\, g_k / \sqrt{\nu_k + \epsilon}

where the mix is :math:`g^2 + \mu` for :math:`\beta_2 = 1` (the paper's sum) and
:math:`(1 - \beta_2) g^2 + \beta_2 \mu` otherwise, and :math:`g / \sqrt{\cdot}` is 0 where
:math:`\nu_k = 0`. The update is :math:`m_k`. Vectors keep their full accumulator
(:math:`\mu^{(1)} = \nu`). 0-d leaves have no axis to cover and are rejected (optax
fails on them with an IndexError).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from anyopt import _ops, _tree, _validate, backends
from anyopt._base import GradientTransformation, Updates
from anyopt._combine import chain
from anyopt.transforms._scaling import scale


class ScaleBySM3State(NamedTuple):
    """State of SM3: per leaf, a list of one accumulator vector per axis; the momentum."""

    mu: Updates
    nu: Updates


def _check_leaves(params) -> None:
    _validate.real_leaves("scale_by_sm3", params)
    for path, p in backends.leaves_with_path(params):
        if _ops.ndim(p) == 0:
            raise ValueError(
                f"scale_by_sm3: parameters need at least one axis; {path} is 0-d "
                "(mask it out, e.g. with anyopt.masked)"
            )


def _expanded(v, axis: int, ndim: int):
    """Vector ``v`` shaped to broadcast along ``axis`` of a rank-``ndim`` array."""
    return _ops.reshape(v, [1] * axis + [_ops.shape(v)[0]] + [1] * (ndim - axis - 1))


def _other_axes(axis: int, ndim: int) -> tuple:
    return tuple(a for a in range(ndim) if a != axis)


def scale_by_sm3(b1: Any = 0.9, b2: Any = 1.0, eps: Any = 1e-8) -> GradientTransformation:
    """SM3's adaptive scaling with momentum ``b1`` (no learning rate)."""
    _validate.unit_interval("scale_by_sm3", "b1", b1)
    _validate.unit_interval("scale_by_sm3", "b2", b2, closed=True)
    _validate.non_negative("scale_by_sm3", "eps", eps)
    g_coeff = 1.0 if b2 == 1.0 else 1.0 - b2

    def init_fn(params):
        _check_leaves(params)

        def per_axis(p):
            ndim = _ops.ndim(p)
            return [_ops.zeros((_ops.shape(p)[i],), _ops.dtype(p), like=p) for i in range(ndim)]

        return ScaleBySM3State(mu=_tree.map(per_axis, params), nu=_tree.zeros_like(params))

    def accumulate(g, vs):
        if _ops.ndim(g) < 2:
            covered = vs[0]
        else:
            ndim = _ops.ndim(g)
            covered = functools.reduce(
                _ops.minimum, [_expanded(v, i, ndim) for i, v in enumerate(vs)]
            )
        return g_coeff * (g * g) + b2 * covered

    def new_mu(accum):
        ndim = _ops.ndim(accum)
        if ndim < 2:
            return [accum]
        return [_ops.max(accum, axis=_other_axes(i, ndim)) for i in range(ndim)]

    def scaled(g, a):
        inv = _ops.where(a > 0, 1 / _ops.sqrt(a + eps), _ops.zeros_like(a))
        return g * inv

    def update_fn(updates, state, params=None):
        del params
        accum = _tree.map(accumulate, updates, state.mu)
        up = _tree.map(scaled, updates, accum)
        nu = _tree.update_moment(up, state.nu, b1, 1)
        return nu, ScaleBySM3State(mu=_tree.map(new_mu, accum), nu=nu)

    return GradientTransformation(init_fn, update_fn)


def sm3(learning_rate: Any, momentum: Any = 0.9) -> GradientTransformation:
    """SM3: ``scale_by_sm3(momentum)`` followed by ``-learning_rate``.

    Example:
        >>> import numpy as np, anyopt
        >>> params = {"w": np.ones((2, 3), np.float32)}
        >>> tx = anyopt.sm3(0.1)
        >>> state = tx.init(params)
        >>> [v.shape for v in state[0].mu["w"]]
        [(2,), (3,)]
    """
    _validate.non_negative("sm3", "learning_rate", learning_rate)
    _validate.unit_interval("sm3", "momentum", momentum)
    return chain(scale_by_sm3(momentum), scale(-learning_rate))
