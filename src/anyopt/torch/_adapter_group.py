"""One param group's transformation, state and compiled step.

``GroupRuntime`` builds the group's transformation from its hyperparameters (through a
spec), initialises the state on the tree ``{name: parameter}``, and steps it with
``anyopt.make_step`` (one call for the whole group: multi-tensor, flat, fused or compiled,
writing into the parameters and the state in place). Between steps it sets changed
hyperparameters in the state (``set_hyperparam``: no rebuild, no recompilation); a changed
static argument (one that decides the code path) rebuilds it, keeping the state.
"""

from __future__ import annotations

import operator
from typing import Any

import torch

from anyopt import backends
from anyopt._step import make_step
from anyopt._update import apply_updates
from anyopt.backends import _flat
from anyopt.torch import _adopt
from anyopt.torch._adapter_spec import is_number
from anyopt.torch._state_index import StateIndex


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return False  # a tensor may have changed in place: set it again (no sync)
    if a is b:
        return True
    try:
        return bool(a == b) and type(a) is type(b) or (is_number(a) and is_number(b) and a == b)
    except Exception:
        return False


_MISSING = object()
_OWN_KEYS = ("params", "param_names", "anyopt_state")  # checked by ``matches``, or ours


def _plain_number(value: Any) -> bool:
    """A value ``==`` compares exactly: a Python number or string, or a tuple of them
    (not a tensor, which may change in place, nor an object compared by identity)."""
    if isinstance(value, tuple):
        return all(map(_plain_number, value))
    return value is None or type(value) in (bool, int, float, str)


def _hyperparam_dtype(params: list) -> Any:
    """float32 for hyperparameters of low-precision parameters (b2=0.999 is 1.0 in bfloat16)."""
    dtypes = {p.dtype for p in params if p.is_floating_point()}
    return "float32" if dtypes and dtypes <= {torch.float16, torch.bfloat16} else None


