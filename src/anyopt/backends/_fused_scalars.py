"""The fused step's scalar part (step counts, bias corrections, schedules) as one function.

The traced scalar nodes run in evaluation order as generated Python: + - * / and
comparisons use NumPy's scalar operators (exact IEEE operations, so the same results as
its ufuncs, about ten times cheaper per call); other operations call the ufunc (``**`` on
float32 scalars does not round like ``np.power``). Values live in a dict keyed by node
id, shared with the kernels' argument lists; a sum calls back into the plan, which runs
its batched reduction.

``exp``, ``log``, ``**``, ``tanh`` and ``cos`` of floats (``LIBM``) are the C library's
float64 functions on the operands converted to the node's dtype, rounded to that dtype
(``math``'s functions, with C's results where ``math`` raises). The compiled program
(``_fused_prologue``) calls the same functions, so both give the same bits. Rounded from
float64, float32 results are within half an ulp; NumPy's own float32 ``log`` and ``exp``
were up to 3 ulp off on a million random inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from anyopt.backends import _numpy
from anyopt.backends._fused_codegen import _INFIX as _KERNEL_INFIX
from anyopt.backends._trace import _BINARY, _UNARY, Sym

# The kernels' infix operators, but for ``and`` / ``or`` (on scalars they return an
# operand, not a bool).
_INFIX = {op: sign for op, sign in _KERNEL_INFIX.items() if op not in ("and", "or")}


def _where(condition, a, b, dtype):
    return _cast(a if condition else b, dtype)


_REAL = frozenset(
    (bool, int, float, np.bool_, np.float16, np.float32, np.float64)
    + (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)
)


def _cast(value, dtype):
    """``value`` as a NumPy scalar of ``dtype``, as ``astype`` converts it."""
    if dtype.kind == "f" and type(value) in _REAL:
        return dtype.type(value)  # the same rounding, without a 0-d array
    return _numpy.astype(value, dtype)


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _log(x: float) -> float:
    if x > 0:
        return math.log(x)
    return -math.inf if x == 0 else math.nan


def _cos(x: float) -> float:
    return math.nan if math.isinf(x) else math.cos(x)


def _odd(y: float) -> bool:
    return math.fmod(y, 2.0) in (1.0, -1.0)


def _pow(x: float, y: float) -> float:
    try:
        return math.pow(x, y)
    except OverflowError:
        return -math.inf if x < 0 and _odd(y) else math.inf
    except ValueError:  # C returns a pole's infinity, or NaN for a root of a negative
        if x == 0:
            return math.copysign(math.inf, x) if _odd(y) else math.inf
        return math.nan


# float operations computed as C's float64 functions (see the module's text)
LIBM = {"exp": _exp, "log": _log, "pow": _pow, "tanh": math.tanh, "cos": _cos}


def compile_scalars(order: list) -> Callable:
    """``run(values, total)``: sets ``values[id(x)]`` for every node ``x`` of ``order``
    (not inputs; their values must be set); ``total(id)`` returns a sum's value."""
    constants: dict = {}
    namespace: dict = {"_cast": _cast, "_where": _where}
    namespace.update((f"L_{op}", fn) for op, fn in LIBM.items())

    def ref(a) -> str:
        if isinstance(a, Sym):
            return f"V[{id(a)}]"
        name = f"C{len(constants)}"
        constants[name] = a
        return name

    def folded(x) -> str | None:
        """A constant node's value, computed now (the same every step)."""
        if x.op not in ("const", "cast", "fill") or isinstance(x.args[0], Sym):
            return None
        if x.op == "fill":
            return ref(x.dtype.type(x.args[0]))
        return ref(_cast(x.args[0], x.dtype))

    lines = ["def run(V, total):"]
    for x in order:
        if x.op == "in":
            continue
        target = f"V[{id(x)}]"
        line = folded(x)
        if line is not None:
            lines.append(f"    {target} = {line}")
            continue
        args = [ref(a) for a in x.args]
        dtype = f"D{len(namespace)}"
        namespace[dtype] = x.dtype
        if x.op == "sum":
            line = f"total({id(x)})"
        elif x.op == "cast" and x.dtype.kind == "f" and x.args[0].dtype.kind in "biuf":
            line = f"{dtype}.type({args[0]})"  # what ``_cast`` does for these
        elif x.op in ("const", "cast"):
            line = f"_cast({args[0]}, {dtype})"
        elif x.op == "fill":
            line = f"{dtype}.type({args[0]})"
        elif x.op == "where":
            line = f"_where({', '.join(args)}, {dtype})"
        elif x.op in LIBM and x.dtype.kind == "f":
            operands = ", ".join(f"float({dtype}.type({a}))" for a in args)
            line = f"{dtype}.type(L_{x.op}({operands}))"
        elif x.op in _INFIX and any(isinstance(a, Sym) for a in x.args):
            line = f"{args[0]} {_INFIX[x.op]} {args[1]}"
        else:
            function = f"F_{x.op}"
            namespace[function] = {**_UNARY, **_BINARY}[x.op]
            line = f"{function}({', '.join(args)})"
        lines.append(f"    {target} = {line}")
    lines.append("    return V")
    namespace.update(constants)
    exec(compile("\n".join(lines) + "\n", "<anyopt fused scalars>", "exec"), namespace)
    return namespace["run"]
