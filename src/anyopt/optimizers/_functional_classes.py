"""A class for every functional optimizer that mlx.optimizers does not define itself.

``anyopt.optimizers.Lamb(learning_rate=1e-3)`` is ``from_transform(anyopt.lamb,
learning_rate=1e-3)``: optax's arguments, defaults and numbers. Where MLX has a class of the
same name (Adam, AdamW, SGD, RMSprop, Adagrad, AdaDelta, Adamax, Lion, Adafactor, Muon) the
class follows MLX; ``from_transform(anyopt.adam, ...)`` gives optax's version.
"""

from __future__ import annotations

import anyopt
from anyopt.optimizers._transform import optimizer_class

# Class name -> the functional optimizer's public name.
FACTORIES = {
    "AdaBelief": "adabelief",
    "AdamaxW": "adamaxw",
    "Adan": "adan",
    "AMSGrad": "amsgrad",
    "Fromage": "fromage",
    "Lamb": "lamb",
    "Lars": "lars",
    "LBFGS": "lbfgs",
    "NAdam": "nadam",
    "NAdamW": "nadamw",
    "NoisySGD": "noisy_sgd",
    "NovoGrad": "novograd",
    "OptimisticAdamV2": "optimistic_adam_v2",
    "OptimisticGradientDescent": "optimistic_gradient_descent",
    "PolyakSGD": "polyak_sgd",
    "RAdam": "radam",
    "Rprop": "rprop",
    "SignSGD": "sign_sgd",
    "Signum": "signum",
    "SM3": "sm3",
    "Yogi": "yogi",
    "ACProp": "contrib.acprop",
    "AdEMAMix": "contrib.ademamix",
    "ADOPT": "contrib.adopt",
    "COCOB": "contrib.cocob",
    "DAdaptAdamW": "contrib.dadapt_adamw",
    "DoG": "contrib.dog",
    "DoWG": "contrib.dowg",
    "MADGRAD": "contrib.madgrad",
    "Momo": "contrib.momo",
    "MomoAdam": "contrib.momo_adam",
    "Prodigy": "contrib.prodigy",
    "ScheduleFreeAdamW": "contrib.schedule_free_adamw",
    "ScheduleFreeSGD": "contrib.schedule_free_sgd",
    "SimplifiedAdEMAMix": "contrib.simplified_ademamix",
    "Sophia": "contrib.sophia",
}


def _resolve(public_name: str):
    obj = anyopt
    for part in public_name.split("."):
        obj = getattr(obj, part)
    return obj


CLASSES = {
    name: optimizer_class(_resolve(public), name, f"anyopt.{public}")
    for name, public in FACTORIES.items()
}
