"""Gradient transformations that are building blocks rather than full optimizers."""

from anyopt._combine import chain as chain
from anyopt._combine import named_chain as named_chain
from anyopt.transforms._accumulation import EmaState as EmaState
from anyopt.transforms._accumulation import TraceState as TraceState
from anyopt.transforms._accumulation import ema as ema
from anyopt.transforms._accumulation import trace as trace
from anyopt.transforms._adding import WeightDecaySchedule as WeightDecaySchedule
from anyopt.transforms._adding import add_decayed_weights as add_decayed_weights
from anyopt.transforms._block_clipping import clip_by_block_rms as clip_by_block_rms
from anyopt.transforms._clipping import clip as clip
from anyopt.transforms._clipping import clip_by_global_norm as clip_by_global_norm
from anyopt.transforms._conditionality import ApplyIfFiniteState as ApplyIfFiniteState
from anyopt.transforms._conditionality import ConditionallyMaskState as ConditionallyMaskState
from anyopt.transforms._conditionality import (
    ConditionallyTransformState as ConditionallyTransformState,
)
from anyopt.transforms._conditionality import ConditionFn as ConditionFn
from anyopt.transforms._conditionality import apply_if_finite as apply_if_finite
from anyopt.transforms._conditionality import conditionally_mask as conditionally_mask
from anyopt.transforms._conditionality import conditionally_transform as conditionally_transform
from anyopt.transforms._constraining import NonNegativeParamsState as NonNegativeParamsState
from anyopt.transforms._constraining import ZeroNansState as ZeroNansState
from anyopt.transforms._constraining import keep_params_nonnegative as keep_params_nonnegative
from anyopt.transforms._constraining import zero_nans as zero_nans
from anyopt.transforms._freezing import freeze as freeze
from anyopt.transforms._freezing import selective_transform as selective_transform
from anyopt.transforms._layouts import flatten as flatten
from anyopt.transforms._masking import MaskedNode as MaskedNode
from anyopt.transforms._masking import MaskedState as MaskedState
from anyopt.transforms._masking import masked as masked
from anyopt.transforms._monitoring import MonitorState as MonitorState
from anyopt.transforms._monitoring import SnapshotState as SnapshotState
from anyopt.transforms._monitoring import measure_with_ema as measure_with_ema
from anyopt.transforms._monitoring import monitor as monitor
from anyopt.transforms._monitoring import snapshot as snapshot
from anyopt.transforms._multi_steps import MultiSteps as MultiSteps
from anyopt.transforms._multi_steps import MultiStepsState as MultiStepsState
from anyopt.transforms._multi_steps import ShouldSkipUpdateFunction as ShouldSkipUpdateFunction
from anyopt.transforms._multi_steps import skip_large_updates as skip_large_updates
from anyopt.transforms._multi_steps import skip_not_finite as skip_not_finite
from anyopt.transforms._noise import AddNoiseState as AddNoiseState
from anyopt.transforms._noise import add_noise as add_noise
from anyopt.transforms._partition import PartitionState as PartitionState
from anyopt.transforms._partition import partition as partition
from anyopt.transforms._per_example import (
    per_example_global_norm_clip as per_example_global_norm_clip,
)
from anyopt.transforms._per_example import (
    per_example_layer_norm_clip as per_example_layer_norm_clip,
)
from anyopt.transforms._scaling import ScaleByScheduleState as ScaleByScheduleState
from anyopt.transforms._scaling import scale as scale
from anyopt.transforms._scaling import scale_by_learning_rate as scale_by_learning_rate
from anyopt.transforms._scaling import scale_by_schedule as scale_by_schedule
from anyopt.transforms._unitwise import adaptive_grad_clip as adaptive_grad_clip
from anyopt.transforms._unitwise import unitwise_clip as unitwise_clip  # not in __all__, as optax
from anyopt.transforms._unitwise import unitwise_norm as unitwise_norm  # not in __all__, as optax

__all__ = [
    "AddNoiseState",
    "ApplyIfFiniteState",
    "ConditionFn",
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "EmaState",
    "MaskedNode",
    "MaskedState",
    "MonitorState",
    "MultiSteps",
    "MultiStepsState",
    "NonNegativeParamsState",
    "PartitionState",
    "ScaleByScheduleState",
    "ShouldSkipUpdateFunction",
    "SnapshotState",
    "TraceState",
    "WeightDecaySchedule",
    "ZeroNansState",
    "adaptive_grad_clip",
    "add_decayed_weights",
    "add_noise",
    "apply_if_finite",
    "chain",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "conditionally_mask",
    "conditionally_transform",
    "ema",
    "flatten",
    "freeze",
    "keep_params_nonnegative",
    "masked",
    "measure_with_ema",
    "monitor",
    "named_chain",
    "partition",
    "per_example_global_norm_clip",
    "per_example_layer_norm_clip",
    "scale",
    "scale_by_learning_rate",
    "scale_by_schedule",
    "selective_transform",
    "skip_large_updates",
    "skip_not_finite",
    "snapshot",
    "trace",
    "zero_nans",
]
