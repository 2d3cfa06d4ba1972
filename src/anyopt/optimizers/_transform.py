"""Any functional transformation as an ``Optimizer``, and a class for every functional
optimizer.

``TransformOptimizer(tx)`` keeps ``{"step": ..., "opt_state": tx's state}`` as its state
(a tree of arrays: it compiles and saves like any other). Built from a factory and its
arguments (``from_transform(anyopt.adamw, learning_rate=1e-3)``), the numeric arguments
are injected hyperparameters: arrays in the state, so ``learning_rate`` can be read and
set, and changed between compiled steps without recompiling.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Union

from anyopt import backends
from anyopt._base import GradientTransformation, with_extra_args_support
from anyopt._hyperparams import get_hyperparam, hyperparams, set_hyperparam
from anyopt._update import apply_updates
from anyopt.optimizers._base import Optimizer
from anyopt.optimizers._trees import tree_map
from anyopt.schedules._inject import inject_hyperparams


def _static_args(factory: Callable) -> list[str]:
    """The factory's parameters that are not real-valued hyperparameters (counts, masks,
    dtypes, functions): they stay Python values instead of arrays in the state."""
    static = []
    for name, p in inspect.signature(factory).parameters.items():
        annotation = p.annotation if isinstance(p.annotation, str) else repr(p.annotation)
        if not any(word in annotation for word in ("float", "Schedule", "Scalar")):
            static.append(name)
    return static


class TransformOptimizer(Optimizer):
    """An ``Optimizer`` that runs a ``GradientTransformation`` on the whole tree.

    ``transformation`` is a GradientTransformation, or a factory (``anyopt.adamw``)
    called with ``args``/``kwargs`` through ``inject_hyperparams``. ``apply_gradients``
    passes extra keyword arguments (``value=`` for momo or reduce_on_plateau) to the
    transformation's update.
    """

    def __init__(
        self,
        transformation: Union[GradientTransformation, Callable[..., GradientTransformation]],
        *args: Any,
        **kwargs: Any,
    ):
        super().__init__()
        self._pending: dict = {}  # hyperparameters set before the state exists
        self._build = None  # the factory's injection, rebuilt for low-precision parameters
        if isinstance(transformation, GradientTransformation):
            if args or kwargs:
                raise TypeError(
                    "TransformOptimizer: arguments are for a factory (e.g. anyopt.adamw); "
                    "got a ready GradientTransformation and arguments"
                )
            self.transformation = with_extra_args_support(transformation)
        elif callable(transformation):
            static = _static_args(transformation)

            def build(dtype):
                return inject_hyperparams(transformation, static, dtype)(*args, **kwargs)

            self._build = build
            self.transformation = build(None)
            bound = inspect.signature(transformation).bind(*args, **kwargs)
            self._pending = {k: v for k, v in bound.arguments.items() if k not in static}
        else:
            raise TypeError(
                f"TransformOptimizer: transformation must be a GradientTransformation or a "
                f"function returning one; got {type(transformation).__name__}"
            )

    def init(self, parameters: Any) -> None:
        self._adopt_framework(parameters)
        if "opt_state" not in self._state:
            if self._build is not None and _low_precision(parameters):
                # float16 hyperparameters would round b2=0.999 to 1: keep them in float32.
                self.transformation = self._build("float32")
            opt_state = self.transformation.init(parameters)
            for name, value in self._pending.items():
                if name in hyperparams(opt_state) and not callable(value):
                    opt_state = set_hyperparam(opt_state, name, value)
            self._state["opt_state"] = opt_state
        self._pending = {}
        self._initialized = True

    def apply_gradients(self, gradients: Any, parameters: Any, **extra_args: Any) -> Any:
        params = _like_gradients(gradients, parameters)
        if not self._initialized:
            self.init(params)
        updates, self.state["opt_state"] = self.transformation.update(
            gradients, self.state["opt_state"], params, **extra_args
        )
        self.state["step"] = self.step + 1
        return apply_updates(params, updates)

    @property
    def learning_rate(self) -> Any:
        if "opt_state" not in self.state and "learning_rate" in self._pending:
            value = self._pending["learning_rate"]
            return self._scheduled(value) if callable(value) else self._hyperparameter(value)
        return get_hyperparam(self._opt_state("learning_rate"), "learning_rate")

    @learning_rate.setter
    def learning_rate(self, learning_rate: Any) -> None:
        if "opt_state" not in self.state and "learning_rate" in self._pending:
            self._pending["learning_rate"] = learning_rate  # applied by init
            return
        opt_state = self._opt_state("learning_rate")
        self.state["opt_state"] = set_hyperparam(opt_state, "learning_rate", learning_rate)

    @property
    def hyperparameters(self) -> dict:
        """Every injected hyperparameter, by name (see ``anyopt.hyperparams``)."""
        return hyperparams(self._opt_state("hyperparameters"))

    def _opt_state(self, what: str) -> Any:
        if "opt_state" not in self.state:
            raise AttributeError(
                f"{type(self).__name__}.{what}: the optimizer is not initialised yet; call "
                f"init(params) or apply_gradients first"
            )
        return self.state["opt_state"]


def _low_precision(tree: Any) -> bool:
    names = {backends.dtype_name(x.dtype) for x in backends.flatten(tree)[0] if hasattr(x, "dtype")}
    return bool(names) and names <= {"float16", "bfloat16"}


def _like_gradients(gradients: Any, parameters: Any) -> Any:
    """The parameters that have gradients: ``parameters`` itself when the structures agree
    (any pytree: equinox modules, flax states), else its entries at the gradients' keys."""
    if backends.flatten(gradients)[1] == backends.flatten(parameters)[1]:
        return parameters
    return tree_map(lambda g, p: p, gradients, parameters)


def from_transform(
    transformation: Union[GradientTransformation, Callable[..., GradientTransformation]],
    *args: Any,
    **kwargs: Any,
) -> TransformOptimizer:
    """``transformation`` (or ``factory(*args, **kwargs)``) as an ``Optimizer``.

    Example::

        optimizer = anyopt.optimizers.from_transform(
            anyopt.chain(anyopt.clip_by_global_norm(1.0), anyopt.adamw(1e-3))
        )
        optimizer = anyopt.optimizers.from_transform(anyopt.lamb, learning_rate=1e-3)
        optimizer.learning_rate = 3e-4  # an injected hyperparameter
    """
    return TransformOptimizer(transformation, *args, **kwargs)


def optimizer_class(
    factory: Callable[..., GradientTransformation], name: str, public_name: str
) -> type:
    """A ``TransformOptimizer`` subclass named ``name`` whose constructor takes the
    arguments of ``factory`` (known to users as ``public_name``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        TransformOptimizer.__init__(self, factory, *args, **kwargs)

    signature = inspect.signature(factory)
    self_parameter = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    __init__.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[self_parameter, *signature.parameters.values()], return_annotation=None
    )
    doc = (
        f"``{public_name}`` as an Optimizer: the same arguments, defaults and numbers; its "
        f"real-valued arguments are arrays in the state (``learning_rate`` can be set)."
    )
    namespace = {"__init__": __init__, "__doc__": doc, "__module__": "anyopt.optimizers"}
    return type(name, (TransformOptimizer,), namespace)
