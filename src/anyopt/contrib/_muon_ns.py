r"""Newton-Schulz orthogonalisation for Muon, on any framework's arrays.

A matrix :math:`X` (the momentum) is first normalised so its singular values are at most
about 1, then iterated through the odd quintic

.. math::
    A = X X^\top, \quad X \leftarrow c_0 X + (c_1 A + c_2 A^2) X,

which pushes every singular value towards 1 without computing an SVD: the result is
close to :math:`U V^\top` for :math:`X = U S V^\top`. Tensors of rank > 2 are viewed as a
batch of matrices through ``MuonDimensionNumbers``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from anyopt import _ops

PRECONDITIONINGS = ("frobenius", "spectral", "aol", "schatten")


class MuonDimensionNumbers(NamedTuple):
    """Which axes of a weight form the matrix Muon orthogonalises.

    ``reduction_axis`` (the input side of ``x @ W``) and ``output_axis`` may each be an int
    or a sequence of ints; every other axis is a batch axis, orthogonalised independently.
    """

    reduction_axis: Any = 0
    output_axis: Any = 1


def is_dimension_numbers(x: Any) -> bool:
    return isinstance(x, MuonDimensionNumbers)


def _axes(spec, ndim: int) -> tuple[int, ...]:
    spec = (spec,) if isinstance(spec, int) else tuple(spec)
    return tuple(ax % ndim for ax in spec)


def normalized_axes(x, dims: MuonDimensionNumbers) -> tuple[tuple[int, ...], tuple[int, ...]]:
    ndim = _ops.ndim(x)
    return _axes(dims.reduction_axis, ndim), _axes(dims.output_axis, ndim)


def fans(x, dims: MuonDimensionNumbers) -> tuple[int, int]:
    """``(fan_in, fan_out)``: the sizes of the reduction and output sides."""
    shape = _ops.shape(x)
    reduction, output = normalized_axes(x, dims)
    return math.prod(shape[a] for a in reduction), math.prod(shape[a] for a in output)


def _transpose(x, perm):
    """``x`` with axes permuted (axis i of the result is axis ``perm[i]`` of x)."""
    current = list(range(len(perm)))
    for i, axis in enumerate(perm):
        j = current.index(axis)
        if j != i:
            x = _ops.swapaxes(x, i, j)
            current[i], current[j] = current[j], current[i]
    return x


def _adjoint(x):
    xt = _ops.swapaxes(x, -1, -2)
    return _ops.conj(xt) if "complex" in str(_ops.dtype(x)) else xt


def _frobenius(x):
    sq = x * _ops.conj(x) if "complex" in str(_ops.dtype(x)) else x * x
    return _ops.sqrt(_ops.real(_ops.sum(sq, axis=(-2, -1), keepdims=True)))


def _quintic(x, a, c):
    b = c[1] * a + _ops.matmul(c[2] * a, a)
    return c[0] * x + _ops.matmul(b, x)


def _ns_step(i: int, x, c, preconditioning: str):
    if i == 0 and preconditioning == "aol":  # Boissin et al. 2025: row-sum rescaling
        a = _ops.matmul(x, _adjoint(x))
        rescaling = _ops.maximum(_ops.sum(_ops.abs(a), axis=-1), 1e-8)
        s = _ops.expand_dims(1 / _ops.sqrt(rescaling), -1)
        x, a = x * s, a * s * _ops.swapaxes(s, -1, -2)
        return _quintic(x, a, c)
    if i == 0 and preconditioning == "schatten":  # Grishina et al. 2025: Schatten-4 norm
        a = _ops.matmul(x, _ops.swapaxes(x, -1, -2))
        s = 1 / _ops.sqrt(_ops.maximum(_frobenius(a), 1e-8))
        x, a = x * s, a * s**2
        return _quintic(x, a, c)
    return _quintic(x, _ops.matmul(x, _adjoint(x)), c)


def _largest_singular_value(x):
    """Per matrix, keeping a trailing axis; half precision goes through float32 (no SVD)."""
    dtype = _ops.dtype(x)
    half = "float16" in str(dtype)  # float16 and bfloat16
    s = _ops.svd(_ops.astype(x, "float32") if half else x)[1]
    top = _ops.max(s, axis=-1, keepdims=True)
    return _ops.astype(top, dtype) if half else top


def _orthogonalize_batch(x, coeffs, ns_steps: int, preconditioning: str, eps):
    """Newton-Schulz on a ``(batch, m, n)`` array, each matrix on its own."""
    shape = _ops.shape(x)
    transposed = shape[-2] > shape[-1]  # iterate on the smaller Gram matrix
    if transposed:
        x = _ops.swapaxes(x, -1, -2)
    if preconditioning == "frobenius":
        x = x / (_frobenius(x) + eps)
    elif preconditioning == "spectral":
        x = x / (_ops.expand_dims(_largest_singular_value(x), -1) + eps)
    coeffs = _ops.astype(coeffs, _ops.dtype(x))
    if _ops.ndim(coeffs) == 1:
        steps = [coeffs] * ns_steps
    else:
        steps = [coeffs[i] for i in range(_ops.shape(coeffs)[0])]
    for i, c in enumerate(steps):
        x = _ns_step(i, x, (c[0], c[1], c[2]), preconditioning)
    return _ops.swapaxes(x, -1, -2) if transposed else x


def orthogonalize(x, coeffs, ns_steps: int, preconditioning: str, eps, dims):
    """Orthogonalises ``x`` (a matrix, or a tensor viewed through ``dims``)."""
    ndim = _ops.ndim(x)
    if ndim == 2:
        dims = MuonDimensionNumbers()  # matrices always use (reduction 0, output 1)
    elif not is_dimension_numbers(dims):
        raise ValueError(
            f"muon: a parameter of shape {_ops.shape(x)} needs MuonDimensionNumbers "
            "(muon_weight_dimension_numbers) or must be a matrix"
        )
    reduction, output = normalized_axes(x, dims)
    if set(reduction) & set(output):
        raise ValueError(
            f"muon: reduction axes {reduction} and output axes {output} must be disjoint "
            f"(from {dims} for shape {_ops.shape(x)})"
        )
    batch = tuple(sorted(set(range(ndim)) - set(reduction) - set(output)))
    perm = batch + reduction + output
    shape = _ops.shape(x)
    sizes = [tuple(shape[a] for a in axes) for axes in (batch, reduction, output)]
    flat = _ops.reshape(_transpose(x, perm), [math.prod(s) for s in sizes])
    y = _orthogonalize_batch(flat, coeffs, ns_steps, preconditioning, eps)
    y = _ops.reshape(y, sizes[0] + sizes[1] + sizes[2])
    inverse = sorted(range(ndim), key=lambda i: perm[i])
    return _transpose(y, inverse)


def scale_for_shape(x, dims, consistent_rms):
    """Muon's width scaling ``sqrt(max(1, fan_out / fan_in))`` or, with ``consistent_rms``,
    ``sqrt(max(fan_in, fan_out)) * consistent_rms`` (Liu et al., 2025)."""
    fan_in, fan_out = fans(x, dims)
    if consistent_rms is None:
        return math.sqrt(max(1, fan_out / fan_in)) * x
    return _ops.like(math.sqrt(max(fan_in, fan_out)) * consistent_rms, x) * x