class GroupRuntime:
    def __init__(self, spec: Any, group: dict, names: list, mode: str, adopt: bool = False):
        self.spec, self.mode, self.compiled_once = spec, mode, False
        self.params, self.names = list(group["params"]), list(names)
        self.tree = dict(zip(self.names, self.params))
        self.leaf_params, _ = backends.flatten(self.tree)  # the order steps take them in
        self.leaf_names = backends.flatten({n: n for n in self.names})[0]
        adopt = adopt and _adopt.adoptable(self.params)  # before NumPy views lend the memory
        self.bound: Any = None  # the fused step bound to the state's leaves
        targets = spec.targets(group)
        self.built = spec.build(targets, _hyperparam_dtype(self.params))
        self.tx = self.built.tx
        with torch.no_grad():
            state = _unaliased(self.tx.init(self.tree), self.params)
            self.probe_error = _probe(self.tx, self.tree, state)
            self.needs_extra = self.probe_error is not None
            if self.needs_extra:
                self.step_fn, flat = None, None
            else:
                del state
                self.step_fn = make_step(self.tx, mode, donate=True)
                state = _unaliased(self.step_fn.init(self.tree), self.params)
                if self.step_fn.mode == "flat" and mode == "auto" and not adopt:
                    # parameters that stay where they are: stepping them there (fused)
                    # is faster than copying them into the flat buffer and back
                    self.step_fn = make_step(self.tx, "fused", donate=True)
                    state = _unaliased(self.step_fn.init(self.tree), self.params)
                flat = self._flat_layout() if self.step_fn.mode == "flat" else None
        # the parameters' data pointers while they live in the flat buffer
        self.adopted = _adopt.adopt(self.step_fn, self.tree) if flat and adopt else None
        self.state = state
        self.settable = self.built.settable(state)
        self.static = {
            t: v for t, v in targets.items() if t not in self.settable or not is_number(v)
        }
        self.applied: dict = {}  # set at the first sync (a ready tx holds its own values)
        self.synced: dict | None = None  # see ``synced_with``
        self.synced_items: list | None = None  # see ``group_unchanged``
        self.index = StateIndex(self.names, flat)
        self.index.assign(state)

    def _flat_layout(self) -> tuple:
        layout, _, leaves = _flat.layout_of(self.tree)
        position = {id(p): i for i, p in enumerate(self.params)}
        spans: dict = {}
        for dtype, members in layout.groups.items():
            spans[layout.names[dtype]] = [
                (position[id(leaves[m])], a, b, tuple(leaves[m].shape))
                for m, (a, b) in zip(members, layout.offsets[dtype])
            ]
        return layout, spans

    def matches(self, group: dict, names: list) -> bool:
        params = group["params"]
        return (
            len(params) == len(self.params)
            and all(map(operator.is_, params, self.params))
            and names == self.names
        )

    # --- hyperparameters ---------------------------------------------------------------
    def changed_static(self, targets: dict) -> dict:
        """Targets (the group's values, ``spec.targets``) the state cannot take by
        ``set_hyperparam`` (static arguments, or a value that is not a number) whose value
        differs from the one the step was built with."""
        changed = {}
        for target, value in targets.items():
            if target in self.settable and is_number(value):
                continue
            if target in self.static:
                before = self.static[target]
            else:
                before = self.applied.get(target, _MISSING)
            if not _same(value, before):
                changed[target] = value
        return changed

    def sync(self, targets: dict) -> None:
        """Sets changed hyperparameters (``spec.targets`` of the group) in the state (no
        rebuild)."""
        state = self.state
        for target, value in targets.items():
            if target in self.settable and is_number(value):
                if target not in self.applied or not _same(value, self.applied[target]):
                    state = self.built.set(state, target, value)
                    self.applied[target] = value
        if state is not self.state:
            self.state = state
            self.index.refresh(state)
        # the values synced, kept where comparing them later is exact (plain numbers)
        self.synced = dict(targets) if all(map(_plain_number, targets.values())) else None

    def synced_with(self, targets: dict) -> bool:
        """Whether ``targets`` equal the values of the last ``sync`` (nothing to do)."""
        return self.synced is not None and targets == self.synced

    def remember(self, group: dict) -> None:
        """Keeps the group's items after a sync, where every value but the parameters and
        the state is a plain number (a list or tensor may change in place)."""
        plain = all(_plain_number(v) for k, v in group.items() if k not in _OWN_KEYS)
        self.synced_items = list(group.items()) if plain and self.synced is not None else None

    def group_unchanged(self, group: dict) -> bool:
        """Whether the group holds the same items as at the last ``remember`` (then its
        hyperparameters need no checks: ``matches`` has checked its parameters)."""
        if self.synced_items is None:
            return False
        try:
            return list(group.items()) == self.synced_items
        except RuntimeError:  # a new value whose == is a tensor
            return False

    # --- stepping -----------------------------------------------------------------------
    def run(self, grads: dict, skipped: list, extra_args: dict) -> None:
        """One step on the whole group; parameters in ``skipped`` (indices) and their
        per-parameter state are restored afterwards."""
        before = self.state
        if not skipped and not extra_args and self.refuses_sparse:
            # the fused step writes through the tensors' memory: no autograd involved
            new_params, self.state = self._fused_step(grads)
            if new_params is not self.tree or self.state is not before:
                with torch.no_grad():
                    self._settle(new_params, before)
            return
        saved = [
            (
                i,
                self.params[i].detach().clone(),
                {k: v.clone() for k, v in self.index.per_param[i].items() if torch.is_tensor(v)},
            )
            for i in skipped
        ]
        with torch.no_grad():
            if self.step_fn is not None and not extra_args:
                new_params, self.state = self._fast_step(grads)
            else:
                updates, self.state = self.tx.update(grads, self.state, self.tree, **extra_args)
                new_params = apply_updates(self.tree, updates)
            self._settle(new_params, before)
            for i, param, entries in saved:
                self.params[i].copy_(param)
                for k, v in entries.items():
                    self.index.per_param[i][k].copy_(v)

    def _settle(self, new_params: dict, before: Any) -> None:
        """Copies new parameter values into the parameters, and indexes a new state."""
        if new_params is not self.tree:
            moved = [(p, new_params[n]) for n, p in self.tree.items() if new_params[n] is not p]
            if moved:
                torch._foreach_copy_([p for p, _ in moved], [v for _, v in moved])
        if self.state is not before:  # else every leaf was written in place
            self.index.refresh(self.state)

    def _fast_step(self, grads: dict) -> tuple:
        if self.step_fn.mode == "fused":
            return self._fused_step(grads)
        if self.adopted is not None:
            if _adopt.still_adopted(self.params, self.adopted):
                grad_leaves = [grads[name] for name in self.leaf_names]
                return self.tree, self.step_fn.step_adopted(grad_leaves, self.state)
            self.adopted = None  # a parameter moved: copy in and out from now on
        if self.mode != "auto" or self.step_fn.mode != "compiled" or self.compiled_once:
            return self.step_fn(self.tree, grads, self.state)
        try:
            out = self.step_fn(self.tree, grads, self.state)
        except Exception:  # noqa: BLE001 - torch.compile could not compile this step
            # The compiled step failed while compiling, before writing anything: run the
            # reference step (same state) from now on; a real error raises again there.
            self.step_fn = make_step(self.tx, "reference")
            return self.step_fn(self.tree, grads, self.state)
        self.compiled_once = True
        return out

    @property
    def refuses_sparse(self) -> bool:
        """Whether a step on gradients alone raises ``ValueError`` for sparse gradients
        before writing anything (the fused step reads only dense memory)."""
        return self.step_fn is not None and self.step_fn.mode == "fused"

    def _fused_step(self, grads: dict) -> tuple:
        """The fused step on the leaves this runtime keeps (no tree flattening): bound
        again when the state object changes, or when the step refuses the leaves and a
        parameter's dtype or shape has changed."""
        bound = self.bound
        if bound is None or bound[0] is not self.state:
            bound = self._bind(grads)
        state, signature, run, state_leaves, treedef = bound
        grad_leaves = [grads[name] for name in self.leaf_names]
        try:  # torch checks that a .grad has its parameter's dtype, device and shape
            new_p, new_s = run([self.leaf_params, grad_leaves, state_leaves], grads_match=True)
        except ValueError:
            if self._signature() == signature:
                raise
            state, signature, run, state_leaves, treedef = self._bind(grads)
            new_p, new_s = run([self.leaf_params, grad_leaves, state_leaves], grads_match=True)
        if not all(map(operator.is_, new_s, state_leaves)):
            state = backends.unflatten(treedef, new_s)
        if all(map(operator.is_, new_p, self.leaf_params)):  # written in place
            return self.tree, state
        return dict(zip(self.leaf_names, new_p)), state

    def _signature(self) -> list:
        return [(p.dtype, p.shape) for p in self.leaf_params]

    def _bind(self, grads: dict) -> tuple:
        run = self.step_fn.leaf_runner(self.tree, grads, self.state)
        leaves, treedef = backends.flatten(self.state)
        self.bound = (self.state, self._signature(), run, leaves, treedef)
        return self.bound

    # --- state in torch's format --------------------------------------------------------
    def export(self) -> tuple[dict, dict]:
        return dict(enumerate(self.index.per_param)), self.index.shared

    def load(self, per_param: dict, shared: Any, where: str) -> None:
        state = self.index.load(per_param, shared, where)
        self.state = _unaliased(state, self.params)
        self.index.assign(self.state)
        self.applied = {}  # the loaded hyperparameters give way to the group's at the next step
        self.synced, self.synced_items = None, None


