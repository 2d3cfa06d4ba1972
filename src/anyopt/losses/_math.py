"""Numerically stable compositions the losses share, written with ``anyopt._ops`` only.

Each mirrors the JAX function optax calls (``jax.nn.log_softmax``, ``jax.nn.softmax``,
``jax.scipy.special.logsumexp``, ``jax.nn.softplus``, ``jnp.logaddexp``, ``jax.nn.one_hot``),
in the same order of operations so that the numbers agree, and is differentiable with each
framework's autodiff. A ``where`` mask works as in NumPy reductions: masked entries are
left out (a sum gets 0 from them, a max ``-inf``).
"""

from __future__ import annotations

import contextlib
import functools
import math
import operator

from anyopt import _autodiff, _ops, backends

NEG_INF = -math.inf


def quiet(loss):
    """Runs ``loss`` without NumPy's floating-point warnings (``log(0)``, ``0 * inf`` in a
    branch a ``where`` discards): JAX, torch and MLX never warn there, and the infinities and
    NaNs still come out, as on those frameworks."""

    @functools.wraps(loss)
    def run(*args, **kwargs):
        first = args[0] if args else next(iter(kwargs.values()), None)
        errstate = getattr(getattr(backends.of(first), "xp", None), "errstate", None)
        with errstate(all="ignore") if errstate is not None else contextlib.nullcontext():
            return loss(*args, **kwargs)

    return run


# --- checks -------------------------------------------------------------------------------
def shape_of(x) -> tuple:
    return tuple(_ops.shape(x)) if hasattr(x, "shape") else ()


def check_floating(fn: str, arg: str, x) -> None:
    """optax's ``check_subdtype(x, jnp.floating)``: a ``TypeError`` naming ``fn``."""
    if isinstance(x, float):
        return
    name = backends.dtype_name(_ops.dtype(x)) if not isinstance(x, (int, bool)) else "int"
    if not str(name).startswith(("float", "bfloat")):
        raise TypeError(f"{fn}: {arg} must have a floating dtype; got {name}")


def check_integer(fn: str, arg: str, x) -> None:
    name = backends.dtype_name(_ops.dtype(x)) if not isinstance(x, int) else "int"
    if not str(name).startswith(("int", "uint")):
        raise TypeError(f"{fn}: {arg} must have an integer dtype; got {name}")


def check_same_shape(fn: str, a_name: str, a, b_name: str, b) -> None:
    """optax's ``check_shapes_equal``: a ``ValueError`` naming both shapes."""
    if shape_of(a) != shape_of(b):
        raise ValueError(
            f"{fn}: {a_name} and {b_name} must have the same shape; "
            f"got {shape_of(a)} and {shape_of(b)}"
        )


def _broadcast(s: tuple, t: tuple) -> tuple | None:
    out = []
    for i in range(1, max(len(s), len(t)) + 1):
        m = s[-i] if i <= len(s) else 1
        n = t[-i] if i <= len(t) else 1
        if m != n and 1 not in (m, n):
            return None
        out.append(max(m, n) if 1 in (m, n) else m)
    return tuple(reversed(out))


def check_broadcast(fn: str, a_name: str, a, b_name: str, b) -> None:
    """Element-wise operands must broadcast. As under JAX (which optax runs on), operands of
    different ranks raise ``ValueError`` and operands of one rank ``TypeError``."""
    s, t = shape_of(a), shape_of(b)
    if _broadcast(s, t) is None:
        error = ValueError if len(s) != len(t) else TypeError
        raise error(
            f"{fn}: {a_name} of shape {s} and {b_name} of shape {t} do not broadcast together"
        )


def check_where(fn: str, where, x) -> None:
    if where is not None and _broadcast(shape_of(where), shape_of(x)) is None:
        raise ValueError(
            f"{fn}: where of shape {shape_of(where)} does not broadcast to the input's "
            f"shape {shape_of(x)}"
        )


# --- axes ---------------------------------------------------------------------------------
def canonicalize_axis(axis, ndim: int) -> int:
    axis = operator.index(axis)
    if 0 <= axis < ndim:
        return axis
    if -ndim <= axis < 0:
        return axis + ndim
    raise ValueError(f"axis {axis} is out of bounds for array of dimension {ndim}")


def expand_dims(x, axis):
    """``jnp.expand_dims``: ``axis`` an int or a tuple of positions in the result."""
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out_ndim = _ops.ndim(x) + len(axes)
    for a in sorted(canonicalize_axis(a, out_ndim) for a in axes):
        x = _ops.expand_dims(x, a)
    return x


def transpose(x, perm: tuple):
    """``x`` with its axes in the order ``perm``, as a sequence of axis swaps."""
    order = list(range(len(perm)))
    for i, want in enumerate(perm):
        j = order.index(want)
        if j != i:
            x = _ops.swapaxes(x, i, j)
            order[i], order[j] = order[j], order[i]
    return x


def axis_size(x, axis) -> int:
    """``jnp.size(x, axis)``: the number of entries along ``axis`` (int, tuple or None)."""
    shape = shape_of(x)
    if axis is None:
        return math.prod(shape)
    axes = (axis,) if isinstance(axis, int) else axis
    return math.prod(shape[canonicalize_axis(a, len(shape))] for a in axes)


# --- masked reductions --------------------------------------------------------------------
def masked_sum(x, axis=None, where=None, keepdims=False):
    """``jnp.sum(x, axis, where=where, keepdims=keepdims)``."""
    if where is not None:
        x = _ops.where(where, x, 0.0)
    return _ops.sum(x, axis=axis, keepdims=keepdims)


