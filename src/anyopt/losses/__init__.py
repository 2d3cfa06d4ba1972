"""Loss functions with optax.losses' names, signatures and numbers, on every framework.

Each loss works element-wise or per example (no reduction over the batch): reduce it
yourself, e.g. ``anyopt.losses.softmax_cross_entropy(logits, labels).mean()``.
"""

from anyopt.losses._classification import (
    hinge_loss,
    multiclass_hinge_loss,
    poly_loss_cross_entropy,
    safe_softmax_cross_entropy,
    sigmoid_binary_cross_entropy,
    sigmoid_focal_loss,
    softmax_cross_entropy,
    softmax_cross_entropy_with_integer_labels,
)
from anyopt.losses._divergences import (
    convex_kl_divergence,
    generalized_kl_divergence,
    kl_divergence,
    kl_divergence_with_log_targets,
)
from anyopt.losses._regression import (
    cosine_distance,
    cosine_similarity,
    huber_loss,
    l2_loss,
    log_cosh,
    squared_error,
)
from anyopt.losses._smoothing import smooth_labels

__all__ = [
    "convex_kl_divergence",
    "cosine_distance",
    "cosine_similarity",
    "generalized_kl_divergence",
    "hinge_loss",
    "huber_loss",
    "kl_divergence",
    "kl_divergence_with_log_targets",
    "l2_loss",
    "log_cosh",
    "multiclass_hinge_loss",
    "poly_loss_cross_entropy",
    "safe_softmax_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "sigmoid_focal_loss",
    "smooth_labels",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
    "squared_error",
]
