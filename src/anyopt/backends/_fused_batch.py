"""Batches: fused kernels with the same code, run as one parallel pass over all of them.

A tree of many leaves traces into one kernel per leaf (Adam on 152 leaves: 152 kernels
with one text). A batch runs them in one numba call: it receives each member's array
addresses and a table that splits the members' elements evenly between the threads, so
the per-leaf cost is a few list entries instead of a Python call and a thread wake-up.
"""

from __future__ import annotations

import itertools

import numpy as np

from anyopt.backends._fused_codegen import batched_kernel
from anyopt.backends._trace import Unsupported

PARALLEL_MIN = 1 << 16  # below this many elements, waking threads costs more than it saves
SPLIT_EACH_MIN = 1 << 15  # members this large get a slice on every thread (``split``)
_COMPILED: dict[tuple, object] = {}
_NAMESPACE: dict = {}


def _namespace() -> dict:
    """``np``, ``numba`` and ``as_pointer(address, dtype)`` for the kernels' source."""
    if not _NAMESPACE:
        import numba
        from numba import types
        from numba.core.extending import intrinsic

        @intrinsic
        def as_pointer(typingctx, address, dtype):
            pointer = types.CPointer(dtype.instance_type)

            def codegen(context, builder, signature, args):
                return builder.inttoptr(args[0], context.get_value_type(pointer))

            return pointer(address, dtype), codegen

        _NAMESPACE.update(np=np, numba=numba, as_pointer=as_pointer)
    return _NAMESPACE


def _compile(source: str, parallel: bool, reduction: bool):
    fn = _COMPILED.get((source, parallel))
    if fn is None:
        import numba

        namespace = dict(_namespace())
        exec(compile(source, "<anyopt fused kernel>", "exec"), namespace)
        # Sums may be reassociated (vectorised); element-wise maths stays exact IEEE.
        fastmath = {"reassoc"} if reduction else False
        fn = numba.njit(parallel=parallel, fastmath=fastmath)(namespace["kernel"])
        _COMPILED[(source, parallel)] = fn
    return fn


def batch_key(kernel, out_dtypes: tuple) -> tuple:
    """Kernels with equal keys compute the same thing on different arrays and scalars."""
    return (
        tuple(kernel.body),
        tuple(a.dtype for a in kernel.arrays),
        out_dtypes,
        tuple(s.dtype for s in kernel.scalars),
    )


class Batch:
    """Members ``(kernel, outputs)`` sharing one ``batch_key``; ``outputs`` are the
    element-wise output nodes, or ``[]`` for a sum."""

    def __init__(self, members: list, out_dtypes: tuple, reduction: bool):
        self.kernels = [k for k, _ in members]
        self.outputs = [o for _, o in members]
        first = self.kernels[0]
        self.shared = [
            all(k.scalars[j] is s for k in self.kernels) for j, s in enumerate(first.scalars)
        ]
        self.reduction, self.out_dtypes = reduction, list(out_dtypes)
        # input ``j``'s node ids across members
        self.array_ids = [[id(k.arrays[j]) for k in self.kernels] for j in range(len(first.arrays))]
        self.sources: dict[tuple, str] = {}
        self.tables: dict[tuple, tuple] = {}

    def source(self, inplace: tuple = ()) -> str:
        text = self.sources.get(inplace)
        if text is None:
            first = self.kernels[0]
            dtypes = [a.dtype for a in first.arrays]
            text = batched_kernel(
                first.body, dtypes, self.out_dtypes, self.shared, self.reduction, inplace
            )
            self.sources[inplace] = text
        return text

    def scalars(self, values: dict, members: list[int]) -> list[np.ndarray]:
        out = []
        for j, shared in enumerate(self.shared):
            dtype = self.kernels[0].scalars[j].dtype
            picked = members[:1] if shared else members
            out.append(np.array([values[id(self.kernels[m].scalars[j])] for m in picked], dtype))
        return out

    def run(self, sizes: list, arrays: list, outputs: list, scalars: list, inplace=()):
        """Runs the kernel; ``arrays[k]`` / ``outputs[k]`` are the members' addresses
        of input / output ``k`` (``inplace``: see ``batched_kernel``). Returns each
        member's sum for a reduction."""
        parts, table, kernel = self.kernel_for(sizes, inplace)
        addresses = [np.array(a, np.int64) for a in (*arrays, *outputs)]
        return self.launch(parts, table, kernel, addresses, scalars, len(sizes))

    def launch(self, parts, table, kernel, addresses: list, scalars: list, n: int):
        """Calls a compiled ``kernel`` on address arrays for ``n`` members; a sum returns
        each member's total."""
        if not self.reduction:
            kernel(parts, table, *addresses, *scalars)
            return None
        partial = np.zeros(len(table))
        kernel(parts, table, *addresses, *scalars, partial)
        return np.bincount(table[:, 0], weights=partial, minlength=n)

    def kernel_for(self, sizes: list, inplace=()) -> tuple:
        """(parts, table, compiled kernel) for members of these sizes."""
        parts, table, parallel = self._table(tuple(sizes))
        return parts, table, _compile(self.source(inplace), parallel, self.reduction)

    def _table(self, sizes: tuple) -> tuple:
        cached = self.tables.get(sizes)
        if cached is None:
            cached = self.tables[sizes] = split(sizes)
        return cached


def split(sizes: tuple) -> tuple:
    """(parts, table, parallel): rows (member, start, stop) covering every element once,
    in ``len(parts) - 1`` runs of rows with equal element counts (one per thread).

    Members of ``SPLIT_EACH_MIN`` elements or more are cut into one slice per thread, so
    the threads read every large array side by side, as torch's own loops do (after a
    backward pass the newest gradients are still in cache, and both threads use them);
    the small members, end to end, fill each thread's share.
    """
    import numba

    total = sum(sizes)
    parallel = total >= PARALLEL_MIN
    n_parts = numba.get_num_threads() if parallel else 1
    rows: list[list] = [[] for _ in range(n_parts)]
    small = []
    for m, size in enumerate(sizes):
        if n_parts > 1 and size >= SPLIT_EACH_MIN:
            for p in range(n_parts):
                rows[p].append((m, size * p // n_parts, size * (p + 1) // n_parts))
        elif size:
            small.append((m, size))
    have = [sum(hi - lo for _, lo, hi in r) for r in rows]
    want = [total * (p + 1) // n_parts - total * p // n_parts for p in range(n_parts)]
    ends = list(itertools.accumulate(max(w - h, 0) for w, h in zip(want, have)))
    start, p = 0, 0
    for m, size in small:
        lo, stop = start, start + size
        while lo < stop:
            while p < n_parts - 1 and ends[p] <= lo:
                p += 1
            hi = stop if p == n_parts - 1 else min(stop, ends[p])
            rows[p].append((m, lo - start, hi - start))
            lo = hi
        start = stop
    parts = [0, *itertools.accumulate(len(r) for r in rows)]
    table = np.array([row for r in rows for row in r], np.int64).reshape(-1, 3)
    return np.array(parts, np.int64), table, parallel


def common_size(sizes: list[int]) -> int:
    if len(set(sizes)) > 1:
        raise Unsupported(f"the fused step combines leaves of different sizes {sorted(set(sizes))}")
    return sizes[0] if sizes else 0
