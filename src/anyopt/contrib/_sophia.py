r"""Sophia (Liu et al., 2023): a clipped, diagonally preconditioned momentum.

.. math::
    m_k = \beta_1 m_{k-1} + (1 - \beta_1) g_k, \qquad
    u_k = \operatorname{clip}\!\Big(\frac{m_k / (1 - \beta_1^k)}{\max(\gamma h_{k-1},
    \epsilon)}, -\rho, \rho\Big),

where :math:`h` is an EMA (decay :math:`\beta_2`) of a Hessian-diagonal estimate refreshed
every ``update_interval`` steps, by default Hutchinson's :math:`z \odot (H z)` with random
signs :math:`z` (Sophia-H). As in optax, the first moment is bias-corrected and the
estimator uses Rademacher rather than Gaussian vectors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

from anyopt import _autodiff, _ops, _tree, _validate, capabilities
from anyopt._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    ScalarOrSchedule,
    Updates,
    with_extra_args_support,
)
from anyopt._combine import chain
from anyopt.algorithms._common import check_betas_eps
from anyopt.transforms._adding import add_decayed_weights
from anyopt.transforms._scaling import scale_by_learning_rate

_HUTCHINSON = "contrib.hutchinson_estimator_diag_hessian"


class HutchinsonState(NamedTuple):
    """The random key of Hutchinson's estimator."""

    key: Any


def hutchinson_estimator_diag_hessian(random_seed: Optional[Any] = None):
    """Estimates the Hessian diagonal of ``obj_fn`` at ``params`` as ``z * (H @ z)``.

    ``z`` are random signs; the estimate is unbiased but noisy. ``update(updates, state,
    params, obj_fn)`` ignores ``updates``; ``obj_fn(params)`` must return the scalar loss.
    The Hessian-vector product uses the framework's autodiff (JAX, PyTorch or MLX).
    ``random_seed`` is a key of the parameters' framework (default: the key of seed 0).
    """

    def init_fn(params):
        key = random_seed if random_seed is not None else _autodiff.key_like(0, params)
        return HutchinsonState(key=key)

    def update_fn(updates, state, params=None, obj_fn=None, **extra_args):
        del extra_args, updates
        if params is None:
            raise ValueError("params must be provided to hutchinson update function.")
        if obj_fn is None:
            raise ValueError("obj_fn must be provided to hutchinson update function.")
        capabilities.check(_HUTCHINSON, _autodiff.framework(params))
        key, subkey = _autodiff.split(state.key)
        signs = _tree.random_like(subkey, params, _autodiff.rademacher, dtype="float32")
        signs = _tree.cast(signs, _tree.dtype(params, "lowest"))
        hvp = _autodiff.hvp(obj_fn, params, signs, name=_HUTCHINSON)
        return _tree.map(lambda h, r: h * r, hvp, signs), HutchinsonState(key=key)

    return GradientTransformationExtraArgs(init_fn, update_fn)


# optax's default Hessian-diagonal estimator: one instance, built at import.
_HUTCHINSON_DEFAULT = hutchinson_estimator_diag_hessian()


class SophiaState(NamedTuple):
    """State of Sophia."""

    count: Any  # shape=(), dtype=int32
    mu: Updates  # momentum, dtype mu_dtype or the parameters'
    nu: Updates  # EMA of the Hessian diagonal
    hessian_fn_state: Any


