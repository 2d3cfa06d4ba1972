"""Learning-rate and hyperparameter schedules (``anyopt.schedules``)."""

from anyopt._base import Schedule as Schedule
from anyopt._base import StatefulSchedule as StatefulSchedule
from anyopt.schedules._basic import constant_schedule as constant_schedule
from anyopt.schedules._basic import cosine_decay_schedule as cosine_decay_schedule
from anyopt.schedules._basic import join_schedules as join_schedules
from anyopt.schedules._basic import linear_schedule as linear_schedule
from anyopt.schedules._basic import polynomial_schedule as polynomial_schedule
from anyopt.schedules._basic import warmup_cosine_decay_schedule as warmup_cosine_decay_schedule
from anyopt.schedules._exponential import exponential_decay as exponential_decay
from anyopt.schedules._inject import InjectHyperparamsState as InjectHyperparamsState
from anyopt.schedules._inject import (
    InjectStatefulHyperparamsState as InjectStatefulHyperparamsState,
)
from anyopt.schedules._inject import WrappedSchedule as WrappedSchedule
from anyopt.schedules._inject import inject_hyperparams as inject_hyperparams
from anyopt.schedules._inject import inject_stateful_hyperparams as inject_stateful_hyperparams
from anyopt.schedules._piecewise import cosine_onecycle_schedule as cosine_onecycle_schedule
from anyopt.schedules._piecewise import linear_onecycle_schedule as linear_onecycle_schedule
from anyopt.schedules._piecewise import (
    piecewise_constant_schedule as piecewise_constant_schedule,
)
from anyopt.schedules._piecewise import (
    piecewise_interpolate_schedule as piecewise_interpolate_schedule,
)
from anyopt.schedules._warmup import sgdr_schedule as sgdr_schedule
from anyopt.schedules._warmup import warmup_constant_schedule as warmup_constant_schedule
from anyopt.schedules._warmup import (
    warmup_exponential_decay_schedule as warmup_exponential_decay_schedule,
)

__all__ = [
    "InjectHyperparamsState",
    "InjectStatefulHyperparamsState",
    "Schedule",
    "StatefulSchedule",
    "WrappedSchedule",
    "constant_schedule",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "exponential_decay",
    "inject_hyperparams",
    "inject_stateful_hyperparams",
    "join_schedules",
    "linear_onecycle_schedule",
    "linear_schedule",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polynomial_schedule",
    "sgdr_schedule",
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
]
