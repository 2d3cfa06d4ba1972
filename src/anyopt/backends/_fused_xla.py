"""The fused step on JAX arrays in CPU memory: each batch of kernels as one XLA FFI call.

Under ``jax.jit`` the step is traced into the same plan as the NumPy fused step
(``_fused.Plan``). XLA computes the scalars and the sums, as the reference step does; each
batch of element-wise kernels becomes one custom call whose numba handler reads the
buffers' addresses from XLA's call frame and runs the batch's parallel loop. Its outputs
alias its inputs (``input_output_aliases``), so with donated parameters and state the
step reads each input once and writes in place; XLA copies first where an input is not
donated. XLA:CPU itself fuses Adam into three passes (about 40 bytes per parameter
instead of 28).
"""

from __future__ import annotations

import ctypes
import itertools
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from anyopt.backends import _fused, _fused_batch, _trace
from anyopt.backends._fused_codegen import _numba_name, batched_kernel
from anyopt.backends._trace import Sym, Unsupported

_TARGETS: dict[tuple, tuple] = {}  # sources -> (target name, cfunc): kept alive
_COUNTER = itertools.count()
_JNP = {name: getattr(jnp, fn.__name__) for name, fn in {**_trace._UNARY, **_trace._BINARY}.items()}


def available() -> bool:
    """numba is installed and JAX computes on the CPU."""
    return _fused.available() and jax.default_backend() == "cpu"


def _canonical(dtype) -> np.dtype:
    return np.dtype(jax.dtypes.canonicalize_dtype(dtype))


def _api_version() -> tuple[int, int]:
    """The XLA FFI API version of the installed jaxlib (from its C header)."""
    header = Path(jax.ffi.include_dir()) / "xla" / "ffi" / "api" / "c_api.h"
    text = header.read_text()
    major = re.search(r"#define XLA_FFI_API_MAJOR (\d+)", text)
    minor = re.search(r"#define XLA_FFI_API_MINOR (\d+)", text)
    if major is None or minor is None:
        raise Unsupported("cannot read the XLA FFI API version from jaxlib's headers")
    return int(major.group(1)), int(minor.group(1))


_HELPERS = """
@numba.njit
def _data(buffer):
    return numba.carray(as_pointer(buffer, np.int64), 6)[3]


@numba.njit
def _size(buffer):
    fields = numba.carray(as_pointer(buffer, np.int64), 6)
    dims = numba.carray(as_pointer(fields[5], np.int64), fields[4])
    n = 1
    for d in dims:
        n *= d
    return n
"""


