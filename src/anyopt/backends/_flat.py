"""Flat layouts: a tree's leaves packed end to end into one 1-D buffer per dtype.

Optimizer steps over many small leaves are dominated by per-leaf overhead; running
the same element-wise step once over each flat buffer removes it. NumPy and torch hand
out leaves that are views into the buffer; JAX and MLX slice it (free under jit).
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
        self.names = {d: backends.dtype_name(d) for d in self.groups}
        self.offsets: dict[Any, list[tuple[int, int]]] = {}
        self.sizes: dict[Any, int] = {}
        for dtype, members in self.groups.items():
            start, spans = 0, []
            for i in members:
                size = backend.size(leaves[i])
                spans.append((start, start + size))
                start += size
            self.offsets[dtype], self.sizes[dtype] = spans, start
        self._copy_views: dict[tuple, tuple] = {}

    def key(self) -> tuple:
        return tuple(self.shapes), tuple((self.names[d], tuple(m)) for d, m in self.groups.items())

    def new_buffers(self) -> dict:
        return {self.names[d]: self.backend.empty(n, d) for d, n in self.sizes.items()}

    def pack(self, leaves: list, buffers: dict) -> dict:
        """Copies ``leaves`` into their places in ``buffers`` (one multi-tensor copy)."""
        if len(leaves) != len(self.shapes):
            raise ValueError(
                f"make_step: the flat layout holds {len(self.shapes)} leaves; got {len(leaves)}"
            )
        for x, shape in zip(leaves, self.shapes):
            got = tuple(getattr(x, "shape", ()))
            if got != shape:
                raise ValueError(
                    f"make_step: a leaf of shape {got} does not fit the flat layout, which "
                    f"holds one of shape {shape} there"
                )
        self.backend.copy_leaves(self._views_for_copies(buffers), leaves)
        return buffers

    def unpack_into(self, buffers: dict, leaves: list) -> None:
        """Copies each leaf's slice of ``buffers`` back into ``leaves`` (in place)."""
        self.backend.copy_leaves(leaves, self._views_for_copies(buffers))

    def _views_for_copies(self, buffers: dict) -> list:
        """``views(buffers)``, made once per buffer (internal: never handed out)."""
        key = tuple(id(b) for b in buffers.values())
        cached = self._copy_views.get(key)
        if cached is None:
            if len(self._copy_views) >= 4:
                self._copy_views.clear()
            cached = self._copy_views[key] = (list(buffers.values()), self.views(buffers))
        return cached[1]

    def concat(self, leaves: list) -> dict:
        """New flat buffers holding ``leaves`` (any framework, works under jit)."""
        return {
            self.names[d]: self.backend.concat([leaves[i] for i in members])
            for d, members in self.groups.items()
        }

    def views(self, buffers: dict) -> list:
        out: list = [None] * len(self.shapes)
        for dtype, members in self.groups.items():
            for i, (a, b) in zip(members, self.offsets[dtype]):
                out[i] = self.backend.view(buffers[self.names[dtype]], a, b, self.shapes[i])
        return out


def layout_of(tree: Any) -> tuple[Layout, Any, list]:
    leaves, treedef = backends.flatten(tree)
    return Layout(leaves, backends.of(leaves[0])), treedef, leaves
