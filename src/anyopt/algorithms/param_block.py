r"""Scaling each update leaf by a size of its parameter block (one leaf: a weight
matrix, a bias vector), floored at ``min_scale``:

.. math::
    u \leftarrow u \cdot \max(\|p\|_2, s_{\min}) \quad\text{or}\quad
    u \leftarrow u \cdot \max(\operatorname{rms}(p), s_{\min}).

Combined with a normalised direction this gives relative (block-wise trust ratio)
steps, as in Fromage and LARS-like schemes.
"""

from __future__ import annotations

from typing import Any

from anyopt import _ops, _tree, _validate
from anyopt._base import NO_PARAMS_MSG, GradientTransformation, init_empty_state
from anyopt.transforms._norms import block_norm, block_rms


def _scale_by(size, fn: str, min_scale: Any) -> GradientTransformation:
    _validate.non_negative(fn, "min_scale", min_scale)

    def update_fn(updates, state, params):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        updates = _tree.map(
            lambda u, p: u * _ops.like(_ops.maximum(size(p), min_scale), u), updates, params
        )
        return updates, state

    return GradientTransformation(init_empty_state, update_fn)


def scale_by_param_block_norm(min_scale: Any = 1e-3) -> GradientTransformation:
    """Multiplies each update leaf by its parameter's L2 norm (at least ``min_scale``)."""
    return _scale_by(block_norm, "scale_by_param_block_norm", min_scale)


def scale_by_param_block_rms(min_scale: Any = 1e-3) -> GradientTransformation:
    """Multiplies each update leaf by its parameter's RMS (at least ``min_scale``)."""
    return _scale_by(block_rms, "scale_by_param_block_rms", min_scale)