def _handler_source(n_members, arrays, outputs, scalars, pattern) -> str:
    """``handler(call_frame)``: XLA's FFI entry point for one batch (see the module doc).

    Operands: parts, table (int32), the scalars, then input ``k`` of every member, then extra
    operands (destinations aliased to outputs); results: output ``k`` of every member.
    XLA_FFI_CallFrame fields used (8-byte words): 1 extension_start, 4 stage, 7 args.size,
    9 args.args, 12 rets.size, 14 rets.rets; an XLA_FFI_Buffer's word 3 is its data
    pointer, 4 its rank, 5 its dims.
    """
    m, ns, na, no = n_members, len(scalars), len(arrays), len(outputs)
    major, minor = _api_version()
    names = [f"S{k}" for k in range(ns)]
    lines = [
        "def handler(frame):",
        "    f = numba.carray(as_pointer(frame, np.int64), 15)",
        "    if f[1] != 0:  # XLA asks for the handler's metadata",
        "        e = numba.carray(as_pointer(f[1], np.int64), 4)",
        "        if (e[1] & 0xFFFFFFFF) == 1:",
        "            meta = numba.carray(as_pointer(e[3], np.int32), 9)",
        f"            meta[6] = {major}",
        f"            meta[7] = {minor}",
        "            meta[8] = 0",
        "        return 0",
        "    if (f[4] & 0xFFFFFFFF) != 3:  # only the execute stage does work",
        "        return 0",
        "    args = numba.carray(as_pointer(f[9], np.int64), f[7])",
        "    rets = numba.carray(as_pointer(f[14], np.int64), f[12])",
        "    parts = numba.carray(as_pointer(_data(args[0]), np.int32), _size(args[0]))",
        "    rows = numba.carray(as_pointer(_data(args[1]), np.int32), _size(args[1]))",
        "    table = rows.reshape((rows.shape[0] // 3, 3))",
    ]
    for k, d in enumerate(scalars):
        pointer = f"as_pointer(_data(args[{2 + k}]), np.{_numba_name(d)})"
        lines.append(f"    S{k} = numba.carray({pointer}, _size(args[{2 + k}]))")
    lines += [
        f"    A = np.empty(({na}, {m}), np.int64)",
        f"    for k in range({na}):",
        f"        for m in range({m}):",
        f"            A[k, m] = _data(args[{2 + ns} + k * {m} + m])",
        f"    O = np.empty(({no}, {m}), np.int64)",
        f"    for k in range({no}):",
        f"        for m in range({m}):",
        f"            O[k, m] = _data(rets[k * {m} + m])",
        "    same = True",
    ]
    for k, j in enumerate(pattern):
        if j >= 0:
            lines += [f"    for m in range({m}):", f"        if O[{k}, m] != A[{j}, m]:"]
            lines.append("            same = False")
    call = ", ".join(
        ["parts", "table"] + [f"A[{k}]" for k in range(na)] + [f"O[{k}]" for k in range(no)]
    )
    call = ", ".join([call, *names]) if names else call
    lines += [
        "    if same:",
        f"        kernel_in_place({call})",
        "    else:",
        f"        kernel_apart({call})",
        "    return 0",
    ]
    return "\n".join(lines) + "\n"


def _register(source: str, kernels: tuple, parallel: bool) -> str:
    """Compiles ``source``'s handler calling ``kernels`` (the in-place and the general
    kernel's source), registers it with XLA, returns its target name."""
    key = (source, *kernels, parallel)
    known = _TARGETS.get(key)
    if known is not None:
        return known[0]
    import numba
    from numba import types

    in_place, apart = (_fused_batch._compile(text, parallel, False) for text in kernels)
    namespace = dict(_fused_batch._namespace(), kernel_in_place=in_place, kernel_apart=apart)
    exec(compile(_HELPERS + source, "<anyopt fused XLA handler>", "exec"), namespace)
    handler = numba.cfunc(types.intp(types.intp))(namespace["handler"])
    name = f"anyopt_fused_{next(_COUNTER)}"
    new_capsule = ctypes.pythonapi.PyCapsule_New
    new_capsule.restype = ctypes.py_object
    new_capsule.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
    capsule = new_capsule(handler.address, b"xla._CUSTOM_CALL_TARGET", None)
    jax.ffi.register_ffi_target(name, capsule, platform="cpu")
    _TARGETS[key] = (name, handler)
    return name


class XlaFusedRunner:
    """``step(params, grads, state)`` as a jitted function whose element-wise work runs in
    the fused kernels; see the module docstring."""

    def __init__(self, reference, donate: bool):
        self.reference = reference
        self.run = jax.jit(self._traced, donate_argnums=(0, 2) if donate else ())

    def __call__(self, params, grads, state):
        try:
            return self.run(params, grads, state)
        except Unsupported as e:  # raised while tracing: nothing ran, nothing was donated
            raise ValueError(f"make_step: mode 'fused' cannot compile this step: {e}") from e

    def _traced(self, params, grads, state):
        import anyopt.backends as backends

        plan = _fused.Plan(self.reference, params, grads, state)
        leaves = [backends.flatten(t)[0] for t in (params, grads, state)]
        native = {id(s): leaves[role][i] for (role, i), s in plan.inputs.items()}
        values = {id(s): native[id(s)] for s in plan.inputs.values() if s.scalar}
        for x in plan.scalar_order:
            if x.op != "in":
                values[id(x)] = _evaluate(x, values, native)
        new: dict = {}
        for batch in plan.batches:
            _call_batch(plan, batch, native, values, new)
        for key, out in plan.scalar_outputs:
            dest = plan.dest[key]
            dtype = native[id(dest)].dtype if dest is not None else _canonical(out.dtype)
            new[key] = jnp.asarray(values[id(out)], dtype)
        new_p = [new[(0, i)] for i in range(plan.n_out[0])]
        new_s = [new[(2, j)] for j in range(plan.n_out[1])]
        return backends.unflatten(plan.def_p, new_p), backends.unflatten(plan.def_s, new_s)


