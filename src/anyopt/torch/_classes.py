"""torch.optim's classes by name: ``anyopt.torch.SGD``, ``Adam``, ``AdamW``, ``RMSprop``,
``Adagrad``, ``Adadelta``, ``Adamax``, ``NAdam`` and ``RAdam``.

Each is an ``anyopt.torch.Optimizer`` running the matching algorithm of
``anyopt.torch._shortcuts`` (torch's formulas), built by torch's constructor: the same
arguments, defaults, positional order and keyword-only switches, generated from ``_TABLE``.

Hyperparameters are injected as float64 0-d tensors (float32 on devices without float64),
as torch computes its scalars from Python floats: in float32, ``1 - 0.999**t`` is off by
1.3e-5 and ``1 - alpha`` by 1e-6, enough to leave torch's numbers over a few dozen steps.
"""

from __future__ import annotations

import inspect
import textwrap
from typing import Any

import torch

from anyopt.torch import _shortcuts
from anyopt.torch._adapter_spec import FactorySpec
from anyopt.torch._optimizer import Optimizer, _materialized

# torch's implementation switches and their defaults: accepted, choosing no implementation.
_SWITCHES = {"foreach": None, "fused": None, "capturable": False, "differentiable": False}
try:  # the devices of torch's fused kernels (a private helper; torch 2.13's list else)
    from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

    _FUSED_DEVICES = tuple(_get_fused_kernels_supported_devices())
except ImportError:  # pragma: no cover
    _FUSED_DEVICES = ("mps", "cuda", "xpu", "hpu", "cpu", "mtia")
_NO_FLOAT64 = ("mps",)

# class: (factory, arguments after params that may be positional, keyword-only arguments),
# in torch 2.13's order; defaults are the factory's (torch's) and those of _SWITCHES.
_TABLE = {
    "SGD": (
        "sgd",
        "lr momentum dampening weight_decay nesterov",
        "maximize foreach differentiable fused",
    ),
    "Adam": (
        "adam",
        "lr betas eps weight_decay amsgrad",
        "foreach maximize capturable differentiable fused decoupled_weight_decay",
    ),
    "AdamW": (
        "adamw",
        "lr betas eps weight_decay amsgrad",
        "maximize foreach capturable differentiable fused",
    ),
    "RMSprop": (
        "rmsprop",
        "lr alpha eps weight_decay momentum centered capturable foreach maximize differentiable",
        "",
    ),
    "Adagrad": (
        "adagrad",
        "lr lr_decay weight_decay initial_accumulator_value eps foreach",
        "maximize differentiable fused",
    ),
    "Adadelta": (
        "adadelta",
        "lr rho eps weight_decay foreach",
        "capturable maximize differentiable",
    ),
    "Adamax": ("adamax", "lr betas eps weight_decay foreach", "maximize differentiable capturable"),
    "NAdam": (
        "nadam",
        "lr betas eps weight_decay momentum_decay decoupled_weight_decay",
        "foreach maximize capturable differentiable",
    ),
    "RAdam": (
        "radam",
        "lr betas eps weight_decay decoupled_weight_decay",
        "foreach maximize capturable differentiable",
    ),
}


class UnsupportedSwitchError(ValueError, RuntimeError):
    """A torch implementation switch anyopt cannot honour (a ``ValueError``; also a
    ``RuntimeError``, the type torch gives for its own fused-device errors)."""


class _TorchSpec(FactorySpec):
    """``FactorySpec`` for torch's algorithms: float64 hyperparameters, whole numbers as
    floats (``weight_decay=0`` must not become an int32 that a scheduler cannot set), and
    ``extra`` group values (torch's switches) in ``defaults``, so that the groups hold
    every key torch's do."""

    def __init__(self, factory: Any, extra: dict, dtype: str = "float64"):
        super().__init__(factory)
        self.original, self.extra, self.dtype = factory, extra, dtype

    def __reduce__(self) -> tuple:  # pickles (the betas-splitting factory is a closure)
        return (_TorchSpec, (self.original, self.extra, self.dtype))

    def defaults(self, kwargs: dict) -> dict:
        return {**super().defaults(kwargs), **self.extra}

    def targets(self, group: dict) -> dict:
        out = super().targets(group)
        whole = [k for k, v in out.items() if type(v) is int and k not in self.static]
        return {**out, **{k: float(out[k]) for k in whole}}

    def build(self, targets: dict, hyperparam_dtype: Any) -> Any:
        del hyperparam_dtype  # float16 parameters too: torch's scalars are Python floats
        return super().build(targets, self.dtype)

    def validate(self, group: dict) -> None:
        if any(p.device.type in _NO_FLOAT64 for p in group["params"]):
            self.dtype = "float32"
        super().validate(group)


