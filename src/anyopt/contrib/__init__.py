"""optax.contrib: community optimizers and transformations, on every framework."""

from anyopt.contrib._acprop import acprop, scale_by_acprop
from anyopt.contrib._ademamix import (
    ScaleByAdemamixState,
    ScaleBySimplifiedAdEMAMixState,
    ademamix,
    scale_by_ademamix,
    scale_by_simplified_ademamix,
    simplified_ademamix,
)
from anyopt.contrib._adopt import adopt, scale_by_adopt
from anyopt.contrib._cocob import COCOBState, cocob, scale_by_cocob
from anyopt.contrib._complex_valued import SplitRealAndImaginaryState, split_real_and_imaginary
from anyopt.contrib._dadapt_adamw import DAdaptAdamWState, dadapt_adamw
from anyopt.contrib._dog import DoGState, DoWGState, dog, dowg
from anyopt.contrib._galore import GaLoreDimensionNumbers, GaLoreState, galore, scale_by_galore
from anyopt.contrib._madgrad import MadgradState, madgrad, scale_by_madgrad
from anyopt.contrib._mechanic import MechanicState, mechanize
from anyopt.contrib._momo import MomoAdamState, MomoState, momo, momo_adam
from anyopt.contrib._muon import MuonDimensionNumbers, MuonState, muon, scale_by_muon
from anyopt.contrib._normalize import NormalizeState, normalize
from anyopt.contrib._privacy import (
    DifferentiallyPrivateAggregateState,
    differentially_private_aggregate,
    dpsgd,
)
from anyopt.contrib._prodigy import ProdigyState, prodigy
from anyopt.contrib._reduce_on_plateau import ReduceLROnPlateauState, reduce_on_plateau
from anyopt.contrib._sam import SAMState, sam
from anyopt.contrib._schedule_free import (
    ScheduleFreeState,
    schedule_free,
    schedule_free_adamw,
    schedule_free_eval_params,
    schedule_free_sgd,
)
from anyopt.contrib._sophia import (
    HutchinsonState,
    SophiaState,
    hutchinson_estimator_diag_hessian,
    sophia,
)

__all__: list[str] = [
    "COCOBState",
    "DAdaptAdamWState",
    "DifferentiallyPrivateAggregateState",
    "DoGState",
    "DoWGState",
    "GaLoreDimensionNumbers",
    "GaLoreState",
    "HutchinsonState",
    "MadgradState",
    "MechanicState",
    "MomoAdamState",
    "MomoState",
    "MuonDimensionNumbers",
    "MuonState",
    "NormalizeState",
    "ProdigyState",
    "ReduceLROnPlateauState",
    "SAMState",
    "ScaleByAdemamixState",
    "ScaleBySimplifiedAdEMAMixState",
    "ScheduleFreeState",
    "SophiaState",
    "SplitRealAndImaginaryState",
    "acprop",
    "ademamix",
    "adopt",
    "cocob",
    "dadapt_adamw",
    "differentially_private_aggregate",
    "dog",
    "dowg",
    "dpsgd",
    "galore",
    "hutchinson_estimator_diag_hessian",
    "madgrad",
    "mechanize",
    "momo",
    "momo_adam",
    "muon",
    "normalize",
    "prodigy",
    "reduce_on_plateau",
    "sam",
    "scale_by_acprop",
    "scale_by_ademamix",
    "scale_by_adopt",
    "scale_by_cocob",
    "scale_by_galore",
    "scale_by_madgrad",
    "scale_by_muon",
    "scale_by_simplified_ademamix",
    "schedule_free",
    "schedule_free_adamw",
    "schedule_free_eval_params",
    "schedule_free_sgd",
    "simplified_ademamix",
    "sophia",
    "split_real_and_imaginary",
]
