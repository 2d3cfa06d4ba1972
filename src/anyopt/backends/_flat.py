"""Flat layouts: a tree's leaves packed end to end into one 1-D buffer per dtype.

Optimizer steps over many small leaves are dominated by per-leaf overhead; running
the same element-wise step once over each flat buffer removes it. Only frameworks
with views (NumPy, torch) can hand out leaves that live inside the buffer.
"""

from __future__ import annotations

from typing import Any

from anyopt import backends


class Layout:
    """Where each leaf of a tree lives in the per-dtype flat buffers."""

    def __init__(self, leaves: list, backend):
        self.backend = backend
        self.shapes = [tuple(x.shape) for x in leaves]
        self.groups: dict[Any, list[int]] = {}
        for i, x in enumerate(leaves):
            self.groups.setdefault(x.dtype, []).append(i)
        self.offsets: dict[Any, list[tuple[int, int]]] = {}
        self.sizes: dict[Any, int] = {}
        for dtype, members in self.groups.items():
            start, spans = 0, []
            for i in members:
                size = backend.size(leaves[i])
                spans.append((start, start + size))
                start += size
            self.offsets[dtype], self.sizes[dtype] = spans, start

    def key(self) -> tuple:
        return tuple(self.shapes), tuple((str(d), tuple(m)) for d, m in self.groups.items())

    def new_buffers(self) -> dict:
        return {str(d): self.backend.empty(n, d) for d, n in self.sizes.items()}

    def pack(self, leaves: list, buffers: dict) -> dict:
        for dtype, members in self.groups.items():
            self.backend.pack([leaves[i] for i in members], buffers[str(dtype)])
        return buffers

    def unpack_into(self, buffers: dict, leaves: list) -> None:
        for dtype, members in self.groups.items():
            targets = [leaves[i] for i in members]
            self.backend.unpack_into(buffers[str(dtype)], targets, self.offsets[dtype])

    def views(self, buffers: dict) -> list:
        out: list = [None] * len(self.shapes)
        for dtype, members in self.groups.items():
            for i, (a, b) in zip(members, self.offsets[dtype]):
                out[i] = self.backend.view(buffers[str(dtype)], a, b, self.shapes[i])
        return out


def layout_of(tree: Any) -> tuple[Layout, Any, list]:
    leaves, treedef = backends.flatten(tree)
    return Layout(leaves, backends.of(leaves[0])), treedef, leaves
