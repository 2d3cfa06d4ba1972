"""anyopt: optax's gradient transformations on JAX, PyTorch, MLX and NumPy arrays.

``import anyopt as optax`` runs optax code unchanged; the framework is chosen by the
arrays you pass. Importing anyopt imports no array library.
"""

from anyopt import (
    assignment,
    contrib,
    losses,
    projections,
    schedules,
    transforms,
    tree,
    tree_utils,
)
from anyopt import microbatching as microbatching  # public like optax's, not in __all__
from anyopt import monte_carlo as monte_carlo  # optax 0.1's module, removed in optax 0.2
from anyopt import second_order as second_order  # public like optax's, not in __all__
from anyopt._base import (
    EmptyState,
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    Params,
    ScalarOrSchedule,
    Schedule,
    TransformInitFn,
    TransformUpdateExtraArgsFn,
    TransformUpdateFn,
    Updates,
    identity,
    init_empty_state,
    set_to_zero,
    stateless,
    stateless_with_tree_map,
    with_extra_args_support,
)
from anyopt._combine import chain, named_chain
from anyopt._hyperparams import get_hyperparam, hyperparams, set_hyperparam
from anyopt._linear_algebra import matrix_inverse_pth_root, nnls, power_iteration
from anyopt._multi_normal import multi_normal
from anyopt._norms import safe_norm, safe_root_mean_squares
from anyopt._numerics import global_norm, safe_increment, safe_int32_increment
from anyopt._step import make_step, step_modes
from anyopt._tree import (
    bias_correction,
    update_infinity_moment,
    update_moment,
    update_moment_per_elem_norm,
)
from anyopt._update import apply_updates, incremental_update, periodic_update
from anyopt.algorithms.adabelief import ScaleByBeliefState, adabelief, scale_by_belief
from anyopt.algorithms.adadelta import ScaleByAdaDeltaState, adadelta, scale_by_adadelta
from anyopt.algorithms.adafactor import FactoredState, adafactor, scale_by_factored_rms
from anyopt.algorithms.adagrad import ScaleByRssState, adagrad, scale_by_rss
from anyopt.algorithms.adam import ScaleByAdamState, adam, adamw, nadam, nadamw, scale_by_adam
from anyopt.algorithms.adamax import adamax, adamaxw, scale_by_adamax
from anyopt.algorithms.adan import ScaleByAdanState, adan, scale_by_adan
from anyopt.algorithms.amsgrad import ScaleByAmsgradState, amsgrad, scale_by_amsgrad
from anyopt.algorithms.distance_over_gradients import scale_by_distance_over_gradients
from anyopt.algorithms.fromage import fromage
from anyopt.algorithms.lamb import lamb, lars, scale_by_trust_ratio
from anyopt.algorithms.lbfgs import ScaleByLBFGSState, lbfgs, scale_by_lbfgs
from anyopt.algorithms.linesearch import value_and_grad_from_state
from anyopt.algorithms.linesearch_backtracking import (
    ScaleByBacktrackingLinesearchState,
    scale_by_backtracking_linesearch,
)
from anyopt.algorithms.linesearch_zoom import (
    ScaleByZoomLinesearchState,
    ZoomLinesearchInfo,
    scale_by_zoom_linesearch,
)
from anyopt.algorithms.lion import ScaleByLionState, lion, scale_by_lion
from anyopt.algorithms.noisy_sgd import noisy_sgd
from anyopt.algorithms.novograd import ScaleByNovogradState, novograd, scale_by_novograd
from anyopt.algorithms.optimistic import (
    optimistic_adam,
    optimistic_adam_v2,
    optimistic_gradient_descent,
    scale_by_optimistic_gradient,
)
from anyopt.algorithms.param_block import scale_by_param_block_norm, scale_by_param_block_rms
from anyopt.algorithms.polyak import polyak_sgd, scale_by_polyak
from anyopt.algorithms.radam import radam, scale_by_radam
from anyopt.algorithms.rmsprop import (
    ScaleByRmsState,
    ScaleByRStdDevState,
    rmsprop,
    scale_by_rms,
    scale_by_stddev,
)
from anyopt.algorithms.rprop import ScaleByRpropState, rprop, scale_by_rprop
from anyopt.algorithms.sgd import sgd
from anyopt.algorithms.sign import scale_by_sign, sign_sgd, signum
from anyopt.algorithms.sm3 import ScaleBySM3State, scale_by_sm3, sm3
from anyopt.algorithms.yogi import scale_by_yogi, yogi
from anyopt.losses import (
    convex_kl_divergence,
    cosine_distance,
    cosine_similarity,
    ctc_loss,
    ctc_loss_with_forward_probs,
    generalized_kl_divergence,
    hinge_loss,
    huber_loss,
    kl_divergence,
    l2_loss,
    log_cosh,
    ntxent,
    safe_softmax_cross_entropy,
    sigmoid_binary_cross_entropy,
    sigmoid_focal_loss,
    smooth_labels,
    softmax_cross_entropy,
    softmax_cross_entropy_with_integer_labels,
    squared_error,
)
from anyopt.microbatching import microbatch
from anyopt.schedules import (
    InjectHyperparamsState,
    InjectStatefulHyperparamsState,
    WrappedSchedule,
    constant_schedule,
    cosine_decay_schedule,
    cosine_onecycle_schedule,
    exponential_decay,
    inject_hyperparams,
    inject_stateful_hyperparams,
    join_schedules,
    linear_onecycle_schedule,
    linear_schedule,
    piecewise_constant_schedule,
    piecewise_interpolate_schedule,
    polynomial_schedule,
    sgdr_schedule,
    warmup_constant_schedule,
    warmup_cosine_decay_schedule,
    warmup_exponential_decay_schedule,
)
from anyopt.transforms import (
    AddNoiseState,
    EmaState,
    MaskedNode,
    MaskedState,
    MonitorState,
    NonNegativeParamsState,
    PartitionState,
    ScaleByScheduleState,
    SnapshotState,
    TraceState,
    ZeroNansState,
    adaptive_grad_clip,
    add_decayed_weights,
    add_noise,
    clip,
    clip_by_block_rms,
    clip_by_global_norm,
    ema,
    freeze,
    keep_params_nonnegative,
    masked,
    measure_with_ema,
    monitor,
    partition,
    per_example_global_norm_clip,
    per_example_layer_norm_clip,
    scale,
    scale_by_learning_rate,
    scale_by_schedule,
    selective_transform,
    snapshot,
    trace,
    zero_nans,
)
from anyopt.transforms._apply_every import ApplyEvery, apply_every
from anyopt.transforms._block_clipping import centralize, normalize_by_update_norm
from anyopt.transforms._conditionality import (
    ApplyIfFiniteState,
    ConditionallyMaskState,
    ConditionallyTransformState,
    apply_if_finite,
    conditionally_mask,
    conditionally_transform,
)
from anyopt.transforms._gradient_scaling import scale_gradient
from anyopt.transforms._groups import label_by, mask_by
from anyopt.transforms._layouts import flatten
from anyopt.transforms._lookahead import LookaheadParams, LookaheadState, lookahead
from anyopt.transforms._masking import MaskOrFn
from anyopt.transforms._multi_steps import (
    MultiSteps,
    MultiStepsState,
    ShouldSkipUpdateFunction,
    skip_large_updates,
    skip_not_finite,
)
from anyopt.transforms._unitwise import AdaptiveGradClipState
from anyopt.tree_utils import tree_map_params

