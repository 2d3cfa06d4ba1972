"""Optimizing complex parameters as pairs of real ones.

``split_real_and_imaginary(inner)`` hands ``inner`` each complex leaf as a
``SplitRealAndImaginaryArrays(real, imaginary)`` pair of real arrays and merges the
pair of updates back into one complex leaf, so that any real optimizer treats
:math:`z = x + iy` as the two real parameters :math:`x, y`. Real leaves pass through.

Conventions for complex gradients differ: ``jax.grad`` returns the conjugate of what
PyTorch's autograd returns for a real loss, so conjugate JAX gradients before ``update``
(see optax issue 196).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from anyopt import _ops, _tree, backends
from anyopt._base import GradientTransformation, OptState


class SplitRealAndImaginaryArrays(NamedTuple):
    """The real and imaginary parts of one complex leaf, as two real arrays."""

    real: Any
    imaginary: Any


class SplitRealAndImaginaryState(NamedTuple):
    """State of ``split_real_and_imaginary``: the inner transformation's state."""

    inner_state: OptState


def _is_complex(x: Any) -> bool:
    return (backends.dtype_name(_ops.dtype(x)) or "").startswith("complex")


def _split(x: Any) -> Any:
    return SplitRealAndImaginaryArrays(_ops.real(x), _ops.imag(x)) if _is_complex(x) else x


def _merge(x: Any) -> Any:
    if isinstance(x, SplitRealAndImaginaryArrays):
        return x.real + x.imaginary * 1j
    return x


def _is_pair(x: Any) -> bool:
    return isinstance(x, SplitRealAndImaginaryArrays)


def split_real_and_imaginary(inner: GradientTransformation) -> GradientTransformation:
    """Runs ``inner`` on the real and imaginary parts of complex leaves separately.

    Example:
        >>> import numpy as np, anyopt
        >>> params = {"z": np.array([1 + 1j], np.complex64)}
        >>> tx = anyopt.contrib.split_real_and_imaginary(anyopt.sign_sgd(0.1))
        >>> state = tx.init(params)
        >>> updates, state = tx.update({"z": np.array([2 - 3j], np.complex64)}, state)
        >>> updates["z"]
        array([-0.1+0.1j], dtype=complex64)
    """

    def init_fn(params):
        return SplitRealAndImaginaryState(inner.init(_tree.map(_split, params)))

    def update_fn(updates, state, params=None):
        split_params = None if params is None else _tree.map(_split, params)
        updates, inner_state = inner.update(
            _tree.map(_split, updates), state.inner_state, split_params
        )
        return _tree.map(_merge, updates, is_leaf=_is_pair), SplitRealAndImaginaryState(inner_state)

    return GradientTransformation(init_fn, update_fn)
