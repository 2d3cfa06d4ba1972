"""Numba source code for one fused pass over a group of element-wise outputs."""

from __future__ import annotations

import numpy as np

from anyopt.backends._trace import Sym

_CALLS = {
    "sqrt": "np.sqrt",
    "abs": "np.abs",
    "sign": "np.sign",
    "tanh": "np.tanh",
    "cos": "np.cos",
    "exp": "np.exp",
    "log": "np.log",
    "isfinite": "np.isfinite",
    "maximum": "np.maximum",
    "minimum": "np.minimum",
}
_INFIX = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "div": "/",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "eq": "==",
    "ne": "!=",
    "and": "and",
    "or": "or",
}


class KernelSource:
    """Builds ``def kernel(n, arrays..., outputs..., scalars...)`` for one group."""

    def __init__(self, arrays: list[Sym], scalars: list[Sym]):
        self.names: dict[int, str] = {}
        for k, a in enumerate(arrays):
            self.names[id(a)] = f"a{k}"
        for k, s in enumerate(scalars):
            self.names[id(s)] = f"s{k}"
        self.arrays, self.scalars = arrays, scalars
        self.body: list[str] = []

    def _const(self, value, dtype) -> str:
        if isinstance(value, bool):
            return repr(value)
        return f"np.{np.dtype(dtype).name}({float(value)!r})"

    def ref(self, x, dtype) -> str:
        """The expression for operand ``x`` of a node of dtype ``dtype``."""
        if not isinstance(x, Sym):
            return self._const(x, dtype)
        if id(x) not in self.names:
            self.names[id(x)] = self._emit(x)
        return self.names[id(x)]

    def _emit(self, x: Sym) -> str:
        d = x.dtype
        cast = f"np.{d.name}" if d.kind != "b" else ""
        args = x.args
        if x.op in ("fill", "const"):
            expr = self._const(args[0], d)
        elif x.op == "cast":
            expr = self.ref(args[0], d)
        elif x.op == "neg":
            expr = f"-{self.ref(args[0], d)}"
        elif x.op == "not":
            expr = f"not {self.ref(args[0], d)}"
        elif x.op == "where":
            expr = f"({self.ref(args[1], d)} if {self.ref(args[0], d)} else {self.ref(args[2], d)})"
        elif x.op == "pow" and not isinstance(args[1], Sym) and args[1] in (1, 2):
            base = self.ref(args[0], d)
            expr = base if args[1] == 1 else f"{base} * {base}"
        elif x.op == "pow":
            expr = f"{self.ref(args[0], d)} ** {self.ref(args[1], d)}"
        elif x.op in _INFIX:
            operand_dtype = d if d.kind != "b" else _operand_dtype(args)
            a, b = (self.ref(v, operand_dtype) for v in args)
            expr = f"{a} {_INFIX[x.op]} {b}"
        elif x.op in _CALLS:
            expr = f"{_CALLS[x.op]}({', '.join(self.ref(v, d) for v in args)})"
        else:
            raise AssertionError(f"unexpected node {x.op}")
        name = f"t{len(self.body)}"
        self.body.append(f"{name} = {cast}({expr})")
        return name

    def elementwise(self, outputs: list[Sym]) -> str:
        """A kernel writing ``outputs[k]`` into its ``k``-th output array."""
        loads = [f"        a{k}_ = a{k}[i]" for k in range(len(self.arrays))]
        for k in range(len(self.arrays)):
            self.names[id(self.arrays[k])] = f"a{k}_"
        results = [self.ref(o, o.dtype) for o in outputs]
        stores = [f"        o{k}[i] = {r}" for k, r in enumerate(results)]
        params = self._params(len(outputs))
        lines = [f"def kernel(n, {params}):", "    for i in numba.prange(n):"]
        lines += loads + [f"        {line}" for line in self.body] + stores
        return "\n".join(lines) + "\n"

    def reduction(self, expr: Sym) -> str:
        """A kernel returning the float64 sum of ``expr`` over the group's elements."""
        loads = [f"        a{k}_ = a{k}[i]" for k in range(len(self.arrays))]
        for k in range(len(self.arrays)):
            self.names[id(self.arrays[k])] = f"a{k}_"
        result = self.ref(expr, expr.dtype)
        lines = [
            f"def kernel(n, {self._params(0)}):",
            "    acc = 0.0",
            "    for i in numba.prange(n):",
        ]
        lines += loads + [f"        {line}" for line in self.body]
        lines += [f"        acc += np.float64({result})", "    return acc"]
        return "\n".join(lines) + "\n"

    def _params(self, n_out: int) -> str:
        names = [f"a{k}" for k in range(len(self.arrays))]
        names += [f"o{k}" for k in range(n_out)]
        names += [f"s{k}" for k in range(len(self.scalars))]
        return ", ".join(names) or "_unused"


def _operand_dtype(args) -> np.dtype:
    syms = [a for a in args if isinstance(a, Sym)]
    return np.result_type(*[s.dtype for s in syms]) if syms else np.dtype("float64")
