"""Leaf operations for algorithm code, resolved from the array's own framework.

``_ops.sqrt(x)`` calls ``numpy.sqrt``, ``jax.numpy.sqrt``, ``torch.sqrt`` or
``mlx.core.sqrt`` depending on ``type(x)``; arithmetic operators are used directly.
"""

from __future__ import annotations

from typing import Any

from anyopt import backends

_NUMBERS = (int, float, bool)


def _b(x):
    return backends.of(x)


def sqrt(x):
    return _b(x).sqrt(x)


def abs(x):  # noqa: A001
    return _b(x).abs(x)


def sign(x):
    return _b(x).sign(x)


def tanh(x):
    return _b(x).tanh(x)


def cos(x):
    return _b(x).cos(x)


def maximum(a, b):
    return _b(b if isinstance(a, _NUMBERS) else a).maximum(a, b)


def minimum(a, b):
    return _b(b if isinstance(a, _NUMBERS) else a).minimum(a, b)


def where(cond, x, y):
    if isinstance(cond, bool):
        return x if cond else y
    return _b(cond).where(cond, x, y)


def clip(x, lo=None, hi=None):
    return _b(x).clip(x, lo, hi)


def exp(x):
    return _b(x).exp(x)


def log(x):
    return _b(x).log(x)


def log1p(x):
    return _b(x).log1p(x)


def sin(x):
    return _b(x).sin(x)


def floor(x):
    return _b(x).floor(x)


def remainder(x, m):
    """``x % m`` with the sign of ``m`` (Python's and NumPy's), e.g. a step count modulo a
    period; an op rather than ``%`` so the fused tracer rejects it cleanly."""
    return _b(x).remainder(x, m)


def isnan(x):
    return _b(x).isnan(x)


def real(x):
    return _b(x).real(x)


def imag(x):
    return _b(x).imag(x)


def conj(x):
    return _b(x).conj(x)


