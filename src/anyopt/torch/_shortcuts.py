"""torch.optim's algorithms as anyopt transformations, with torch's names, defaults and
formulas: ``sgd``, ``adam``, ``adamw``, ``rmsprop``, ``adagrad``, ``adadelta``, ``adamax``,
``nadam`` and ``radam``.

Each factory returns a ``GradientTransformation`` whose updates include the learning rate
and are added to the parameters, as ``anyopt.adam``'s; they run on JAX, PyTorch, MLX and
NumPy trees alike. Hyperparameters may be numbers, 0-d arrays or schedules, so
``anyopt.inject_hyperparams(adam, static_args=STATIC_ARGS["adam"])(lr=...)`` exposes them
in the state; ``STATIC_ARGS`` names the arguments that choose code paths when the step is
built (Python values, not arrays). Their states are NamedTuples whose fields carry torch's
per-parameter state names (``exp_avg``, ``momentum_buffer`` ...), with ``count`` (int32)
for torch's ``step``.
"""

from __future__ import annotations

from anyopt.torch._shortcuts_adam import AdamaxState, AdamState, adam, adamax, adamw
from anyopt.torch._shortcuts_adam_variants import NAdamState, RAdamState, nadam, radam
from anyopt.torch._shortcuts_sgd import (
    AdadeltaState,
    AdagradState,
    RMSpropState,
    SGDState,
    adadelta,
    adagrad,
    rmsprop,
    sgd,
)

# Arguments that decide the state's structure or the code path (torch branches on them in
# Python): pass them as Python values; inject_hyperparams must keep them out of the state.
STATIC_ARGS: dict[str, tuple[str, ...]] = {
    "sgd": ("momentum", "nesterov", "maximize"),
    "adam": ("amsgrad", "maximize", "decoupled_weight_decay"),
    "adamw": ("amsgrad", "maximize"),
    "rmsprop": ("momentum", "centered", "maximize"),
    "adagrad": ("maximize",),
    "adadelta": ("maximize",),
    "adamax": ("maximize",),
    "nadam": ("decoupled_weight_decay", "maximize"),
    "radam": ("decoupled_weight_decay", "maximize"),
}

# The torch.optim class each factory mirrors.
TORCH_NAMES: dict[str, str] = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
    "adadelta": "Adadelta",
    "adamax": "Adamax",
    "nadam": "NAdam",
    "radam": "RAdam",
}

__all__ = [
    "STATIC_ARGS",
    "TORCH_NAMES",
    "AdadeltaState",
    "AdagradState",
    "AdamState",
    "AdamaxState",
    "NAdamState",
    "RAdamState",
    "RMSpropState",
    "SGDState",
    "adadelta",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "nadam",
    "radam",
    "rmsprop",
    "sgd",
]
