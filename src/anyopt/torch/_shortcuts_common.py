"""What torch.optim's algorithms share: gradient preparation, weight decay, build-time
checks with torch's rules, and the step-dependent scalars torch computes in float64.

Every hyperparameter may be a Python number, a 0-d array or a schedule (a function of the
step count, 0 at the first step); :func:`at` reads its value for the current step and
every value that meets a leaf goes through ``_ops.like``, so leaves keep their dtype.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from anyopt import _ops, _tree, _validate, backends
from anyopt._base import NO_PARAMS_MSG


def at(value: Any, count: Any) -> Any:
    """A hyperparameter's value at this step: ``value(count)`` for a schedule."""
    return value(count) if callable(value) else value


def is_number(value: Any) -> bool:
    """Whether ``value`` is a concrete Python number (not a bool, an array or a schedule)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_zero(value: Any) -> bool:
    """Whether ``value`` is a Python 0 (a branch torch takes in Python); arrays never are."""
    return is_number(value) and value == 0


def gradient(updates: Any, params: Any, weight_decay: Any, maximize: bool) -> Any:
    """torch's ``g = -g if maximize``, then coupled weight decay ``g + weight_decay * p``."""
    g = _tree.map(lambda u: -u, updates) if maximize else updates
    if is_zero(weight_decay):
        return g
    if params is None:
        raise ValueError(NO_PARAMS_MSG)
    return _tree.map(lambda u, p: u + _ops.like(weight_decay, p) * p, g, params)


def decay_weights(step: Any, params: Any, lr: Any, weight_decay: Any) -> Any:
    """``step + (p * (1 - lr * weight_decay) - p)``: torch's decoupled ``p *= 1 - lr * wd``,
    with the factor rounded to the parameters' dtype as torch rounds it (in float32 the
    decrement ``lr * wd`` itself is only kept to about ``6e-8 / (lr * wd)``)."""
    if is_zero(weight_decay):
        return step
    if params is None:
        raise ValueError(NO_PARAMS_MSG)
    factor = 1 - lr * weight_decay
    return _tree.map(lambda s, p: s + (p * _ops.like(factor, p) - p), step, params)


def lr_times(lr: Any, step: Any) -> Any:
    """``-lr * step`` leaf-wise (the updates are added to the parameters)."""
    return _tree.map(lambda s: _ops.like(-lr, s) * s, step)


# --- step-dependent scalars -----------------------------------------------------------------
def compute_dtype(leaf: Any) -> str:
    """float64 for float64 (and complex128) leaves, float32 otherwise (as bias corrections)."""
    return (
        "float64"
        if backends.dtype_name(_ops.dtype(leaf)) in ("float64", "complex128")
        else "float32"
    )


def per_dtype(make):
    """``get(leaf)``: ``make(dtype_name)`` computed once per compute dtype of the leaves."""
    cache: dict = {}

    def get(leaf):
        name = compute_dtype(leaf)
        if name not in cache:
            cache[name] = make(name)
        return cache[name]

    return get


def wide(value: Any, k: Any) -> Any:
    """``value`` for scalar math next to ``k``: Python numbers and float64 arrays as they
    are (their digits matter where torch computes in float64), other arrays cast to k's."""
    if is_number(value) or compute_dtype(value) == "float64":
        return value
    return _ops.like(value, k)


def power(base: Any, k: Any) -> tuple:
    """``(base**k, 1 - base**k)`` in k's dtype, for a float 0-d ``k >= 1``.

    torch computes these in Python float64. In float32, ``1 - 0.999**k`` loses five digits
    (0.999 rounds to 0.99900001, and ``pow`` near 1 to an ulp of 1); here both come from
    ``x = k * log(base)``, the log taken in float64 for a Python or float64 ``base``, and
    ``1 - base**k = -expm1(x)`` by Kahan's ``expm1(x) = (e^x - 1) x / log(e^x)``: within
    an ulp or two of k's dtype. A float32 ``base`` keeps its own rounding (1.3e-5 in
    ``1 - 0.999**k``): pass Python floats or float64 arrays for torch's numbers.
    """
    if is_number(base):
        if not 0 < base < 1:  # 0 (or a value torch's checks reject): plain powers
            u = base**k
            return u, 1 - u
        log_base = math.log(base)
    else:
        log_base = _ops.like(_ops.log(_ops.maximum(wide(base, k), 1e-30)), k)
    x = _ops.maximum(k * log_base, -80.0)  # e^-80 stays a normal float32
    u = _ops.exp(x)
    one = u == 1
    expm1 = _ops.where(one, x, (u - 1) * x / _ops.log(_ops.where(one, 0.5, u)))
    return u, -expm1


# --- build-time checks with torch's rules (ValueError, as torch) ------------------------------
def check_lr(fn: str, lr: Any) -> None:
    _validate.learning_rate(fn, lr, arg="lr")


def check_non_negative(fn: str, **values: Any) -> None:
    for arg, value in values.items():
        _validate.non_negative(fn, arg, value)


def check_betas(fn: str, betas: Any) -> None:
    """A pair, each in [0, 1) when it is a number (torch: "Invalid beta parameter")."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{fn}: betas must be a pair (beta1, beta2); got {betas!r}")
    for i, beta in enumerate(betas):
        _validate.unit_interval(fn, f"betas[{i}]", beta)


def check_adam_family(fn: str, lr, betas, eps, weight_decay, **more) -> None:
    """torch's checks, in its order: lr, eps, betas, weight_decay (and ``more``) >= 0."""
    check_lr(fn, lr)
    check_non_negative(fn, eps=eps)
    check_betas(fn, betas)
    check_non_negative(fn, weight_decay=weight_decay, **more)
