"""Learning-rate and hyperparameter schedules (``anyopt.schedules``)."""

from anyopt._base import StatefulSchedule as StatefulSchedule
from anyopt.schedules._basic import constant_schedule as constant_schedule
from anyopt.schedules._basic import cosine_decay_schedule as cosine_decay_schedule
from anyopt.schedules._basic import join_schedules as join_schedules
from anyopt.schedules._basic import linear_schedule as linear_schedule
from anyopt.schedules._basic import polynomial_schedule as polynomial_schedule
from anyopt.schedules._basic import warmup_cosine_decay_schedule as warmup_cosine_decay_schedule

__all__ = [
    "StatefulSchedule",
    "constant_schedule",
    "cosine_decay_schedule",
    "join_schedules",
    "linear_schedule",
    "polynomial_schedule",
    "warmup_cosine_decay_schedule",
]
