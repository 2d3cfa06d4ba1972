r"""Adafactor (Shazeer & Stern, 2018): RMS scaling with factored second moments.

For a leaf whose two largest axes (rows :math:`r`, columns :math:`c`) both have at least
``min_dim_size_to_factor`` entries, only their means are kept:

.. math::
    \beta_k = \text{decay\_rate\_fn}(k - \text{offset}, \text{decay\_rate})
            \;(\text{default } 1 - (k + 1)^{-0.8}), \quad G = |g_k|^2 + \epsilon,

    R_k = \beta_k R_{k-1} + (1 - \beta_k)\,\text{mean}_c G, \quad
    C_k = \beta_k C_{k-1} + (1 - \beta_k)\,\text{mean}_r G, \quad
    u_k = g_k \Big/ \sqrt{\frac{R_k C_k}{\text{mean}(R_k)}}.

Other leaves keep the full :math:`V_k = \beta_k V_{k-1} + (1 - \beta_k) G` and
:math:`u_k = g_k / \sqrt{V_k}`. Unused state slots hold a zero of shape ``(1,)``, as
in optax. ``adafactor`` chains this with update clipping (``clip_by_block_rms``), the
learning rate, relative step sizes (``scale_by_param_block_rms``), optional momentum
and weight decay, then ``-1``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Optional

from anyopt import _ops, _tree, _validate
from anyopt._base import NO_PARAMS_MSG, GradientTransformation, ScalarOrSchedule
from anyopt._combine import chain
from anyopt.algorithms.param_block import scale_by_param_block_rms
from anyopt.transforms._accumulation import ema
from anyopt.transforms._adding import add_decayed_weights
from anyopt.transforms._block_clipping import clip_by_block_rms
from anyopt.transforms._scaling import scale, scale_by_learning_rate


def _decay_rate_pow(i: Any, exponent: float = 0.8) -> Any:
    """Adafactor's second-moment decay ``1 - (i + 1)**-exponent`` (float32)."""
    t = _ops.astype(i + 1, "float32")
    return 1.0 - t ** (-exponent)


def _factored_dims(shape: tuple, factored: bool, min_dim_size_to_factor: int):
    """``(second largest axis, largest axis)``, or None if the leaf is not factored."""
    if not factored or len(shape) < 2:
        return None
    order = sorted(range(len(shape)), key=lambda axis: shape[axis])  # stable, as np.argsort
    if shape[order[-2]] < min_dim_size_to_factor:
        return None
    return order[-2], order[-1]


class FactoredState(NamedTuple):
    """State of ``scale_by_factored_rms``."""

    count: Any  # shape=(), dtype=int32
    v_row: Any  # per leaf: the mean over the largest axis (factored), else zeros((1,))
    v_col: Any  # per leaf: the mean over the second largest axis (factored), else zeros((1,))
    v: Any  # per leaf: the full second moment (not factored), else zeros((1,))


