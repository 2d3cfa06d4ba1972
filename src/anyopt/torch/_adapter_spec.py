"""How a param group's hyperparameters reach the transformation.

A *spec* turns a torch param group (``{"params": ..., "lr": ..., "betas": ...}``) into a
transformation for that group, and says which of the group's values can later be set in
its state (injected hyperparameters) and which decide the code path (static arguments,
whose change rebuilds the transformation).

- ``FactorySpec(anyopt.adamw)``: each group gets ``inject_hyperparams(adamw, static)(...)``
  with the group's values; ``lr`` is the factory's ``learning_rate`` (or ``lr``), ``betas``
  its ``(b1, b2)``, every other factory argument keeps its name.
- ``ReadySpec(tx)``: every group runs ``tx``; ``lr`` is its injected ``learning_rate`` if it
  holds one that is not scheduled, else a multiplier of its updates (1.0 by default). Its
  other injected hyperparameters are group values under their names.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch.optim.optimizer import required

from anyopt._base import GradientTransformation, with_extra_args_support
from anyopt._combine import chain
from anyopt._hyperparams import hyperparams, set_hyperparam
from anyopt.optimizers._transform import _static_args
from anyopt.schedules._inject import inject_hyperparams
from anyopt.transforms._scaling import scale

# The target of ``lr`` when the transformation has no learning rate of its own: a factor
# applied to its updates (an injected ``scale`` chained after it).
MULTIPLIER = "lr multiplier"
_NOT_GROUP_KEYS = {"params", "param_names", "anyopt_state"}


def is_plain(value: Any) -> bool:
    """Data that torch.save, deepcopy and LR schedulers handle: numbers, strings, None,
    dtypes, tensors, and tuples/lists of those (not functions, masks or transformations)."""
    if value is None or isinstance(value, (bool, int, float, str, torch.dtype, torch.Tensor)):
        return True
    if isinstance(value, (tuple, list)):
        return all(is_plain(v) for v in value)
    return False


def is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, torch.Tensor) and value.ndim == 0 and value.is_floating_point()


class Built:
    """A group's transformation, and how to set its hyperparameters in its state."""

    def __init__(self, tx: GradientTransformation, wrapped: bool):
        self.tx = tx
        self.wrapped = wrapped  # tx is chain(inner, injected scale): the state is a pair

    def root(self, state: Any) -> Any:
        return state[0] if self.wrapped else state

    def settable(self, state: Any) -> set:
        """Targets that ``set`` can change: unscheduled injected hyperparameters."""
        found = set()
        try:
            entries = hyperparams(self.root(state))
        except KeyError:
            entries = {}
        for name, value in entries.items():
            if getattr(value, "ndim", 1) == 0 and not _scheduled(self.root(state), name):
                found.add(name)
        if self.wrapped:
            found.add(MULTIPLIER)
        return found

    def set(self, state: Any, target: str, value: Any) -> Any:
        if target == MULTIPLIER:
            return (state[0], set_hyperparam(state[1], "step_size", value))
        if self.wrapped:
            return (set_hyperparam(state[0], target, value), state[1])
        return set_hyperparam(state, target, value)


def _scheduled(state: Any, name: str) -> bool:
    try:
        set_hyperparam(state, name, 0.0)
    except ValueError:
        return True
    return False


def _with_multiplier(tx: GradientTransformation, lr: Any, dtype: Any) -> GradientTransformation:
    return chain(tx, inject_hyperparams(scale, (), dtype)(step_size=lr))


