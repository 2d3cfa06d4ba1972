"""PyTorch backend: leaf operations on ``torch.Tensor`` (parameters included)."""

from __future__ import annotations

import itertools
import types

import torch

NAME = "torch"
xp = torch


def _sign(x):
    """NumPy's sign: ``x / |x|`` for complex ``x`` (torch.sign refuses complex tensors)."""
    return torch.sgn(x) if x.is_complex() else torch.sign(x)


sqrt, abs, sign, tanh, cos, exp, log = (
    torch.sqrt,
    torch.abs,
    _sign,
    torch.tanh,
    torch.cos,
    torch.exp,
    torch.log,
)
log1p, sin, floor, isnan, real, conj = (
    torch.log1p,
    torch.sin,
    torch.floor,
    torch.isnan,
    torch.real,
    torch.conj_physical,  # materialized: a lazy conj view cannot become NumPy
)


def imag(x):
    return torch.imag(x) if x.is_complex() else torch.zeros_like(x)


isfinite, matmul, reshape, swapaxes, stack = (
    torch.isfinite,
    torch.matmul,
    torch.reshape,
    torch.swapaxes,
    torch.stack,
)
remainder = torch.remainder


def _reduction(fn):
    """``fn(x, axis=None, keepdims=False)`` in NumPy's spelling (axis None: every axis)."""

    def reduce(x, axis=None, keepdims=False):
        if axis is None:
            dims = tuple(range(x.ndim))
        else:
            dims = (axis,) if isinstance(axis, int) else tuple(axis)
        return fn(x, dim=dims, keepdim=keepdims) if dims else x

    return reduce


sum, mean = _reduction(torch.sum), _reduction(torch.mean)
_amax, _amin = _reduction(torch.amax), _reduction(torch.amin)


def _extreme(real_reduce, fill: float):
    """NumPy's max/min, complex included: lexicographic, the real part first (torch.amax
    refuses complex tensors)."""

    def reduce(x, axis=None, keepdims=False):
        if not x.is_complex():
            return real_reduce(x, axis, keepdims)
        re = torch.real(x)
        best = real_reduce(re, axis, True)
        im = torch.where(re == best, torch.imag(x), torch.full_like(re, fill))
        best = best if keepdims else real_reduce(re, axis, False)
        return torch.complex(best, real_reduce(im, axis, keepdims))

    return reduce


max, min = _extreme(_amax, -float("inf")), _extreme(_amin, float("inf"))
all, any = _reduction(torch.all), _reduction(torch.any)


def expand_dims(x, axis):
    return torch.unsqueeze(x, axis)


def broadcast_to(x, shape):
    return torch.broadcast_to(x, tuple(shape))


def concatenate(arrays, axis=0):
    return torch.cat(list(arrays), dim=axis)


def sort(x, axis=-1):
    return torch.sort(x, dim=axis).values


def argsort(x, axis=-1):
    return torch.argsort(x, dim=axis)


def cumsum(x, axis):
    return torch.cumsum(x, dim=axis)


def shape(x) -> tuple:
    return tuple(x.shape)


def _device(like):
    return like.device if isinstance(like, torch.Tensor) else None


def zeros(shape, d=None, like=None):
    return torch.zeros(tuple(shape), dtype=d, device=_device(like))


def eye(n: int, d=None, like=None):
    return torch.eye(n, dtype=d, device=_device(like))


def arange(n: int, d=None, like=None):
    return torch.arange(n, dtype=d, device=_device(like))


def svd(x):
    return torch.linalg.svd(x, full_matrices=False)


def eigh(x):
    return torch.linalg.eigh(x)


def _pair(a, b):
    """torch's binary ops want two tensors: lift a Python scalar next to a tensor."""
    if not isinstance(a, torch.Tensor):
        a = torch.as_tensor(a, dtype=b.dtype, device=b.device)
    elif not isinstance(b, torch.Tensor):
        b = torch.as_tensor(b, dtype=a.dtype, device=a.device)
    return a, b


def _complex_order(a, b):
    """``a >= b`` in NumPy's lexicographic order of complex numbers (real part first)."""
    ra, rb = torch.real(a), torch.real(b)
    return (ra > rb) | ((ra == rb) & (imag(a) >= imag(b)))


def maximum(a, b):
    a, b = _pair(a, b)
    if a.is_complex() or b.is_complex():  # torch.maximum refuses complex tensors
        return torch.where(_complex_order(a, b), a, b)
    return torch.maximum(a, b)


def minimum(a, b):
    a, b = _pair(a, b)
    if a.is_complex() or b.is_complex():
        return torch.where(_complex_order(a, b), b, a)
    return torch.minimum(a, b)


