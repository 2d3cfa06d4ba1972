"""anyopt.optimizers: mlx.optimizers' stateful class API on JAX, PyTorch, MLX and NumPy.

``import anyopt.optimizers as optim`` runs MLX training code unchanged; the same classes
take JAX, torch and NumPy trees. ``from_transform`` (and a class per functional optimizer)
turns any anyopt transformation into an Optimizer.
"""

from anyopt.optimizers import optimizers, schedulers
from anyopt.optimizers._base import Optimizer
from anyopt.optimizers._functional_classes import CLASSES as _CLASSES
from anyopt.optimizers._multi import MultiOptimizer
from anyopt.optimizers._transform import TransformOptimizer, from_transform
from anyopt.optimizers.optimizers import (
    SGD,
    AdaDelta,
    Adafactor,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Lion,
    Muon,
    RMSprop,
    clip_grad_norm,
)
from anyopt.optimizers.schedulers import (
    cosine_decay,
    exponential_decay,
    join_schedules,
    linear_schedule,
    step_decay,
)

globals().update(_CLASSES)  # AdaBelief, Lamb, Prodigy ...: one per functional optimizer

__all__ = [
    "AdaDelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Lion",
    "MultiOptimizer",
    "Muon",
    "Optimizer",
    "RMSprop",
    "SGD",
    "TransformOptimizer",
    "clip_grad_norm",
    "cosine_decay",
    "exponential_decay",
    "from_transform",
    "join_schedules",
    "linear_schedule",
    "optimizers",
    "schedulers",
    "step_decay",
]
__all__ = sorted([*__all__, *_CLASSES])
