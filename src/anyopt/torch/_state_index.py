"""A group's transformation state seen the way torch.optim keeps state.

The transformation runs on the tree ``{name: parameter}``, so its per-parameter state lives
in dicts keyed by those names (``ScaleByAdamState(count, mu={name: ...}, nu={name: ...})``).
``StateIndex`` splits the state's leaves into

- per-parameter entries, ``self.per_param[i]["0.mu"]``: the leaf's path with the parameter's
  name left out; these dicts are torch's ``optimizer.state[p]``;
- shared entries, ``self.shared["0.count"]``: leaves under no parameter name (step counts,
  injected hyperparameters); this dict is the group's ``"anyopt_state"``.

Entries are the state's own tensors (or views into them), never copies. In ``flat`` mode
(``make_step`` packs the leaves into one buffer per dtype) the state's dicts are keyed by
dtype instead, and each parameter's entry is a view of its slice of the buffer.
"""

from __future__ import annotations

from typing import Any

import torch

from anyopt import backends


def _word(entry: Any) -> str:
    for field in ("key", "name", "idx"):
        if hasattr(entry, field):
            return str(getattr(entry, field))
    return str(entry).strip(".[]'\"")


def _dict_key(entry: Any) -> Any:
    """The key of a dict entry of a key path, or a sentinel for other entries."""
    if type(entry).__name__ == "DictKey":
        return entry.key
    return _NOT_A_DICT_KEY


_NOT_A_DICT_KEY = object()


class StateIndex:
    """Where each leaf of a group's state belongs; see the module docstring.

    ``owners`` are the keys under which per-parameter state sits: the parameters' names, or
    in flat mode the dtype names of the buffers. ``views[owner]`` gives, for a leaf under
    ``owner``, the list of ``(param index, view)``; outside flat mode, ``owner`` is a name
    and its view is the leaf itself.
    """

    def __init__(self, names: list, flat: Any = None):
        self.names = list(names)
        self.flat = flat  # (layout, {dtype name: [(param index, start, stop, shape)]}) or None
        self.per_param: list[dict] = [{} for _ in names]
        self.shared: dict = {}
        self.leaves: list = []
        self.slots: list = []  # per leaf: ("shared", key) | ("param", owner, key)

    # --- building ---------------------------------------------------------------------
    def assign(self, state: Any) -> None:
        """Indexes ``state`` (all entries rebuilt)."""
        pairs = backends.leaves_with_keys(state)
        self.leaves, self.treedef = backends.flatten(state)
        owners = set(self.flat[1]) if self.flat is not None else set(self.names)
        paths = [path for path, _ in pairs]
        self.slots = _slots(paths, owners)
        for d in self.per_param:
            d.clear()
        self.shared.clear()
        for j in range(len(self.leaves)):
            self._place(j)
        self._check_unique()

    def _place(self, j: int) -> None:
        slot, leaf = self.slots[j], self.leaves[j]
        if slot[0] == "shared":
            self.shared[slot[1]] = leaf
            return
        _, owner, key = slot
        for i, view in self._views(owner, leaf):
            self.per_param[i][key] = view

    def _views(self, owner: str, leaf: Any) -> list:
        if self.flat is None:
            return [(self.names.index(owner), leaf)]
        spans = self.flat[1][owner]
        total = spans[-1][2] if spans else 0
        if not isinstance(leaf, torch.Tensor) or leaf.ndim != 1 or leaf.numel() != total:
            raise RuntimeError(
                "anyopt.torch.Optimizer: a flat-mode state leaf does not match its buffer; "
                "pass step_mode='fused', 'compiled' or 'reference'"
            )
        return [(i, leaf[a:b].view(shape)) for i, a, b, shape in spans]

    def _check_unique(self) -> None:
        seen: dict = {}
        for slot in self.slots:
            key = (slot[1], slot[2]) if slot[0] == "param" else ("", slot[1])
            if key in seen:
                raise RuntimeError(
                    f"anyopt.torch.Optimizer: two state leaves share the key {key[-1]!r}; "
                    f"this state's layout is not supported"
                )
            seen[key] = True

    def refresh(self, state: Any) -> None:
        """Points the entries at ``state``'s leaves where they changed (after a step that
        returned new tensors); a step that wrote in place changes nothing."""
        leaves, treedef = backends.flatten(state)
        if len(leaves) != len(self.leaves) or treedef != self.treedef:
            self.assign(state)
            return
        for j, leaf in enumerate(leaves):
            if leaf is not self.leaves[j]:
                self.leaves[j] = leaf
                self._place(j)

    # --- torch's view ----------------------------------------------------------------
    def keys(self) -> tuple[list, list]:
        """The per-parameter keys and the shared keys, sorted."""
        per = sorted({s[2] for s in self.slots if s[0] == "param"})
        return per, sorted(s[1] for s in self.slots if s[0] == "shared")

    def load(self, per_param: dict, shared: Any, where: str) -> Any:
        """A state with this one's structure holding the given values (cast to each leaf's
        device and dtype): ``per_param`` maps a parameter's index to its dict (a parameter
        that has none keeps its fresh state), ``shared`` is the shared dict (None: keep).
        ``ValueError`` if keys or shapes differ."""
        per_keys, shared_keys = self.keys()
        for i, entries in per_param.items():
            _same_keys(f"{where}, parameter {self.names[i]!r}", entries, per_keys)
        if shared is not None:
            _same_keys(f"{where}, shared state", shared, shared_keys)
        leaves = list(self.leaves)
        with torch.no_grad():
            for j, slot in enumerate(self.slots):
                if slot[0] == "shared":
                    if shared is not None:
                        leaves[j] = _cast(shared[slot[1]], leaves[j], f"{where}, {slot[1]}")
                    continue
                _, owner, key = slot
                views = self._views(owner, leaves[j])
                if self.flat is None:
                    ((i, live),) = views
                    if i in per_param:
                        leaves[j] = _cast(per_param[i][key], live, f"{where}, {key}")
                    continue
                for i, view in views:
                    if i in per_param:
                        view.copy_(_cast(per_param[i][key], view, f"{where}, {key}"))
        return backends.unflatten(self.treedef, leaves)


