r"""Zoom line search (Nocedal & Wright, Algorithms 3.5 and 3.6): the strong Wolfe conditions.

It looks for a step size :math:`\eta` along the update :math:`u` with sufficient decrease
and small curvature,

.. math::
    f(w + \eta u) \le f(w) + c_1 \eta \langle u, \nabla f(w) \rangle + \epsilon, \qquad
    |\langle \nabla f(w + \eta u), u \rangle| \le c_2 |\langle \nabla f(w), u \rangle|
    + \epsilon,

first by growing :math:`\eta` until an interval holding such a step is bracketed, then by
shrinking the interval with cubic, quadratic or bisection steps. Near a minimum the
decrease test switches to Hager & Zhang's (2006) approximate form
:math:`\langle \nabla f(w + \eta u), u \rangle \le (2 c_1 - 1) \langle \nabla f(w), u
\rangle` once :math:`f(w + \eta u) \le f(w) + c_3 |f(w)|` (``approx_dec_rtol`` :math:`= c_3`).
The loop is ``jax.lax.while_loop`` under JAX (so the update traces under ``jax.jit``) and a
Python loop on PyTorch and MLX.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple, Optional

from anyopt import _autodiff, _tree, _validate, capabilities
from anyopt._base import GradientTransformationExtraArgs, Updates
from anyopt.algorithms import linesearch_zoom_steps as steps
from anyopt.algorithms.linesearch import jax_convention, scalar, split_fn_kwargs, value_dtype

_NAME = "scale_by_zoom_linesearch"


class ZoomLinesearchInfo(NamedTuple):
    """How the last line search went (for debugging): a positive error means the
    corresponding criterion was not met."""

    num_linesearch_steps: Any  # int32
    decrease_error: Any  # float
    curvature_error: Any  # float


class ScaleByZoomLinesearchState(NamedTuple):
    """State of ``scale_by_zoom_linesearch``: the last step size, and the value and gradient
    at the accepted point (reusable with ``value_and_grad_from_state``)."""

    learning_rate: Any
    value: Any
    grad: Updates
    info: ZoomLinesearchInfo


def scale_by_zoom_linesearch(
    max_linesearch_steps: int,
    max_learning_rate: Optional[float] = None,
    tol: float = 0.0,
    increase_factor: float = 2.0,
    slope_rtol: float = 1e-4,
    curv_rtol: float = 0.9,
    approx_dec_rtol: Optional[float] = 1e-6,
    stepsize_precision: float = 1e-5,
    initial_guess_strategy: str = "keep",
    verbose: bool = False,
) -> GradientTransformationExtraArgs:
    """Scales updates by a step size meeting the strong Wolfe conditions.

    ``update(updates, state, params, *, value, grad, value_fn, **extra_args)`` takes the
    objective's value and gradient at ``params`` and the objective ``value_fn`` itself
    (``extra_args`` that ``value_fn`` accepts are passed on to it). ``value_fn`` is
    differentiated with the framework's autodiff: this runs on JAX, PyTorch and MLX.
    ``initial_guess_strategy``: ``'one'`` starts every search at 1 (for quasi-Newton
    directions), ``'keep'`` at the previous step size.

    Example:
        >>> import jax.numpy as jnp, anyopt
        >>> def f(x): return jnp.sum(x ** 2)
        >>> solver = anyopt.chain(anyopt.sgd(1.0), anyopt.scale_by_zoom_linesearch(15))
        >>> params = jnp.array([1., 2., 3.])
        >>> state = solver.init(params)
        >>> value_and_grad = anyopt.value_and_grad_from_state(f)
        >>> value, grad = value_and_grad(params, state=state)
        >>> updates, state = solver.update(
        ...     grad, state, params, value=value, grad=grad, value_fn=f)
        >>> float(f(anyopt.apply_updates(params, updates)))
        0.0
    """
    _validate.positive(_NAME, "max_linesearch_steps", max_linesearch_steps)
    if max_learning_rate is not None:
        _validate.positive(_NAME, "max_learning_rate", max_learning_rate)
    for arg, v in [("tol", tol), ("slope_rtol", slope_rtol), ("curv_rtol", curv_rtol)]:
        _validate.non_negative(_NAME, arg, v)
    _validate.positive(_NAME, "increase_factor", increase_factor)
    _validate.non_negative(_NAME, "stepsize_precision", stepsize_precision)
    if approx_dec_rtol is not None:
        _validate.non_negative(_NAME, "approx_dec_rtol", approx_dec_rtol)
    _validate.choice(_NAME, "initial_guess_strategy", initial_guess_strategy, ("one", "keep"))

    search = steps.ZoomSearch(
        max_linesearch_steps=max_linesearch_steps,
        max_stepsize=max_learning_rate,
        tol=tol,
        increase_factor=increase_factor,
        slope_rtol=slope_rtol,
        curv_rtol=curv_rtol,
        approx_dec_rtol=approx_dec_rtol,
        interval_threshold=stepsize_precision,
        verbose=verbose,
    )

    def init_fn(params):
        dtype, like = value_dtype(params), _tree.leaves(params)[0]
        inf = scalar(float("inf"), dtype, like)
        return ScaleByZoomLinesearchState(
            learning_rate=scalar(1.0, dtype, like),
            value=inf,
            grad=_tree.zeros_like(params),
            info=ZoomLinesearchInfo(
                num_linesearch_steps=_tree.count_init(params),
                decrease_error=inf,
                curvature_error=inf,
            ),
        )

    def update_fn(
        updates: Updates,
        state: ScaleByZoomLinesearchState,
        params: Any,
        *,
        value: Any,
        grad: Updates,
        value_fn: Callable[..., Any],
        **extra_args: Any,
    ):
        capabilities.check(_NAME, _autodiff.framework(params))
        fn_kwargs = split_fn_kwargs(_NAME, value_fn, extra_args)
        framework_value_and_grad = _autodiff.value_and_grad(value_fn, name=_NAME)

        def value_and_grad_fn(p, **kwargs):
            value, g = framework_value_and_grad(p, **kwargs)
            return value, jax_convention(g, p)

        grad = jax_convention(grad, params)
        if initial_guess_strategy == "one":
            guess = scalar(1.0, value_dtype(params), _tree.leaves(params)[0])
        else:
            guess = state.learning_rate
        init_state = search.init(updates, params, value=value, grad=grad, stepsize_guess=guess)
        final = _autodiff.while_loop(
            search.should_continue,
            functools.partial(
                search.step, value_and_grad_fn=value_and_grad_fn, fn_kwargs=fn_kwargs
            ),
            init_state,
        )
        new_state = ScaleByZoomLinesearchState(
            learning_rate=final.stepsize,
            value=final.value,
            grad=final.grad,
            info=ZoomLinesearchInfo(
                num_linesearch_steps=final.count,
                decrease_error=final.decrease_error,
                curvature_error=final.curvature_error,
            ),
        )
        return _tree.scale(final.stepsize, updates), _tree.cast_like(new_state, state)

    return GradientTransformationExtraArgs(init_fn, update_fn)