def masked_max(x, axis=None, where=None, keepdims=False):
    """``jnp.max(x, axis, where=where, initial=-inf, keepdims=keepdims)``."""
    if where is not None:
        x = _ops.where(where, x, NEG_INF)
    return _ops.max(x, axis=axis, keepdims=keepdims)


def _reduced_axes(x, axis) -> tuple:
    n = _ops.ndim(x)
    if axis is None:
        return tuple(range(n))
    axes = (axis,) if isinstance(axis, int) else axis
    return tuple(sorted(canonicalize_axis(a, n) for a in axes))


# --- stable functions ---------------------------------------------------------------------
def logsumexp(a, axis=None, where=None):
    r"""``jax.scipy.special.logsumexp(a, axis, where=where)``:
    :math:`m + \log \sum_i \exp(a_i - m)` with :math:`m` the (finite) max, not differentiated.
    """
    if where is not None:
        a = _ops.where(where, a, 0.0)
    amax = masked_max(a, axis, where, keepdims=True)
    amax = _autodiff.stop_gradient(_ops.where(_ops.isfinite(amax), amax, 0.0))
    sumexp = masked_sum(_ops.exp(a - amax), axis, where)
    axes = _reduced_axes(a, axis)
    squeezed = _ops.reshape(amax, [d for i, d in enumerate(shape_of(amax)) if i not in axes])
    positive = sumexp > 0  # log(0) = -inf, reached without a 0/0 in the backward pass
    return _ops.where(positive, _ops.log(_ops.where(positive, sumexp, 1.0)), NEG_INF) + squeezed


def _shift(x_max):
    """The max to subtract, not differentiated; 0 for rows with nothing but ``-inf`` (or
    fully masked), so that no NaN enters the backward pass."""
    return _autodiff.stop_gradient(_ops.where(x_max == NEG_INF, 0.0, x_max))


def log_softmax(x, axis=-1, where=None):
    r"""``jax.nn.log_softmax``: :math:`x_i - m - \log \sum_j \exp(x_j - m)`, ``-inf`` where
    masked. Rows whose max is ``-inf`` give NaN, as JAX's do, computed without NaN
    intermediates so that gradients of the other rows (and of masked rows) stay finite."""
    x_max = masked_max(x, axis, where, keepdims=True)
    x_safe = x if where is None else _ops.where(where, x, NEG_INF)
    shifted = x_safe - _shift(x_max)
    total = masked_sum(_ops.exp(shifted), axis, where, keepdims=True)
    result = shifted - _ops.log(_ops.where(total > 0, total, 1.0))
    result = _ops.where(x_max == NEG_INF, math.nan, result)
    return result if where is None else _ops.where(where, result, NEG_INF)


def softmax(x, axis=-1, where=None):
    r"""``jax.nn.softmax``: :math:`\exp(x_i - m) / \sum_j \exp(x_j - m)`, 0 where masked
    (NaN for rows whose max is ``-inf``, as in JAX)."""
    x_max = masked_max(x, axis, where, keepdims=True)
    x_safe = x if where is None else _ops.where(where, x, NEG_INF)
    unnormalized = _ops.exp(x_safe - _shift(x_max))
    total = masked_sum(unnormalized, axis, where, keepdims=True)
    result = unnormalized / _ops.where(total > 0, total, 1.0)
    result = _ops.where(x_max == NEG_INF, math.nan, result)
    return result if where is None else _ops.where(where, result, 0.0)


def softplus(x):
    r""":math:`\log(1 + e^x) = \max(x, 0) + \log(1 + e^{-|x|})` (``jnp.logaddexp(x, 0)``).

    :math:`\max(x, 0)` is written :math:`x/2 + |x|/2` (exact, no overflow) so that the
    derivative at 0 is :math:`\sigma(0) = 1/2` on every framework, whatever its convention
    for the derivative of ``maximum`` at a tie."""
    ax = _ops.abs(x)
    relu = _ops.where(x == NEG_INF, 0.0, 0.5 * x + 0.5 * ax)
    return relu + _ops.log1p(_ops.exp(-ax))


def log_sigmoid(x):
    r""":math:`\log \sigma(x) = -\mathrm{softplus}(-x)`."""
    return -softplus(-x)


def logaddexp_neg(x):
    r""":math:`\log(e^x + e^{-x}) = |x| + \log(1 + e^{-2|x|})` (``jnp.logaddexp(x, -x)``)."""
    ax = _ops.abs(x)
    return ax + _ops.log1p(_ops.exp(-(ax + ax)))


def logaddexp_weighted(a1, b1, a2, b2):
    r""":math:`\log(b_1 e^{a_1} + b_2 e^{a_2})`, NaN where the sum is negative
    (``jax.scipy.special.logsumexp`` over a stacked pair with weights ``b``)."""
    a1 = _ops.where(b1 != 0, a1, NEG_INF)
    a2 = _ops.where(b2 != 0, a2, NEG_INF)
    amax = _ops.maximum(a1, a2)
    amax = _autodiff.stop_gradient(_ops.where(_ops.isfinite(amax), amax, 0.0))
    total = _ops.exp(a1 - amax) * b1 + _ops.exp(a2 - amax) * b2
    out = _ops.log(_ops.abs(total)) + amax
    return _ops.where(total < 0, math.nan, out)


def one_hot_mask(labels, num_classes: int, axis: int):
    """Booleans, ``labels`` compared with ``0 .. num_classes - 1`` along a new ``axis``."""
    ndim = _ops.ndim(labels) + 1
    axis = canonicalize_axis(axis, ndim)
    classes = _ops.arange(num_classes, None, labels)
    classes = _ops.reshape(classes, [num_classes if i == axis else 1 for i in range(ndim)])
    return _ops.expand_dims(labels, axis) == classes
