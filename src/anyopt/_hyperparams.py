"""Hyperparameters by name: read or set what ``inject_hyperparams`` keeps in a state,
however deeply the state is wrapped (chain, partition, masked, MultiSteps ...).

An entry's name is the hyperparameter's name, preceded where several share it by the
nearest labels or positions that tell them apart: ``learning_rate``, or
``muon.learning_rate`` and ``adamw.learning_rate`` under a partition, or
``0.learning_rate`` and ``2.learning_rate`` in a chain. A query may give any such
qualifiers: ``"muon.learning_rate"`` finds the one hyperparameter named ``learning_rate``
with ``muon`` somewhere on its path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from anyopt import backends
from anyopt.schedules._inject import (
    InjectHyperparamsState,
    InjectStatefulHyperparamsState,
    _to,
)

_INJECTED = (InjectHyperparamsState, InjectStatefulHyperparamsState)


def _injections(node: Any, path: tuple = ()):
    """``(path, state)`` for every inject_hyperparams state; path entries are (kind, key)."""
    if isinstance(node, _INJECTED):
        yield path, node
        yield from _injections(node.inner_state, path + (("attr", "inner_state"),))
    elif isinstance(node, tuple) and hasattr(type(node), "_fields"):
        for field in node._fields:
            yield from _injections(getattr(node, field), path + (("attr", field),))
    elif isinstance(node, (tuple, list)):
        for i, child in enumerate(node):
            yield from _injections(child, path + (("index", i),))
    elif isinstance(node, Mapping):
        for key, child in node.items():
            yield from _injections(child, path + (("key", key),))


def _entries(state: Any) -> dict[str, tuple]:
    """Display name -> (path to the holding state, hyperparameter name, full path words)."""
    found = []
    for path, holder in _injections(state):
        for name in holder.hyperparams:
            short = [str(k) for kind, k in path if kind != "attr"] + [name]
            found.append((short, [str(k) for _, k in path] + [name], path, name))
    entries = {}
    for short, full, path, name in found:
        entries[_shortest(short, [s for s, *_ in found], full)] = (path, name, full)
    return entries


def _shortest(short: list, everyone: list, full: list) -> str:
    """The shortest tail of ``short`` that no other entry's words end with."""
    for k in range(1, len(short) + 1):
        if sum(other[-k:] == short[-k:] for other in everyone) == 1:
            return ".".join(short[-k:])
    return ".".join(full)


def _holder(state: Any, path: tuple) -> Any:
    for kind, key in path:
        state = getattr(state, key) if kind == "attr" else state[key]
    return state


def _is_subsequence(words: list, within: list) -> bool:
    it = iter(within)
    return all(any(w == v for v in it) for w in words)


def _lookup(fn: str, state: Any, name: str) -> tuple[str, tuple, str]:
    entries = _entries(state)
    if not entries:
        raise KeyError(
            f"anyopt.{fn}: this state holds no injected hyperparameters; build the optimizer "
            f"with anyopt.inject_hyperparams (e.g. anyopt.inject_hyperparams(anyopt.adam)"
            f"(learning_rate=1e-3)) to read or set them by name"
        )
    if not isinstance(name, str) or not name:
        raise TypeError(f"anyopt.{fn}: name must be a non-empty str; got {name!r}")
    if name in entries:
        return (name, *entries[name][:2])
    *qualifiers, last = name.split(".")
    found = [
        shown
        for shown, (_, hp, full) in entries.items()
        if hp == last and _is_subsequence(qualifiers, full[:-1])
    ]
    if len(found) == 1:
        return (found[0], *entries[found[0]][:2])
    if not found:
        raise KeyError(f"anyopt.{fn}: no hyperparameter {name!r}; this state has {list(entries)}")
    raise ValueError(
        f"anyopt.{fn}: {name!r} is ambiguous, it could be any of {found}; pass one of those names"
    )


def _plain(value: Any) -> Any:
    if isinstance(value, (bool, int, float)):
        return float(value)
    if hasattr(value, "dtype"):
        array = backends.of(value).to_numpy(value)
        return float(array) if array.ndim == 0 else array
    return value


def hyperparams(state: Any, *, as_float: bool = False) -> dict[str, Any]:
    """Every injected hyperparameter in ``state``, by name (see the module docstring).

    With ``as_float``, scalars come back as Python floats (for logging) and other arrays
    as NumPy arrays; otherwise as the arrays the state holds.

    Example::

        tx = anyopt.inject_hyperparams(anyopt.adamw)(learning_rate=schedule)
        state = tx.init(params)
        anyopt.hyperparams(state, as_float=True)  # {'learning_rate': 0.001, 'b1': 0.9, ...}
    """
    out = {}
    for shown, (path, name, _) in _entries(state).items():
        value = _holder(state, path).hyperparams[name]
        out[shown] = _plain(value) if as_float else value
    return out


def get_hyperparam(state: Any, name: str, *, as_float: bool = False) -> Any:
    """The current value of the injected hyperparameter ``name`` anywhere in ``state``.

    ``name`` is a hyperparameter's name, qualified where several share it
    (``"muon.learning_rate"``). ``KeyError`` if there is none, ``ValueError`` if the name
    fits several. With ``as_float``, a scalar comes back as a Python float.
    """
    _, path, hp = _lookup("get_hyperparam", state, name)
    value = _holder(state, path).hyperparams[hp]
    return _plain(value) if as_float else value


def _rebuild(node: Any, path: tuple, replace) -> Any:
    if not path:
        return replace(node)
    (kind, key), rest = path[0], path[1:]
    if kind == "attr":
        return node._replace(**{key: _rebuild(getattr(node, key), rest, replace)})
    if isinstance(node, Mapping):
        new = dict(node)
        new[key] = _rebuild(node[key], rest, replace)
        return type(node)(new) if type(node) is not dict else new
    items = list(node)
    items[key] = _rebuild(node[key], rest, replace)
    return type(node)(items) if not hasattr(type(node), "_fields") else type(node)(*items)


def _converted(fn: str, shown: str, old: Any, value: Any) -> Any:
    if not hasattr(old, "dtype"):
        return type(old)(value)
    if hasattr(value, "shape") and tuple(value.shape) != tuple(old.shape):
        raise ValueError(
            f"anyopt.{fn}: {shown} has shape {tuple(old.shape)}; got a value of shape "
            f"{tuple(value.shape)}"
        )
    return _to(value, old, backends.dtype_name(old.dtype))


def set_hyperparam(state: Any, name: str, value: Any) -> Any:
    """``state`` with the injected hyperparameter ``name`` set to ``value``; nothing else
    changes (moments, step counts). The value takes the stored one's framework and dtype,
    so a jitted step does not recompile. A hyperparameter that follows a schedule is an
    error: the schedule would overwrite it at the next step.

    Example::

        state = anyopt.set_hyperparam(state, "learning_rate", 3e-4)
    """
    fn = "set_hyperparam"
    shown, path, hp = _lookup(fn, state, name)
    holder = _holder(state, path)
    if hp in getattr(holder, "hyperparams_states", {}):
        raise ValueError(
            f"anyopt.{fn}: {shown} follows a schedule, which sets it anew at every step; "
            f"pass a number (not a schedule) to inject_hyperparams to set it by hand"
        )

    def replace(node):
        return node._replace(
            hyperparams={**node.hyperparams, hp: _converted(fn, shown, node.hyperparams[hp], value)}
        )

    return _rebuild(state, path, replace)