class FactorySpec:
    """Groups built from a factory such as ``anyopt.adamw``."""

    def __init__(self, factory: Callable[..., GradientTransformation]):
        try:
            signature = inspect.signature(factory)
        except (TypeError, ValueError) as e:
            raise TypeError(_NEITHER.format(type(factory).__name__)) from e
        if "params" in signature.parameters:
            raise TypeError(
                f"anyopt.torch.Optimizer: {_name(factory)} takes 'params', so it is not an "
                f"anyopt factory (e.g. anyopt.adamw); pass an anyopt transformation or factory, "
                f"not a torch.optim class"
            )
        self.name = _name(factory)
        self.static = _static_of(factory)
        parameters = dict(signature.parameters)
        if "betas" in parameters and "betas" not in self.static:
            factory, parameters = _split_betas(factory, parameters)
        self.factory, self.parameters = factory, parameters
        if "learning_rate" in parameters:
            self.lr_target = "learning_rate"
        elif "lr" in parameters:
            self.lr_target = "lr"
        else:
            self.lr_target = MULTIPLIER
        self.betas = "b1" in parameters and "b2" in parameters and "betas" not in parameters
        # group key -> factory argument, for the arguments that keep their names
        hidden = {"learning_rate", "lr"} | ({"b1", "b2"} if self.betas else set())
        self.named = [
            n
            for n, p in parameters.items()
            if n not in hidden and n not in _NOT_GROUP_KEYS and p.kind not in _VARIADIC
        ]
        self.fixed: dict[str, Any] = {}  # non-plain constructor arguments, for every group

    def describe(self) -> str:
        return self.name

    def normalize(self, group: dict, defaults: dict) -> None:
        """A group's ``learning_rate``/``b1``/``b2`` as ``lr``/``betas`` (in place)."""
        betas = tuple(defaults.get("betas", (None, None))) if self.betas else None
        _merge_aliases(self.name, group, betas, self.lr_target)

    def defaults(self, kwargs: dict) -> dict:
        """torch's ``defaults``: lr, betas and every other argument whose value is plain data."""
        betas = (self._default("b1"), self._default("b2")) if self.betas else None
        kwargs = _merge_aliases(self.name, dict(kwargs), betas, self.lr_target)
        allowed = {"lr"} | ({"betas"} if self.betas else set()) | set(self.named)
        unknown = sorted(set(kwargs) - allowed)
        if unknown:
            raise TypeError(
                f"anyopt.torch.Optimizer: {self.name} has no argument {unknown[0]!r}; its "
                f"group hyperparameters are {sorted(allowed)}"
            )
        out: dict = {}
        if self.lr_target == MULTIPLIER:
            out["lr"] = kwargs.pop("lr", 1.0)
        else:
            out["lr"] = kwargs.pop("lr", self._default(self.lr_target))
        if self.betas:
            out["betas"] = tuple(kwargs.pop("betas", betas))
        for name in self.named:
            value = kwargs.pop(name, self._default(name))
            if value is _ABSENT:
                continue  # a non-plain default: the factory's own
            if is_plain(value) or value is required:
                out[name] = value
            else:
                self.fixed[name] = value
        return out

    def _default(self, name: str) -> Any:
        default = self.parameters[name].default
        if default is inspect.Parameter.empty:
            return required
        return default if is_plain(default) else _ABSENT

    def targets(self, group: dict) -> dict:
        """The group's values by factory argument (or MULTIPLIER)."""
        return _group_targets(self, group)

    def build(self, targets: dict, hyperparam_dtype: Any) -> Built:
        args = {**self.fixed, **{k: v for k, v in targets.items() if k != MULTIPLIER}}
        # Real-valued hyperparameters given as whole numbers (weight_decay=0) are injected
        # as floats: an int32 slot would truncate a later param_groups edit to 0.5.
        args = {
            k: float(v) if type(v) is int and k not in self.static else v for k, v in args.items()
        }
        tx = inject_hyperparams(self.factory, self.static, hyperparam_dtype)(**args)
        if self.lr_target == MULTIPLIER:
            return Built(_with_multiplier(tx, targets.get(MULTIPLIER, 1.0), hyperparam_dtype), True)
        return Built(tx, False)

    def validate(self, group: dict) -> None:
        """Builds the factory once with the group's values, so that bad hyperparameters fail
        when the group is added, as torch.optim checks them in its constructors."""
        targets = self.targets(group)
        args = {**self.fixed, **{k: v for k, v in targets.items() if k != MULTIPLIER}}
        tx = self.factory(**args)
        if not isinstance(tx, GradientTransformation):
            raise TypeError(
                f"anyopt.torch.Optimizer: {self.name}(...) returned {type(tx).__name__}, not a "
                f"GradientTransformation; pass an anyopt transformation or factory"
            )


class ReadySpec:
    """Groups that all run one ready transformation."""

    def __init__(self, tx: GradientTransformation, example: dict):
        self.tx = with_extra_args_support(tx)
        self.name = "a GradientTransformation"
        with torch.no_grad():
            state = self.tx.init(example)
        probe = Built(self.tx, False)
        try:
            found = hyperparams(state, as_float=True)
        except KeyError:  # no injected hyperparameters
            found = {}
        settable = probe.settable(state)
        self.values = {
            name: value
            for name, value in found.items()
            if name in settable and isinstance(value, float)
        }
        self.lr_target = "learning_rate" if "learning_rate" in self.values else MULTIPLIER
        self.betas = "b1" in self.values and "b2" in self.values
        hidden = {"learning_rate"} | ({"b1", "b2"} if self.betas else set())
        self.named = [n for n in self.values if n not in hidden and n not in _NOT_GROUP_KEYS]

    def describe(self) -> str:
        return self.name

    def normalize(self, group: dict, defaults: dict) -> None:
        """A group's ``learning_rate``/``b1``/``b2`` as ``lr``/``betas`` (in place)."""
        betas = tuple(defaults.get("betas", (None, None))) if self.betas else None
        _merge_aliases(self.name, group, betas, self.lr_target)

    def defaults(self, kwargs: dict) -> dict:
        betas = (self.values.get("b1"), self.values.get("b2")) if self.betas else None
        kwargs = _merge_aliases(self.name, dict(kwargs), betas, self.lr_target)
        allowed = {"lr"} | ({"betas"} if self.betas else set()) | set(self.named)
        unknown = sorted(set(kwargs) - allowed)
        if unknown:
            raise TypeError(
                f"anyopt.torch.Optimizer: with a ready transformation the group hyperparameters "
                f"are {sorted(allowed)} (lr, and the transformation's injected hyperparameters); "
                f"got {unknown[0]!r}"
            )
        out = {"lr": kwargs.pop("lr", self.values.get("learning_rate", 1.0))}
        if self.betas:
            out["betas"] = tuple(kwargs.pop("betas", betas))
        for name in self.named:
            out[name] = kwargs.pop(name, self.values[name])
        return out

    def targets(self, group: dict) -> dict:
        """The group's values by factory argument (or MULTIPLIER)."""
        return _group_targets(self, group)

    def build(self, targets: dict, hyperparam_dtype: Any) -> Built:
        if self.lr_target == MULTIPLIER:
            lr = targets.get(MULTIPLIER, 1.0)
            return Built(_with_multiplier(self.tx, lr, hyperparam_dtype), True)
        return Built(self.tx, False)

    def validate(self, group: dict) -> None:
        del group


