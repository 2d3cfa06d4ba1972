r"""Iterative linear algebra for optimizers: power iteration, inverse p-th roots, NNLS.

* ``power_iteration``: :math:`v \leftarrow A v / \|A v\|` until
  :math:`\|A v - \lambda v\| < \text{tol} \cdot |\lambda|`, with :math:`\lambda = v^\top A v`.
* ``matrix_inverse_pth_root``: coupled Newton iterations (Higham, *Functions of Matrices*,
  2008, eq. 7.18) for :math:`(A + \epsilon \lambda_{max} I)^{-1/p}`:
  :math:`M_{k+1} = \big((1 - \alpha) I + \alpha M_k\big)^p M_k`,
  :math:`H_{k+1} = H_k \big((1 - \alpha) I + \alpha M_k\big)` with :math:`\alpha = -1/p`.
* ``nnls``: Polyak's (2015) fast projected gradient for
  :math:`\min_{x \ge 0} \|A x - b\|_2`.

Loops run as ``jax.lax.while_loop`` under JAX (so they trace under ``jax.jit``) and as
Python loops elsewhere.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any, Optional, Union

from anyopt import _autodiff, _ops, _tree, backends


def _matmul(a, b, precision):
    backend = backends.of(a)
    fn = getattr(backend, "matmul_precision", None)
    return fn(a, b, precision) if fn is not None else _ops.matmul(a, b)


def _normalize(tree):
    return _tree.scale(1.0 / _tree.norm(tree), tree)


def power_iteration(
    matrix: Union[Any, Callable[[Any], Any]],
    *,
    v0: Optional[Any] = None,
    num_iters: Any = 100,
    error_tolerance: Any = 1e-6,
    precision: Any = "highest",
    key: Optional[Any] = None,
) -> tuple[Any, Any]:
    """``(eigenvalue, eigenvector)`` of ``matrix``'s dominant eigenvalue.

    ``matrix`` is a square array or a function computing ``matrix @ v`` for a tree ``v``
    (then ``v0``, a tree like ``v``, is required). By default ``v0`` is uniform in [-1, 1],
    drawn from ``key`` (default: seed 0 on the matrix's framework). The loop stops after
    ``num_iters`` products or when the residual is below ``error_tolerance`` relative to the
    eigenvalue. ``precision`` is passed to JAX's matmul; other frameworks multiply float32
    at full precision.

    Example:
        >>> import numpy as np, anyopt
        >>> value, vector = anyopt.power_iteration(np.diag([3.0, 1.0]).astype(np.float32))
        >>> round(float(value), 4)
        3.0
    """
    if callable(matrix):
        mvp = matrix
        if v0 is None:
            raise ValueError("power_iteration: v0 must be given when matrix is a callable")
    else:
        mvp = lambda v: _matmul(matrix, v, precision)  # noqa: E731
        if v0 is None:
            b = backends.of(matrix)
            key = b.key(0) if key is None else key
            d = _ops.dtype(matrix)
            v0 = b.uniform(key, _ops.shape(matrix)[-1:], d, -1.0, 1.0)
            v0 = b.asarray(v0, d, like=matrix)  # onto the matrix's device
    v0 = _normalize(v0)
    first = _tree.leaves(v0)[0]

    def cond(loop):
        eigvec, z, eig, i = loop
        residual = _tree.norm(_tree.sub(z, _tree.scale(eig, eigvec)))
        converged = _ops.abs(residual) < error_tolerance * _ops.abs(eig)
        return ~converged & (i < num_iters)

    def body(loop):
        _, z, _, i = loop
        eigvec = _normalize(z)
        z = mvp(eigvec)
        return eigvec, z, _tree.vdot(eigvec, z), i + 1

    start = (v0, mvp(v0), _ops.zeros((), _ops.dtype(first), first), _ops.zeros((), "int32", first))
    _, z, eig, _ = _autodiff.while_loop(cond, body, start)
    return eig, _normalize(z)


def _float32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def matrix_inverse_pth_root(
    matrix: Any,
    p: Any,
    num_iters: Any = 100,
    ridge_epsilon: Any = 1e-6,
    error_tolerance: Any = 1e-6,
    precision: Any = "highest",
) -> tuple[Any, Any]:
    """``(matrix^(-1/p), error)`` for a symmetric PSD ``matrix`` and integer ``p``, by coupled
    Newton iterations in float32 after adding ``ridge_epsilon`` times the largest eigenvalue
    to the diagonal. ``error`` is ``max |M - I|`` of the last iterate.

    As in optax, ``M^p`` is computed by repeated squaring for p = 1, 2, 4, 8 (other p use
    the power of two nearest to it, clipped to that range), and ``p`` must be a number.
    """
    n = _ops.shape(matrix)[0]
    alpha = _float32(-1.0 / p)
    identity = _ops.eye(n, "float32", matrix)
    max_ev, _ = power_iteration(matrix, num_iters=100, error_tolerance=1e-6, precision=precision)
    ridge = ridge_epsilon * _ops.maximum(max_ev, 1e-16)
    squarings = min(max(round(math.log2(p)), 0), 3)

    def mat_power(m):
        for _ in range(squarings):
            m = _matmul(m, m, precision)
        return m

    def cond(loop):
        i, _, _, _, error, run_step = loop
        return (error > error_tolerance) & run_step & (i < num_iters)

    def body(loop):
        i, mat_m, mat_h, _, error, _ = loop
        mat_m_i = (1 - alpha) * identity + alpha * mat_m
        new_mat_m = _matmul(mat_power(mat_m_i), mat_m, precision)
        new_mat_h = _matmul(mat_h, mat_m_i, precision)
        new_error = _ops.max(_ops.abs(new_mat_m - identity))
        # the error may grow a little before it shrinks; a 1.2x growth stops the loop
        return i + 1, new_mat_m, new_mat_h, mat_h, new_error, new_error < error * 1.2

    if n == 1:
        return (matrix + ridge) ** alpha, 0
    damped = matrix + ridge * identity
    z = (1 + p) / (2 * _ops.sqrt(_ops.sum(damped * damped)))
    mat_m0 = damped * z
    error0 = _ops.max(_ops.abs(mat_m0 - identity))
    mat_h0 = identity * z ** (1.0 / p)
    start = (
        _ops.full_like(error0, 0, "int32"),
        mat_m0,
        mat_h0,
        mat_h0,
        error0,
        _ops.full_like(error0, 1, "bool"),
    )
    _, mat_m, mat_h, old_mat_h, _, converged = _autodiff.while_loop(cond, body, start)
    error = _ops.max(_ops.abs(mat_m - identity))
    converged = _ops.astype(converged, _ops.dtype(old_mat_h))
    result = converged * mat_h + (1 - converged) * old_mat_h
    return _ops.astype(result, _ops.dtype(matrix)), error


def _spectral_radius_upper_bound(q):
    """``min(||Q||_F, ||Q||_1)`` (0 for an empty matrix)."""
    if _ops.size(q) == 0:
        return 0.0
    frobenius = _ops.sqrt(_ops.sum(q * q))
    one_norm = _ops.max(_ops.sum(_ops.abs(q), axis=0))
    return _ops.minimum(frobenius, one_norm)


def nnls(
    A: Any,  # noqa: N803
    b: Any,
    iters: int,
    unroll: Union[int, bool] = 1,
    L: Union[Any, None] = None,  # noqa: N803
) -> Any:
    """``argmin_{x >= 0} ||A x - b||`` after ``iters`` fast projected gradient steps.

    ``A`` is (M, N), ``b`` is (M,) or (M, K); ``L`` bounds the spectral radius of
    ``A^T A`` (default: the smaller of its Frobenius and 1-norms). ``unroll`` (a
    ``lax.scan`` option in optax) is accepted and ignored.

    Example:
        >>> import numpy as np, anyopt
        >>> A = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
        >>> x = anyopt.nnls(A, np.array([5.0, 6.0], np.float32), 1000)
        >>> [round(float(v), 2) for v in x]
        [0.0, 1.7]
    """
    del unroll
    shape_a, shape_b = _ops.shape(A), _ops.shape(b)
    if len(shape_a) != 2 or len(shape_b) not in (1, 2) or shape_b[0] != shape_a[0]:
        raise ValueError(
            f"nnls: A must be (M, N) and b (M,) or (M, K); got A {shape_a} and b {shape_b}"
        )
    at = _ops.swapaxes(A, 0, 1)
    q_mat, q_vec = _ops.matmul(at, A), _ops.matmul(at, b)
    if L is None:
        L = _spectral_radius_upper_bound(q_mat)  # noqa: N806
    L = _ops.where(L == 0, 1, L)  # noqa: N806

    def cond(loop):
        return loop[0] < iters

    def body(loop):
        i, x, p, c = loop
        cn = (1 + _ops.sqrt(1 + 4 * c * c)) / 2
        s = (c - 1) / cn
        xn = _ops.clip(p - (_ops.matmul(q_mat, p) - q_vec) / L, 0)
        return i + 1, xn, xn + s * (xn - x), cn

    x = _ops.zeros(shape_a[-1:] + shape_b[1:], _ops.dtype(b), b)
    start = (_ops.zeros((), "int32", b), x, x, _ops.zeros((), _ops.dtype(b), b))
    return _autodiff.while_loop(cond, body, start)[1]
