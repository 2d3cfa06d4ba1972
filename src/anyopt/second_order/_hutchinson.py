r"""Hutchinson's estimator of the Hessian diagonal (Bekas, Kokiopoulou and Saad, 2007).

For a scalar :math:`f(\theta)` and :math:`S` vectors :math:`z^{(s)}` of independent random
signs (Rademacher: :math:`\pm 1` with probability 1/2),

.. math::
    \widehat{\operatorname{diag}}(H) = \frac1S \sum_{s=1}^S z^{(s)} \odot \big(H z^{(s)}\big),
    \qquad
    \mathbb{E}\big[z_i (H z)_i\big] = H_{ii},
    \qquad
    \operatorname{Var}\big[z_i (H z)_i\big] = \sum_{j \ne i} H_{ij}^2 ,

so it is exact when :math:`H` is diagonal. Each sample is one Hessian-vector product
(O(n) memory). The signs come from the framework's own generator: the key is split as
Sophia's estimator splits it (``key, subkey = split(key)``, then one key per leaf), so one
sample from key ``k`` is the first estimate ``contrib.hutchinson_estimator_diag_hessian(k)``
returns, and sample :math:`s` is its :math:`s`-th.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any, Optional

from anyopt import _autodiff, _tree, capabilities
from anyopt._base import GradientTransformationExtraArgs
from anyopt.contrib import HutchinsonState

_DIAG = "second_order.hutchinson_diag"
_ESTIMATOR = "second_order.hutchinson_estimator"


def hutchinson_diag(
    fun: Callable[[Any], Any], params: Any, key_or_seed: Any, num_samples: int = 1
) -> Any:
    r"""Hutchinson's estimate :math:`\frac1S \sum_s z^{(s)} \odot (H z^{(s)})` of ``fun``'s
    Hessian diagonal at ``params``.

    Args:
        fun: the scalar function of ``params`` alone (e.g. ``lambda p: loss(p, x, y)``).
        params: a tree of arrays (JAX, PyTorch or MLX).
        key_or_seed: an int seed, or a key of ``params``' framework (``jax.random.key`` /
            ``PRNGKey`` on JAX, ``anyopt.backends.load(name).key(seed)`` on PyTorch and MLX).
        num_samples: :math:`S`, the number of random sign vectors (Hessian-vector products).

    Returns:
        A tree shaped like ``params``; its variance falls as 1 / ``num_samples``.

    Example:
        >>> import jax.numpy as jnp
        >>> from anyopt import second_order
        >>> f = lambda p: jnp.sum(jnp.array([1., 2., 3.]) * p ** 2)  # diagonal Hessian: exact
        >>> second_order.hutchinson_diag(f, jnp.ones(3), 0, num_samples=2)
        Array([2., 4., 6.], dtype=float32)
    """
    _check_num_samples(_DIAG, num_samples)
    capabilities.check(_DIAG, _autodiff.framework(params))
    return _sample_mean(fun, params, _as_key(key_or_seed, params), num_samples, _DIAG)[0]


def hutchinson_estimator(
    random_seed: Optional[Any] = None, num_samples: int = 1
) -> GradientTransformationExtraArgs:
    """``hutchinson_diag`` as Sophia's ``hessian_diagonal_fn``: ``update(updates, state,
    params, obj_fn)`` returns the estimate of ``obj_fn``'s Hessian diagonal at ``params``
    (``updates`` are ignored) and a state holding the next key.

    With ``num_samples=1`` it gives the numbers of ``contrib.hutchinson_estimator_diag_hessian``
    for the same key; more samples lower the variance of Sophia's curvature estimate.
    ``random_seed`` is an int or a key of the parameters' framework (default: seed 0).

    Example:
        >>> import jax.numpy as jnp, anyopt
        >>> from anyopt import second_order
        >>> tx = anyopt.contrib.sophia(0.1, hessian_diagonal_fn=second_order.hutchinson_estimator(
        ...     num_samples=4))
        >>> params = jnp.array([1., 2., 3.])
        >>> state = tx.init(params)
        >>> updates, state = tx.update(2 * params, state, params, obj_fn=lambda p: jnp.sum(p**2))
    """
    _check_num_samples(_ESTIMATOR, num_samples)

    def init_fn(params):
        capabilities.check(_ESTIMATOR, _autodiff.framework(params))
        return HutchinsonState(key=_as_key(0 if random_seed is None else random_seed, params))

    def update_fn(updates, state, params=None, obj_fn=None, **extra_args):
        del updates, extra_args
        if params is None or obj_fn is None:
            raise ValueError(
                f"{_ESTIMATOR}: update needs params and obj_fn (the loss as a function of "
                "the parameters alone): update(updates, state, params, obj_fn=...)"
            )
        capabilities.check(_ESTIMATOR, _autodiff.framework(params))
        estimate, key = _sample_mean(obj_fn, params, state.key, num_samples, _ESTIMATOR)
        return estimate, HutchinsonState(key=key)

    return GradientTransformationExtraArgs(init_fn, update_fn)


def _sample_mean(fun, params, key, num_samples: int, name: str) -> tuple[Any, Any]:
    """``(mean of num_samples estimates z * (H z), the key left after drawing them)``."""
    sign_dtype = _tree.dtype(params, "lowest")

    def one_sample(key):
        key, subkey = _autodiff.split(key)
        signs = _tree.random_like(subkey, params, _autodiff.rademacher, dtype="float32")
        signs = _tree.cast(signs, sign_dtype)
        product = _autodiff.hvp(fun, params, signs, name=name)
        return key, _tree.map(lambda hz, z: hz * z, product, signs)

    def add_sample(carry):
        key, total = carry
        key, sample = one_sample(key)
        return key, _tree.map(lambda t, s: t + s, total, sample)

    b = _tree.backend_of(params)
    if num_samples > 1 and hasattr(b, "fori_loop"):  # JAX: all samples in one traced loop
        shapes = b.eval_shape(lambda k: one_sample(k)[1], key)
        zeros = _tree.map(lambda s: b.zeros(s.shape, s.dtype), shapes)
        key, total = b.fori_loop(0, num_samples, lambda _, c: add_sample(c), (key, zeros))
    else:
        key, total = one_sample(key)
        for _ in range(num_samples - 1):
            key, total = add_sample((key, total))
    mean = total if num_samples == 1 else _tree.map(lambda t: t / num_samples, total)
    return mean, key


def _as_key(key_or_seed: Any, params: Any) -> Any:
    if isinstance(key_or_seed, numbers.Integral) and not isinstance(key_or_seed, bool):
        return _autodiff.key_like(int(key_or_seed), params)
    return key_or_seed


def _check_num_samples(name: str, num_samples: Any) -> None:
    if not isinstance(num_samples, numbers.Integral) or num_samples < 1:
        raise ValueError(f"{name}: num_samples must be an int >= 1; got {num_samples!r}")
