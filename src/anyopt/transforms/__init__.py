"""Gradient transformations that are building blocks rather than full optimizers."""

from anyopt.transforms._accumulation import EmaState as EmaState
from anyopt.transforms._accumulation import TraceState as TraceState
from anyopt.transforms._accumulation import ema as ema
from anyopt.transforms._accumulation import trace as trace
from anyopt.transforms._adding import WeightDecaySchedule as WeightDecaySchedule
from anyopt.transforms._adding import add_decayed_weights as add_decayed_weights
from anyopt.transforms._clipping import clip as clip
from anyopt.transforms._clipping import clip_by_global_norm as clip_by_global_norm
from anyopt.transforms._masking import MaskedNode as MaskedNode
from anyopt.transforms._masking import MaskedState as MaskedState
from anyopt.transforms._masking import masked as masked
from anyopt.transforms._scaling import ScaleByScheduleState as ScaleByScheduleState
from anyopt.transforms._scaling import scale as scale
from anyopt.transforms._scaling import scale_by_learning_rate as scale_by_learning_rate
from anyopt.transforms._scaling import scale_by_schedule as scale_by_schedule

__all__ = [
    "EmaState",
    "MaskedNode",
    "MaskedState",
    "ScaleByScheduleState",
    "TraceState",
    "WeightDecaySchedule",
    "add_decayed_weights",
    "clip",
    "clip_by_global_norm",
    "ema",
    "masked",
    "scale",
    "scale_by_learning_rate",
    "scale_by_schedule",
    "trace",
]
