r"""Per-example gradient clipping, the aggregation step of DP-SGD (Abadi et al., 2016).

Gradients carry a leading batch axis. Example :math:`b` is scaled by
:math:`\min(1, C / \|g_b\|)` and the scaled examples are summed:

.. math::
    \bar g = \sum_b g_b \min\left(1, \frac{C}{\|g_b\|}\right).

The per-layer form (McMahan et al., 2017) clips every leaf separately, with the
budget :math:`C` split uniformly (:math:`C / \sqrt{K}` for :math:`K` leaves) or in
proportion to the leaf sizes (:math:`C \sqrt{D_i / D}`).
"""

from __future__ import annotations

import math
from typing import Any

from anyopt import _ops, _tree, backends
from anyopt.transforms._norms import abs_sq


def _check_batch_axis(fn: str, grads: Any) -> None:
    pairs = backends.leaves_with_path(grads)
    if not pairs:
        raise ValueError(f"{fn}: grads has no leaves")
    batch = _ops.shape(pairs[0][1])[:1]
    for path, g in pairs:
        shape = _ops.shape(g)
        if not shape or shape[:1] != batch:
            raise ValueError(
                f"{fn}: unlike other transforms, it expects every leaf of grads to have a "
                f"batch axis first, of one size; {pairs[0][0]} has shape "
                f"{_ops.shape(pairs[0][1])} and {path} has shape {shape}"
            )


def _example_sq_norms(g: Any) -> Any:
    """The squared L2 norm of each example of ``g``: a vector over its first axis."""
    axes = tuple(range(1, _ops.ndim(g)))
    return _ops.sum(abs_sq(g), axis=axes) if axes else abs_sq(g)


def _clip(fn: str, grads: Any, l2_norm_clip: Any) -> tuple[Any, Any]:
    _check_batch_axis(fn, grads)
    norms = _ops.sqrt(sum(_example_sq_norms(g) for g in _tree.leaves(grads)))
    zero = norms == 0  # an all-zero example is never clipped (NaN norms neither)
    ratio = _ops.like(l2_norm_clip, norms) / _ops.where(zero, _ops.full_like(norms, 1), norms)
    ratio = _ops.minimum(ratio, 1.0)
    multipliers = _ops.where(zero | _ops.isnan(ratio), _ops.full_like(ratio, 1), ratio)
    num_clipped = _ops.astype(_ops.sum(multipliers < 1.0), "int32")

    def weighted_sum(g):
        m = _ops.reshape(multipliers, _ops.shape(multipliers) + (1,) * (_ops.ndim(g) - 1))
        if _ops.is_floating(g):
            m = _ops.like(m, g)  # integer gradients promote to the multipliers' float dtype
        return _ops.sum(m * g, axis=0)

    return _tree.map(weighted_sum, grads), num_clipped


def per_example_global_norm_clip(grads: Any, l2_norm_clip: Any) -> tuple[Any, Any]:
    """Clips each example to global L2 norm ``l2_norm_clip`` and sums the examples.

    Every leaf of ``grads`` has the batch axis first. Returns the summed tree and the
    number of examples that were clipped (an int32 0-d array).
    """
    return _clip("per_example_global_norm_clip", grads, l2_norm_clip)


def per_example_layer_norm_clip(
    grads: Any, global_l2_norm_clip: Any, uniform: bool = True
) -> tuple[Any, Any]:
    """Clips each example leaf by leaf and sums the examples.

    Leaf ``i`` of ``K`` is clipped to ``global_l2_norm_clip / sqrt(K)`` (``uniform``) or
    to ``global_l2_norm_clip * sqrt(D_i / D)``, ``D_i`` its size per example and ``D``
    the total. Returns the tree of sums and a tree of per-leaf clipped counts.
    """
    fn = "per_example_layer_norm_clip"
    _check_batch_axis(fn, grads)
    found, treedef = backends.flatten(grads)
    if uniform:
        budgets = [global_l2_norm_clip * (1.0 / len(found)) ** 0.5] * len(found)
    else:
        sizes = [math.prod(_ops.shape(g)[1:]) for g in found]
        budgets = [global_l2_norm_clip * (d / sum(sizes)) ** 0.5 for d in sizes]
    results = [_clip(fn, g, c) for g, c in zip(found, budgets)]
    return (
        backends.unflatten(treedef, [r[0] for r in results]),
        backends.unflatten(treedef, [r[1] for r in results]),
    )
