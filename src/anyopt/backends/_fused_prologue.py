"""A fused step's scalar program compiled with numba, for steps that reuse their arguments.

On the kept-arguments path (``Recipe``) of a step without sums, the Python scalar
program reads each 0-d input through a NumPy view, runs a dozen NumPy scalar operations
and writes the results into dicts, buffers and 0-d state: cheap when warm, but in a
training loop, where the backward pass has evicted the caches, it costs more than the
kernels. ``Prologue`` does all of it in one numba call on raw addresses: it loads the 0-d
inputs, computes the values the kernels and the new 0-d state need, and stores them into
the kernels' scalar buffers and, in place, into the state.

The operations are the kernels' (``KernelSource``), exact IEEE operations as in the
Python program, but for ``exp``, ``log``, ``**``, ``tanh`` and ``cos`` of floats: the C
library's float64 functions, as the Python program calls them (``_fused_scalars.LIBM``).
The compiled call gives the Python program's bits, so a step's numbers do not depend on
whether its program was compiled yet (a run resumed from a checkpoint continues exactly).
"""

from __future__ import annotations

import math
import operator

import numpy as np

from anyopt.backends._fused_batch import _namespace
from anyopt.backends._fused_codegen import KernelSource, _numba_name
from anyopt.backends._fused_scalars import LIBM
from anyopt.backends._trace import Sym, Unsupported

# Steps on kept arguments before the scalar program is compiled: numba takes about 0.1 s
# per program, which pays only in long runs.
COMPILE_AFTER = 16
_COMPILED: dict[str, object] = {}


def _compile(source: str):
    fn = _COMPILED.get(source)
    if fn is None:
        import numba

        namespace = {**_namespace(), "math": math}
        exec(compile(source, "<anyopt fused prologue>", "exec"), namespace)
        fn = _COMPILED[source] = numba.njit(error_model="numpy")(namespace["prologue"])
    return fn


class _ScalarSource(KernelSource):
    """``KernelSource`` with ``LIBM``'s operations as the Python scalar program runs them."""

    def _emit(self, x: Sym) -> str:
        d = x.dtype
        if x.op not in LIBM or d.kind != "f":
            return super()._emit(x)
        operands = ", ".join(f"np.float64(np.{d.name}({self.ref(a, d)}))" for a in x.args)
        name = f"t{len(self.body)}"
        self.body.append(f"{name} = np.{d.name}(math.{x.op}({operands}))")
        return name


class Prologue:
    """The scalar program of ``plan`` as one compiled call on ``addresses``: the 0-d inputs
    (``at``: their leaf positions) first, then the kernels' scalar buffer slots of
    ``recipe``. ``Unsupported`` where the plan has sums, 0-d gradients, or a 0-d output
    that cannot be written in place."""

    def __init__(self, plan, recipe, leaves: list):
        if any(x.op == "sum" for x in plan.scalar_order):
            raise Unsupported("the scalar program waits for sums")
        if any(x.op in LIBM and x.dtype.kind != "f" for x in plan.scalar_order):
            raise Unsupported("NumPy's ufuncs compute this program's exp, log or **")
        if not getattr(recipe.backend, "SCALARS_IN_PLACE", False):
            raise Unsupported("the backend's 0-d arrays cannot be written in place")
        inputs = [s for s in plan.inputs.values() if s.scalar]
        if any(s.leaf[0] == 1 for s in inputs):
            raise Unsupported("a 0-d gradient is a new array every step")
        position = {id(s): k for k, s in enumerate(inputs)}
        source = _ScalarSource([], inputs)
        stores = []  # (index into addresses, dtype, expression)
        self.written = set()  # inputs written in place
        for key, out in plan.scalar_outputs:
            dest = plan.dest[key]
            if out is dest:
                continue
            if dest is None or not dest.scalar or dest.dtype != out.dtype:
                raise Unsupported("a 0-d output has no 0-d input of its dtype to go to")
            k = position[id(dest)]  # each output goes to its own position
            self.written.add(k)
            stores.append((k, out.dtype, source.ref(out, out.dtype)))
        slots = []
        for args in recipe.batches:
            kernels, shared = args.batch.kernels, args.batch.shared
            for j, (buffer, one) in enumerate(zip(args.scalars, shared)):
                for m, kernel in enumerate(kernels[:1] if one else kernels):
                    x = kernel.scalars[j]
                    expr = source.ref(x, buffer.dtype)
                    stores.append((len(inputs) + len(slots), buffer.dtype, expr))
                    slots.append(buffer.ctypes.data + m * buffer.itemsize)
        loads = [f"    s{k} = {_at(k, s.dtype)}" for k, s in enumerate(inputs)]
        lines = ["def prologue(P):", *loads, *(f"    {x}" for x in source.body)]
        lines += [f"    {_at(k, dtype)} = {expr}" for k, dtype, expr in stores] + ["    return"]
        self.fn = _compile("\n".join(lines) + "\n")
        self.backend, self.inputs, self.at = recipe.backend, inputs, [s.leaf for s in inputs]
        self.addresses = np.zeros(len(inputs) + len(slots), np.int64)
        self.addresses[len(inputs) :] = slots
        self.leaves: list = []
        self.pointers: list = []
        if not self.fits(leaves):
            raise Unsupported("the 0-d inputs are not where the step can read them")

    def fits(self, leaves: list) -> bool:
        """Whether the 0-d inputs of ``leaves`` are the arrays, at the addresses, that the
        compiled call reads; else they are located anew (False if they cannot be)."""
        now = [leaves[r][i] for r, i in self.at]
        if all(map(operator.is_, now, self.leaves)):
            if self.backend.data_pointers(now) == self.pointers:
                return True
        try:
            views = self.backend.host_views(now)
        except Unsupported:
            return False
        for k, (s, view) in enumerate(zip(self.inputs, views)):
            if not (isinstance(view, np.ndarray) and view.shape == () and view.dtype == s.dtype):
                return False
            if k in self.written and not view.flags.writeable:
                return False
        addresses = [view.ctypes.data for view in views]
        if len({addresses[k] for k in self.written}) != len(self.written):
            return False  # two outputs would be written into one memory
        self.addresses[: len(now)] = addresses
        self.leaves, self.pointers = now, self.backend.data_pointers(now)
        return True

    def run(self) -> None:
        self.fn(self.addresses)


def _at(k: int, dtype) -> str:
    """The value at address ``P[k]``, of ``dtype``, as a numba expression (also a target)."""
    return f"numba.carray(as_pointer(P[{k}], np.{_numba_name(dtype)}), (1,))[0]"
