"""A symbolic 'framework' used to record an optimizer step as an expression graph.

Running ``tx.update`` on trees of ``Sym`` leaves records every leaf operation; the fused
backend (``_fused``) compiles the recorded graph into one pass over memory. ``Sym``
behaves like an array of unknown shape: either element-wise data (a parameter-shaped
leaf) or a scalar (a 0-d leaf such as a step count, or a reduction).
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

NAME = "trace"
xp = np


class Unsupported(TypeError):
    """The step used an operation the fused backend cannot compile."""


class Sym:
    """A node: ``op`` applied to ``args`` (nodes or Python constants)."""

    __slots__ = ("op", "args", "scalar", "dtype", "leaf", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, op: str, args: tuple, scalar: bool, dtype: Any, leaf: Any = None):
        self.op, self.args, self.scalar, self.dtype, self.leaf = op, args, scalar, dtype, leaf

    @property
    def ndim(self):
        raise Unsupported("the fused step cannot use array shapes")

    @property
    def shape(self):
        raise Unsupported("the fused step cannot use array shapes")

    @property
    def size(self):
        raise Unsupported("the fused step cannot use array sizes")

    def __bool__(self):
        raise Unsupported("the fused step cannot branch on array values")

    def __hash__(self):
        return id(self)


def node(op: str, *args) -> Sym:
    syms = [a for a in args if isinstance(a, Sym)]
    scalar = builtins.all(a.scalar for a in syms)
    return Sym(op, args, scalar, _result_dtype(op, args))


def _result_dtype(op, args):
    """NumPy's dtype for ``op`` on one-element stand-ins (Python numbers stay weak)."""
    probes = [np.ones(1, a.dtype) if isinstance(a, Sym) else a for a in args]
    if op in _UNARY:
        return _UNARY[op](probes[0]).dtype
    if op in _BINARY:
        with np.errstate(all="ignore"):
            return np.asarray(_BINARY[op](*probes)).dtype
    if op == "where":
        return np.where(np.asarray(True), probes[1], probes[2]).dtype
    raise AssertionError(op)


_UNARY = {
    "neg": np.negative,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "sign": np.sign,
    "tanh": np.tanh,
    "cos": np.cos,
    "exp": np.exp,
    "log": np.log,
    "isfinite": np.isfinite,
    "not": np.logical_not,
}
_BINARY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.true_divide,
    "pow": np.power,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
    "eq": np.equal,
    "ne": np.not_equal,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "and": np.logical_and,
    "or": np.logical_or,
}


def _binary(op, swap=False):
    if swap:
        return lambda self, other: node(op, other, self)
    return lambda self, other: node(op, self, other)


for _name, _op in [("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "div")]:
    setattr(Sym, f"__{_name}__", _binary(_op))
    setattr(Sym, f"__r{_name}__", _binary(_op, swap=True))
Sym.__pow__, Sym.__rpow__ = _binary("pow"), _binary("pow", swap=True)
Sym.__lt__, Sym.__le__ = _binary("lt"), _binary("le")
Sym.__gt__, Sym.__ge__ = _binary("gt"), _binary("ge")
Sym.__eq__, Sym.__ne__ = _binary("eq"), _binary("ne")  # recorded, never Python's identity
Sym.__and__, Sym.__or__ = _binary("and"), _binary("or")
Sym.__neg__ = lambda self: node("neg", self)


def _unsupported_method(self, *args):
    raise Unsupported("the fused step supports element-wise arithmetic, comparisons and sums")


for _name in ("mod", "rmod", "floordiv", "rfloordiv", "matmul", "rmatmul", "getitem", "iter"):
    setattr(Sym, f"__{_name}__", _unsupported_method)
Sym.__invert__ = lambda self: node("not", self)


# --- the backend interface ----------------------------------------------------------------
def _unary(op):
    return lambda x: node(op, x)


sqrt, abs, sign, tanh = _unary("sqrt"), _unary("abs"), _unary("sign"), _unary("tanh")
cos, exp, log, isfinite = _unary("cos"), _unary("exp"), _unary("log"), _unary("isfinite")


def maximum(a, b):
    return node("maximum", a, b)


def minimum(a, b):
    return node("minimum", a, b)


def where(cond, x, y):
    return node("where", cond, x, y)


def clip(x, lo=None, hi=None):
    out = x if lo is None else maximum(x, lo)
    return out if hi is None else minimum(out, hi)


def sum(x, axis=None, keepdims=False):
    if axis is not None or keepdims:
        raise Unsupported("the fused step supports whole-leaf sums only")
    if x.scalar:
        return x
    return Sym("sum", (x,), True, np.sum(np.ones(1, x.dtype)).dtype)


def _reject(*_args, **_kwargs):
    raise Unsupported("the fused step supports element-wise operations and sums only")


max = min = mean = all = any = vdot = _reject


def dtype(name: str):
    return np.dtype(name)


def dtype_name(d) -> str:
    return np.dtype(d).name


def astype(x, d):
    d = np.dtype(d)
    if isinstance(x, Sym):
        return x if x.dtype == d else Sym("cast", (x,), x.scalar, d)
    return Sym("const", (x,), True, d)


def asarray(value, d=None, like=None):
    if isinstance(value, Sym):
        return value if d is None else astype(value, d)
    return Sym("const", (value,), True, np.asarray(value, dtype=d).dtype)


def zeros_like(x, d=None):
    return full_like(x, 0, d)


def full_like(x, value, d=None):
    return Sym("fill", (value,), x.scalar, np.dtype(d) if d is not None else x.dtype)


def is_floating(x) -> bool:
    return np.issubdtype(x.dtype, np.inexact)


def size(x):
    raise Unsupported("the fused step cannot use array sizes")


def __getattr__(name: str):
    """Any other operation (shapes, matmul, axis reductions ...) cannot be fused."""
    if name.startswith("__"):
        raise AttributeError(name)
    return _reject