# optax names these stateless states separately; they are all EmptyState.
ScaleState = ClipState = ClipByGlobalNormState = AddDecayedWeightsState = EmptyState
ScaleByTrustRatioState = EmptyState  # optax's name for the stateless trust ratio
multi_transform = partition  # optax's former name, kept by optax for compatibility
MultiTransformState = PartitionState

__version__ = "0.1.0"

__all__ = [
    "AdaptiveGradClipState",
    "AddDecayedWeightsState",
    "AddNoiseState",
    "ApplyEvery",
    "ApplyIfFiniteState",
    "ClipByGlobalNormState",
    "ClipState",
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "EmaState",
    "EmptyState",
    "FactoredState",
    "GradientTransformation",
    "GradientTransformationExtraArgs",
    "InjectHyperparamsState",
    "InjectStatefulHyperparamsState",
    "LookaheadParams",
    "LookaheadState",
    "MaskOrFn",
    "MaskedNode",
    "MaskedState",
    "MonitorState",
    "MultiSteps",
    "MultiStepsState",
    "MultiTransformState",
    "NonNegativeParamsState",
    "OptState",
    "Params",
    "PartitionState",
    "ScalarOrSchedule",
    "ScaleByAdaDeltaState",
    "ScaleByAdamState",
    "ScaleByAdanState",
    "ScaleByAmsgradState",
    "ScaleByBacktrackingLinesearchState",
    "ScaleByBeliefState",
    "ScaleByLBFGSState",
    "ScaleByLionState",
    "ScaleByNovogradState",
    "ScaleByRStdDevState",
    "ScaleByRmsState",
    "ScaleByRpropState",
    "ScaleByRssState",
    "ScaleBySM3State",
    "ScaleByScheduleState",
    "ScaleByTrustRatioState",
    "ScaleByZoomLinesearchState",
    "ScaleState",
    "Schedule",
    "ShouldSkipUpdateFunction",
    "SnapshotState",
    "TraceState",
    "TransformInitFn",
    "TransformUpdateExtraArgsFn",
    "TransformUpdateFn",
    "Updates",
    "WrappedSchedule",
    "ZeroNansState",
    "ZoomLinesearchInfo",
    "adabelief",
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamaxw",
    "adamw",
    "adan",
    "adaptive_grad_clip",
    "add_decayed_weights",
    "add_noise",
    "amsgrad",
    "apply_every",
    "apply_if_finite",
    "apply_updates",
    "assignment",
    "bias_correction",
    "centralize",
    "chain",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "conditionally_mask",
    "conditionally_transform",
    "constant_schedule",
    "contrib",
    "convex_kl_divergence",
    "cosine_decay_schedule",
    "cosine_distance",
    "cosine_onecycle_schedule",
    "cosine_similarity",
    "ctc_loss",
    "ctc_loss_with_forward_probs",
    "ema",
    "exponential_decay",
    "flatten",
    "freeze",
    "fromage",
    "generalized_kl_divergence",
    "get_hyperparam",
    "global_norm",
    "hinge_loss",
    "huber_loss",
    "hyperparams",
    "identity",
    "incremental_update",
    "init_empty_state",
    "inject_hyperparams",
    "inject_stateful_hyperparams",
    "join_schedules",
    "keep_params_nonnegative",
    "kl_divergence",
    "l2_loss",
    "label_by",
    "lamb",
    "lars",
    "lbfgs",
    "linear_onecycle_schedule",
    "linear_schedule",
    "lion",
    "log_cosh",
    "lookahead",
    "losses",
    "make_step",
    "mask_by",
    "masked",
    "matrix_inverse_pth_root",
    "measure_with_ema",
    "microbatch",
    "monitor",
    "multi_normal",
    "multi_transform",
    "nadam",
    "nadamw",
    "named_chain",
    "nnls",
    "noisy_sgd",
    "normalize_by_update_norm",
    "novograd",
    "ntxent",
    "optimistic_adam",
    "optimistic_adam_v2",
    "optimistic_gradient_descent",
    "partition",
    "per_example_global_norm_clip",
    "per_example_layer_norm_clip",
    "periodic_update",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polyak_sgd",
    "polynomial_schedule",
    "power_iteration",
    "projections",
    "radam",
    "rmsprop",
    "rprop",
    "safe_increment",
    "safe_int32_increment",
    "safe_norm",
    "safe_root_mean_squares",
    "safe_softmax_cross_entropy",
    "scale",
    "scale_by_adadelta",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_adan",
    "scale_by_amsgrad",
    "scale_by_backtracking_linesearch",
    "scale_by_belief",
    "scale_by_distance_over_gradients",
    "scale_by_factored_rms",
    "scale_by_lbfgs",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_novograd",
    "scale_by_optimistic_gradient",
    "scale_by_param_block_norm",
    "scale_by_param_block_rms",
    "scale_by_polyak",
    "scale_by_radam",
    "scale_by_rms",
    "scale_by_rprop",
    "scale_by_rss",
    "scale_by_schedule",
    "scale_by_sign",
    "scale_by_sm3",
    "scale_by_stddev",
    "scale_by_trust_ratio",
    "scale_by_yogi",
    "scale_by_zoom_linesearch",
    "scale_gradient",
    "schedules",
    "selective_transform",
    "set_hyperparam",
    "set_to_zero",
    "sgd",
    "sgdr_schedule",
    "sigmoid_binary_cross_entropy",
    "sigmoid_focal_loss",
    "sign_sgd",
    "signum",
    "skip_large_updates",
    "skip_not_finite",
    "sm3",
    "smooth_labels",
    "snapshot",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
    "squared_error",
    "stateless",
    "stateless_with_tree_map",
    "step_modes",
    "trace",
    "transforms",
    "tree",
    "tree_map_params",
    "tree_utils",
    "update_infinity_moment",
    "update_moment",
    "update_moment_per_elem_norm",
    "value_and_grad_from_state",
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
    "with_extra_args_support",
    "yogi",
    "zero_nans",
]

# optax 0.2.8 still answers these top-level names, with a DeprecationWarning.
_MOVED_TO_CONTRIB = (
    "DifferentiallyPrivateAggregateState",
    "differentially_private_aggregate",
    "dpsgd",
)


def __getattr__(name: str):
    if name in _MOVED_TO_CONTRIB:
        import warnings

        warnings.warn(
            f"anyopt.{name} is deprecated, as optax.{name} is: use anyopt.contrib.{name}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(contrib, name)
    if name in ("optimizers", "torch"):  # the class API and the torch adapter, on first use
        import importlib

        return importlib.import_module(f"anyopt.{name}")
    raise AttributeError(f"module 'anyopt' has no attribute {name!r}")
