"""The fused NumPy step: trace the reference step once, then run it as numba kernels.

The step is recorded on ``Sym`` leaves (``_trace``). Scalar parts (step counts, bias
corrections, schedules) are evaluated with NumPy exactly as the reference does;
element-wise parts become numba loops that read every input once and write parameters
and state in place (one per group of leaves that share inputs; groups with the same code
run as one parallel batch, ``_fused_batch``); sums (global norms) become batched
reduction loops. Anything else raises ``Unsupported`` and the caller falls back to the
reference step.
"""

from __future__ import annotations

import numpy as np

from anyopt import backends
from anyopt.backends import _trace
from anyopt.backends._fused_batch import Batch, batch_key, common_size
from anyopt.backends._fused_codegen import KernelSource
from anyopt.backends._fused_layout import contiguous_copy, uniform
from anyopt.backends._fused_recipe import Recipe
from anyopt.backends._fused_scalars import compile_scalars
from anyopt.backends._trace import Sym, Unsupported

backends._BY_TYPE[Sym] = _trace


def available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def _postorder(roots, children):
    """Nodes reachable from ``roots`` through ``children(node)``, dependencies first."""
    order, seen = [], set()
    stack = [(r, False) for r in roots if isinstance(r, Sym)]
    while stack:
        x, done = stack.pop()
        if done:
            order.append(x)
            continue
        if id(x) in seen:
            continue
        seen.add(id(x))
        stack.append((x, True))
        stack.extend((a, False) for a in children(x) if id(a) not in seen)
    return order


def _sym_args(x):
    return [a for a in x.args if isinstance(a, Sym)]


def _walk(roots):
    """Nodes reachable from ``roots``, inputs first, not looking inside scalar nodes
    other than the roots (scalars are evaluated separately and passed to kernels)."""
    root_ids = {id(r) for r in roots}
    return _postorder(roots, lambda x: [] if x.scalar and id(x) not in root_ids else _sym_args(x))


def _frontier(nodes):
    """Scalar nodes feeding element-wise nodes: a kernel's scalar arguments."""
    out, seen = [], set()
    for x in nodes:
        if x.scalar:
            continue
        for a in x.args:
            if isinstance(a, Sym) and a.scalar and id(a) not in seen:
                seen.add(id(a))
                out.append(a)
    return out


class _Kernel:
    """One pass: element-wise outputs (or one sum) over equally sized leaves."""

    def __init__(self, roots, reduction: bool = False):
        nodes = _walk(roots)
        if any(x.dtype == np.float16 for x in nodes):  # numba has no float16 type
            raise Unsupported("the fused step cannot compute in float16 (numba has no float16)")
        self.arrays = [x for x in nodes if x.op == "in" and not x.scalar]
        self.scalars = _frontier(nodes)
        self.position = {id(a): j for j, a in enumerate(self.arrays)}
        source = KernelSource(self.arrays, self.scalars)
        self.body = source.reduction(roots[0]) if reduction else source.elementwise(roots)


