"""Hyperparameter checks made when a transformation is built.

Only concrete Python numbers are checked: arrays and tracers (e.g. injected
hyperparameters under ``jax.jit``) pass through untouched.
"""

from __future__ import annotations

import numbers
from typing import Any

from anyopt import backends

# Complex dtypes count: optax keeps complex moments for complex parameters.
_FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64", "complex64", "complex128")


def _concrete(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def non_negative(fn: str, arg: str, value: Any) -> None:
    if _concrete(value) and not value >= 0:
        raise ValueError(f"{fn}: {arg} must be >= 0; got {value!r}")


def positive(fn: str, arg: str, value: Any) -> None:
    if _concrete(value) and not value > 0:
        raise ValueError(f"{fn}: {arg} must be > 0; got {value!r}")


def unit_interval(fn: str, arg: str, value: Any, *, closed: bool = False) -> None:
    """``value`` in [0, 1) (or [0, 1] when ``closed``)."""
    if not _concrete(value):
        return
    ok = 0 <= value <= 1 if closed else 0 <= value < 1
    if not ok:
        rule = "[0, 1]" if closed else "[0, 1)"
        raise ValueError(f"{fn}: {arg} must be in {rule}; got {value!r}")


def learning_rate(fn: str, value: Any, arg: str = "learning_rate") -> None:
    """A number or 0-d array >= 0, or a schedule (a function of the step count)."""
    if callable(value):
        return
    if not (isinstance(value, numbers.Real) or hasattr(value, "dtype")):
        raise TypeError(
            f"{fn}: {arg} must be a number, a 0-d array or a schedule (a function of the "
            f"step count); got {type(value).__name__} {value!r}"
        )
    non_negative(fn, arg, value)


def schedule(fn: str, arg: str, value: Any) -> None:
    if not callable(value):
        raise TypeError(
            f"{fn}: {arg} must be a schedule (a function of the step count); got "
            f"{type(value).__name__} {value!r}"
        )


def float_dtype(fn: str, arg: str, value: Any) -> None:
    if value is None:
        return
    try:
        name = backends.dtype_name(value)
    except TypeError:
        name = None
    if name not in _FLOAT_DTYPES:
        raise ValueError(
            f"{fn}: {arg} must be a floating dtype ({', '.join(_FLOAT_DTYPES)}) or None; "
            f"got {value!r}"
        )


def real_leaves(fn: str, tree: Any, what: str = "parameters", hint: str = "") -> None:
    """``ValueError`` naming the first complex leaf of ``tree``: for steps that order,
    clip or take cube roots of values, which complex numbers do not allow."""
    if not any(_complex(x) for x in backends.flatten(tree)[0]):
        return
    path, x = next((p, x) for p, x in backends.leaves_with_path(tree) if _complex(x))
    raise ValueError(
        f"{fn}: complex {what} are not supported (optax 0.2.8 rejects them too); "
        f"{path} is {backends.dtype_name(x.dtype)}{hint or _SPLIT_HINT}"
    )


def _complex(x: Any) -> bool:
    return "complex" in str(getattr(x, "dtype", ""))


_SPLIT_HINT = (
    "; optimize the real and imaginary parts as separate real parameters, e.g. with "
    "anyopt.contrib.split_real_and_imaginary"
)


def choice(fn: str, arg: str, value: Any, options: tuple) -> None:
    if value not in options:
        raise ValueError(f"{fn}: {arg} must be one of {options}; got {value!r}")