class _TorchClass(Optimizer):
    """The shared constructor of the generated classes."""

    _factory: Any
    _fixed: dict  # group values torch's class holds but cannot be given (AdamW's decoupling)

    def __init__(self, params: Any, values: dict):
        switches = {k: values.pop(k) for k in _SWITCHES if k in values}
        if isinstance(params, torch.Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                "dicts, but got " + torch.typename(params)
            )
        params = list(params)
        if any(isinstance(g, dict) and "params" not in g for g in params):
            raise KeyError("params")  # as torch: every param group dict needs its "params"
        params = _materialized(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        # anyopt.torch.Optimizer.__init__, with a _TorchSpec where it makes a FactorySpec
        spec = _TorchSpec(type(self)._factory, {**switches, **type(self)._fixed})
        self._spec, self._step_mode, self._runtimes = spec, "auto", {}
        torch.optim.Optimizer.__init__(self, params, spec.defaults(values))
        self._check_switches(switches)

    def _check_switches(self, switches: dict) -> None:
        name = type(self).__name__
        fused, foreach = switches.get("fused"), switches.get("foreach")
        if fused and switches.get("differentiable"):
            raise RuntimeError("`fused` does not support `differentiable`")
        if fused and foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        if switches.get("differentiable"):
            raise UnsupportedSwitchError(
                f"anyopt.torch.{name}: differentiable=True is not supported: anyopt's step "
                f"runs under torch.no_grad(); use torch.optim.{name} to differentiate through it"
            )
        if switches.get("capturable"):
            raise UnsupportedSwitchError(
                f"anyopt.torch.{name}: capturable=True (CUDA graph capture of step()) is not "
                f"supported; anyopt keeps its step count and hyperparameters on the "
                f"parameters' device already, so leave capturable=False"
            )
        if fused:
            for group in self.param_groups:
                for p in group["params"]:
                    if p.device.type not in _FUSED_DEVICES or not p.is_floating_point():
                        raise UnsupportedSwitchError(
                            f"anyopt.torch.{name}: fused=True needs floating point parameters "
                            f"on a device with fused kernels {list(_FUSED_DEVICES)}; got "
                            f"{p.dtype} on {p.device.type} (leave fused=None there)"
                        )


def _class(name: str) -> type:
    factory_name, positional, keyword = _TABLE[name]
    factory = getattr(_shortcuts, factory_name)
    own = {k: p.default for k, p in inspect.signature(factory).parameters.items()}
    defaults = {**own, **_SWITCHES}
    P = inspect.Parameter
    arguments = [P("params", P.POSITIONAL_OR_KEYWORD)]
    arguments += [P(n, P.POSITIONAL_OR_KEYWORD, default=defaults[n]) for n in positional.split()]
    arguments += [P(n, P.KEYWORD_ONLY, default=defaults[n]) for n in keyword.split()]
    signature = inspect.Signature(arguments)
    missing = set(own) - set(signature.parameters)
    if missing:
        raise TypeError(f"anyopt.torch.{name}: _TABLE misses {factory_name}'s {missing}")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        _TorchClass.__init__(self, values.pop("params"), values)

    self_arg = P("self", P.POSITIONAL_OR_KEYWORD)
    __init__.__signature__ = signature.replace(parameters=[self_arg, *arguments])
    __init__.__qualname__ = f"{name}.__init__"
    step = (
        "a step count per param group, which torch's SGD does not keep"
        if name == "SGD"
        else "one step count per param group where torch keeps a per-parameter ``step``"
    )
    more = (
        f"The formula is ``anyopt.torch._shortcuts.{factory_name}``'s. Differences from torch: "
        f"{step} (in ``param_groups[i]['anyopt_state']``); ``state[p]`` keys are paths in the "
        f"state (``'inner_state.exp_avg'``); ``foreach`` and ``fused`` choose no implementation "
        f"(anyopt picks its multi-tensor or compiled step); ``capturable=True`` and "
        f"``differentiable=True`` raise ``ValueError``."
    )
    doc = (
        f"torch.optim.{name}'s algorithm with torch's arguments and defaults, run by anyopt.\n\n"
        + textwrap.fill(more, 88, initial_indent="    ", subsequent_indent="    ")
        + "\n"
    )
    namespace = {"__init__": __init__, "__doc__": doc, "__module__": "anyopt.torch"}
    fixed = {"decoupled_weight_decay": True} if name == "AdamW" else {}
    namespace.update(_factory=staticmethod(factory), _fixed=fixed)
    return type(name, (_TorchClass,), namespace)


SGD = _class("SGD")
Adam = _class("Adam")
AdamW = _class("AdamW")
RMSprop = _class("RMSprop")
Adagrad = _class("Adagrad")
Adadelta = _class("Adadelta")
Adamax = _class("Adamax")
NAdam = _class("NAdam")
RAdam = _class("RAdam")

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop"]
