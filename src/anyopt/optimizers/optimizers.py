"""The optimizer classes and ``clip_grad_norm``, importable as
``anyopt.optimizers.optimizers`` like ``mlx.optimizers.optimizers``."""

from anyopt.optimizers._adafactor import Adafactor
from anyopt.optimizers._adam import Adam, Adamax, AdamW
from anyopt.optimizers._base import Optimizer
from anyopt.optimizers._clip import clip_grad_norm
from anyopt.optimizers._lion import Lion
from anyopt.optimizers._multi import MultiOptimizer
from anyopt.optimizers._muon import Muon
from anyopt.optimizers._rms import AdaDelta, Adagrad, RMSprop
from anyopt.optimizers._sgd import SGD

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
    "clip_grad_norm",
]
