"""A fused step's kernel arguments kept between in-place steps.

Parameters and state stay in the same memory from step to step; gradients are new arrays.
Once a step has run with every output written in place, ``Recipe`` keeps each batch's
address columns, sizes and compiled kernel. A later step checks that the parameter and
state arrays are the same objects at the same addresses, checks the gradients fully (as
``host_pointers`` does), and patches their addresses into the kept columns. Anything else
falls back to the full path, which builds a new recipe.

Backends opt in with ``data_pointers(leaves)``: where the arrays are, their addresses and
strides; torch, whose ``.data`` can be swapped under the same object.
"""

from __future__ import annotations

import operator

import numpy as np

from anyopt.backends import _fused_prologue
from anyopt.backends._fused_layout import uniform
from anyopt.backends._trace import Unsupported


class _BatchArgs:
    """One batch's kernel, its work table and its address columns with the gradient
    slots to patch: ``fills`` holds (column, member rows, indices into the gradients),
    or (column, None, a slice of the gradients) where those fill the whole column."""

    def __init__(self, batch, sizes: list, columns: list, fresh_index: dict):
        self.batch, self.members = batch, range(len(batch.kernels))
        self.parts, self.table, self.kernel = batch.kernel_for(sizes, getattr(batch, "pattern", ()))
        # the scalar arguments' arrays, refilled with each step's values (``Batch.scalars``)
        self.scalars = batch.scalars(
            {id(x): 0 for k in batch.kernels for x in k.scalars}, self.members
        )
        self.scalar_ids = [
            (buffer, [id(k.scalars[j]) for k in (batch.kernels[:1] if shared else batch.kernels)])
            for j, (buffer, shared) in enumerate(zip(self.scalars, batch.shared))
        ]
        self.columns, self.fills = [], []
        for k, (ids, addresses) in enumerate(columns):
            self.columns.append(np.array(addresses, np.int64))
            rows = [m for m, i in enumerate(ids) if i in fresh_index]
            if rows:
                at = np.array([fresh_index[ids[m]] for m in rows], np.int64)
                if len(rows) == len(ids) and np.array_equal(at, np.arange(at[0], at[0] + len(at))):
                    self.fills.append((k, None, slice(int(at[0]), int(at[0]) + len(at))))
                else:
                    self.fills.append((k, np.array(rows, np.int64), at))

    def run(self, fresh: np.ndarray, values: dict | None):
        """Runs the kernel (its scalar arguments taken from ``values``, or as they are
        where that is None); for a sum, returns each member's total."""
        columns = list(self.columns)
        for k, rows, at in self.fills:
            if rows is None:
                columns[k] = fresh[at]
            else:
                column = columns[k] = columns[k].copy()
                column[rows] = fresh[at]
        scalars = self.scalars
        if values is not None:
            for buffer, ids in self.scalar_ids:
                buffer[:] = [values[i] for i in ids]
        n = len(self.members)
        return self.batch.launch(self.parts, self.table, self.kernel, columns, scalars, n)


