"""What the estimators share: random keys from ``rng``, per-sample maps and tiled parameters.

``rng`` is the framework's own randomness: a JAX key (``jax.random.key`` / ``PRNGKey``) on
JAX; on PyTorch a ``torch.Generator`` (advanced by one draw) or an anyopt torch key; on MLX
an ``mx.random.key``; on NumPy an anyopt NumPy key or a ``numpy.random.Generator``; and an
integer seed everywhere. It becomes one key of the parameters' framework (``as_key``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from anyopt import _autodiff, _ops, _tree, backends

_INT63 = 2**63 - 1


def params_backend(params: Sequence[Any], name: str):
    """The backend of ``params``, a non-empty list of arrays of one framework."""
    if not isinstance(params, (list, tuple)) or not params:
        raise TypeError(f"{name}: params must be a list of arrays such as [mean, log_scale]")
    arrays = [p for p in _tree.leaves(params) if hasattr(p, "dtype")]
    if not arrays:
        raise TypeError(f"{name}: params hold no arrays; pass arrays such as [mean, log_scale]")
    return backends.check_one_framework(arrays)


def as_key(rng: Any, params: Sequence[Any], name: str) -> Any:
    """``rng`` as a key of the framework of ``params`` (see the module docstring)."""
    b = params_backend(params, name)
    if isinstance(rng, int) and not isinstance(rng, bool):
        return b.key(rng)
    if not hasattr(rng, "dtype") and hasattr(rng, "get_state") and b.NAME == "torch":
        # a torch.Generator: one draw seeds the key, advancing the generator
        key = b.zeros((2,), b.dtype("int64"))
        return key.random_(0, _INT63, generator=rng)
    if not hasattr(rng, "dtype") and hasattr(rng, "integers") and b.NAME == "numpy":
        return b.asarray(rng.integers(0, 2**32, size=2, dtype="uint32"))
    found = backends.of(rng).NAME if hasattr(rng, "dtype") else type(rng).__qualname__
    if found != b.NAME:
        raise TypeError(
            f"{name}: rng is a {found} object but params are {b.NAME} arrays; pass a "
            f"{b.NAME} random key (see anyopt.monte_carlo) or an integer seed"
        )
    return rng


def map_samples(function: Callable[[Any], Any], samples: Any) -> Any:
    """``[function(x) for x in samples]`` stacked: ``vmap`` where the framework has one."""
    b = backends.of(samples)
    if hasattr(b, "vmap"):
        return b.vmap(lambda x: as_array(function(x), x))(samples)
    return _ops.stack([as_array(function(x), x) for x in samples])


def as_array(value: Any, like: Any) -> Any:
    """``value`` as an array of ``like``'s framework (autodiff wants arrays, not floats)."""
    if hasattr(value, "dtype"):
        return value
    return backends.of(like).asarray(value, _ops.dtype(like), like=like)


def tile(params: Sequence[Any], num_samples: int) -> list:
    """Each parameter repeated along a new leading axis of ``num_samples`` copies.

    A distribution built from the tiled parameters holds one independent copy per sample,
    so the gradient of a sum over samples with respect to the copies is the per-sample
    Jacobian: row ``i`` is the derivative of sample ``i``'s term alone.
    """
    return [_ops.broadcast_to(p, (num_samples, *_ops.shape(p))) for p in params]


def grad(fun: Callable, params: Sequence[Any], name: str) -> list:
    """The gradient of scalar ``fun`` with respect to the list ``params``."""
    like = _tree.leaves(params)[0]
    return list(_autodiff.grad(lambda p: as_array(fun(p), like), name=name)(list(params)))
