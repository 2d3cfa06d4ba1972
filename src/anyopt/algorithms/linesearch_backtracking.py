r"""Backtracking line search (Armijo's sufficient decrease).

Starting from :math:`\eta = \min(\text{increase\_factor} \cdot \eta_{prev},
\text{max\_learning\_rate})`, the step size is multiplied by ``decrease_factor`` until

.. math::
    f(w + \eta u) \le (1 + \delta) f(w) + c \, \eta \langle u, \nabla f(w) \rangle + \epsilon

(:math:`c` = ``slope_rtol``, :math:`\delta` = ``rtol``, :math:`\epsilon` = ``atol``) or
``max_backtracking_steps`` is reached; if even then every trial was NaN or infinite the step
size is 0. References: Nocedal & Wright (1999); Vaswani et al., Painless Stochastic
Gradient (2019).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Optional

from anyopt import _autodiff, _ops, _tree, _validate, capabilities
from anyopt._base import GradientTransformationExtraArgs, Updates
from anyopt.algorithms.linesearch import (
    conj,
    isinf,
    jax_convention,
    nan_to_inf,
    scalar,
    split_fn_kwargs,
    value_dtype,
)

_NAME = "scale_by_backtracking_linesearch"


class BacktrackingLinesearchInfo(NamedTuple):
    """How the last line search went: a positive ``decrease_error`` means it failed."""

    num_linesearch_steps: Any  # int32
    decrease_error: Any  # float


class ScaleByBacktrackingLinesearchState(NamedTuple):
    """State of ``scale_by_backtracking_linesearch``: the last step size, the value (and with
    ``store_grad`` the gradient) at the accepted point, reusable with
    ``value_and_grad_from_state``."""

    learning_rate: Any
    value: Any
    grad: Optional[Updates]
    info: BacktrackingLinesearchInfo


class BacktrackingLineSearchState(NamedTuple):
    """The inner loop's state."""

    learning_rate: Any
    new_value: Any
    new_grad: Updates
    decrease_error: Any
    iter_num: Any


