r"""SAM, sharpness-aware minimization (Foret et al., 2021), as a wrapper of two optimizers.

Every ``sync_period`` steps, ``sync_period - 1`` adversarial steps of ``adv_optimizer``
move the parameters uphill (``w + rho * g / ||g||`` for the paper's normalized SGD), then
``optimizer`` updates the cached outer parameters with the gradient taken at the
adversarial point:

.. math::
    \tilde w = w_k + \rho \, g(w_k) / \|g(w_k)\|, \qquad
    w_{k+1} = w_k - \eta \, g(\tilde w).

In the default transparent mode each ``update`` call is one of those steps (the
adversarial parameters are visible to the caller); with ``opaque_mode=True`` one call runs
all of them, asking ``grad_fn(params, i)`` for the adversarial gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Optional

from anyopt import _autodiff, _ops, _tree
from anyopt._base import GradientTransformation, GradientTransformationExtraArgs, OptState
from anyopt._update import apply_updates


class SAMState(NamedTuple):
    """State of ``sam``."""

    steps_since_sync: Any  # shape=(), dtype=int32: adversarial steps since the outer one
    opt_state: OptState  # the outer optimizer's state
    adv_state: OptState  # the adversarial optimizer's state
    cache: Optional[Any]  # the outer parameters (None in opaque mode)


def _pick(cond: Any, if_true: Any, if_false: Any) -> Any:
    """``if_true`` where ``cond`` else ``if_false``, leaf by leaf (optax writes
    ``cond * t + (1 - cond) * f``: the same values for finite leaves)."""
    return _tree.map(lambda t, f: _ops.where(cond, t, f), if_true, if_false)


def _negate(tree: Any) -> Any:
    return _tree.map(lambda x: -x, tree)


def sam(
    optimizer: GradientTransformation,
    adv_optimizer: GradientTransformation,
    sync_period: int = 2,
    reset_state: bool = True,
    opaque_mode: bool = False,
    batch_axis_name: Optional[str] = None,
) -> GradientTransformationExtraArgs:
    """SAM: ``sync_period - 1`` adversarial steps, then one outer step from the cache.

    ``reset_state`` re-initializes the adversarial optimizer's state after each outer step.
    ``opaque_mode=True`` runs a whole period per ``update`` call, with
    ``update(updates, state, params, grad_fn=grad_fn)`` where ``grad_fn(params, i)``
    returns the loss gradient at the ``i``-th adversarial point (use it when the training
    step has side effects such as batch-norm statistics). ``batch_axis_name`` averages the
    adversarial gradients over a mapped axis (``jax.lax.pmean``, JAX only).

    Example:
        >>> import numpy as np, anyopt
        >>> opt = anyopt.sgd(0.01)
        >>> adv_opt = anyopt.chain(anyopt.clip_by_global_norm(1.0), anyopt.sgd(0.1))
        >>> tx = anyopt.contrib.sam(opt, adv_opt, sync_period=2)
        >>> state = tx.init({"w": np.ones(3, np.float32)})
    """
    if not isinstance(sync_period, int) or sync_period < 1:
        raise ValueError(f"sam: sync_period must be >= 1; got {sync_period!r}")

    def init_fn(params):
        return SAMState(
            steps_since_sync=_tree.count_init(params),
            opt_state=optimizer.init(params),
            adv_state=adv_optimizer.init(params),
            cache=None if opaque_mode else _tree.map(_ops.copy, params),
        )

    def transparent_update_fn(updates, state, params=None, *, grad_fn=None):
        del grad_fn
        first_step = state.steps_since_sync == 0
        last_step = state.steps_since_sync == sync_period - 1

        adv_updates, adv_state = adv_optimizer.update(updates, state.adv_state, params)
        adv_updates = _negate(adv_updates)
        opt_updates, opt_state = optimizer.update(updates, state.opt_state, state.cache)
        # From the adversarial point back to the cache, then the outer step.
        opt_updates = _tree.map(lambda c, p, u: c - p + u, state.cache, params, opt_updates)

        cache = _pick(first_step, params, state.cache)
        updates = _pick(last_step, opt_updates, adv_updates)
        if reset_state:
            adv_state = _pick(last_step, adv_optimizer.init(params), adv_state)
        else:
            adv_state = _pick(last_step, state.adv_state, adv_state)
        opt_state = _pick(last_step, opt_state, state.opt_state)
        return updates, SAMState(
            steps_since_sync=_ops.remainder(state.steps_since_sync + 1, sync_period),
            opt_state=opt_state,
            adv_state=adv_state,
            cache=cache,
        )

    def opaque_update_fn(updates, state, params=None, *, grad_fn=None):
        if grad_fn is None:
            raise ValueError("grad_fn must be provided when opaque_mode=True.")
        adv_params, adv_updates, adv_state = params, updates, state.adv_state
        for i in range(sync_period - 1):
            adv_updates, adv_state = adv_optimizer.update(adv_updates, adv_state, adv_params)
            adv_params = apply_updates(adv_params, _negate(adv_updates))
            adv_updates = grad_fn(adv_params, i)
            if batch_axis_name is not None:
                adv_updates = _autodiff.pmean(adv_updates, batch_axis_name)
        if reset_state:
            adv_state = adv_optimizer.init(params)
        updates, opt_state = optimizer.update(adv_updates, state.opt_state, params)
        return updates, SAMState(
            steps_since_sync=_tree.count_init(params),
            opt_state=opt_state,
            adv_state=adv_state,
            cache=None,
        )

    update_fn: Callable = opaque_update_fn if opaque_mode else transparent_update_fn
    return GradientTransformationExtraArgs(init_fn, update_fn)
