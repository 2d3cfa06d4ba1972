"""Self-supervised (metric learning) losses: NT-Xent and the triplet margin loss."""

from __future__ import annotations

import math
from typing import Any

from anyopt import _autodiff, _ops, backends
from anyopt.losses import _math
from anyopt.losses._perceptron import relu
from anyopt.losses._regression import cosine_similarity

Array = Any

# Machine epsilon (``jnp.finfo(dtype).eps``) by dtype name.
_EPS = {"float16": 2.0**-10, "bfloat16": 2.0**-7, "float32": 2.0**-23, "float64": 2.0**-52}


@_math.quiet
def ntxent(embeddings: Array, labels: Array, temperature: Array = 0.07) -> Array:
    r"""Normalized temperature-scaled cross entropy (NT-Xent, the SimCLR loss), a scalar.

    With :math:`c_{ij} = \cos(e_i, e_j) / \tau` (norms floored at :math:`\sqrt{\epsilon}`,
    :math:`\epsilon` the dtype's machine epsilon), :math:`P` the positive pairs
    :math:`(i, j)` (same label, :math:`i \ne j`) and :math:`N_i` the indices with another
    label than :math:`i`:

    .. math::
        \ell = -\frac{1}{|P|} \sum_{(i, j) \in P}
        \log \frac{e^{c_{ij}}}{e^{c_{ij}} + \sum_{k \in N_i} e^{c_{ik}}}

    computed with each row's largest similarity subtracted. ``embeddings`` has shape
    ``[batch, features]`` and ``labels`` ``[batch]``; no positive pair gives NaN (0/0), as
    in optax. References: Chen et al, `A Simple Framework for Contrastive Learning of
    Visual Representations <http://arxiv.org/abs/2002.05709>`_, 2020;
    `pytorch-metric-learning's NTXentLoss
    <https://kevinmusgrave.github.io/pytorch-metric-learning/losses/#ntxentloss>`_.
    """
    fn = "ntxent"
    _math.check_floating(fn, "embeddings", embeddings)
    shape, label_shape = _math.shape_of(embeddings), _math.shape_of(labels)
    if len(shape) != 2:
        raise ValueError(f"{fn}: embeddings must have shape [batch, features]; got {shape}")
    if len(label_shape) != 1 or label_shape[0] != shape[0]:
        raise ValueError(
            f"{fn}: labels must have shape [batch] = ({shape[0]},), one label per embedding; "
            f"got labels of shape {label_shape} for embeddings of shape {shape}"
        )
    dtype = _ops.dtype(embeddings)
    eps = _EPS[backends.dtype_name(dtype)]
    rows, cols = _ops.expand_dims(embeddings, 1), _ops.expand_dims(embeddings, 0)
    xcs = cosine_similarity(cols, rows, epsilon=eps) / temperature

    index = _ops.arange(shape[0], None, labels)
    same = _ops.expand_dims(labels, 1) == _ops.expand_dims(labels, 0)
    self_pair = _ops.expand_dims(index, 1) == _ops.expand_dims(index, 0)
    matches = same & ~self_pair
    diffs = ~same

    # Subtract each row's max over its pairs (0 for a row with none: no NaN enters).
    row_max = _ops.max(_ops.where(matches | diffs, xcs, -math.inf), axis=1, keepdims=True)
    shift = _autodiff.stop_gradient(_ops.where(row_max == -math.inf, 0.0, row_max))
    shifted_diffs = _ops.where(diffs, xcs, -math.inf) - shift
    numer = _ops.where(matches, xcs, -math.inf) - shift
    denom = _ops.sum(_ops.exp(shifted_diffs), axis=1, keepdims=True) + _ops.exp(numer)
    log_softmax = numer - _ops.log(denom)
    count = _ops.astype(_ops.sum(matches), _ops.dtype(log_softmax))
    return -_ops.sum(_ops.where(matches, log_softmax, 0.0)) / count


@_math.quiet
def triplet_margin_loss(
    anchors: Array,
    positives: Array,
    negatives: Array,
    axis: int = -1,
    norm_degree: Array = 2,
    margin: Array = 1.0,
    eps: Array = 1e-6,
) -> Array:
    r"""Triplet margin loss: the positive must be closer to the anchor than the negative,
    by ``margin``.

    .. math::
        d(a, b) = \left(\sum_i (a_i - b_i)^q + \epsilon\right)^{1/q}, \quad
        \ell = \max\left(d(a, p) - d(a, n) + m, 0\right)

    with the sum over ``axis`` and :math:`q` = ``norm_degree``. As in optax the
    differences are not taken in absolute value, so an odd ``norm_degree`` is not a norm.
    Inputs broadcast together; returns their shape without ``axis``. Reference: Balntas et
    al, `Learning shallow convolutional feature descriptors with triplet losses
    <https://bmva-archive.org.uk/bmvc/2016/papers/paper119/abstract119.pdf>`_, 2016.
    """
    fn = "triplet_margin_loss"
    for name, x in (("anchors", anchors), ("positives", positives), ("negatives", negatives)):
        _math.check_floating(fn, name, x)
    _math.check_broadcast(fn, "anchors", anchors, "positives", positives)
    _math.check_broadcast(fn, "anchors", anchors, "negatives", negatives)
    _math.check_broadcast(fn, "positives", positives, "negatives", negatives)
    ndim = max(_ops.ndim(anchors), _ops.ndim(positives), _ops.ndim(negatives))
    try:
        _math.canonicalize_axis(axis, ndim)
    except ValueError:
        raise ValueError(
            f"{fn}: axis must be in [-{ndim}, {ndim}) for inputs of rank {ndim}; got {axis}"
        ) from None

    def distance(other):
        return (_ops.sum((anchors - other) ** norm_degree, axis=axis) + eps) ** (1 / norm_degree)

    return relu(distance(positives) - distance(negatives) + margin)