def where(cond, x, y):
    return torch.where(cond, x, y)


def dtype(name: str):
    d = getattr(torch, name, None)
    if not isinstance(d, torch.dtype):
        raise TypeError(f"torch has no dtype named {name!r}")
    return d


def dtype_name(d) -> str:
    return str(d).rsplit(".", 1)[-1]


def astype(x, d):
    return x.to(d) if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=d)


def asarray(value, d=None, like=None):
    device = like.device if isinstance(like, torch.Tensor) else None
    return torch.as_tensor(value, dtype=d, device=device)


def zeros_like(x, d=None):
    return torch.zeros_like(x, dtype=d, memory_format=torch.preserve_format)


def full_like(x, value, d=None):
    return torch.full_like(x, value, dtype=d)


def clip(x, lo=None, hi=None):
    return torch.clamp(x, lo, hi)


def count_zero(like=None):
    device = like.device if isinstance(like, torch.Tensor) else None
    return torch.zeros([], dtype=torch.int32, device=device)


def is_floating(x) -> bool:
    return x.is_floating_point() or x.is_complex()


def vdot(a, b):
    return torch.sum(a.conj() * b) if a.is_complex() else torch.sum(a * b)


def copy(x):
    return x.detach().clone()


def size(x) -> int:
    return x.numel()


def to_float(x) -> float:
    return float(x.item())


def to_numpy(x):
    x = x.detach().cpu()
    return (x.float() if x.dtype == torch.bfloat16 else x).numpy()


# Random keys: a pair of int64 seeds feeding a private torch.Generator.
def key(seed: int):
    return torch.tensor([0, seed], dtype=torch.int64)


def _generator(k):
    g = torch.Generator(device="cpu")
    g.manual_seed((int(k[0]) << 32 ^ int(k[1])) & 0xFFFFFFFFFFFFFFF)
    return g


def split(k, num: int = 2):
    return torch.randint(0, 2**31 - 1, (num, 2), generator=_generator(k), dtype=torch.int64)


def normal(k, shape, d=None):
    return torch.randn(tuple(shape), generator=_generator(k), dtype=d or torch.float32)


def uniform(k, shape, d=None, minval=0.0, maxval=1.0):
    out = torch.rand(tuple(shape), generator=_generator(k), dtype=d or torch.float32)
    return out * (maxval - minval) + minval


_STEPS = itertools.count()


def _fresh_code(fn):
    """``fn`` with a code object of its own: torch.compile caches graphs per code object and
    gives up after 8 variants, so every optimizer's step must not share one."""
    code = fn.__code__.replace(co_name=f"anyopt_step_{next(_STEPS)}")
    return types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)


def compile_step(step, donate: bool):
    """``step`` under ``torch.compile``. With ``donate`` the compiled graph writes the new
    parameters and state into the existing tensors (inductor fuses the update and the
    write-back into one pass); otherwise it returns new tensors."""
    from anyopt import backends

    def write_back(params, grads, state):
        new_params, new_state = step(params, grads, state)
        for old, new in zip(backends.flatten(params)[0], backends.flatten(new_params)[0]):
            old.copy_(new)
        for old, new in zip(backends.flatten(state)[0], backends.flatten(new_state)[0]):
            old.copy_(new)

    compiled = torch.compile(_fresh_code(write_back if donate else step), dynamic=False)

    def call(params, grads, state):
        with torch.no_grad():
            if not donate:
                return compiled(params, grads, state)
            compiled(params, grads, state)
        return params, state

    return call


def empty(n: int, d):
    return torch.empty(n, dtype=d)


def copy_leaves(targets, sources):
    """``targets[i][...] = sources[i]`` for every ``i``, in one multi-tensor call."""
    with torch.no_grad():
        torch._foreach_copy_(list(targets), list(sources))


def view(buffer, start: int, stop: int, shape):
    return buffer[start:stop].view(shape)


def concat(leaves):
    return torch.cat([x.reshape(-1) for x in leaves])


def host_fusable() -> bool:
    """CPU tensors share memory with NumPy, so the fused NumPy kernels can update them."""
    return True


def host_views(leaves):
    """Zero-copy NumPy views of CPU tensors (writes show through)."""
    from anyopt.backends._trace import Unsupported

    out = []
    for x in leaves:
        if isinstance(x, torch.Tensor):
            if x.device.type != "cpu" or x.dtype == torch.bfloat16:
                raise Unsupported("the fused step needs CPU tensors NumPy can view")
            x = x.detach().numpy()
        out.append(x)
    return out


