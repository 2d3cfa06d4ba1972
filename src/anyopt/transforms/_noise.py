r"""Annealed Gaussian gradient noise (Neelakantan et al., 2015).

.. math::
    u_t = g_t + \sigma_t \xi_t, \quad \xi_t \sim \mathcal N(0, I), \quad
    \sigma_t^2 = \eta / t^\gamma \quad (t = 1, 2, \dots).

The noise comes from the parameters' own framework: the key in the state is a
NumPy, JAX, torch or MLX random key, split once per step.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, NamedTuple, Optional, Union

from anyopt import _ops, _tree, _validate, backends
from anyopt._base import GradientTransformation


class AddNoiseState(NamedTuple):
    """The step counter and the random key of the next draw."""

    count: Any  # shape=(), dtype=int32
    rng_key: Any  # a key of the parameters' framework


def _is_int_seed(key: Any) -> bool:
    """A 0-d integer array used as a seed (as optax's canonicalize_key accepts)."""
    name = backends.dtype_name(getattr(key, "dtype", None)) or ""
    return name.startswith(("int", "uint")) and tuple(getattr(key, "shape", (1,))) == ()


def _resolve_key(key: Any, seed: Optional[int]) -> Any:
    if seed is not None:
        warnings.warn(
            '"seed" is deprecated and will be removed in optax 0.2.7, use "key".',
            DeprecationWarning,
            stacklevel=3,
        )
        if key is not None:
            raise ValueError("add_noise: only one of seed or key can be specified")
        return seed
    if key is None:
        warnings.warn("Specifying a key will be required in optax 0.2.7.", stacklevel=3)
        return 0
    return key


def add_noise(
    eta: Any,
    gamma: Any,
    key: Union[Any, int, None] = None,
    *,
    seed: Optional[int] = None,
) -> GradientTransformation:
    """Adds Gaussian noise of variance ``eta / t**gamma`` at step ``t`` (from 1).

    ``key`` is an int seed (turned into a key of the parameters' framework by
    ``init``) or a key of that framework (``jax.random.key(0)``, ``mx.random.key(0)``
    ...). On JAX an int seed draws exactly optax's noise.
    """
    _validate.non_negative("add_noise", "eta", eta)
    _validate.non_negative("add_noise", "gamma", gamma)
    key = _resolve_key(key, seed)

    def init_fn(params):
        b = _tree.backend_of(params)
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            rng_key = b.key(int(key))
        elif _is_int_seed(key):  # a 0-d integer array, e.g. from inject_hyperparams
            rng_key = b.key(key if b.NAME == "jax" else int(_ops.to_float(key)))
        else:
            rng_key = key
        return AddNoiseState(count=_tree.count_init(params), rng_key=rng_key)

    def update_fn(updates, state, params=None):
        del params
        count_inc = _tree.safe_increment(state.count)
        t = _ops.astype(count_inc, "float32")
        std = _ops.sqrt(eta / t**gamma)
        keys = backends.of(state.rng_key).split(state.rng_key, 2)
        noise = _tree.random_like(keys[1], updates)
        updates = _tree.map(
            lambda g, n: g + _ops.like(std, g) * _on_device_of(n, g), updates, noise
        )
        return updates, AddNoiseState(count=count_inc, rng_key=keys[0])

    return GradientTransformation(init_fn, update_fn)


def _on_device_of(x: Any, like: Any) -> Any:
    """``x`` on ``like``'s device (torch draws on the CPU generator)."""
    return backends.of(like).asarray(x, None, like=like)
