"""``anyopt.second_order``: curvature of a loss through each framework's own autodiff.

optax 0.2.8's ``hvp``, ``hessian_diag`` and ``fisher_diag`` (same signatures, flat vectors
and trees where optax returns them, the same numbers on JAX) on JAX, PyTorch and MLX, with
``hessian_diag`` in O(n) memory; and Hutchinson's stochastic estimate of the Hessian
diagonal, as a function (``hutchinson_diag``) and as Sophia's estimator
(``hutchinson_estimator``). NumPy has no autodiff: each raises ``NotImplementedError`` there.
"""

from anyopt.second_order._fisher import fisher_diag as fisher_diag
from anyopt.second_order._hessian import hessian_diag as hessian_diag
from anyopt.second_order._hessian import hvp as hvp
from anyopt.second_order._hutchinson import hutchinson_diag as hutchinson_diag
from anyopt.second_order._hutchinson import hutchinson_estimator as hutchinson_estimator

__all__ = [
    "fisher_diag",
    "hessian_diag",
    "hutchinson_diag",
    "hutchinson_estimator",
    "hvp",
]