_HOST_DTYPES = frozenset(
    (torch.float64, torch.float32, torch.float16, torch.int64, torch.int32, torch.int16)
    + (torch.int8, torch.uint8, torch.bool, torch.complex64, torch.complex128)
)


def host_pointers(leaves):
    """(address, size, writable, layout, dtype) of each CPU tensor (the fused kernels'
    inputs); ``layout`` is None for a contiguous tensor (see ``_fused_layout``)."""
    return [
        (x.data_ptr(), x.numel(), True, None, d)
        if x.is_contiguous() and x.is_cpu and (d := x.dtype) in _HOST_DTYPES
        else _strided_pointer(x)
        for x in leaves
    ]


def _strided_pointer(x):
    from anyopt.backends._fused_layout import dense_layout
    from anyopt.backends._trace import Unsupported

    if not (x.is_cpu and x.dtype in _HOST_DTYPES):
        raise Unsupported("the fused step needs CPU tensors NumPy can view")
    if x.layout is not torch.strided:
        raise Unsupported(f"the fused step cannot read {x.layout} tensors")
    size = x.element_size()
    layout = dense_layout(tuple(x.shape), [s * size for s in x.stride()], size)
    return (x.data_ptr(), x.numel(), True, layout, x.dtype)


_DATA_PTR, _STRIDE = torch.Tensor.data_ptr, torch.Tensor.stride


def data_pointers(leaves):
    """(addresses, strides) of the tensors, or None if one has no strided memory (sparse):
    whether they are still where ``host_pointers`` found them (a shape or dtype changed at
    the same address and strides is not seen)."""
    try:
        return list(map(_DATA_PTR, leaves)), list(map(_STRIDE, leaves))
    except RuntimeError:
        return None


SCALARS_IN_PLACE = True  # a 0-d tensor's NumPy view writes through (fused steps, donated)


def storage_stamp(x):
    """Changes when ``x`` is given other memory (``x.data = ...``): cached views are stale."""
    return x.data_ptr() if isinstance(x, torch.Tensor) else None


def from_host(x):
    import numpy as np

    return torch.from_numpy(np.array(x))  # keeps 0-d shapes (ascontiguousarray would not)


# --- autodiff (line searches, L-BFGS, SAM, Sophia): torch.func over the tree's leaves -------
def _on_leaves(params):
    """The tuple of ``params``' tensor leaves (torch.func's input) and its inverse."""
    from anyopt import backends

    leaves, treedef = backends.flatten(params)
    slots = [i for i, x in enumerate(leaves) if isinstance(x, torch.Tensor)]

    def rebuild(tensors):
        full = list(leaves)
        for i, t in zip(slots, tensors):
            full[i] = t
        return backends.unflatten(treedef, full)

    return tuple(leaves[i] for i in slots), rebuild


def value_and_grad(fun, has_aux: bool = False):
    """``(value, grad)`` (``((value, aux), grad)`` with ``has_aux``) of ``fun`` with respect to
    its first argument, a tree of tensors, through ``torch.func.grad_and_value``."""

    def call(params, *args, **kwargs):
        tensors, rebuild = _on_leaves(params)
        flat = torch.func.grad_and_value(
            lambda ts: fun(rebuild(ts), *args, **kwargs), has_aux=has_aux
        )
        g, value = flat(tensors)
        return value, rebuild(g)

    return call


def hvp(fun, params, tangents):
    """Hessian-vector product of scalar ``fun`` at ``params`` (forward over reverse)."""
    tensors, rebuild = _on_leaves(params)
    vectors, _ = _on_leaves(tangents)
    g = torch.func.grad(lambda ts: fun(rebuild(ts)))
    return rebuild(torch.func.jvp(g, (tensors,), (vectors,))[1])


def stop_gradient(x):
    return x.detach()


def rademacher(k, shape, d=None):
    bits = torch.randint(0, 2, tuple(shape), generator=_generator(k), dtype=torch.int8)
    return (2 * bits - 1).to(d or torch.float32)


# --- scale_gradient: identity forward, gradient times ``scale`` backward (torch.func-ready) ---
class _ScaleGradient(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, scale):
        return x.view_as(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.scale = inputs[1]

    @staticmethod
    def backward(ctx, g):
        return g * ctx.scale, None


def scale_gradient(x, scale):
    if isinstance(scale, (int, float)) and scale == 0:
        return x.detach()
    return _ScaleGradient.apply(x, scale)


def vmap(fun, in_axes=0, out_axes=0):
    """``torch.func.vmap`` with JAX's argument names (positional arguments only)."""
    return torch.func.vmap(fun, in_dims=in_axes, out_dims=out_axes)
