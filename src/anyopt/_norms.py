r"""Norms bounded from below with gradients that stay finite at zero.

``maximum(norm(x), min_norm)`` has a NaN gradient at ``x = 0`` under autodiff (both branches
are differentiated and the norm's derivative divides by zero). ``safe_norm`` swaps ``x`` for
ones wherever the norm is below ``min_norm`` before taking the norm that is returned, so the
derivative there is exactly 0.

``norm`` follows ``numpy.linalg.norm``: vector norms (``ord`` in None, 0, 1, 2, inf, -inf or
any p) over one axis, matrix norms (None/'fro', 'nuc', 1, -1, 2, -2, inf, -inf) over two.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Union

from anyopt import _autodiff, _ops, backends


def _as_array(x: Any) -> Any:
    """Arrays pass through; Python numbers and lists become NumPy arrays."""
    return x if hasattr(x, "dtype") else backends.load("numpy").asarray(x)


def _below(value: Any, bound: Any) -> Any:
    # compared without gradient: MLX would send a zero cotangent into sqrt'(0) = inf (NaN)
    return _autodiff.stop_gradient(value) <= bound


def _abs_sq(x: Any) -> Any:
    if backends.dtype_name(_ops.dtype(x)).startswith("complex"):
        return _ops.real(_ops.conj(x) * x)
    return x * x


def _vector_norm(x, ord, axis: int, keepdims: bool):  # noqa: A002
    a = _ops.abs(x)
    if ord is None or ord == 2:
        return _ops.sqrt(_ops.sum(_abs_sq(x), axis=axis, keepdims=keepdims))
    if ord == math.inf:
        return _ops.max(a, axis=axis, keepdims=keepdims)
    if ord == -math.inf:
        return _ops.min(a, axis=axis, keepdims=keepdims)
    if ord == 0:
        return _ops.sum(_ops.astype(a != 0, _ops.dtype(a)), axis=axis, keepdims=keepdims)
    if ord == 1:
        return _ops.sum(a, axis=axis, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"norm: ord {ord!r} is not a vector norm")
    return _ops.sum(a**ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


def _to_end(x, axes: tuple[int, int]):
    """``x`` with ``axes`` moved last (in that order), the others kept in order."""
    n = _ops.ndim(x)
    order = [i for i in range(n) if i not in axes] + list(axes)
    current = list(range(n))
    for target, axis in enumerate(order):  # selection sort by swaps
        pos = current.index(axis)
        if pos != target:
            x = _ops.swapaxes(x, pos, target)
            current[pos], current[target] = current[target], current[pos]
    return x


def _matrix_norm(x, ord, axes: tuple[int, int], keepdims: bool):  # noqa: A002
    row, col = axes
    a = _ops.abs(x)
    if ord is None or ord == "fro":
        out = _ops.sqrt(_ops.sum(_abs_sq(x), axis=axes, keepdims=True))
    elif ord in (1, -1):
        reduce = _ops.max if ord == 1 else _ops.min
        out = reduce(_ops.sum(a, axis=row, keepdims=True), axis=col, keepdims=True)
    elif ord in (math.inf, -math.inf):
        reduce = _ops.max if ord == math.inf else _ops.min
        out = reduce(_ops.sum(a, axis=col, keepdims=True), axis=row, keepdims=True)
    elif ord in (2, -2, "nuc"):
        s = _ops.svd(_to_end(x, axes))[1]
        reduce = {2: _ops.max, -2: _ops.min, "nuc": _ops.sum}[ord]
        out = reduce(s, axis=-1)
        for axis in sorted(axes):
            out = _ops.expand_dims(out, axis)
    else:
        raise ValueError(f"norm: ord {ord!r} is not a matrix norm")
    return out if keepdims else _squeeze(out, axes)


def _squeeze(x, axes):
    shape = _ops.shape(x)
    return _ops.reshape(x, [d for i, d in enumerate(shape) if i not in axes])


def _axes(x, axis) -> tuple[int, ...]:
    n = _ops.ndim(x)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(a % n if n else a for a in axes)


def norm(
    x: Any,
    ord: Optional[Union[int, float, str]] = None,  # noqa: A002
    axis: Union[None, int, tuple[int, ...]] = None,
    keepdims: bool = False,
) -> Any:
    """``numpy.linalg.norm(x, ord, axis, keepdims)`` on any framework's array."""
    x = _as_array(x)
    n = _ops.ndim(x)
    if axis is None:
        if ord is None:  # the 2-norm of the flattened array
            out = _ops.sqrt(_ops.sum(_abs_sq(x), keepdims=keepdims))
            return out
        if n not in (1, 2):
            raise ValueError(f"norm: ord={ord!r} needs a 1-D or 2-D array or an axis; got {n}-D")
        axis = tuple(range(n))
    axes = _axes(x, axis)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError(f"norm: axis must name one or two axes; got {axis!r}")


def safe_norm(
    x: Any,
    min_norm: Any,
    ord: Optional[Union[int, float, str]] = None,  # noqa: A002
    axis: Union[None, tuple[int, ...], int] = None,
    keepdims: bool = False,
) -> Any:
    """``maximum(norm(x, ord, axis, keepdims), min_norm)`` with a zero (not NaN) gradient
    where the norm is at most ``min_norm``."""
    x = _as_array(x)
    full = norm(x, ord, axis, keepdims=True)
    small = _below(full, min_norm)
    x = _ops.where(small, _ops.full_like(x, 1), x)
    if not keepdims:
        removed = range(_ops.ndim(x)) if axis is None else _axes(x, axis)
        full = _squeeze(full, tuple(removed))
    masked = norm(x, ord, axis, keepdims)
    return _ops.where(_below(full, min_norm), min_norm, masked)


def safe_root_mean_squares(x: Any, min_rms: Any) -> Any:
    """``maximum(sqrt(mean(|x|^2)), min_rms)`` with a zero (not NaN) gradient below ``min_rms``."""
    x = _as_array(x)
    rms = _ops.sqrt(_ops.mean(_abs_sq(x)))
    small = _below(rms, min_rms)
    x = _ops.where(small, _ops.full_like(x, 1), x)
    return _ops.where(small, min_rms, _ops.sqrt(_ops.mean(_abs_sq(x))))
