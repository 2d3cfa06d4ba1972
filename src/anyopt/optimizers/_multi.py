"""``MultiOptimizer``: different optimizers for different parameters, chosen by filters on
``(dotted name, gradient)``; the first filter that accepts a parameter wins and the last
optimizer takes the rest (mlx.optimizers' semantics)."""

from __future__ import annotations

from typing import Any, Union

from anyopt.optimizers._base import Optimizer
from anyopt.optimizers._trees import tree_flatten, tree_merge, tree_unflatten


class MultiOptimizer(Optimizer):
    """Routes each parameter to one of ``optimizers``: ``filters[i](name, gradient)``
    selects the parameters of ``optimizers[i]``; the last optimizer, which has no filter,
    takes every parameter no filter selected.
    """

    def __init__(self, optimizers: list, filters: list = []):  # noqa: B006 (MLX's signature)
        super().__init__()
        self._state = {}
        if len(filters) != len(optimizers) - 1:
            raise ValueError(f"Given {len(filters)} filters but {len(optimizers) - 1} needed.")
        self.optimizers = list(optimizers)
        self.filters = list(filters) + [lambda *args, **kwargs: True]

    def _split_dictionary(self, gradients: Any) -> list:
        if len(self.optimizers) == 1:
            return [gradients]
        parts: list[list] = [[] for _ in self.optimizers]
        for name, g in tree_flatten(gradients):
            for i, accepts in enumerate(self.filters):
                if accepts(name, g):
                    parts[i].append((name, g))
                    break
        return [tree_unflatten(p) if p else {} for p in parts]

    def init(self, parameters: Any) -> None:
        for optimizer, part in zip(self.optimizers, self._split_dictionary(parameters)):
            optimizer.init(part)

    def apply_gradients(self, gradients: Any, parameters: Any) -> Any:
        tree: Any = {}
        for optimizer, part in zip(self.optimizers, self._split_dictionary(gradients)):
            tree = tree_merge(tree, optimizer.apply_gradients(part, parameters))
        return tree

    @property
    def state(self) -> dict:
        return {"states": [o.state for o in self.optimizers]}

    @state.setter
    def state(self, state: dict) -> None:
        if "states" not in state or len(state["states"]) != len(self.optimizers):
            raise ValueError("Invalid state provided")
        for optimizer, s in zip(self.optimizers, state["states"]):
            optimizer.state = s

    @property
    def step(self) -> Any:
        return self.optimizers[0].step

    @property
    def learning_rate(self) -> Any:
        return self.optimizers[0].learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate: Union[float, Any]) -> None:
        for optimizer in self.optimizers:
            optimizer.learning_rate = learning_rate
