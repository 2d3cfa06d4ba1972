r"""The diagonal of the observed Fisher information, as optax 0.2.8 defines it.

For a negative log-likelihood :math:`\ell(\theta) = \mathrm{nll}(\theta, x, y)` evaluated on
the data it is given,

.. math::
    \mathrm{fisher\_diag}(\theta) = \big(\nabla_\theta \ell(\theta)\big)^{\odot 2},

the element-wise square of one gradient: one backward pass, O(n) memory. Called on a single
example this is that example's squared gradient; the empirical Fisher diagonal of a batch,
:math:`\frac1B \sum_b (\nabla \ell_b)^{\odot 2}`, is the mean of per-example calls. Called on
a whole batch it is the square of the batch gradient (what optax computes), which is at most
that mean, element-wise.
"""

from __future__ import annotations

from typing import Any

from anyopt import _autodiff, _ops
from anyopt.second_order._flat import ravel
from anyopt.second_order._hessian import LossFn

_FISHER_DIAG = "second_order.fisher_diag"


def fisher_diag(negative_log_likelihood: LossFn, params: Any, inputs: Any, targets: Any) -> Any:
    """The squared gradient of ``negative_log_likelihood`` at ``(params, inputs, targets)``.

    Args:
        negative_log_likelihood: ``nll(params, inputs, targets) -> scalar``.
        params: a tree of arrays (JAX, PyTorch or MLX).
        inputs: passed to ``negative_log_likelihood`` unchanged.
        targets: passed to ``negative_log_likelihood`` unchanged.

    Returns:
        A flat vector with one entry per parameter, leaves in tree order (as optax does).
    """
    grad_fn = _autodiff.grad(negative_log_likelihood, name=_FISHER_DIAG)
    return _ops.square(ravel(grad_fn(params, inputs, targets))[0])