class Plan:
    """The traced step for one tree structure, ready to run on arrays in host memory."""

    def __init__(self, step, params, grads, state):
        self.inputs: dict[tuple, Sym] = {}
        trees = [self._symbolize(t, role) for role, t in enumerate((params, grads, state))]
        new_params, new_state = step(*trees)
        out_p, self.def_p = backends.flatten(new_params)
        out_s, self.def_s = backends.flatten(new_state)
        if backends.flatten(trees[0])[1] != self.def_p:
            raise Unsupported("the step changed the parameters' tree structure")
        same_state = backends.flatten(trees[2])[1] == self.def_s
        outputs = [((0, i), o) for i, o in enumerate(out_p)]
        outputs += [((2, j), o) for j, o in enumerate(out_s)]
        self.n_out = (len(out_p), len(out_s))
        self.dest: dict[tuple, Sym | None] = {}
        scalar_outputs, elementwise = [], []
        for key, out in outputs:
            if not isinstance(out, Sym):
                raise Unsupported("the step produced a non-array leaf")
            dest = self.inputs[key] if key[0] == 0 or same_state else None
            self.dest[key] = dest
            is_scalar = out.scalar and (dest is None or dest.scalar)
            (scalar_outputs if is_scalar else elementwise).append((key, out))
        self.groups = [(_Kernel([o for _, o in g]), g) for g in _group(elementwise)]
        self.scalar_outputs = scalar_outputs
        self._order_scalars()
        self._dedupe_scalars()
        self.batches = _batches(self.groups, lambda g: tuple(o.dtype for _, o in g), False)
        for batch in self.batches:
            self._columns(batch)
        sums = [(self.reductions[id(x)], x) for x in self.scalar_order if x.op == "sum"]
        self.sum_batch = {id(x): b for b in _batches(sums, lambda x: (), True) for x in b.outputs}
        self.arrays = [s for s in self.inputs.values() if not s.scalar]
        self._slots = None

    def _symbolize(self, tree, role):
        leaves, treedef = backends.flatten(tree)
        syms = []
        for i, x in enumerate(leaves):
            s = Sym("in", (), _ndim(x) == 0, _dtype(x), leaf=(role, i))
            self.inputs[(role, i)] = s
            syms.append(s)
        return backends.unflatten(treedef, syms)

    def _order_scalars(self):
        """Scalar nodes in evaluation order; a sum comes after its kernel's scalars."""
        self.reductions: dict[int, _Kernel] = {}

        def deps(x):
            if x.op != "sum":
                return _sym_args(x)
            kernel = self.reductions[id(x)] = _Kernel([x.args[0]], reduction=True)
            return kernel.scalars

        needed = [s for k, _ in self.groups for s in k.scalars]
        needed += [o for _, o in self.scalar_outputs]
        self.scalar_order = _postorder(list(reversed(needed)), deps)

    def _dedupe_scalars(self):
        """One node per distinct scalar computation (the reference repeats a bias
        correction per leaf): evaluated once per step, and shared by batched kernels."""
        memo: dict = {}
        first: dict = {}
        same: dict[int, Sym] = {}
        order = []
        for x in self.scalar_order:
            rep = first.setdefault(_structure(x, memo), x)
            same[id(x)] = rep
            if rep is x:
                x.args = tuple(same.get(id(a), a) if isinstance(a, Sym) else a for a in x.args)
                order.append(x)
        self.scalar_order = order
        for kernel in [k for k, _ in self.groups] + list(self.reductions.values()):
            kernel.scalars = [same.get(id(a), a) for a in kernel.scalars]
        self.scalar_outputs = [(key, same.get(id(o), o)) for key, o in self.scalar_outputs]

    def run_native(
        self, backend, leaves: list[list], donate: bool, grads_match: bool = False
    ) -> tuple[list, list]:
        """Runs the step on ``leaves`` = [param leaves, grad leaves, state leaves] of
        ``backend``'s arrays in host memory; returns the new parameter and state leaves
        (inputs updated in place where ``donate`` allows, else new arrays). See
        ``Step.leaf_runner`` for ``grads_match``."""
        if self._slots is None:
            self._ready_to_run()
        recipe = self._recipe if donate else None
        if recipe is not None and not (
            recipe.backend is backend and recipe.fits(leaves, grads_match)
        ):
            recipe = None
        if recipe is not None and recipe.run_compiled(self, leaves):
            return self._outputs(leaves, {})
        where = None  # on the recipe's path, made only if a sum needs it
        if recipe is None:
            arrays = [leaves[r][i] for r, i in self._array_at]
            pointers = backend.host_pointers(arrays)
            self._check_dtypes(arrays, [w[4] for w in pointers])
            where = dict(zip(self._array_ids, pointers))
        values = self._read_scalars(backend, leaves)
        sums: dict = {}
        keep: list = []  # C-contiguous copies of inputs laid out unlike their member

        def copy(sym):
            return contiguous_copy(backend, leaves[sym.leaf[0]][sym.leaf[1]], keep)

        def total(x_id):
            if x_id not in sums:
                batch = self.sum_batch[x_id]
                if recipe is None or not recipe.run_sums(batch, values, sums):
                    here = where if where is not None else recipe.where()
                    self._run_sums(batch, here, values, sums, copy)
            return sums[x_id]

        with np.errstate(all="ignore"):
            self._scalar_program(values, total)
        new: dict = {}
        if recipe is not None:
            recipe.run(values)
        else:
            native = {sid: leaves[role][i] for sid, role, i in self._slots}
            runs = [
                self._prepare_batch(b, where, native, values, new, donate, copy)
                for b in self.batches
            ]
            for batch, args in zip(self.batches, runs):  # all checked: now write
                batch.run(*args)
            writable = all(w[2] for w in where.values())
            reusable = self._in_place and donate and writable and not keep
            if reusable and hasattr(backend, "data_pointers"):
                self._recipe = Recipe(self, backend, leaves, where)
        self._write_scalars(backend, values, new, donate)
        if backend.NAME != "numpy":  # scalars and new arrays were made on the host
            new = {key: backend.from_host(x) for key, x in new.items()}
        return self._outputs(leaves, new)

    def _outputs(self, leaves: list, new: dict) -> tuple[list, list]:
        """The new parameter and state leaves: ``new`` arrays by output key, the others
        written in place into their destinations."""
        if not new and self._outs_are_inputs:
            return list(leaves[0]), list(leaves[2])
        # an output missing from ``new`` was written in place into its destination
        outs = [
            [new[key] if key in new else leaves[at[0]][at[1]] for key, at in keys]
            for keys in self._out_at
        ]
        return outs[0], outs[1]

    def _ready_to_run(self):
        """What ``run_native`` reuses every step: input slots, the scalar program, and
        the host views of 0-d inputs."""
        self._slots = [(id(s), role, i) for (role, i), s in self.inputs.items()]
        self._array_at = [s.leaf for s in self.arrays]
        self._array_ids = [id(s) for s in self.arrays]
        self._out_at = [
            [((role, i), getattr(self.dest[(role, i)], "leaf", None)) for i in range(n)]
            for role, n in ((0, self.n_out[0]), (2, self.n_out[1]))
        ]
        # each output's destination is the input at its own position (leaves[0], leaves[2])
        self._outs_are_inputs = [len(keys) for keys in self._out_at] == [
            len([k for k in self.inputs if k[0] == role]) for role in (0, 2)
        ] and all(key == at for keys in self._out_at for key, at in keys)
        # every batch writes in place (when donated): later steps can reuse a Recipe
        self._in_place = all(b.in_place_ok for b in self.batches)
        self._recipe = None
        self._dtypes_seen: list = []  # the arrays' own dtypes when they last matched
        self._scalar_slots = [
            (id(s), r, i, (r, i)) for (r, i), s in self.inputs.items() if s.scalar
        ]
        self._scalar_program = compile_scalars(self.scalar_order)
        self._views: dict = {}

    def _check_dtypes(self, arrays: list, dtypes: list) -> None:
        """``Unsupported`` unless ``arrays`` (of these native ``dtypes``) have the dtypes
        the step was traced with (a caller of ``Step.leaf_runner`` may pass others)."""
        if dtypes != self._dtypes_seen:
            traced = [s.dtype for s in self.arrays]
            if [_dtype(x) for x in arrays] != traced:
                raise Unsupported("the arrays' dtypes are not those the step was traced with")
            self._dtypes_seen = dtypes

    def _read_scalars(self, backend, leaves) -> dict:
        """Every 0-d input's value by node id, read through host views kept while the
        leaf (and its memory, where the backend can tell) stays the same."""
        stamp_of = getattr(backend, "storage_stamp", None)
        views, values = self._views, {}
        for sid, role, i, key in self._scalar_slots:
            leaf = leaves[role][i]
            stamp = stamp_of(leaf) if stamp_of is not None else None
            cached = views.get(key)
            if cached is None or cached[0] is not leaf or cached[2] != stamp:
                cached = views[key] = (leaf, backend.host_views([leaf])[0], stamp)
            view = cached[1]
            values[sid] = view[()] if isinstance(view, np.ndarray) else view
        return values

    def _write_scalars(self, backend, values, new, donate):
        """Scalar outputs: a leaf the step passes through unchanged stays the same object;
        with ``donate``, on backends whose 0-d host views write through (torch), a new
        value is written into its destination's memory; else it is a new array."""
        in_place = donate and getattr(backend, "SCALARS_IN_PLACE", False)
        written = set()
        for key, out in self.scalar_outputs:
            dest = self.dest[key]
            if out is dest:
                continue
            if in_place and dest is not None and dest.scalar and dest.dtype == out.dtype:
                leaf, view, stamp = self._views[dest.leaf]
                if stamp is not None and stamp not in written and view.flags.writeable:
                    written.add(stamp)
                    view[()] = values[id(out)]
                    continue
            new[key] = values[id(out)]

    def _run_sums(self, batch, where, values, sums, copy):
        """The sums of ``batch`` whose scalar arguments are known, in one pass."""
        ready = [m for m, k in enumerate(batch.kernels) if all(id(s) in values for s in k.scalars)]
        sizes, arrays = [], [[] for _ in batch.kernels[0].arrays]
        for m in ready:
            kernel = batch.kernels[m]
            member = [where[id(a)] for a in kernel.arrays]
            if not uniform(member):
                member = [copy(a) for a in kernel.arrays]
            sizes.append(common_size([w[1] for w in member]))
            for k, w in enumerate(member):
                arrays[k].append(w[0])
        totals = batch.run(sizes, arrays, [], batch.scalars(values, ready))
        for m, total in zip(ready, totals):
            x = batch.outputs[m]
            sums[id(x)] = x.dtype.type(total)

    def _columns(self, batch):
        """Sets, per batch: per output ``k`` its keys, its destination nodes and whether
        it can be written in place."""
        kernels = batch.kernels
        batch.keys = [[g[j][0] for g in batch.outputs] for j in range(len(batch.outputs[0]))]
        batch.dests = [[self.dest[key] for key in keys] for keys in batch.keys]
        batch.dest_ids = [[id(d) for d in dests] for dests in batch.dests]
        batch.in_place_ok = all(
            d is not None and not d.scalar and d.dtype == g[j][1].dtype
            for j, dests in enumerate(batch.dests)
            for d, g in zip(dests, batch.outputs)
        )
        patterns = {
            tuple(k.position.get(id(dests[m]), -1) for dests in batch.dests)
            for m, k in enumerate(kernels)
        }
        batch.pattern = patterns.pop() if len(patterns) == 1 else ()

    def _prepare_batch(self, batch, where, native, values, new, donate, copy) -> tuple:
        """``batch.run``'s arguments (sizes and layouts checked, outputs allocated)."""
        arrays = [[where[i] for i in ids] for ids in batch.array_ids]
        if donate and batch.in_place_ok:
            outputs = [[where[i] for i in ids] for ids in batch.dest_ids]
            columns = arrays + outputs
            laid_out = all(w[3] is None for column in columns for w in column) or all(
                uniform([column[m] for column in columns]) for m in range(len(columns[0]))
            )
            if laid_out and all(w[2] for column in outputs for w in column):
                sizes = [w[1] for w in (arrays or outputs)[0]]
                if any([w[1] for w in column] != sizes for column in arrays + outputs):
                    for m in range(len(sizes)):
                        common_size([column[m][1] for column in arrays + outputs])
                addresses = [[w[0] for w in column] for column in arrays]
                targets = [[w[0] for w in column] for column in outputs]
                scalars = batch.scalars(values, range(len(batch.kernels)))
                return sizes, addresses, targets, scalars, batch.pattern
        return self._prepare_slowly(batch, arrays, where, native, values, new, donate, copy)

    def _prepare_slowly(self, batch, arrays, where, native, values, new, donate, copy):
        """Member by member: outputs not written in place get new arrays; a member whose
        arrays are laid out unlike each other reads copies of its inputs."""
        sizes, outputs, patterns = [], [[] for _ in batch.keys], set()
        addresses: list = [[] for _ in arrays]
        for m, kernel in enumerate(batch.kernels):
            member, shape, pattern = [column[m] for column in arrays], None, []
            targets = []
            for k in range(len(batch.keys)):
                source, out = batch.dests[k][m], batch.outputs[m][k][1]
                target = where.get(id(source)) if source is not None else None
                ok = donate and target is not None and target[2] and source.dtype == out.dtype
                targets.append(target if ok else None)
            if not uniform(member + [t for t in targets if t is not None]):
                member, targets = [copy(a) for a in kernel.arrays], [None] * len(targets)
            for column, w in zip(addresses, member):
                column.append(w[0])
            for k, keys in enumerate(batch.keys):
                key, source, out = keys[m], batch.dests[k][m], batch.outputs[m][k][1]
                target = targets[k]
                if target is not None:
                    member.append(target)
                    pattern.append(kernel.position.get(id(source), -1))
                else:
                    if shape is None:
                        first = source if source is not None else (kernel.arrays or [None])[0]
                        shape = tuple(native[id(first)].shape) if first is not None else ()
                    buffer = np.empty(shape, out.dtype)
                    new[key] = buffer
                    member.append((buffer.ctypes.data, buffer.size, True, None, buffer.dtype))
                    pattern.append(-1)
                outputs[k].append(member[-1][0])
            patterns.add(tuple(pattern))
            sizes.append(common_size([w[1] for w in member]))
        inplace = patterns.pop() if len(patterns) == 1 else ()
        scalars = batch.scalars(values, range(len(batch.kernels)))
        return sizes, addresses, outputs, scalars, inplace