def scale_by_factored_rms(
    factored: bool = True,
    decay_rate: float = 0.8,
    step_offset: int = 0,
    min_dim_size_to_factor: int = 128,
    epsilon: float = 1e-30,
    decay_rate_fn: Callable[[Any, Any], Any] = _decay_rate_pow,
) -> GradientTransformation:
    """Rescales updates by a (factored) RMS estimate, as Adafactor; needs ``params``."""
    _check("scale_by_factored_rms", min_dim_size_to_factor, decay_rate, epsilon)

    def dims(x):
        return _factored_dims(_ops.shape(x), factored, min_dim_size_to_factor)

    def init_leaf(p):
        dt, d = _ops.dtype(p), dims(p)
        one = _ops.zeros((1,), dt, like=p)
        if d is None:
            return one, one, _ops.zeros_like(p)
        shape = _ops.shape(p)
        row = tuple(n for axis, n in enumerate(shape) if axis != d[1])
        col = tuple(n for axis, n in enumerate(shape) if axis != d[0])
        return _ops.zeros(row, dt, like=p), _ops.zeros(col, dt, like=p), one

    def update_leaf(g, v_row, v_col, v, p, decay):
        dt, d = _ops.dtype(p), dims(p)
        beta = _ops.like(decay, p)
        sq = _ops.abs_sq(g) + epsilon
        one = _ops.zeros((1,), dt, like=p)
        if d is None:
            new_v = _ops.astype(beta * v + (1 - beta) * sq, dt)
            return g * new_v**-0.5, one, one, new_v
        d1, d0 = d
        new_row = _ops.astype(beta * v_row + (1 - beta) * _ops.mean(sq, axis=d0), dt)
        new_col = _ops.astype(beta * v_col + (1 - beta) * _ops.mean(sq, axis=d1), dt)
        row_axis = d1 - 1 if d1 > d0 else d1  # d1's position once d0 is gone
        row_factor = (new_row / _ops.mean(new_row, axis=row_axis, keepdims=True)) ** -0.5
        col_factor = new_col**-0.5
        update = g * _ops.expand_dims(row_factor, d0) * _ops.expand_dims(col_factor, d1)
        return update, new_row, new_col, one

    def split(count, out, like):
        def field(i):
            return _tree.map(lambda _, o: o[i], like, out)

        return field(0), FactoredState(count=count, v_row=field(1), v_col=field(2), v=field(3))

    def init_fn(params):
        out = _tree.map(lambda p: (None, *init_leaf(p)), params)
        return split(_tree.count_init(params), out, params)[1]

    def update_fn(updates, state, params):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        decay = decay_rate_fn(state.count - step_offset, decay_rate)
        out = _tree.map(
            lambda g, r, c, v, p: update_leaf(g, r, c, v, p, decay),
            updates,
            state.v_row,
            state.v_col,
            state.v,
            params,
        )
        return split(_tree.safe_increment(state.count), out, updates)

    return GradientTransformation(init_fn, update_fn)


def _check(fn: str, min_dim_size_to_factor, decay_rate, eps) -> None:
    _validate.non_negative(fn, "min_dim_size_to_factor", min_dim_size_to_factor)
    _validate.non_negative(fn, "decay_rate", decay_rate)
    _validate.non_negative(fn, "eps" if fn == "adafactor" else "epsilon", eps)


def adafactor(
    learning_rate: Optional[ScalarOrSchedule] = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: float = 0.8,
    decay_offset: int = 0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold: Optional[float] = 1.0,
    momentum: Optional[float] = None,
    dtype_momentum: Any = "float32",
    weight_decay_rate: Optional[ScalarOrSchedule] = None,
    eps: float = 1e-30,
    factored: bool = True,
    weight_decay_mask: Any = None,
) -> GradientTransformation:
    """Adafactor as optax chains it (``dtype_momentum`` defaults to float32, as optax's).

    Without a learning rate the step size is the parameters' RMS alone (relative steps).
    """
    if learning_rate is not None:
        _validate.learning_rate("adafactor", learning_rate)
    _check("adafactor", min_dim_size_to_factor, decay_rate, eps)
    if clipping_threshold is not None:
        _validate.positive("adafactor", "clipping_threshold", clipping_threshold)
    if momentum is not None:
        _validate.unit_interval("adafactor", "momentum", momentum, closed=True)
    _validate.float_dtype("adafactor", "dtype_momentum", dtype_momentum)

    tx = [scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor, eps)]
    if clipping_threshold is not None:
        tx.append(clip_by_block_rms(clipping_threshold))
    if learning_rate is not None:
        tx.append(scale_by_learning_rate(learning_rate, flip_sign=False))
    if multiply_by_parameter_scale:
        tx.append(scale_by_param_block_rms())
    if momentum is not None:
        tx.append(ema(momentum, debias=False, accumulator_dtype=dtype_momentum))
    if weight_decay_rate is not None:
        tx.append(add_decayed_weights(weight_decay_rate, mask=weight_decay_mask))
    tx.append(scale(-1))
    return chain(*tx)
