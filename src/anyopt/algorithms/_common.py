"""Checks and helpers shared by the Adam family of algorithms."""

from __future__ import annotations

from typing import Any

from anyopt import _ops, _tree, _validate, backends


def check_betas_eps(fn: str, **values: Any) -> None:
    """Betas (``b1``, ``b2``, ``decay``, ``beta``) in [0, 1); ``eps*`` values >= 0."""
    for arg, value in values.items():
        if arg.startswith("eps"):
            _validate.non_negative(fn, arg, value)
        else:
            _validate.unit_interval(fn, arg, value)


def nesterov_mu_hat(mu, updates, b1, count_inc):
    """Dozat's Nesterov momentum with Adam's bias corrections."""
    return _tree.map(
        lambda m, g: b1 * m + (1 - b1) * g,
        _tree.bias_correction(mu, b1, _tree.safe_increment(count_inc)),
        _tree.bias_correction(updates, b1, count_inc),
    )


# Bytes per element of the real floating dtypes a gradient may be widened to.
_REAL_ITEMSIZE = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}


def widen(updates, dtype):
    """``updates`` cast to ``dtype`` where it is a wider real dtype than a leaf's.

    For a second moment kept in ``nu_dtype``: ``g**2`` is then formed in that dtype instead
    of being rounded, underflowing or overflowing in float16/bfloat16. ``None``, a complex
    ``dtype`` and complex or wider leaves leave ``updates`` as they are.
    """
    wide = None if dtype is None else _REAL_ITEMSIZE.get(backends.dtype_name(dtype))
    if wide is None:
        return updates

    def cast(g):
        size = _REAL_ITEMSIZE.get(backends.dtype_name(_ops.dtype(g)), wide)
        return _ops.astype(g, dtype) if size < wide else g

    return _tree.map(cast, updates)
