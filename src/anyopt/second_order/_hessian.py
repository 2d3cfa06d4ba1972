r"""Hessian-vector products and the exact Hessian diagonal, through the framework's autodiff.

For a scalar loss :math:`\ell(\theta) = \mathrm{loss}(\theta, x, y)` of :math:`n` parameters,

.. math::
    \mathrm{hvp}(v) = \nabla^2 \ell(\theta)\, v
        = \frac{\partial}{\partial \epsilon} \nabla \ell(\theta + \epsilon v)\Big|_{\epsilon=0},
    \qquad
    \mathrm{hessian\_diag}(\theta)_i = e_i^\top \nabla^2 \ell(\theta)\, e_i
        = \big(\mathrm{hvp}(e_i)\big)_i .

The product is forward-over-reverse (``jax.jvp`` of ``jax.grad``, ``torch.func.jvp`` of
``torch.func.grad``, ``mx.jvp`` of ``mx.grad``): it costs a small constant times one gradient
and O(n) memory. ``hessian_diag`` takes one product per basis vector :math:`e_i`, one at a
time: n products in time, O(n) memory (the n x n Hessian is never formed). Under JAX the
loop is a ``jax.lax.fori_loop`` (traced once, fine under ``jax.jit``); elsewhere a Python loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from anyopt import _autodiff, _ops, _tree, capabilities
from anyopt.second_order._flat import ravel

_HVP = "second_order.hvp"
_HESSIAN_DIAG = "second_order.hessian_diag"

# ``loss(params, inputs, targets)`` returns a scalar (0-d array).
LossFn = Callable[[Any, Any, Any], Any]


def hvp(loss: LossFn, v: Any, params: Any, inputs: Any, targets: Any) -> Any:
    r"""The Hessian of ``loss`` at ``(params, inputs, targets)`` times ``v`` (optax's signature).

    Args:
        loss: ``loss(params, inputs, targets) -> scalar``, written with the framework's ops.
        v: a flat vector with as many entries as ``params`` has (leaves in tree order).
        params: a tree of arrays (JAX, PyTorch or MLX).
        inputs: passed to ``loss`` unchanged.
        targets: passed to ``loss`` unchanged.

    Returns:
        :math:`\nabla^2_\theta \ell \, v` as a tree shaped like ``params`` (as optax does).

    Example:
        >>> import jax.numpy as jnp
        >>> from anyopt import second_order
        >>> loss = lambda p, x, y: jnp.sum((p * x - y) ** 3)
        >>> second_order.hvp(loss, jnp.ones(2), jnp.array([1., 2.]), jnp.ones(2), jnp.zeros(2))
        Array([ 6., 12.], dtype=float32)
    """
    capabilities.check(_HVP, _autodiff.framework(params))
    _, unravel = ravel(params)
    return _autodiff.hvp(_at_data(loss, inputs, targets), params, unravel(v), name=_HVP)


def hessian_diag(loss: LossFn, params: Any, inputs: Any, targets: Any) -> Any:
    r"""The diagonal of the Hessian of ``loss`` at ``(params, inputs, targets)``, exactly.

    Entry :math:`i` is :math:`(\nabla^2 \ell \, e_i)_i`: n Hessian-vector products, one
    basis vector at a time. Cost: time n HVPs (each a few gradients' worth); memory O(n)
    plus one HVP's intermediates, never the n x n identity that optax vmaps over. For large
    n, ``hutchinson_diag`` estimates the same diagonal from a few products.

    Returns:
        A flat vector of the n diagonal entries, leaves in tree order (as optax does).
    """
    capabilities.check(_HESSIAN_DIAG, _autodiff.framework(params))
    flat, unravel = ravel(params)
    n, dtype = _ops.size(flat), _ops.dtype(flat)
    positions = _ops.arange(n, "int32", flat)
    loss_at_data = _at_data(loss, inputs, targets)

    def entry(i: Any) -> Any:
        basis = _ops.astype(positions == i, dtype)
        column = _autodiff.hvp(loss_at_data, params, unravel(basis), name=_HESSIAN_DIAG)
        return ravel(column)[0][i]

    b = _tree.backend_of(params)
    if hasattr(b, "fori_loop"):  # JAX: one traced loop body, O(n) carry
        set_entry = lambda i, diag: b.index_set(diag, i, entry(i))  # noqa: E731
        return b.fori_loop(0, n, set_entry, _ops.zeros((n,), dtype, flat))
    return _ops.stack([entry(i) for i in range(n)])


def _at_data(loss: LossFn, inputs: Any, targets: Any) -> Callable[[Any], Any]:
    return lambda params: loss(params, inputs, targets)