def _evaluate(x: Sym, values: dict, native: dict):
    """Node ``x`` computed with jax.numpy: scalars as the reference computes them; a sum
    over its element-wise expression (XLA fuses it into one reduction)."""
    if x.op == "in":
        return values[id(x)] if x.scalar else native[id(x)]
    if id(x) in values:
        return values[id(x)]
    args = [_evaluate(a, values, native) if isinstance(a, Sym) else a for a in x.args]
    dtype = _canonical(x.dtype)
    if x.op == "sum":
        out = jnp.sum(args[0], dtype=dtype)
    elif x.op in ("const", "cast", "fill"):
        out = jnp.asarray(args[0], dtype)
    elif x.op == "where":
        out = jnp.where(*args)
    else:
        out = _JNP[x.op](*args)
    if x.scalar:
        values[id(x)] = out
    return out


def _call_batch(plan, batch, native, values, new) -> None:
    m = len(batch.kernels)
    sizes = [_fused_batch.common_size(_member_sizes(plan, batch, native, i)) for i in range(m)]
    if max(sizes, default=0) >= 2**31:
        raise Unsupported("the fused step on JAX indexes leaves with int32 (JAX's default)")
    parts, table, parallel = _fused_batch.split(tuple(sizes))
    first = batch.kernels[0]
    scalar_dtypes = [_canonical(s.dtype) for s in first.scalars]
    scalars = []
    for j, (shared, dtype) in enumerate(zip(batch.shared, scalar_dtypes)):
        picked = batch.kernels[:1] if shared else batch.kernels
        scalars.append(jnp.stack([jnp.asarray(values[id(k.scalars[j])], dtype) for k in picked]))
    operands = [jnp.asarray(parts, np.int32), jnp.asarray(table.reshape(-1), np.int32), *scalars]
    operands += [native[i] for ids in batch.array_ids for i in ids]
    pattern = batch.pattern or (-1,) * len(batch.keys)
    out_dtypes = [_canonical(o.dtype) for _, o in batch.outputs[0]]
    results, aliases = [], {}
    for k, dtype in enumerate(out_dtypes):
        for i in range(m):
            dest = batch.dests[k][i]
            target = native[id(dest)] if dest is not None else None
            shape = target.shape if target is not None else _member_shape(batch, native, i)
            if target is not None and target.dtype == dtype:
                if pattern[k] >= 0:
                    aliases[2 + len(scalars) + pattern[k] * m + i] = len(results)
                else:
                    aliases[len(operands)] = len(results)
                    operands.append(target)
            results.append(jax.ShapeDtypeStruct(shape, dtype))
    arrays = [_canonical(a.dtype) for a in first.arrays]
    body, shared = first.body, batch.shared
    kernels = tuple(
        batched_kernel(body, arrays, out_dtypes, shared, False, inplace)
        for inplace in (pattern, ())
    )
    source = _handler_source(m, arrays, out_dtypes, scalar_dtypes, pattern)
    name = _register(source, kernels, parallel)
    outs = jax.ffi.ffi_call(name, results, input_output_aliases=aliases)(*operands)
    for k, keys in enumerate(batch.keys):
        for i, key in enumerate(keys):
            new[key] = outs[k * m + i]


def _member_sizes(plan, batch, native, i) -> list[int]:
    sizes = [int(np.prod(native[ids[i]].shape)) for ids in batch.array_ids]
    for dests in batch.dests:
        if dests[i] is not None:
            sizes.append(int(np.prod(native[id(dests[i])].shape)))
    return sizes or [1]


def _member_shape(batch, native, i) -> tuple:
    return tuple(native[batch.array_ids[0][i]].shape) if batch.array_ids else ()


__all__ = ["XlaFusedRunner", "available"]
