"""anyopt: optax's gradient transformations on JAX, PyTorch, MLX and NumPy arrays.

``import anyopt as optax`` runs optax code unchanged; the framework is chosen by the
arrays you pass. Importing anyopt imports no array library.
"""

from anyopt import schedules, transforms, tree, tree_utils
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
from anyopt.algorithms.adam import ScaleByAdamState, adam, adamw, nadam, nadamw, scale_by_adam
from anyopt.algorithms.amsgrad import ScaleByAmsgradState, amsgrad, scale_by_amsgrad
from anyopt.algorithms.lion import ScaleByLionState, lion, scale_by_lion
from anyopt.algorithms.rmsprop import (
    ScaleByRmsState,
    ScaleByRStdDevState,
    rmsprop,
    scale_by_rms,
    scale_by_stddev,
)
from anyopt.algorithms.sgd import sgd
from anyopt.algorithms.sign import scale_by_sign, sign_sgd, signum
from anyopt.schedules import (
    constant_schedule,
    cosine_decay_schedule,
    join_schedules,
    linear_schedule,
    polynomial_schedule,
    warmup_cosine_decay_schedule,
)
from anyopt.transforms import (
    EmaState,
    MaskedNode,
    MaskedState,
    ScaleByScheduleState,
    TraceState,
    add_decayed_weights,
    clip,
    clip_by_global_norm,
    ema,
    masked,
    scale,
    scale_by_learning_rate,
    scale_by_schedule,
    trace,
)

# optax names these stateless states separately; they are all EmptyState.
ScaleState = ClipState = ClipByGlobalNormState = AddDecayedWeightsState = EmptyState

__version__ = "0.1.0"

__all__ = [
    "AddDecayedWeightsState",
    "ClipByGlobalNormState",
    "ClipState",
    "EmaState",
    "EmptyState",
    "GradientTransformation",
    "GradientTransformationExtraArgs",
    "MaskedNode",
    "MaskedState",
    "OptState",
    "Params",
    "ScalarOrSchedule",
    "ScaleByAdamState",
    "ScaleByAmsgradState",
    "ScaleByBeliefState",
    "ScaleByLionState",
    "ScaleByRStdDevState",
    "ScaleByRmsState",
    "ScaleByScheduleState",
    "ScaleState",
    "Schedule",
    "TraceState",
    "TransformInitFn",
    "TransformUpdateExtraArgsFn",
    "TransformUpdateFn",
    "Updates",
    "adabelief",
    "adam",
    "adamw",
    "add_decayed_weights",
    "amsgrad",
    "apply_updates",
    "bias_correction",
    "chain",
    "clip",
    "clip_by_global_norm",
    "constant_schedule",
    "cosine_decay_schedule",
    "ema",
    "global_norm",
    "identity",
    "incremental_update",
    "init_empty_state",
    "join_schedules",
    "linear_schedule",
    "lion",
    "make_step",
    "masked",
    "nadam",
    "nadamw",
    "named_chain",
    "periodic_update",
    "polynomial_schedule",
    "rmsprop",
    "safe_increment",
    "safe_int32_increment",
    "scale",
    "scale_by_adam",
    "scale_by_amsgrad",
    "scale_by_belief",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_rms",
    "scale_by_schedule",
    "scale_by_sign",
    "scale_by_stddev",
    "schedules",
    "set_to_zero",
    "sgd",
    "sign_sgd",
    "signum",
    "stateless",
    "stateless_with_tree_map",
    "step_modes",
    "trace",
    "transforms",
    "tree",
    "tree_utils",
    "update_infinity_moment",
    "update_moment",
    "update_moment_per_elem_norm",
    "warmup_cosine_decay_schedule",
    "with_extra_args_support",
]