def _batches(members: list, out_dtypes, reduction: bool) -> list[Batch]:
    """``members`` ``(kernel, outputs)`` grouped into batches by ``batch_key``."""
    keyed: dict = {}
    for kernel, outputs in members:
        dtypes = out_dtypes(outputs)
        keyed.setdefault(batch_key(kernel, dtypes), (dtypes, []))[1].append((kernel, outputs))
    return [Batch(group, dtypes, reduction) for dtypes, group in keyed.values()]


def _ndim(x) -> int:
    return len(x.shape) if hasattr(x, "shape") else np.ndim(x)


def _dtype(x) -> np.dtype:
    """NumPy's dtype for a leaf of any framework (float32 stands in for bfloat16)."""
    name = backends.dtype_name(getattr(x, "dtype", None) or np.asarray(x).dtype)
    return np.dtype("float32" if name == "bfloat16" else name)


def flat_compatible(step, params, grads, state) -> bool:
    """Whether running ``step`` once over leaves packed end to end gives the same result:
    every leaf runs the same element-wise code with the same scalars (a global norm is
    fine; a per-leaf norm, a mask or a shape-dependent operation is not)."""
    try:
        plan = Plan(step, params, grads, state)
    except Unsupported:
        return False
    memo: dict = {}
    kinds = {(tuple(k.body), tuple(_structure(s, memo) for s in k.scalars)) for k, _ in plan.groups}
    return len(kinds) <= 1