# Reductions take NumPy's ``axis`` (None: every axis) and ``keepdims`` on every framework.
def sum(x, axis=None, keepdims=False):  # noqa: A001
    return _b(x).sum(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    return _b(x).mean(x, axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    return _b(x).max(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    return _b(x).min(x, axis=axis, keepdims=keepdims)


def all(x, axis=None, keepdims=False):  # noqa: A001
    return _b(x).all(x, axis=axis, keepdims=keepdims)


def any(x, axis=None, keepdims=False):  # noqa: A001
    return _b(x).any(x, axis=axis, keepdims=keepdims)


def shape(x) -> tuple:
    return _b(x).shape(x)


def ndim(x) -> int:
    return len(_b(x).shape(x))


def reshape(x, shape):
    return _b(x).reshape(x, tuple(shape))


def swapaxes(x, axis1: int, axis2: int):
    return _b(x).swapaxes(x, axis1, axis2)


def expand_dims(x, axis: int):
    return _b(x).expand_dims(x, axis)


def broadcast_to(x, shape):
    return _b(x).broadcast_to(x, tuple(shape))


def stack(arrays, axis: int = 0):
    return _b(arrays[0]).stack(list(arrays), axis)


def concatenate(arrays, axis: int = 0):
    return _b(arrays[0]).concatenate(list(arrays), axis)


def sort(x, axis: int = -1):
    """``x`` sorted ascending along ``axis`` (NumPy's ``np.sort``)."""
    return _b(x).sort(x, axis)


def argsort(x, axis: int = -1):
    """Indices that sort ``x`` ascending along ``axis`` (the framework's default int dtype)."""
    return _b(x).argsort(x, axis)


def cumsum(x, axis=None):
    """Cumulative sum along ``axis`` (None: over the flattened array), as ``np.cumsum``."""
    b = _b(x)
    if axis is None:
        x, axis = b.reshape(x, (-1,)), 0
    return b.cumsum(x, axis)


def matmul(a, b):
    return _b(a).matmul(a, b)


def svd(x):
    """``(u, s, vh)`` with ``u @ diag(s) @ vh == x`` (reduced: k = min(m, n))."""
    return _b(x).svd(x)


def eigh(x):
    """``(eigenvalues ascending, eigenvectors as columns)`` of a symmetric matrix."""
    return _b(x).eigh(x)


def _dtype_for(b, dtype):
    return None if dtype is None else b.dtype(backends.dtype_name(dtype))


def zeros(shape, dtype, like):
    """Zeros of ``shape`` and ``dtype`` on ``like``'s framework (and device)."""
    b = _b(like)
    return b.zeros(tuple(shape), _dtype_for(b, dtype), like=like)


def eye(n: int, dtype, like):
    b = _b(like)
    return b.eye(n, _dtype_for(b, dtype), like=like)


def arange(n: int, dtype, like):
    b = _b(like)
    return b.arange(n, _dtype_for(b, dtype), like=like)


def isfinite(x):
    return _b(x).isfinite(x)


def copy(x):
    """A new array equal to ``x`` (on torch, detached from autograd)."""
    return _b(x).copy(x)


def scale_gradient(x, scale):
    """``x`` on the forward pass; the framework's autodiff multiplies gradients flowing
    back through it by ``scale`` (0 stops them). NumPy has no autodiff: ``x``."""
    return _b(x).scale_gradient(x, scale)


def vdot(a, b):
    return _b(a).vdot(a, b)


def square(x):
    return x * x


_COMPLEX: dict = {}  # dtype -> is it complex (dtype_name is slow for a per-leaf check)


def is_complex(x) -> bool:
    """Whether leaf ``x`` has a complex dtype (read off the dtype: no array operation)."""
    d = dtype(x)
    found = _COMPLEX.get(d)
    if found is None:
        found = _COMPLEX[d] = backends.dtype_name(d).startswith("complex")
    return found


def real_part(x):
    """``x`` for real leaves (no operation), ``real(x)`` for complex ones: for comparisons
    on complex-typed state that holds real values (torch cannot order complex tensors)."""
    return real(x) if is_complex(x) else x


def abs_sq(x):
    """``|x|**2`` element-wise: ``x * x`` for real ``x``; for complex ``x`` the real array
    ``(conj(x) * x).real`` (optax's ``numerics.abs_sq``)."""
    if not is_complex(x):
        return x * x
    b = _b(x)
    return b.real(b.conj(x) * x)


def dtype(x) -> Any:
    """The dtype of leaf ``x`` (Python floats count as float64)."""
    d = getattr(x, "dtype", None)
    return d if d is not None else _b(x).asarray(x).dtype


def like(s, x):
    """Scalar ``s`` ready to combine with leaf ``x`` without changing x's dtype.

    Python numbers are weakly typed on every framework and pass through; arrays
    (0-d learning rates, schedule outputs, bias corrections) are cast to x's dtype.
    """
    d = getattr(x, "dtype", None)
    if type(s) in _NUMBERS or d is None:  # exact types: np.float64 subclasses float
        return s
    if getattr(s, "dtype", None) == d and backends.of(s) is backends.of(x):
        return s
    return _b(x).asarray(s, d, like=x)


def bias_correction_denominator(decay, count, x):
    """``1 - decay**count`` in float32 (float64 for float64 or complex128 ``x``), cast to
    x's dtype."""
    b = _b(x)
    wide = backends.dtype_name(dtype(x)) in ("float64", "complex128")
    name = "float64" if wide else "float32"
    compute = b.dtype(name)
    base = b.asarray(decay, compute, like=x)
    out = 1 - base ** b.astype(count, compute)
    return out if name == backends.dtype_name(dtype(x)) else b.astype(out, dtype(x))


def astype(x, dtype):
    """Casts leaf ``x`` to ``dtype`` (a dtype of any framework, or a name); complex to real
    keeps the real part, silently as in JAX (NumPy and torch would warn)."""
    b = _b(x)
    name = backends.dtype_name(dtype)
    if is_complex(x) and not name.startswith("complex"):
        x = b.real(x)
    return b.astype(x, b.dtype(name))


def zeros_like(x, dtype=None):
    b = _b(x)
    return b.zeros_like(x, None if dtype is None else b.dtype(backends.dtype_name(dtype)))


def full_like(x, value, dtype=None):
    b = _b(x)
    return b.full_like(x, value, None if dtype is None else b.dtype(backends.dtype_name(dtype)))


def is_floating(x) -> bool:
    return _b(x).is_floating(x)


def size(x) -> int:
    return _b(x).size(x)


def to_float(x) -> float:
    return x if isinstance(x, float) else _b(x).to_float(x)
