"""MLX backend: leaf operations on ``mlx.core.array``."""

from __future__ import annotations

import mlx.core as mx

NAME = "mlx"
xp = mx

sqrt, abs, sign, tanh, cos, exp, log = mx.sqrt, mx.abs, mx.sign, mx.tanh, mx.cos, mx.exp, mx.log
maximum, minimum, where, isfinite = mx.maximum, mx.minimum, mx.where, mx.isfinite
sum, max, min, mean, all, any = mx.sum, mx.max, mx.min, mx.mean, mx.all, mx.any
log1p, sin, floor, isnan, real, imag, conj = (
    mx.log1p,
    mx.sin,
    mx.floor,
    mx.isnan,
    mx.real,
    mx.imag,
    mx.conj,
)
matmul, reshape, swapaxes, expand_dims, broadcast_to = (
    mx.matmul,
    mx.reshape,
    mx.swapaxes,
    mx.expand_dims,
    mx.broadcast_to,
)
stack, concatenate = mx.stack, mx.concatenate
remainder = mx.remainder
sort, cumsum = mx.sort, mx.cumsum


def argsort(x, axis=-1):
    return mx.argsort(x, axis).astype(mx.int32)  # MLX gives uint32


def dtype(name: str):
    d = getattr(mx, "bool_" if name == "bool" else name, None)
    if not isinstance(d, mx.Dtype):
        raise TypeError(f"mlx has no dtype named {name!r}")
    return d


def dtype_name(d) -> str:
    return str(d).rsplit(".", 1)[-1]


def astype(x, d):
    return mx.array(x).astype(d) if not isinstance(x, mx.array) else x.astype(d)


def asarray(value, d=None, like=None):
    if isinstance(value, mx.array):
        return value if d is None else value.astype(d)
    return mx.array(value, dtype=d) if d is not None else mx.array(value)


def zeros_like(x, d=None):
    return mx.zeros(x.shape, dtype=d or x.dtype)


def full_like(x, value, d=None):
    d = d or x.dtype
    if mx.issubdtype(d, mx.complexfloating):  # mx.full(..., dtype=complex64) gives float32
        return mx.full(x.shape, mx.array(value).astype(d))
    return mx.full(x.shape, value, dtype=d)


def clip(x, lo=None, hi=None):
    return mx.clip(x, lo, hi)


def count_zero(like=None):
    return mx.array(0, dtype=mx.int32)


def is_floating(x) -> bool:
    return mx.issubdtype(x.dtype, mx.inexact)


def vdot(a, b):
    return mx.sum(mx.conj(a) * b) if mx.issubdtype(a.dtype, mx.complexfloating) else mx.sum(a * b)


def shape(x) -> tuple:
    return tuple(x.shape)


def zeros(shape, d=None, like=None):
    return mx.zeros(shape, dtype=d or mx.float32)


def eye(n: int, d=None, like=None):
    return mx.eye(n, dtype=d or mx.float32)


def arange(n: int, d=None, like=None):
    return mx.arange(n, dtype=d or mx.int32)


# MLX's decompositions run on the CPU stream only.
def svd(x):
    u, s, vt = mx.linalg.svd(x, stream=mx.cpu)
    k = s.shape[-1]
    return u[..., :k], s, vt[..., :k, :]


def eigh(x):
    return mx.linalg.eigh(x, stream=mx.cpu)


def copy(x):
    return mx.array(x)


def size(x) -> int:
    return int(x.size)


def to_float(x) -> float:
    return x.item()


def to_numpy(x):
    import numpy as np

    return np.array(x.astype(mx.float32) if x.dtype == mx.bfloat16 else x)


def key(seed: int):
    return mx.random.key(seed)


def split(k, num: int = 2):
    return mx.random.split(k, num)


def normal(k, shape, d=None):
    return mx.random.normal(shape, dtype=d or mx.float32, key=k)


def uniform(k, shape, d=None, minval=0.0, maxval=1.0):
    return mx.random.uniform(minval, maxval, tuple(shape), dtype=d or mx.float32, key=k)