class Recipe:
    """Kernel arguments for ``plan`` on the arrays in ``where`` (each input node's id to
    its ``host_pointers`` entry), after an in-place step on ``backend``."""

    def __init__(self, plan, backend, leaves: list, where: dict):
        self.backend = backend
        stable = [s for s in plan.arrays if s.leaf[0] != 1]
        fresh = [s for s in plan.arrays if s.leaf[0] == 1]
        self.stable_at = [s.leaf for s in stable]
        self.stable = [leaves[r][i] for r, i in self.stable_at]
        self.pointers = backend.data_pointers(self.stable)
        self.fresh_at = [s.leaf for s in fresh]
        self.fresh_ids = [id(s) for s in fresh]
        self.fresh_kinds = [where[id(s)][1:] for s in fresh]  # size, writable, layout, dtype
        fresh_now = backend.data_pointers([leaves[r][i] for r, i in self.fresh_at])
        self.fresh_strides = fresh_now[1] if fresh_now is not None else None
        self.stable_where = {id(s): where[id(s)] for s in stable}
        fresh_index = {id(s): n for n, s in enumerate(fresh)}
        self.batches = []
        for batch in plan.batches:
            ids = batch.array_ids + batch.dest_ids
            columns = [(c, [where[i][0] for i in c]) for c in ids]
            sizes = [where[i][1] for i in (batch.array_ids or batch.dest_ids)[0]]
            self.batches.append(_BatchArgs(batch, sizes, columns, fresh_index))
        self.sums = {}  # sum batch -> (its arguments, the ids of the scalars it reads)
        for batch in {id(b): b for b in plan.sum_batch.values()}.values():
            columns = [(c, [where[i][0] for i in c]) for c in batch.array_ids]
            members = [[where[id(a)] for a in k.arrays] for k in batch.kernels]
            if not all(uniform(m) and len({w[1] for w in m}) == 1 for m in members):
                continue  # the full path copies or reports it
            sizes = [m[0][1] for m in members]
            needs = {id(s) for k in batch.kernels for s in k.scalars}
            self.sums[id(batch)] = (_BatchArgs(batch, sizes, columns, fresh_index), needs)
        self.prologue, self.steps = None, 0

    def fits(self, leaves: list, grads_match: bool = False) -> bool:
        """Whether this step's ``leaves`` fit the kept arguments (``run`` then reads their
        gradients). Not if other parameter or state arrays are given, or the same ones
        moved (given other memory, or other strides), or a gradient has another size,
        layout or dtype. A ``.data`` swap that keeps a parameter's address and strides
        but changes its dtype is not looked for. With ``grads_match`` (each gradient has
        its parameter's dtype, device and shape), gradients with the strides seen when the
        arguments were kept are taken as they were: only their addresses are read."""
        stable = [leaves[r][i] for r, i in self.stable_at]
        if not all(map(operator.is_, stable, self.stable)):
            return False
        if self.backend.data_pointers(stable) != self.pointers:
            return False
        fresh_leaves = [leaves[r][i] for r, i in self.fresh_at]
        if grads_match:
            at = self.backend.data_pointers(fresh_leaves)
            if at is not None and at[1] == self.fresh_strides:
                self.fresh = np.array(at[0], np.int64)
                self.fresh_entries = None
                return True
        fresh = self.backend.host_pointers(fresh_leaves)
        if [w[1:] for w in fresh] != self.fresh_kinds:
            return False
        self.fresh_entries = fresh
        self.fresh = np.array([w[0] for w in fresh], np.int64)
        return True

    def where(self) -> dict:
        """``host_pointers``' entry of every input array (by node id) of the step that
        ``fits`` accepted."""
        where = dict(self.stable_where)
        entries = self.fresh_entries
        if entries is None:  # gradients known to be as recorded, at new addresses
            entries = [(int(a), *kind) for a, kind in zip(self.fresh, self.fresh_kinds)]
        where.update(zip(self.fresh_ids, entries))
        return where

    def run(self, values: dict) -> None:
        """The element-wise kernels, in place (after ``fits`` accepted the leaves)."""
        for args in self.batches:
            args.run(self.fresh, values)

    def run_compiled(self, plan, leaves: list) -> bool:
        """Runs the whole step (after ``fits`` accepted ``leaves``) with its scalar program
        compiled (``Prologue``), once these arguments have served ``COMPILE_AFTER`` steps;
        False, with nothing run, where it cannot."""
        prologue = self.prologue
        if prologue is None:
            self.steps += 1
            if self.steps != _fused_prologue.COMPILE_AFTER:
                return False
            try:
                prologue = self.prologue = _fused_prologue.Prologue(plan, self, leaves)
            except Unsupported:
                return False
        if not prologue.fits(leaves):
            return False
        prologue.run()
        for args in self.batches:
            args.run(self.fresh, None)
        return True

    def run_sums(self, batch, values: dict, sums: dict) -> bool:
        """Every sum of ``batch`` into ``sums``; False (nothing run) unless all the
        scalars its members read are known."""
        args, needs = self.sums.get(id(batch), (None, None))
        if args is None or not needs.issubset(values):
            return False
        for x, total in zip(batch.outputs, args.run(self.fresh, values)):
            sums[id(x)] = x.dtype.type(total)
        return True
