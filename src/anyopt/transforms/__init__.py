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
from anyopt.transforms._constraining import NonNegativeParamsState as NonNegativeParamsState
from anyopt.transforms._constraining import ZeroNansState as ZeroNansState
from anyopt.transforms._constraining import keep_params_nonnegative as keep_params_nonnegative
from anyopt.transforms._constraining import zero_nans as zero_nans
from anyopt.transforms._masking import MaskedNode as MaskedNode
from anyopt.transforms._masking import MaskedState as MaskedState
from anyopt.transforms._masking import masked as masked
from anyopt.transforms._noise import AddNoiseState as AddNoiseState
from anyopt.transforms._noise import add_noise as add_noise
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
    "EmaState",
    "MaskedNode",
    "MaskedState",
    "NonNegativeParamsState",
    "ScaleByScheduleState",
    "TraceState",
    "WeightDecaySchedule",
    "ZeroNansState",
    "adaptive_grad_clip",
    "add_decayed_weights",
    "add_noise",
    "chain",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "ema",
    "keep_params_nonnegative",
    "masked",
    "named_chain",
    "per_example_global_norm_clip",
    "per_example_layer_norm_clip",
    "scale",
    "scale_by_learning_rate",
    "scale_by_schedule",
    "trace",
    "zero_nans",
]
