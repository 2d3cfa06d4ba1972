"""``Optimizer``: mlx.optimizers' stateful base class, on any framework's arrays.

The semantics are MLX's: ``state`` is a dict holding ``step``, the hyperparameters kept as
arrays (``learning_rate``, scheduled ones) and, under the parameters' own keys, one dict
per parameter; ``init`` fills only missing entries; ``apply_gradients`` evaluates the
schedules at the current step, then increments it, then applies ``apply_single`` to every
parameter that has a gradient. Until the optimizer meets arrays, its scalars are NumPy
arrays; the first ``init`` moves them to the parameters' framework.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

from anyopt import backends
from anyopt.optimizers import _models
from anyopt.optimizers._trees import first_leaf, tree_map

# The step counter's dtype: MLX's uint64 where the framework has the arithmetic for it.
_STEP_DTYPE = {"mlx": "uint64", "numpy": "uint64", "torch": "int64", "jax": "int32"}


def scalar(value: Any, dtype: str, like: Any = None) -> Any:
    """``value`` as a 0-d array of ``like``'s framework (NumPy without ``like``)."""
    b = backends.load("numpy") if like is None else backends.of(like)
    if hasattr(value, "dtype") and backends.of(value) is not b:
        value = backends.of(value).to_numpy(value)
    return b.asarray(value, b.dtype(dtype), like=like)


def _is_float_array(x: Any) -> bool:
    return hasattr(x, "dtype") and "float" in backends.dtype_name(x.dtype)


class Optimizer:
    """The base class of every optimizer: subclasses define ``init_single`` and
    ``apply_single`` for one parameter, as in ``mlx.optimizers``."""

    def __init__(self, schedulers: dict | None = None):
        self._initialized = False
        self._state: dict = {"step": scalar(0, _STEP_DTYPE["numpy"])}
        self._schedulers = dict(schedulers or {})

    # --- MLX's API --------------------------------------------------------------------
    def update(self, model: Any, gradients: Any) -> None:
        """Applies ``gradients`` to ``model``'s parameters in place: an ``mlx.nn.Module``
        (``model.update(...)``) or a ``torch.nn.Module`` (a dict of gradients keyed like
        its ``named_parameters()`` or nested by module)."""
        _models.update(self, model, gradients)

    def init(self, parameters: Any) -> None:
        """Creates the state of every parameter that has none; existing entries stay."""
        self._adopt_framework(parameters)
        _merge_structure(parameters, self._state)
        tree_map(lambda p, s: s or self.init_single(p, s), parameters, self._state)
        self._initialized = True

    def init_single(self, parameter: Any, state: dict) -> None:
        """Fills ``state`` (this parameter's dict) with its initial entries."""
        raise NotImplementedError(f"{type(self).__name__} does not define init_single")

    def apply_gradients(self, gradients: Any, parameters: Any) -> Any:
        """The updated parameters, with the structure of ``gradients`` (``parameters``
        may hold more). Schedules see the step before it is incremented."""
        if not self._initialized:
            self.init(gradients)
        for name, schedule in self._schedulers.items():
            self.state[name] = self._scheduled(schedule)
        self.state["step"] = self.step + 1
        return tree_map(self.apply_single, gradients, parameters, self.state)

    def apply_single(self, gradient: Any, parameter: Any, state: dict) -> Any:
        """The updated ``parameter``; updates ``state`` (this parameter's dict) in place."""
        raise NotImplementedError(f"{type(self).__name__} does not define apply_single")

    @property
    def state(self) -> dict:
        """The state: ``step``, array hyperparameters and one dict per parameter."""
        return self._state

    @state.setter
    def state(self, state: dict) -> None:
        self._initialized = False
        self._state = state

    @property
    def step(self) -> Any:
        return self.state["step"]

    @property
    def learning_rate(self) -> Any:
        return self.state["learning_rate"]

    @learning_rate.setter
    def learning_rate(self, learning_rate: Union[float, Any]) -> None:
        self.state["learning_rate"] = self._hyperparameter(learning_rate)

    # --- helpers for subclasses ---------------------------------------------------------
    def _maybe_schedule(self, name: str, param: Union[float, Callable[[Any], Any]]) -> None:
        """Keeps hyperparameter ``name`` in the state as an array, evaluated from the step
        at every update when ``param`` is a schedule."""
        if callable(param):
            self._schedulers[name] = param
            self.state[name] = self._scheduled(param)
        else:
            self.state[name] = self._hyperparameter(param)

    def _scheduled(self, schedule: Callable) -> Any:
        value = schedule(self.step)
        if _is_float_array(value) and backends.dtype_name(value.dtype) == "float64":
            return scalar(value, "float32", self.step)  # MLX's schedules give float32
        return value if hasattr(value, "dtype") else self._hyperparameter(value)

    def _hyperparameter(self, value: Any) -> Any:
        """``value`` as an array of the state's framework; numbers become float32."""
        like = self.state.get("step")
        if hasattr(value, "dtype"):
            return scalar(value, backends.dtype_name(value.dtype), like)
        return scalar(value, "float32", like)

    def _adopt_framework(self, parameters: Any) -> None:
        """Moves the top-level scalars to the framework of ``parameters``."""
        like = first_leaf(parameters)
        if like is None:
            return
        b = backends.of(like)
        for key, value in list(self._state.items()):
            if (
                hasattr(value, "dtype")
                and not isinstance(value, dict)
                and backends.of(value) is not b
            ):
                dtype = backends.dtype_name(value.dtype)
                if key == "step":
                    dtype = _STEP_DTYPE.get(b.NAME, "int32")
                self._state[key] = scalar(value, dtype, like)


def _merge_structure(params: Any, state: Any) -> Any:
    """Gives ``state`` an empty dict (in place) wherever ``params`` has a leaf it lacks."""
    if isinstance(params, (list, tuple)):
        state = list(state)
        for i in range(min(len(state), len(params))):
            state[i] = _merge_structure(params[i], state[i])
        state.extend(tree_map(lambda _: {}, list(params[len(state) :])))
        return type(params)(state) if not hasattr(type(params), "_fields") else type(params)(*state)
    if isinstance(params, dict):
        for k, v in params.items():
            state[k] = (
                tree_map(lambda _: {}, v) if k not in state else _merge_structure(v, state[k])
            )
        return state
    return state