def _structure(x, memo) -> tuple:
    """A hashable description of what a node computes (equal for equal computations)."""
    if not isinstance(x, Sym):
        return ("const", repr(x))
    stack = [x]
    while stack:  # iterative: a global norm over 1000 leaves nests 1000 additions
        node = stack[-1]
        pending = [a for a in node.args if isinstance(a, Sym) and id(a) not in memo]
        if pending and node.op != "in":
            stack.extend(pending)
            continue
        stack.pop()
        if node.op == "in":
            memo[id(node)] = ("in", node.leaf)
        else:
            args = tuple(
                memo[id(a)] if isinstance(a, Sym) else ("const", repr(a)) for a in node.args
            )
            memo[id(node)] = (node.op, str(node.dtype), args)
    return memo[id(x)]


def _group(elementwise):
    """Outputs that read or overwrite a common leaf must run in one kernel."""
    parent: dict = {}

    def find(k):
        while parent.setdefault(k, k) != k:
            k = parent[k]
        return k

    for key, out in elementwise:
        for x in _walk([out]):
            if x.op == "in" and not x.scalar:
                parent[find(key)] = find(x.leaf)
    groups: dict = {}
    for key, out in elementwise:
        groups.setdefault(find(key), []).append((key, out))
    return list(groups.values())