def scale_by_sophia(
    b1: float = 0.965,
    b2: float = 0.99,
    eps: float = 1e-8,
    gamma: float = 0.01,
    clip_threshold: Optional[float] = 1.0,
    update_interval: int = 10,
    hessian_diagonal_fn: Union[
        GradientTransformation, GradientTransformationExtraArgs
    ] = _HUTCHINSON_DEFAULT,
    mu_dtype: Optional[Any] = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: int = 0,
) -> GradientTransformationExtraArgs:
    """Sophia's direction (no learning rate, no weight decay); see ``sophia``."""
    _check("scale_by_sophia", b1, b2, eps, gamma, clip_threshold, update_interval, mu_dtype)
    hessian_fn = with_extra_args_support(hessian_diagonal_fn)

    def init_fn(params):
        _validate.real_leaves("sophia", params)  # it clips the preconditioned step
        return SophiaState(
            count=_tree.count_init(params),
            mu=_tree.zeros_like(params, dtype=mu_dtype),
            nu=_tree.zeros_like(params),
            hessian_fn_state=hessian_fn.init(params),
        )

    def update_fn(updates, state, params=None, **hess_fn_kwargs):
        if params is None:
            raise ValueError("params must be provided to sophia's update function.")
        count_inc = _tree.safe_increment(state.count)
        grads = updates
        mu = _tree.update_moment(updates, state.mu, b1, 1)
        mu_hat = _tree.bias_correction(mu, b1, count_inc)
        updates = _tree.map(lambda m, h: _divide(m, _ops.maximum(gamma * h, eps)), mu_hat, state.nu)
        if clip_threshold is not None:
            if verbose and print_win_rate_every_n_steps:
                not_clipped = sum(
                    _ops.sum(_ops.abs(u) < clip_threshold) for u in _tree.leaves(updates)
                )
                _autodiff.cond_print(
                    _ops.remainder(count_inc, print_win_rate_every_n_steps) == 0,
                    "Sophia optimizer win rate: {win_rate}",
                    win_rate=not_clipped / _tree.size(updates),
                )
            updates = _tree.clip(updates, -clip_threshold, clip_threshold)

        def refresh(hess_state, nu):
            diag, hess_state = hessian_fn.update(grads, hess_state, params, **hess_fn_kwargs)
            return hess_state, _tree.update_moment(diag, nu, b2, 1)

        hessian_fn_state, nu = _autodiff.cond(
            _ops.remainder(state.count, update_interval) == 0,
            refresh,
            lambda h, n: (h, n),
            state.hessian_fn_state,
            state.nu,
        )
        return updates, SophiaState(
            count=count_inc,
            mu=_tree.cast(mu, mu_dtype),
            nu=nu,
            hessian_fn_state=hessian_fn_state,
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)


def _divide(m: Any, d: Any) -> Any:
    """``m / d``, with ``m / 0`` written out (+-inf, or NaN for 0 / 0) so that NumPy does not
    warn: ``eps`` rounds to 0 in float16, where optax's division by it gives the same."""
    zero = d == 0
    inf = _ops.full_like(m, float("inf"))
    by_zero = _ops.where(m > 0, inf, _ops.where(m < 0, -inf, _ops.full_like(m, float("nan"))))
    return _ops.where(zero, by_zero, m / _ops.where(zero, _ops.full_like(d, 1), d))


def _check(fn, b1, b2, eps, gamma, clip_threshold, update_interval, mu_dtype) -> None:
    check_betas_eps(fn, b1=b1, b2=b2, eps=eps)
    _validate.non_negative(fn, "gamma", gamma)
    if clip_threshold is not None:
        _validate.positive(fn, "clip_threshold", clip_threshold)
    _validate.positive(fn, "update_interval", update_interval)
    _validate.float_dtype(fn, "mu_dtype", mu_dtype)


def sophia(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.965,
    b2: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 1e-4,
    weight_decay_mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
    gamma: float = 0.01,
    clip_threshold: Optional[float] = 1.0,
    update_interval: int = 10,
    hessian_diagonal_fn: Union[
        GradientTransformation, GradientTransformationExtraArgs
    ] = _HUTCHINSON_DEFAULT,
    mu_dtype: Optional[Any] = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: int = 0,
) -> GradientTransformationExtraArgs:
    """Sophia: ``scale_by_sophia``, decoupled weight decay, then ``-learning_rate``.

    Extra keyword arguments of ``update`` go to ``hessian_diagonal_fn``; the default
    (Hutchinson's estimator) needs ``obj_fn``, the loss as a function of the parameters
    alone: ``tx.update(grads, state, params, obj_fn=lambda p: loss(p, batch))``.

    Example:
        >>> import jax.numpy as jnp, anyopt
        >>> def loss(p): return jnp.sum(p ** 2)
        >>> tx = anyopt.contrib.sophia(0.1)
        >>> params = jnp.array([1., 2., 3.])
        >>> state = tx.init(params)
        >>> updates, state = tx.update(2 * params, state, params, obj_fn=loss)
    """
    _validate.learning_rate("sophia", learning_rate)
    _check("sophia", b1, b2, eps, gamma, clip_threshold, update_interval, mu_dtype)
    return chain(
        scale_by_sophia(
            b1=b1,
            b2=b2,
            eps=eps,
            gamma=gamma,
            clip_threshold=clip_threshold,
            update_interval=update_interval,
            hessian_diagonal_fn=hessian_diagonal_fn,
            mu_dtype=mu_dtype,
            verbose=verbose,
            print_win_rate_every_n_steps=print_win_rate_every_n_steps,
        ),
        add_decayed_weights(weight_decay, mask=weight_decay_mask),
        scale_by_learning_rate(learning_rate),
    )