def scale_by_backtracking_linesearch(
    max_backtracking_steps: int,
    slope_rtol: float = 1e-4,
    decrease_factor: float = 0.8,
    increase_factor: float = 1.5,
    max_learning_rate: float = 1.0,
    atol: float = 0.0,
    rtol: float = 0.0,
    store_grad: bool = False,
    verbose: bool = False,
) -> GradientTransformationExtraArgs:
    """Scales updates by a step size with sufficient decrease of the objective.

    ``update(updates, state, params, *, value, grad, value_fn, **extra_args)`` takes the
    objective's value and gradient at ``params`` and the objective itself; ``extra_args``
    that ``value_fn`` accepts are passed on to it. The updates must be a descent direction
    (``<updates, grad> < 0``). Runs on JAX, PyTorch and MLX (``value_fn`` is differentiated
    when ``store_grad``; the loop is ``jax.lax.while_loop`` under JAX).

    Example:
        >>> import jax.numpy as jnp, anyopt
        >>> def f(x): return jnp.sum(x ** 2)
        >>> solver = anyopt.chain(
        ...     anyopt.sgd(1.0), anyopt.scale_by_backtracking_linesearch(15, store_grad=True))
        >>> params = jnp.array([1., 2., 3.])
        >>> state = solver.init(params)
        >>> value_and_grad = anyopt.value_and_grad_from_state(f)
        >>> value, grad = value_and_grad(params, state=state)
        >>> updates, state = solver.update(
        ...     grad, state, params, value=value, grad=grad, value_fn=f)
        >>> print(f"{float(f(anyopt.apply_updates(params, updates))):.2f}")
        5.04
    """
    _validate.non_negative(_NAME, "max_backtracking_steps", max_backtracking_steps)
    _validate.non_negative(_NAME, "slope_rtol", slope_rtol)
    _validate.positive(_NAME, "decrease_factor", decrease_factor)
    _validate.positive(_NAME, "increase_factor", increase_factor)
    _validate.positive(_NAME, "max_learning_rate", max_learning_rate)
    _validate.non_negative(_NAME, "atol", atol)
    _validate.non_negative(_NAME, "rtol", rtol)

    def init_fn(params):
        dtype, like = value_dtype(params), _tree.leaves(params)[0]
        inf = scalar(float("inf"), dtype, like)
        return ScaleByBacktrackingLinesearchState(
            learning_rate=scalar(1.0, dtype, like),
            value=inf,
            grad=_tree.zeros_like(params) if store_grad else None,
            info=BacktrackingLinesearchInfo(
                num_linesearch_steps=_tree.count_init(params), decrease_error=inf
            ),
        )

    def decrease_error_of(stepsize, slope, value, new_value):
        return nan_to_inf(new_value - (1.0 + rtol) * value - stepsize * slope_rtol * slope)

    def update_fn(
        updates: Updates,
        state: ScaleByBacktrackingLinesearchState,
        params: Any,
        *,
        value: Any,
        grad: Updates,
        value_fn: Callable[..., Any],
        **extra_args: Any,
    ):
        capabilities.check(_NAME, _autodiff.framework(params))
        fn_kwargs = split_fn_kwargs(_NAME, value_fn, extra_args)
        dtype, like = value_dtype(params), _tree.leaves(params)[0]
        value = scalar(value, dtype, like)
        grad = jax_convention(grad, params)
        # The slope of eta -> f(w + eta u) at 0: negative for a descent direction.
        slope = _ops.real(_tree.vdot(updates, conj(grad)))
        framework_grad_fn = _autodiff.grad(lambda p: value_fn(p, **fn_kwargs), name=_NAME)

        def grad_fn(p):
            return jax_convention(framework_grad_fn(p), p)

        def cond_fn(search):
            return ~(search.decrease_error <= atol) & (search.iter_num <= max_backtracking_steps)

        def body_fn(search):
            learning_rate = _ops.where(
                search.iter_num > 0, decrease_factor * search.learning_rate, search.learning_rate
            )
            new_params = _tree.add_scale(params, learning_rate, updates)
            new_value = value_fn(new_params, **fn_kwargs)
            decrease_error = decrease_error_of(learning_rate, slope, value, new_value)
            new_grad = search.new_grad
            if store_grad:  # the gradient at the accepted point, for the next iteration
                last = (decrease_error <= atol) | (search.iter_num == max_backtracking_steps)
                new_grad = _autodiff.cond(last, grad_fn, lambda p: search.new_grad, new_params)
            new_search = BacktrackingLineSearchState(
                learning_rate=learning_rate,
                new_value=new_value,
                new_grad=new_grad,
                decrease_error=decrease_error,
                iter_num=search.iter_num + 1,
            )
            return _tree.cast_like(new_search, search)

        search = BacktrackingLineSearchState(
            learning_rate=_ops.minimum(increase_factor * state.learning_rate, max_learning_rate),
            new_value=value,
            new_grad=_tree.zeros_like(params),
            decrease_error=scalar(float("inf"), dtype, like),
            iter_num=_tree.count_init(params),
        )
        search = _autodiff.while_loop(cond_fn, body_fn, search)

        # No finite trial value: take no step rather than a NaN or infinite one.
        failed_badly = isinf(search.decrease_error)
        learning_rate = _ops.where(
            failed_badly, _ops.zeros_like(search.learning_rate), search.learning_rate
        )
        if verbose:
            _autodiff.cond_print(
                search.decrease_error > atol,
                "INFO: optax.scale_by_backtracking_linesearch:\nBacktracking linesearch failed "
                "to find a stepsize ensuring sufficent decrease.\nValue at current params: "
                "{value},\nSlope along update direction: {slope}\nStepsize: {stepsize}\n"
                "Decrease Error: {decrease_error}",
                stepsize=search.learning_rate,
                decrease_error=search.decrease_error,
                value=value,
                slope=slope,
            )
            _autodiff.cond_print(
                failed_badly, "Using a stepsize of 0 to avoid infinite or nan values."
            )
        new_state = ScaleByBacktrackingLinesearchState(
            learning_rate=learning_rate,
            value=search.new_value,
            grad=search.new_grad if store_grad else None,
            info=BacktrackingLinesearchInfo(
                num_linesearch_steps=search.iter_num, decrease_error=search.decrease_error
            ),
        )
        return _tree.scale(learning_rate, updates), _tree.cast_like(new_state, state)

    return GradientTransformationExtraArgs(init_fn, update_fn)