def _slots(paths: list, owners: set) -> list:
    """For each leaf path: ("param", owner, key) if it passes through a dict whose keys are
    all owners (the first such dict), else ("shared", key)."""
    keys_under: dict = {}
    for path in paths:
        for n, entry in enumerate(path):
            k = _dict_key(entry)
            if k is not _NOT_A_DICT_KEY:
                keys_under.setdefault(tuple(map(_word, path[:n])), set()).add(k)
    slots = []
    for path in paths:
        words = [_word(e) for e in path]
        owner_at = None
        for n, entry in enumerate(path):
            k = _dict_key(entry)
            if k is not _NOT_A_DICT_KEY and k in owners and keys_under[tuple(words[:n])] <= owners:
                owner_at = n
                break
        if owner_at is None:
            slots.append(("shared", ".".join(words) or "state"))
        else:
            key = ".".join(words[:owner_at] + words[owner_at + 1 :]) or "state"
            slots.append(("param", str(path[owner_at].key), key))
    return slots


def _same_keys(where: str, entries: Any, expected: list) -> None:
    if not isinstance(entries, dict):
        raise ValueError(f"anyopt.torch.Optimizer.load_state_dict: {where}: expected a dict")
    got = sorted(map(str, entries))
    if got != expected:
        raise ValueError(
            f"anyopt.torch.Optimizer.load_state_dict: {where}: the saved state has keys {got}, "
            f"but this optimizer's transformation keeps {expected}; the state_dict was saved "
            f"by another optimizer or transformation"
        )


def _cast(saved: Any, live: Any, where: str) -> Any:
    """``saved`` as a new tensor with ``live``'s device, dtype and shape."""
    if not isinstance(live, torch.Tensor):
        return saved
    value = saved if isinstance(saved, torch.Tensor) else torch.as_tensor(saved)
    if tuple(value.shape) != tuple(live.shape):
        raise ValueError(
            f"anyopt.torch.Optimizer.load_state_dict: {where}: the saved tensor has shape "
            f"{tuple(value.shape)}, but this optimizer's state has {tuple(live.shape)}"
        )
    return value.to(device=live.device, dtype=live.dtype, copy=True)