def _probe(tx: Any, tree: dict, state: Any) -> Any:
    """None if ``tx.update`` runs on gradients alone, else the error it raised (it needs
    ``value=`` or other arguments; the update is pure, so nothing changes)."""
    zeros = {name: torch.zeros_like(p) for name, p in tree.items()}
    try:
        tx.update(zeros, state, tree)
    except Exception as e:  # noqa: BLE001 - any failure means: pass more than gradients
        return e
    return None


def _unaliased(state: Any, params: list) -> Any:
    """``state`` with copies of leaves that share memory with a parameter or an earlier leaf
    (an init that returns ``params`` as-is): steps write the state in place."""
    leaves, treedef = backends.flatten(state)
    seen = {id(p) for p in params}
    pointers = {(p.data_ptr(), p.numel()) for p in params if p.numel()}
    changed = False
    for j, leaf in enumerate(leaves):
        if not isinstance(leaf, torch.Tensor):
            continue
        key = (leaf.data_ptr(), leaf.numel())
        if id(leaf) in seen or (leaf.numel() and key in pointers):
            leaves[j], changed = leaf.clone(), True
            leaf = leaves[j]
            key = (leaf.data_ptr(), leaf.numel())
        seen.add(id(leaf))
        if leaf.numel():
            pointers.add(key)
    return backends.unflatten(treedef, leaves) if changed else state
