"""Label smoothing."""

from __future__ import annotations

from typing import Any

from anyopt import _ops
from anyopt.losses import _math

Array = Any


@_math.quiet
def smooth_labels(
    labels: Array,
    alpha: Array,
    *,
    axis: int | tuple[int, ...] | None = -1,
    where: Array | None = None,
) -> Array:
    r"""Mixes one-hot ``labels`` with the uniform distribution over the ``K`` categories
    along ``axis`` (those in ``where``, if given):

    .. math::
        (1 - \alpha)\, y + \alpha / K

    Reference: Muller et al, `When does label smoothing help?
    <https://arxiv.org/abs/1906.02629>`_, 2019.
    """
    _math.check_floating("smooth_labels", "labels", labels)
    if where is None:
        num_categories = _math.axis_size(labels, axis)
    else:
        _math.check_where("smooth_labels", where, labels)
        count = _ops.sum(where, axis=axis, keepdims=True)
        num_categories = _ops.astype(count, _ops.dtype(labels))
    return (1.0 - alpha) * labels + alpha / num_categories
