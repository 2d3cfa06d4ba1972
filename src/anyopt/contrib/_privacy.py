r"""Differentially private SGD (Abadi et al., 2016): per-example clipping plus Gaussian noise.

Given per-example gradients :math:`g_1 .. g_B` (a leading batch axis on every leaf),
clipping norm :math:`C` and noise multiplier :math:`\sigma`:

.. math::
    \bar g = \frac{1}{B}\left(\sum_b g_b \min\left(1, \frac{C}{\|g_b\|_2}\right)
    + \mathcal N(0, \sigma^2 C^2 I)\right)

where :math:`\|g_b\|_2` is example b's norm over all leaves together. The noise comes
from the random generator of the key's framework (``anyopt.backends``): on JAX it is
optax's draw exactly; elsewhere it has the same distribution but other values.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, NamedTuple, Optional

from anyopt import _ops, _tree, _validate, backends
from anyopt._base import GradientTransformation, ScalarOrSchedule, identity
from anyopt._combine import chain
from anyopt.transforms._accumulation import trace
from anyopt.transforms._scaling import scale_by_learning_rate


class DifferentiallyPrivateAggregateState(NamedTuple):
    """State of ``differentially_private_aggregate``: the random key of the next draw."""

    rng_key: Any  # the key of the parameters' framework


def _batch_size(leaves: list) -> int:
    sizes = {(_ops.shape(g)[:1] or (None,))[0] for g in leaves}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            "differentially_private_aggregate: every gradient leaf needs the same leading "
            f"batch axis (per-example gradients); got shapes {[_ops.shape(g) for g in leaves]}"
        )
    return sizes.pop()


def _clipped_sum(leaves: list, l2_norm_clip: Any, bsize: int) -> list:
    """``sum_b g_b * min(1, C / ||g_b||)`` per leaf (a factor of 1 where the ratio is NaN)."""
    sq = [_ops.sum(_ops.abs_sq(g), axis=tuple(range(1, _ops.ndim(g)))) for g in leaves]
    norms = _ops.sqrt(sum(sq[1:], sq[0]))  # shape (B,)
    over = norms > l2_norm_clip
    factors = _ops.where(over, l2_norm_clip / _ops.where(over, norms, 1.0), 1.0)
    row = _ops.reshape(factors, (1, bsize))
    return [
        _ops.reshape(
            _ops.matmul(_ops.like(row, g), _ops.reshape(g, (bsize, -1))), _ops.shape(g)[1:]
        )
        for g in leaves
    ]


def differentially_private_aggregate(
    l2_norm_clip: Any,
    noise_multiplier: Any,
    key: Any = None,
    *,
    seed: Optional[int] = None,
) -> GradientTransformation:
    """Clips per-example gradients, sums them, adds Gaussian noise and averages.

    ``key`` is a random key of the parameters' framework (``jax.random.key(0)``, or
    ``anyopt.backends.load(name).key(seed)``) or an int seed, made into a key of the
    parameters' framework by ``init``. It must come first in a chain; tools that
    accumulate gradients (``MultiSteps``, ``apply_every``) defeat its purpose.

    References:
        Abadi et al., `Deep Learning with Differential Privacy
        <https://arxiv.org/abs/1607.00133>`_, 2016.
    """
    fn = "differentially_private_aggregate"
    _validate.non_negative(fn, "l2_norm_clip", l2_norm_clip)
    _validate.non_negative(fn, "noise_multiplier", noise_multiplier)
    if seed is not None:
        warnings.warn(f'{fn}: "seed" is deprecated, pass key= instead', DeprecationWarning, 2)
        if key is not None:
            raise ValueError(f"{fn}: pass only one of seed and key")
        key = seed
    if key is None:
        warnings.warn(f"{fn}: no key given, using seed 0; pass key= explicitly", stacklevel=2)
        key = 0
    # Zero noise stays zero with an infinite clip (optax's inf * 0 would give NaN noise).
    zero_noise = _validate._concrete(noise_multiplier) and noise_multiplier == 0
    noise_std = 0.0 if zero_noise else l2_norm_clip * noise_multiplier

    def init_fn(params):
        b = _tree.backend_of(params)
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            return DifferentiallyPrivateAggregateState(rng_key=b.key(key))
        if backends.of(key) is not b:
            raise TypeError(
                f"{fn}: the key is a {backends.of(key).NAME} key but the parameters are "
                f"{b.NAME} arrays; use a key of the parameters' framework or an int seed"
            )
        return DifferentiallyPrivateAggregateState(rng_key=key)

    def update_fn(updates, state, params=None):
        del params
        leaves, treedef = backends.flatten(updates)
        bsize = _batch_size(leaves)
        clipped = _clipped_sum(leaves, l2_norm_clip, bsize)
        b = backends.of(state.rng_key)
        keys = b.split(state.rng_key, len(leaves) + 1)

        def noise(i, g):  # drawn by the framework's generator, moved to g's device
            draw = b.normal(keys[i + 1], _ops.shape(g), _ops.dtype(g))
            return b.asarray(draw, _ops.dtype(g), like=g)

        noised = [(g + noise_std * noise(i, g)) / bsize for i, g in enumerate(clipped)]
        new_state = DifferentiallyPrivateAggregateState(rng_key=keys[0])
        return backends.unflatten(treedef, noised), new_state

    return GradientTransformation(init_fn, update_fn)


def dpsgd(
    learning_rate: ScalarOrSchedule,
    l2_norm_clip: Any,
    noise_multiplier: Any,
    seed: int,
    momentum: Optional[Any] = None,
    nesterov: bool = False,
) -> GradientTransformation:
    """DP-SGD: ``differentially_private_aggregate``, optional momentum, then ``-lr``.

    Updates must be per-example gradients (a leading batch axis on every leaf).

    References:
        Abadi et al., `Deep Learning with Differential Privacy
        <https://arxiv.org/abs/1607.00133>`_, 2016.
    """
    _validate.learning_rate("dpsgd", learning_rate)
    _validate.non_negative("dpsgd", "l2_norm_clip", l2_norm_clip)
    _validate.non_negative("dpsgd", "noise_multiplier", noise_multiplier)
    if momentum is not None:
        _validate.non_negative("dpsgd", "momentum", momentum)
    return chain(
        differentially_private_aggregate(l2_norm_clip, noise_multiplier, key=seed),
        trace(decay=momentum, nesterov=nesterov) if momentum is not None else identity(),
        scale_by_learning_rate(learning_rate),
    )
