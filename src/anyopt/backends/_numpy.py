"""NumPy backend: leaf operations on ``numpy.ndarray`` (and Python scalars)."""

from __future__ import annotations

import numpy as np

NAME = "numpy"
xp = np

sqrt, abs, sign, tanh, cos, exp, log = np.sqrt, np.abs, np.sign, np.tanh, np.cos, np.exp, np.log
maximum, minimum, where, isfinite = np.maximum, np.minimum, np.where, np.isfinite
sum, max, min, mean, all, any = np.sum, np.max, np.min, np.mean, np.all, np.any
log1p, sin, floor, isnan, real, imag, conj = (
    np.log1p,
    np.sin,
    np.floor,
    np.isnan,
    np.real,
    np.imag,
    np.conj,
)
matmul, reshape, swapaxes, expand_dims, broadcast_to = (
    np.matmul,
    np.reshape,
    np.swapaxes,
    np.expand_dims,
    np.broadcast_to,
)
stack, concatenate, eigh = np.stack, np.concatenate, np.linalg.eigh
remainder = np.remainder
sort, argsort, cumsum = np.sort, np.argsort, np.cumsum


def dtype(name: str):
    if name == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            raise TypeError("numpy has no bfloat16 dtype; install ml_dtypes") from None
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def dtype_name(d) -> str:
    return np.dtype(d).name


# 0-d results are NumPy scalars: their arithmetic (scalar powf ...) rounds like JAX's.
def astype(x, d):
    out = np.asarray(x).astype(d, copy=False)
    return out[()] if out.ndim == 0 else out


def asarray(value, d=None, like=None):
    out = np.asarray(value, dtype=d)
    return out[()] if out.ndim == 0 else out


def zeros_like(x, d=None):
    return np.zeros_like(x, dtype=d)


def full_like(x, value, d=None):
    return np.full_like(x, value, dtype=d)


def clip(x, lo=None, hi=None):
    return np.clip(x, lo, hi)


def count_zero(like=None):
    return np.zeros([], np.int32)


def is_floating(x) -> bool:
    return np.issubdtype(np.asarray(x).dtype, np.inexact)


def vdot(a, b):
    return np.vdot(a, b)


def shape(x) -> tuple:
    return tuple(np.shape(x))


def zeros(shape, d=None, like=None):
    return np.zeros(shape, d)


def eye(n: int, d=None, like=None):
    return np.eye(n, dtype=d)


def arange(n: int, d=None, like=None):
    return np.arange(n, dtype=d)


def svd(x):
    return np.linalg.svd(x, full_matrices=False)


def copy(x):
    return np.array(x, copy=True)


def size(x) -> int:
    return int(np.size(x))


def to_float(x) -> float:
    return float(x)


def to_numpy(x):
    return np.asarray(x)


# Random keys: a uint32 pair, as in JAX and MLX, consumed by numpy's Philox generator.
def key(seed: int):
    return np.array([0, seed & 0xFFFFFFFF], dtype=np.uint32)


def _generator(k):
    return np.random.Generator(np.random.Philox(key=int(k[0]) << 32 | int(k[1])))


def split(k, num: int = 2):
    return _generator(k).integers(0, 2**32, size=(num, 2), dtype=np.uint32)


def normal(k, shape, d=None):
    d = np.dtype(d or np.float32)
    if d.kind == "c":  # complex normal, E|z|^2 = 1 (as JAX, torch and MLX draw it)
        pair = _generator(k).standard_normal((2, *shape)) * np.sqrt(0.5)
        return (pair[0] + 1j * pair[1]).astype(d)
    out = _generator(k).standard_normal(shape)
    return out.astype(d)


def uniform(k, shape, d=None, minval=0.0, maxval=1.0):
    out = _generator(k).uniform(minval, maxval, shape)
    return out.astype(d or np.float32)


def empty(n: int, d):
    return np.empty(n, dtype=d)


def copy_leaves(targets, sources):
    """``targets[i][...] = sources[i]`` for every ``i``."""
    for target, source in zip(targets, sources):
        np.copyto(target, source)


def view(buffer, start: int, stop: int, shape):
    return buffer[start:stop].reshape(shape)


def concat(leaves):
    return np.concatenate([np.ravel(x) for x in leaves])


def host_fusable() -> bool:
    return True


def host_views(leaves):
    return leaves


def host_pointers(leaves):
    """(address, size, writable, layout, dtype) of each array (the fused kernels'
    inputs); ``layout`` is None for a C-contiguous array (see ``_fused_layout``)."""
    from anyopt.backends._fused_layout import dense_layout
    from anyopt.backends._trace import Unsupported

    out = []
    for x in leaves:
        if not isinstance(x, np.ndarray):
            raise Unsupported("the fused step needs NumPy arrays")
        flags = x.flags
        layout = None if flags.c_contiguous else dense_layout(x.shape, x.strides, x.itemsize)
        out.append((x.ctypes.data, x.size, flags.writeable, layout, x.dtype))
    return out


def from_host(x):
    return x


def scale_gradient(x, scale):
    return x  # no autodiff: only the forward value (identity) exists
