"""Numba source code for fused passes over groups of element-wise outputs (or sums)."""

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
    """The loop body of one fused pass: arrays ``a{k}``, scalars ``s{k}``, outputs ``o{k}``."""

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

    def elementwise(self, outputs: list[Sym]) -> list[str]:
        """The loop body computing element ``i`` of ``outputs[k]`` into ``o{k}[i]``."""
        loads = self._loads()
        results = [self.ref(o, o.dtype) for o in outputs]
        return loads + self.body + [f"o{k}[i] = {r}" for k, r in enumerate(results)]

    def reduction(self, expr: Sym) -> list[str]:
        """The loop body adding element ``i`` of ``expr`` to the float64 ``acc``."""
        loads = self._loads()
        result = self.ref(expr, expr.dtype)
        return loads + self.body + [f"acc += np.float64({result})"]

    def _loads(self) -> list[str]:
        for k, a in enumerate(self.arrays):
            self.names[id(a)] = f"a{k}_"
        return [f"a{k}_ = a{k}[i]" for k in range(len(self.arrays))]


def batched_kernel(
    body: list[str],
    arrays: list,
    outputs: list,
    shared: list[bool],
    reduction: bool,
    inplace: tuple = (),
) -> str:
    """``def kernel(parts, table, A.., O.., S.., partial)``: runs ``body`` over many members.

    Row ``r`` of ``table`` is (member, start, stop), a slice of one member's elements (the
    loop runs from 0 on arrays that start there, so numba can drop negative-index checks);
    ``parts`` splits the rows into one contiguous run per thread. ``A{k}[m]`` / ``O{k}[m]``
    are the addresses of member ``m``'s ``k``-th input / output array (of dtype
    ``arrays[k]`` / ``outputs[k]``), ``S{k}`` its ``k``-th scalar (one value for all
    members where ``shared[k]``). Output ``k`` is written through input ``inplace[k]``'s
    array where that is not -1 (the same address: one pointer lets LLVM vectorise the loop
    without runtime alias checks). A reduction writes each row's float64 sum to
    ``partial[r]``.
    """
    params = ["parts", "table"] + [f"A{k}" for k in range(len(arrays))]
    params += [f"O{k}" for k in range(len(outputs))] + [f"S{k}" for k in range(len(shared))]
    params += ["partial"] if reduction else []
    lines = [
        f"def kernel({', '.join(params)}):",
        "    for part in numba.prange(parts.shape[0] - 1):",
        "        for r in range(parts[part], parts[part + 1]):",
        "            m, lo, n = table[r, 0], table[r, 1], table[r, 2] - table[r, 1]",
    ]
    for letter, dtypes in (("a", arrays), ("o", outputs)):
        for k, d in enumerate(dtypes):
            if letter == "o" and k < len(inplace) and inplace[k] >= 0:
                lines.append(f"            o{k} = a{inplace[k]}")
                continue
            address = f"{letter.upper()}{k}[m] + lo * {np.dtype(d).itemsize}"
            pointer = f"as_pointer({address}, np.{_numba_name(d)})"
            lines.append(f"            {letter}{k} = numba.carray({pointer}, (n,))")
    lines += [f"            s{k} = S{k}[{0 if s else 'm'}]" for k, s in enumerate(shared)]
    lines += ["            acc = 0.0"] if reduction else []
    lines += ["            for i in range(n):"] + [f"                {x}" for x in body]
    lines += ["            partial[r] = acc"] if reduction else []
    return "\n".join(lines) + "\n"


def _numba_name(dtype) -> str:
    name = np.dtype(dtype).name
    return "bool_" if name == "bool" else name


def _operand_dtype(args) -> np.dtype:
    syms = [a for a in args if isinstance(a, Sym)]
    return np.result_type(*[s.dtype for s in syms]) if syms else np.dtype("float64")
