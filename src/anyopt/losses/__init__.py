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
from anyopt.losses._contrastive import ntxent, triplet_margin_loss
from anyopt.losses._ctc import ctc_loss, ctc_loss_with_forward_probs
from anyopt.losses._dice import binary_dice_loss, dice_loss, multiclass_generalized_dice_loss
from anyopt.losses._divergences import (
    convex_kl_divergence,
    generalized_kl_divergence,
    kl_divergence,
    kl_divergence_with_log_targets,
)
from anyopt.losses._fenchel_young import make_fenchel_young_loss
from anyopt.losses._perceptron import multiclass_perceptron_loss, perceptron_loss
from anyopt.losses._ranking import ranking_softmax_loss
from anyopt.losses._regression import (
    cosine_distance,
    cosine_similarity,
    huber_loss,
    l2_loss,
    log_cosh,
    squared_error,
)
from anyopt.losses._smoothing import smooth_labels
from anyopt.losses._sparsemax import multiclass_sparsemax_loss, sparsemax_loss

__all__ = [
    "binary_dice_loss",
    "convex_kl_divergence",
    "cosine_distance",
    "cosine_similarity",
    "ctc_loss",
    "ctc_loss_with_forward_probs",
    "dice_loss",
    "generalized_kl_divergence",
    "hinge_loss",
    "huber_loss",
    "kl_divergence",
    "kl_divergence_with_log_targets",
    "l2_loss",
    "log_cosh",
    "make_fenchel_young_loss",
    "multiclass_generalized_dice_loss",
    "multiclass_hinge_loss",
    "multiclass_perceptron_loss",
    "multiclass_sparsemax_loss",
    "ntxent",
    "perceptron_loss",
    "poly_loss_cross_entropy",
    "ranking_softmax_loss",
    "safe_softmax_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "sigmoid_focal_loss",
    "smooth_labels",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
    "sparsemax_loss",
    "squared_error",
    "triplet_margin_loss",
]