_ABSENT = object()
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
_NEITHER = (
    "anyopt.torch.Optimizer: transformation must be an anyopt GradientTransformation "
    "(e.g. anyopt.chain(anyopt.clip_by_global_norm(1.0), anyopt.adamw(1e-3))) or a factory "
    "returning one (e.g. anyopt.adamw); got {}"
)


def neither_error(transformation: Any) -> TypeError:
    return TypeError(_NEITHER.format(type(transformation).__name__))


def _name(factory: Any) -> str:
    module = getattr(factory, "__module__", "") or ""
    public = "anyopt.torch" if module.startswith("anyopt.torch") else "anyopt"
    if module.startswith("anyopt.contrib"):
        public = "anyopt.contrib"
    return f"{public}.{getattr(factory, '__name__', type(factory).__name__)}"


def _group_targets(spec: Any, group: dict) -> dict:
    """A group's values by injected name: ``lr`` to the spec's learning-rate target,
    ``betas`` split into ``b1``/``b2``, other hyperparameters under their own names."""
    out = {}
    for key, value in group.items():
        if key == "lr":
            out[spec.lr_target] = value
        elif key == "betas" and spec.betas:
            out["b1"], out["b2"] = _pair(value)
        elif key in spec.named:
            out[key] = value
    return out


def _static_of(factory: Callable) -> tuple:
    """The factory's static arguments: anyopt.torch's shortcuts list theirs in
    ``STATIC_ARGS``; other factories are read from their annotations."""
    module = getattr(factory, "__module__", "") or ""
    if module.startswith("anyopt.torch._shortcuts"):
        try:
            from anyopt.torch._shortcuts import STATIC_ARGS
        except ImportError:
            STATIC_ARGS = {}
        if factory.__name__ in STATIC_ARGS:
            return tuple(STATIC_ARGS[factory.__name__])
    return tuple(_static_args(factory))


def _split_betas(factory: Callable, parameters: dict) -> tuple[Callable, dict]:
    """A factory taking ``b1`` and ``b2`` for one taking ``betas=(b1, b2)``, so that both are
    injected hyperparameters (set per step by OneCycleLR) rather than a static tuple."""
    default = parameters["betas"].default
    defaults = (
        (inspect.Parameter.empty,) * 2 if default is inspect.Parameter.empty else tuple(default)
    )
    new = {}
    for name, p in parameters.items():
        if name == "betas":
            for k, d in zip(("b1", "b2"), defaults):
                new[k] = p.replace(name=k, default=d, annotation="float")
        else:
            new[name] = p

    def split(*args: Any, **kwargs: Any) -> GradientTransformation:
        bound = signature.bind(*args, **kwargs)
        values = dict(bound.arguments)
        values["betas"] = (values.pop("b1", defaults[0]), values.pop("b2", defaults[1]))
        return factory(**values)

    signature = inspect.Signature(list(new.values()))
    split.__signature__ = signature  # type: ignore[attr-defined]
    split.__name__ = getattr(factory, "__name__", "factory")
    split.__module__ = getattr(factory, "__module__", None)
    return split, new


def _pair(value: Any) -> tuple:
    try:
        b1, b2 = value
    except (TypeError, ValueError):
        raise ValueError(
            f"anyopt.torch.Optimizer: betas must be a pair (b1, b2); got {value!r}"
        ) from None
    return b1, b2


def _merge_aliases(name: str, kwargs: dict, betas: Any, lr_target: str) -> dict:
    """``learning_rate=`` as ``lr=``, and ``b1=``/``b2=`` into ``betas`` (whose defaults are
    ``betas``, or None if the transformation has no b1 and b2)."""
    if "learning_rate" in kwargs and lr_target == "learning_rate":
        if "lr" in kwargs:
            raise TypeError(f"anyopt.torch.Optimizer: pass lr or learning_rate, not both ({name})")
        kwargs["lr"] = kwargs.pop("learning_rate")
    if betas is not None and ("b1" in kwargs or "b2" in kwargs):
        if "betas" in kwargs:
            raise TypeError(f"anyopt.torch.Optimizer: pass betas or b1/b2, not both ({name})")
        kwargs["betas"] = (kwargs.pop("b1", betas[0]), kwargs.pop("b2", betas[1]))
    return kwargs
