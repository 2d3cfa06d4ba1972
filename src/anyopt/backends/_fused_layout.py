"""How the fused step treats arrays that are not C-contiguous.

A kernel reads each member's arrays as flat runs of memory. That is right when they all
lay their elements out alike: C-contiguous (layout ``None``), or dense with the same
strides (channels-last convolution weights, their gradients and Adam moments: stepped in
place). A member whose arrays disagree, or that has an array with gaps, overlaps or
negative strides (``Unaddressable``), runs on C-contiguous copies of its inputs and
writes new outputs.
"""

from __future__ import annotations

import numpy as np


class Unaddressable:
    """The layout of an array that is not one dense run of memory: equal to no other."""


def dense_layout(shape: tuple, strides, itemsize: int):
    """``(shape, strides)`` (in bytes) of an array that fills one dense run of memory
    without overlaps, else ``Unaddressable()``. Strides of length-1 axes do not count."""
    strides = tuple(0 if n == 1 else s for n, s in zip(shape, strides))
    expected = itemsize
    for stride, n in sorted((s, n) for n, s in zip(shape, strides) if n != 1):
        if stride != expected:
            return Unaddressable()
        expected *= n
    return (tuple(shape), strides)


def uniform(entries) -> bool:
    """Whether arrays (``host_pointers`` entries) can be read as flat runs side by side."""
    if not entries:
        return True
    first = entries[0][3]
    return not isinstance(first, Unaddressable) and all(w[3] == first for w in entries)


def contiguous_copy(backend, leaf, keep: list) -> tuple:
    """The ``host_pointers`` entry of a C-contiguous host copy of ``leaf`` (kept alive in
    ``keep`` until the kernels have run)."""
    copy = np.ascontiguousarray(backend.host_views([leaf])[0])
    keep.append(copy)
    return (copy.ctypes.data, copy.size, True, None, copy.dtype)
