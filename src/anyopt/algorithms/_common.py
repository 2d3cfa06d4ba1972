"""Checks shared by the Adam family of algorithms."""

from __future__ import annotations

from typing import Any

from anyopt import _tree, _validate


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
