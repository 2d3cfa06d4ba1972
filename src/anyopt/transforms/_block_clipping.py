r"""Block-wise rescaling of updates, a block being one leaf (a weight matrix, a bias).

``clip_by_block_rms`` bounds each leaf's root mean square:
:math:`u \leftarrow u / \max(1, \operatorname{rms}(u) / \tau)`.
``centralize`` (Yong et al., 2020) subtracts from each leaf of rank >= 2 its mean over
all axes but the first. ``normalize_by_update_norm`` divides all updates by their
global norm: :math:`u \leftarrow s\, u / (\|u\| + \epsilon)`.
"""

from __future__ import annotations

from typing import Any

from anyopt import _ops, _tree, _validate
from anyopt._base import GradientTransformation, init_empty_state
from anyopt.transforms._norms import block_rms


def clip_by_block_rms(threshold: Any) -> GradientTransformation:
    """Clips each leaf of the updates to a root mean square of at most ``threshold``."""
    _validate.positive("clip_by_block_rms", "threshold", threshold)

    def clip_leaf(u):
        denominator = _ops.maximum(block_rms(u) / _ops.like(threshold, u), 1.0)
        return u / _ops.like(denominator, u)

    def update_fn(updates, state, params=None):
        del params
        return _tree.map(clip_leaf, updates), state

    return GradientTransformation(init_empty_state, update_fn)


def _subtract_mean(g):
    ndim = _ops.ndim(g)
    if ndim < 2:
        return g
    return g - _ops.mean(g, axis=tuple(range(1, ndim)), keepdims=True)


def centralize() -> GradientTransformation:
    """Gradient Centralization: leaves of rank >= 2 lose their mean over axes 1 and up."""

    def update_fn(updates, state, params=None):
        del params
        return _tree.map(_subtract_mean, updates), state

    return GradientTransformation(init_empty_state, update_fn)


def normalize_by_update_norm(scale_factor: Any = 1.0, eps: Any = 1e-6) -> GradientTransformation:
    """Scales the updates to global norm ``scale_factor`` (up to ``eps``)."""
    _validate.non_negative("normalize_by_update_norm", "eps", eps)

    def update_fn(updates, state, params=None):
        del params
        divisor = (_tree.norm(updates) + eps) / scale_factor
        return _tree.map(lambda g: g / _ops.like(divisor, g), updates), state

    return GradientTransformation(init_empty_state, update_fn)
