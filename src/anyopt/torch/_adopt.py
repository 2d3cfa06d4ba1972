"""Parameters moved into a flat step's buffer, so a flat step copies only gradients.

``p.data`` becomes a view of the buffer ``make_step``'s flat mode steps on. That is done only
when nothing but the parameter itself references its memory (no ``w = p.data`` kept, no
NumPy array behind it, not a view of another tensor), or when the memory is already a
buffer this module filled (a group rebuilt or reloaded), so no one is left reading a stale
copy. A step checks that every parameter still points where it was put; if one moved
(``model.to(...)``, ``p.data = ...``) the group goes back to copying in and out for good.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch

# Storages of flat buffers that parameters were moved into (alive while any view is).
_OURS: weakref.WeakSet = weakref.WeakSet()

_PLAIN = (torch.Tensor, torch.nn.Parameter)
_SOLE_USE = 2  # the tensor's reference and the storage's Python object's


def _sole_owner(p: torch.Tensor) -> bool:
    storage = p.untyped_storage()
    use_count = getattr(torch._C, "_storage_Use_Count", None)
    return (
        use_count is not None
        and storage.resizable()  # not memory lent by NumPy, DLPack or a buffer
        and p.storage_offset() == 0
        and storage.nbytes() == p.numel() * p.element_size()
        and use_count(storage._cdata) <= _SOLE_USE
    )


def adoptable(params: list) -> bool:
    """Whether every parameter's memory can move: plain dense contiguous tensors, each
    the only user of its memory (or all in buffers this module filled). Ask before
    anything views the parameters through NumPy: that marks their memory lent."""
    pointers = set()
    for p in params:
        if type(p) not in _PLAIN or p.layout != torch.strided or not p.is_contiguous():
            return False
        if p.numel() == 0:
            return False
        storage = p.untyped_storage()
        if storage not in _OURS:
            if storage.data_ptr() in pointers or not _sole_owner(p):
                return False
            pointers.add(storage.data_ptr())
    return True


def adopt(step: Any, tree: dict) -> list:
    """Moves the parameters of ``tree`` (``{name: parameter}``, ``adoptable``) into
    ``step``'s flat buffer (``step.adopt``); returns their data pointers there."""
    views = step.adopt(tree)
    with torch.no_grad():
        for name, p in tree.items():
            p.data = views[name]
    for v in views.values():
        _OURS.add(v.untyped_storage())
    return [p.data_ptr() for p in tree.values()]


def still_adopted(params: list, pointers: list) -> bool:
    """Every parameter still points into the buffer, where ``adopt`` put it."""
    return [p.data_ptr() for p in params] == pointers
