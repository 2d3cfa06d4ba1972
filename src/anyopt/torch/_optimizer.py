"""``anyopt.torch.Optimizer``: any anyopt transformation as a ``torch.optim.Optimizer``."""

from __future__ import annotations

import copy
import functools
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, Optional, Union

import torch

from anyopt._base import GradientTransformation
from anyopt._step import MODES
from anyopt.torch._adapter_group import GroupRuntime
from anyopt.torch._adapter_spec import FactorySpec, ReadySpec, neither_error

_HIDDEN_KEYS = ("params", "param_names", "anyopt_state")


class Optimizer(torch.optim.Optimizer):
    r"""An anyopt transformation as a ``torch.optim.Optimizer``.

    Args:
        params: what torch.optim accepts: an iterable of tensors, of ``(name, tensor)``
            pairs (``model.named_parameters()``), or of param-group dicts with per-group
            hyperparameters.
        transformation: a factory such as ``anyopt.adamw`` (each group then runs
            ``inject_hyperparams(factory)(**its hyperparameters)``; ``lr`` is the factory's
            ``learning_rate``, ``betas`` its ``(b1, b2)``, other arguments keep their names),
            or a ready ``GradientTransformation`` (``lr`` is its injected ``learning_rate`` if
            it has one, else a factor on its updates, 1.0 by default).
        step_mode: ``make_step``'s mode: ``"auto"`` (the fastest for the parameters),
            ``"reference"``, ``"compiled"``, ``"fused"`` or ``"flat"``.
        adopt_params: for many small parameters on the CPU, move them into one flat
            buffer at the first step (``p.data`` becomes a view of it), so a step copies
            only the gradients: about 2x faster there. Done only for parameters whose memory
            nothing else references. Off by default: parameters that share one storage
            confuse some checkpoint savers (``accelerate``'s ``save_model`` keeps one tensor
            per storage; safetensors' ``save_model`` refuses them).
        **defaults: the groups' default hyperparameters (``lr=1e-3, weight_decay=0.01``).

    ``step(closure=None, **extra_args)`` runs the transformation once per group on the tree
    ``{name: parameter}`` (names from ``named_parameters()``, else "0", "1", ... by position
    in the group) and updates the parameters in place. A closure's loss reaches
    transformations that need it as ``value=`` (with ``grad=``); ``extra_args`` go to the
    transformation's update (``value_fn=`` for L-BFGS, ``obj_fn=`` for Sophia).

    ``optimizer.state[p]`` holds a parameter's state leaves keyed by their path in the
    transformation's state ("0.mu"); leaves that belong to no parameter (step counts,
    injected hyperparameters) are in ``param_groups[i]["anyopt_state"]``. See docs/torch.md.

    Example::

        optimizer = anyopt.torch.Optimizer(model.named_parameters(), anyopt.adamw, lr=1e-3)
        loss_fn(model(x), y).backward()
        optimizer.step()
        optimizer.zero_grad()
    """

    def __init__(
        self,
        params: Iterable,
        transformation: Union[GradientTransformation, Callable[..., GradientTransformation]],
        *,
        step_mode: str = "auto",
        adopt_params: bool = False,
        **defaults: Any,
    ):
        if isinstance(params, torch.Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                "dicts, but got " + torch.typename(params)
            )
        if step_mode != "auto" and step_mode not in MODES:
            raise ValueError(
                f"anyopt.torch.Optimizer: step_mode must be 'auto' or one of {MODES}; "
                f"got {step_mode!r}"
            )
        if not isinstance(adopt_params, bool):
            raise TypeError(
                f"anyopt.torch.Optimizer: adopt_params must be True or False; got {adopt_params!r}"
            )
        params = _materialized(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        if isinstance(transformation, GradientTransformation):
            spec: Any = ReadySpec(transformation, _example_tree(params))
        elif callable(transformation) and not isinstance(transformation, type):
            spec = FactorySpec(transformation)
        else:
            raise neither_error(transformation)
        self._spec, self._step_mode, self._adopt_params = spec, step_mode, adopt_params
        self._runtimes: dict[int, GroupRuntime] = {}
        super().__init__(params, spec.defaults(defaults))

    # --- groups -------------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        if isinstance(param_group, dict):
            self._spec.normalize(param_group, self.defaults)
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            names = group.get("param_names")
            if names is not None and len(set(names)) != len(names):
                raise ValueError(
                    f"anyopt.torch.Optimizer: parameter names must be unique within a group; "
                    f"got {names}"
                )
            self._spec.validate(group)
        except Exception:
            self.param_groups.pop()
            raise

    @staticmethod
    def _names(group: dict) -> list:
        names = group.get("param_names")
        return list(names if names is not None else _index_names(len(group["params"])))

    def _runtime(self, i: int, names: Optional[list] = None) -> GroupRuntime:
        """Group ``i``'s runtime, built (with the state from ``self.state`` and the group's
        ``anyopt_state``, if any) when missing or when the group's parameters changed."""
        group, runtimes = self.param_groups[i], self.__dict__.setdefault("_runtimes", {})
        names = self._names(group) if names is None else names
        old = runtimes.get(i)
        if old is not None and old.matches(group, names):
            return old
        if old is not None:  # parameters added or removed by hand: keep what still exists
            where = {id(p): k for k, p in enumerate(old.params)}
            per_param = {
                k: old.index.per_param[where[id(p)]]
                for k, p in enumerate(group["params"])
                if id(p) in where
            }
            shared = old.index.shared
        else:
            per_param = {
                k: self.state[p] for k, p in enumerate(group["params"]) if self.state.get(p)
            }
            shared = group.get("anyopt_state")
        runtime = self._build(i, group, per_param, shared)
        self._install(i, runtime, old)
        return runtime

    def _build(self, i: int, group: dict, per_param: dict, shared: Any) -> GroupRuntime:
        adopt = self.__dict__.get("_adopt_params", False)
        runtime = GroupRuntime(self._spec, group, self._names(group), self._step_mode, adopt)
        if per_param or shared is not None:
            runtime.load(per_param, shared, f"param group {i}")
        return runtime

    def _install(self, i: int, runtime: GroupRuntime, old: Optional[GroupRuntime]) -> None:
        if old is not None:
            for p in old.params:
                self.state.pop(p, None)
        self._runtimes[i] = runtime
        for p, entries in zip(runtime.params, runtime.index.per_param):
            self.state[p] = entries
        self.param_groups[i]["anyopt_state"] = runtime.index.shared

    # --- stepping -----------------------------------------------------------------------
    def step(self, closure: Optional[Callable[[], Any]] = None, **extra_args: Any) -> Any:
        """One optimization step; returns the closure's loss (None without a closure)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for i, group in enumerate(self.param_groups):
            self._step_group(i, group, loss, extra_args)
        return loss

    def _step_group(self, i: int, group: dict, loss: Any, extra_args: dict) -> None:
        params = group["params"]
        found = [p.grad for p in params]
        skipped = [k for k, g in enumerate(found) if g is None]
        if len(skipped) == len(params):
            return
        names = self._names(group)
        runtime = self._runtime(i, names)
        if not runtime.group_unchanged(group):
            targets = self._spec.targets(group)
            if not runtime.synced_with(targets):
                changed = runtime.changed_static(targets)
                if changed:
                    runtime = self._rebuild(i, group, runtime, changed)
                runtime.sync(targets)
            runtime.remember(group)
        for k in skipped:
            found[k] = torch.zeros_like(params[k])
        grads = dict(zip(names, found))
        extras = dict(extra_args)
        if runtime.needs_extra or extras:
            if loss is None and not extras:
                raise TypeError(
                    f"anyopt.torch.Optimizer.step: {self._spec.describe()}'s update needs more "
                    f"than gradients (without them it fails with: {runtime.probe_error!r}); "
                    f"pass a closure that returns the loss (it is given to the update as "
                    f"value=), and other arguments as keywords, e.g. step(closure, value_fn=...)"
                )
            if loss is not None:
                extras.setdefault("value", loss.detach() if torch.is_tensor(loss) else loss)
                extras.setdefault("grad", grads)
        if extras or not runtime.refuses_sparse:
            _refuse_sparse(names, found)
        try:
            runtime.run(grads, skipped, extras)
        except ValueError:
            _refuse_sparse(names, found)
            raise

    def _rebuild(self, i: int, group: dict, old: GroupRuntime, changed: dict) -> GroupRuntime:
        per_param, shared = old.export()
        try:
            runtime = self._build(i, group, per_param, shared)
        except ValueError as e:
            what = ", ".join(f"{k}={v!r}" for k, v in changed.items())
            raise ValueError(
                f"anyopt.torch.Optimizer: param group {i}: {what} cannot be set between steps: "
                f"it changes the structure of the optimizer's state ({e}); set it when the "
                f"optimizer is built"
            ) from e
        self._install(i, runtime, old)
        return runtime

    # --- state_dict -----------------------------------------------------------------------
    @torch._disable_dynamo
    def load_state_dict(self, state_dict: dict) -> None:
        """Loads a state_dict saved by ``state_dict()``: by parameter name when both sides
        have names (``named_parameters()``), else by position as torch.optim does. Tensors
        are cast to the device and dtype of this optimizer's state (that of the parameters,
        unless the transformation chose another, e.g. ``mu_dtype``)."""
        state_dict = state_dict.copy()
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = pre_hook(self, state_dict)
            if result is not None:
                state_dict = result
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for g, s in zip(groups, saved_groups):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group that doesn't match the size "
                    "of optimizer's group"
                )
        by_name = all("param_names" in g for g in groups + saved_groups)
        id_map = _by_name(groups, saved_groups) if by_name else _by_position(groups, saved_groups)
        saved_state = {id_map.get(k, k): v for k, v in state_dict["state"].items()}
        new_groups = []
        for g, s in zip(groups, saved_groups):
            new = dict(s, params=g["params"])
            if "param_names" in g and (by_name or "param_names" not in s):
                new["param_names"] = g["param_names"]
            new_groups.append(new)
        runtimes = {}
        for i, group in enumerate(new_groups):
            shared = group.pop("anyopt_state", None)
            per_param = {
                k: saved_state[p] for k, p in enumerate(group["params"]) if p in saved_state
            }
            if per_param and shared is None:
                raise ValueError(
                    f"anyopt.torch.Optimizer.load_state_dict: param group {i} has per-parameter "
                    f"state but no 'anyopt_state': the state_dict was not saved by "
                    f"anyopt.torch.Optimizer"
                )
            self._spec.validate(group)
            if shared is not None:
                runtimes[i] = self._build(i, group, per_param, shared)
        self.param_groups = new_groups
        self.state = defaultdict(dict)
        self._runtimes = {}
        for k, v in saved_state.items():
            if not isinstance(k, torch.Tensor):
                self.state[k] = v  # entries for no parameter are kept, as torch.optim does
        for i, runtime in runtimes.items():
            self._install(i, runtime, None)
        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        adopt = self.__dict__.get("_adopt_params", False)
        state.update(_spec=self._spec, _step_mode=self._step_mode, _adopt_params=adopt)
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("_runtimes", {})

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ({self._spec.describe()}, step_mode={self._step_mode!r}"]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k not in _HIDDEN_KEYS):
                lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"


def _materialized(params: Iterable) -> list:
    """``params`` as a list, with each group's ``params`` a list (so iterating a generator
    once, to find example parameters, leaves it for torch)."""
    out = []
    for item in params:
        if isinstance(item, dict) and "params" not in item:
            raise KeyError("params")  # torch.optim's error for a group without parameters
        if isinstance(item, dict) and not isinstance(item["params"], torch.Tensor):
            item = dict(item, params=list(item["params"]))
        out.append(item)
    return out


def _example_tree(params: list) -> dict:
    """The first group's parameters as ``{name: tensor}``, to look into a ready
    transformation's state."""
    first = params[0]
    items = first.get("params", ()) if isinstance(first, dict) else params
    if isinstance(items, torch.Tensor):
        items = [items]
    tree = {}
    for k, item in enumerate(items):
        if isinstance(item, tuple) and len(item) == 2:
            tree[str(item[0])] = item[1]
        elif isinstance(item, torch.Tensor):
            tree[str(k)] = item
    if not tree:
        raise ValueError("optimizer got an empty parameter list")
    return tree