def compile_step(step, donate: bool):
    """``step`` under ``mx.compile``; MLX arrays are immutable, so ``donate`` changes nothing.

    The compiled function sees flat lists of arrays, so any tree (NamedTuple states
    included) round-trips exactly.
    """
    from anyopt import backends

    cache: dict = {}

    def call(params, grads, state):
        leaves_p, def_p = backends.flatten(params)
        leaves_g, def_g = backends.flatten(grads)
        leaves_s, def_s = backends.flatten(state)
        key = (def_p, def_g, def_s)
        fn = cache.get(key)
        if fn is None:
            out_def = []

            def flat_step(lp, lg, ls):
                p, s = step(
                    backends.unflatten(def_p, lp),
                    backends.unflatten(def_g, lg),
                    backends.unflatten(def_s, ls),
                )
                out_p, out_def_p = backends.flatten(p)
                out_s, out_def_s = backends.flatten(s)
                out_def[:] = [out_def_p, out_def_s]
                return out_p, out_s

            fn = cache[key] = (mx.compile(flat_step), out_def)
        compiled, out_def = fn
        out_p, out_s = compiled(leaves_p, leaves_g, leaves_s)
        return backends.unflatten(out_def[0], out_p), backends.unflatten(out_def[1], out_s)

    return call


def concat(leaves):
    return mx.concatenate([x.reshape(-1) for x in leaves])


def view(buffer, start: int, stop: int, shape):
    return buffer[start:stop].reshape(shape)


def host_fusable() -> bool:
    """MLX arrays live in host memory the fused NumPy kernels can read and write."""
    return mx.default_device().type == mx.cpu


def host_views(leaves):
    """Zero-copy NumPy views of evaluated MLX arrays (writes show through)."""
    import builtins

    import numpy as np

    from anyopt.backends._trace import Unsupported

    arrays = [x for x in leaves if isinstance(x, mx.array)]
    if builtins.any(x.dtype == mx.bfloat16 for x in arrays):
        raise Unsupported("NumPy cannot view MLX bfloat16 arrays")
    mx.eval(arrays)
    return [np.asarray(x) if isinstance(x, mx.array) else x for x in leaves]


def host_pointers(leaves):
    """``host_pointers`` (NumPy's) of each array's host buffer (the fused kernels' inputs)."""
    from anyopt.backends import _numpy

    return _numpy.host_pointers(host_views(leaves))


def from_host(x):
    return mx.array(x)


# --- autodiff (line searches, L-BFGS, SAM, Sophia): mx.value_and_grad over the tree's leaves
def _on_leaves(params):
    """The list of ``params``' array leaves (what MLX differentiates) and its inverse."""
    from anyopt import backends

    leaves, treedef = backends.flatten(params)
    slots = [i for i, x in enumerate(leaves) if isinstance(x, mx.array)]

    def rebuild(arrays):
        full = list(leaves)
        for i, a in zip(slots, arrays):
            full[i] = a
        return backends.unflatten(treedef, full)

    return [leaves[i] for i in slots], rebuild


def value_and_grad(fun, has_aux: bool = False):
    """``(value, grad)`` (``((value, aux), grad)`` with ``has_aux``) of ``fun`` with respect to
    its first argument, a tree of arrays, through ``mx.value_and_grad``."""

    def call(params, *args, **kwargs):
        arrays, rebuild = _on_leaves(params)
        value, g = mx.value_and_grad(lambda xs: fun(rebuild(xs), *args, **kwargs))(arrays)
        return value, rebuild(g)

    return call


def hvp(fun, params, tangents):
    """Hessian-vector product of scalar ``fun`` at ``params`` (forward over reverse)."""
    arrays, rebuild = _on_leaves(params)
    vectors, _ = _on_leaves(tangents)
    g = mx.grad(lambda *xs: fun(rebuild(xs)), argnums=list(range(len(arrays))))

    def grads(*xs):
        out = g(*xs)  # one array (not a tuple) for a single argument
        return list(out) if isinstance(out, tuple) else [out]

    return rebuild(mx.jvp(grads, arrays, vectors)[1])


def stop_gradient(x):
    return mx.stop_gradient(x)


def rademacher(k, shape, d=None):
    bits = mx.random.bernoulli(shape=tuple(shape), key=k)
    return (2 * bits.astype(d or mx.float32) - 1).astype(d or mx.float32)


def scale_gradient(x, scale):
    """``x``; the cotangent flowing back through it is multiplied by ``scale``."""
    if isinstance(scale, (int, float)) and scale == 0:
        return mx.stop_gradient(x)

    @mx.custom_function
    def identity(y):
        return y

    @identity.vjp
    def identity_vjp(primals, cotangent, output):
        return (cotangent * scale).astype(cotangent.dtype)

    return identity(x)


def vmap(fun, in_axes=0, out_axes=0):
    return mx.vmap(fun, in_axes=in_axes, out_axes=out_axes)
