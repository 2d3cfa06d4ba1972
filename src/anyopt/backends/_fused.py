"""The fused NumPy step: trace the reference step once, then run it as numba kernels.

The step is recorded on ``Sym`` leaves (``_trace``). Scalar parts (step counts, bias
corrections, schedules) are evaluated with NumPy exactly as the reference does;
element-wise parts become one parallel numba loop per group of leaves that share
inputs, reading every input once and writing parameters and state in place; sums
(global norms) become parallel reduction loops. Anything else raises ``Unsupported``
and the caller falls back to the reference step.
"""

from __future__ import annotations

import numpy as np

from anyopt import backends
from anyopt.backends import _numpy, _trace
from anyopt.backends._fused_codegen import KernelSource
from anyopt.backends._trace import Sym, Unsupported

backends._BY_TYPE[Sym] = _trace
_KERNELS: dict[tuple, object] = {}
PARALLEL_MIN = 1 << 16  # below this many elements, waking threads costs more than it saves
_SCALAR_OPS = {**_trace._UNARY, **_trace._BINARY}


def available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def _compile(source: str, parallel: bool, reduction: bool = False):
    fn = _KERNELS.get((source, parallel))
    if fn is None:
        import numba

        namespace = {"np": np, "numba": numba}
        exec(compile(source, "<anyopt fused kernel>", "exec"), namespace)
        # Sums may be reassociated (vectorised); element-wise maths stays exact IEEE.
        fastmath = {"reassoc"} if reduction else False
        fn = numba.njit(parallel=parallel, fastmath=fastmath)(namespace["kernel"])
        _KERNELS[(source, parallel)] = fn
    return fn


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
    """One parallel pass: element-wise outputs (or one sum) over equally sized leaves."""

    def __init__(self, roots, reduction: bool = False):
        nodes = _walk(roots)
        if any(x.dtype == np.float16 for x in nodes):  # numba has no float16 type
            raise Unsupported("the fused step cannot compute in float16 (numba has no float16)")
        self.arrays = [x for x in nodes if x.op == "in" and not x.scalar]
        self.scalars = _frontier(nodes)
        source = KernelSource(self.arrays, self.scalars)
        self.reduction = reduction
        self.text = source.reduction(roots[0]) if reduction else source.elementwise(roots)

    def __call__(self, n, *args):
        return _compile(self.text, n >= PARALLEL_MIN, self.reduction)(n, *args)


class Plan:
    """The traced step for one tree structure, ready to run on real NumPy arrays."""

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

    def run(self, leaves: list[list], donate: bool):
        """``leaves`` = [param leaves, grad leaves, state leaves] (NumPy arrays)."""
        new_p, new_s = self.run_leaves(leaves, donate)
        return backends.unflatten(self.def_p, new_p), backends.unflatten(self.def_s, new_s)

    def run_leaves(self, leaves: list[list], donate: bool) -> tuple[list, list]:
        """Like ``run``, returning the new parameter and state leaves as lists."""
        values = {id(s): leaves[role][i] for (role, i), s in self.inputs.items()}
        for x in self.scalar_order:
            values[id(x)] = self._scalar(x, values)
        new = {}
        for kernel, group in self.groups:
            self._run_group(kernel, group, values, new, donate)
        for key, out in self.scalar_outputs:
            new[key] = values[id(out)]
        new_p = [new[(0, i)] for i in range(self.n_out[0])]
        new_s = [new[(2, j)] for j in range(self.n_out[1])]
        return new_p, new_s

    def _scalar(self, x, values):
        """Evaluates one scalar node with NumPy, as the reference step would."""
        if x.op == "in":
            out = values[id(x)]
            return out[()] if isinstance(out, np.ndarray) else out
        if x.op == "sum":
            kernel = self.reductions[id(x)]
            arrays = [_flat_view(values[id(a)]) for a in kernel.arrays]
            scalars = [values[id(s)] for s in kernel.scalars]
            return x.dtype.type(kernel(_common_size(arrays), *arrays, *scalars))
        args = [values[id(a)] if isinstance(a, Sym) else a for a in x.args]
        if x.op in ("const", "cast"):
            return _numpy.astype(args[0], x.dtype)
        if x.op == "where":
            return np.where(*args)[()]
        if x.op == "fill":
            return x.dtype.type(args[0])
        with np.errstate(all="ignore"):
            return _SCALAR_OPS[x.op](*args)

    def _run_group(self, kernel, group, values, new, donate):
        arrays = [_flat_view(values[id(a)]) for a in kernel.arrays]
        shape = np.shape(values[id(kernel.arrays[0])]) if kernel.arrays else ()
        dests = []
        for key, out in group:
            source = self.dest[key]
            target = values[id(source)] if source is not None else None
            reusable = isinstance(target, np.ndarray) and target.flags.writeable
            if not (donate and reusable and target.dtype == out.dtype):
                target = np.empty(shape if target is None else np.shape(target), out.dtype)
            new[key] = target
            dests.append(_flat_view(target))
        scalars = [values[id(s)] for s in kernel.scalars]
        kernel(_common_size(arrays + dests), *arrays, *dests, *scalars)


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
    kinds = {(k.text, tuple(_structure(s, memo) for s in k.scalars)) for k, _ in plan.groups}
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


def _flat_view(x) -> np.ndarray:
    if not (isinstance(x, np.ndarray) and x.flags.c_contiguous):
        raise Unsupported("the fused step needs C-contiguous NumPy arrays")
    return x.reshape(-1)


def _common_size(arrays) -> int:
    sizes = {a.size for a in arrays}
    if len(sizes) > 1:
        raise Unsupported(f"the fused step combines leaves of different sizes {sorted(sizes)}")
    return sizes.pop() if sizes else 0