def _by_position(groups: list, saved_groups: list) -> dict:
    return dict(
        zip(
            itertools.chain.from_iterable(s["params"] for s in saved_groups),
            itertools.chain.from_iterable(g["params"] for g in groups),
        )
    )


def _by_name(groups: list, saved_groups: list) -> dict:
    """Saved parameter ids to parameters, matched by name within each group (groups match
    by position, as in torch; names need only be unique within a group)."""
    id_map = {}
    for gi, (g, s) in enumerate(zip(groups, saved_groups)):
        current = dict(zip(g["param_names"], g["params"]))
        unknown = [n for n in s["param_names"] if n not in current]
        if unknown:
            raise ValueError(
                f"anyopt.torch.Optimizer.load_state_dict: param group {gi} of the state_dict "
                f"has parameters {unknown} that this optimizer's group {gi} does not have (it "
                f"has {list(current)})"
            )
        for saved_id, name in zip(s["params"], s["param_names"]):
            id_map[saved_id] = current[name]
    return id_map


@functools.lru_cache(maxsize=64)
def _index_names(n: int) -> tuple:
    """The names of a group's parameters when it has none: their positions."""
    return tuple(str(i) for i in range(n))


def _refuse_sparse(names: list, grads: list) -> None:
    for name, g in zip(names, grads):
        if g is not None and g.is_sparse:
            raise RuntimeError(
                f"anyopt.torch.Optimizer does not support sparse gradients (parameter "
                f"{name!r}), please consider SparseAdam instead"
            ) from None
