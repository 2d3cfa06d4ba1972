"""The zoom line search's inner loop: one interval-search or zoom step per iteration.

``ZoomSearch.init`` builds the loop state, ``ZoomSearch.step`` advances it (growing the
step size until an interval is bracketed, then zooming into it) and
``ZoomSearch.should_continue`` is the loop condition. Every step returns a state of the
same dtypes as its input, as ``jax.lax.while_loop`` and ``jax.lax.cond`` require.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Optional

from anyopt import _autodiff, _ops, _tree
from anyopt.algorithms.linesearch import isinf, nan_to_inf, real_vdot, scalar, value_dtype

FLAG_INTERVAL_NOT_FOUND = (
    "No interval satisfying curvature condition. "
    "Consider increasing maximal possible stepsize of the linesearch."
)
FLAG_INTERVAL_TOO_SMALL = "Length of searched interval has been reduced below threshold."
FLAG_CURVATURE_COND_NOT_SATISFIED = (
    "Returning stepsize with sufficient decrease but curvature condition not satisfied."
)
FLAG_NO_STEPSIZE_FOUND = "Linesearch failed, no stepsize satisfying sufficient decrease found."
FLAG_NOT_A_DESCENT_DIRECTION = (
    "The linesearch failed because the provided direction is not a descent direction. "
)


class ZoomLinesearchState(NamedTuple):
    """The loop state. ``low``/``high`` bracket a valid step (``value(high) >= value(low)``,
    not ``low < high``); ``safe_*`` keep the best step with sufficient decrease."""

    count: Any
    params: Any
    updates: Any
    stepsize_guess: Any
    stepsize: Any
    value: Any
    grad: Any
    slope: Any
    value_init: Any
    slope_init: Any
    decrease_error: Any
    curvature_error: Any
    error: Any
    interval_found: Any
    done: Any
    failed: Any
    low: Any
    value_low: Any
    slope_low: Any
    high: Any
    value_high: Any
    slope_high: Any
    cubic_ref: Any
    value_cubic_ref: Any
    safe_stepsize: Any
    safe_value: Any
    safe_grad: Any


def cubicmin(a, fa, fpa, b, fb, c, fc):
    """Critical point of the cubic through (a, fa), (b, fb), (c, fc) with slope fpa at a
    (NaN when there is none; the caller then falls back)."""
    C = fpa  # noqa: N806
    db, dc = b - a, c - a
    denom = (db * dc) ** 2 * (db - dc)
    v0, v1 = fb - fa - C * db, fc - fa - C * dc
    A = (dc**2 * v0 + (-(db**2)) * v1) / denom  # noqa: N806
    B = ((-(dc**3)) * v0 + db**3 * v1) / denom  # noqa: N806
    radical = B * B - 3.0 * A * C
    return a + (-B + _ops.sqrt(radical)) / (3.0 * A)


def quadmin(a, fa, fpa, b, fb):
    """Critical point of the quadratic through (a, fa), (b, fb) with slope fpa at a."""
    db = b - a
    B = (fb - fa - fpa * db) / (db**2)  # noqa: N806
    return a - fpa / (2.0 * B)


@dataclass(frozen=True)
class ZoomSearch:
    """The hyperparameters of one zoom line search (see ``scale_by_zoom_linesearch``)."""

    max_linesearch_steps: Any
    max_stepsize: Optional[Any] = None
    tol: Any = 0.0
    increase_factor: Any = 2.0
    slope_rtol: Any = 1e-4
    curv_rtol: Any = 0.9
    approx_dec_rtol: Optional[Any] = 1e-6
    interval_threshold: Any = 1e-5
    verbose: bool = False

    # --- criteria ---------------------------------------------------------------------------
    def decrease_error(self, stepsize, value_step, slope_step, value_init, slope_init):
        """Armijo's criterion, or Hager & Zhang's approximate one near a minimum."""
        error = value_step - value_init - self.slope_rtol * stepsize * slope_init
        if self.approx_dec_rtol is not None:
            approx = slope_step - (2 * self.slope_rtol - 1.0) * slope_init
            delta_values = value_step - value_init - self.approx_dec_rtol * _ops.abs(value_init)
            error = _ops.minimum(_ops.maximum(approx, delta_values), error)
        return nan_to_inf(error)

    def curvature_error(self, slope_step, slope_init):
        return nan_to_inf(_ops.abs(slope_step) - self.curv_rtol * _ops.abs(slope_init))

    @staticmethod
    def on_line(value_and_grad_fn, params, stepsize, updates, fn_kwargs):
        """Value, gradient and slope along ``updates`` at ``params + stepsize * updates``."""
        step = _tree.add_scale(params, stepsize, updates)
        value, grad = value_and_grad_fn(step, **fn_kwargs)
        return value, grad, real_vdot(_tree.map(_ops.conj, grad), updates)

    # --- the loop ---------------------------------------------------------------------------
    def init(self, updates, params, *, value, grad, stepsize_guess):
        dtype, like = value_dtype(params), _tree.leaves(params)[0]
        value = scalar(value, dtype, like)
        slope = real_vdot(updates, grad)
        zero, inf = scalar(0.0, dtype, like), scalar(float("inf"), dtype, like)
        false = _ops.zeros((), "bool", like=like)
        return ZoomLinesearchState(
            count=_tree.count_init(params),
            params=params,
            updates=updates,
            stepsize_guess=scalar(stepsize_guess, dtype, like),
            stepsize=zero,
            value=value,
            grad=grad,
            slope=slope,
            value_init=value,
            slope_init=slope,
            decrease_error=inf,
            curvature_error=inf,
            error=inf,
            interval_found=false,
            done=false,
            failed=false,
            low=zero,
            value_low=value,
            slope_low=slope,
            high=zero,
            value_high=value,
            slope_high=slope,
            cubic_ref=zero,
            value_cubic_ref=value,
            safe_stepsize=zero,
            safe_value=value,
            safe_grad=grad,
        )

    def should_continue(self, state):
        return ~(state.done | state.failed)

    def step(self, state, *, value_and_grad_fn, fn_kwargs):
        new_state = _autodiff.cond(
            state.interval_found,
            lambda s: self.zoom_into_interval(s, value_and_grad_fn, fn_kwargs),
            lambda s: self.search_interval(s, value_and_grad_fn, fn_kwargs),
            state,
        )
        new_state = _autodiff.cond(new_state.failed, self.try_safe_step, lambda s: s, new_state)
        return _tree.cast_like(new_state, state)

    def search_interval(self, state, value_and_grad_fn, fn_kwargs):
        """Algorithm 3.5: grow the step until an interval holding a valid one is found."""
        iter_num = state.count
        prev_stepsize, prev_value, prev_slope = state.stepsize, state.value, state.slope
        new_stepsize = _ops.where(
            iter_num == 0, state.stepsize_guess, self.increase_factor * prev_stepsize
        )
        if self.max_stepsize is not None:
            max_reached = new_stepsize >= self.max_stepsize
            new_stepsize = _ops.minimum(new_stepsize, self.max_stepsize)
        else:
            max_reached = _ops.zeros((), "bool", like=new_stepsize)
        new_value, new_grad, new_slope = self.on_line(
            value_and_grad_fn, state.params, new_stepsize, state.updates, fn_kwargs
        )
        decrease_error = self.decrease_error(
            new_stepsize, new_value, new_slope, state.value_init, state.slope_init
        )
        curvature_error = self.curvature_error(new_slope, state.slope_init)
        new_error = _ops.maximum(decrease_error, curvature_error)

        # A step with sufficient decrease is kept in case curvature cannot be met.
        safe_stepsize, safe_value, safe_grad = _tree.where(
            decrease_error <= self.tol,
            [new_stepsize, new_value, new_grad],
            [state.safe_stepsize, state.safe_value, state.safe_grad],
        )
        set_high_to_new = (decrease_error > 0.0) | ((new_value >= prev_value) & (iter_num > 0))
        set_low_to_new = (new_slope >= 0.0) & ~set_high_to_new
        low, value_low, slope_low, high, value_high, slope_high = _tree.where(
            set_low_to_new,
            [new_stepsize, new_value, new_slope, prev_stepsize, prev_value, prev_slope],
            [prev_stepsize, prev_value, prev_slope, new_stepsize, new_value, new_slope],
        )
        interval_found = set_high_to_new | set_low_to_new | (new_error <= self.tol)
        done = (new_error <= self.tol) | (max_reached & ~interval_found)
        if self.verbose:
            _autodiff.cond_print(
                max_reached & ~interval_found,
                "INFO: optax.scale_by_zoom_linesearch:\nValue at current params: "
                "{value_init}\nSlope along update direction: {slope_init}\nStepsize reached: "
                "{stepsize}\nDecrease Error: {decrease_error}\nCurvature Error: "
                "{curvature_error}"
                + FLAG_INTERVAL_NOT_FOUND
                + "\n"
                + FLAG_CURVATURE_COND_NOT_SATISFIED,
                value_init=state.value_init,
                slope_init=state.slope_init,
                stepsize=new_stepsize,
                decrease_error=decrease_error,
                curvature_error=curvature_error,
            )
        failed = (iter_num + 1 >= self.max_linesearch_steps) & ~done
        new_state = state._replace(
            count=_tree.safe_increment(iter_num),
            stepsize=new_stepsize,
            value=new_value,
            grad=new_grad,
            slope=new_slope,
            decrease_error=decrease_error,
            curvature_error=curvature_error,
            error=new_error,
            interval_found=interval_found,
            done=done,
            failed=failed,
            low=low,
            value_low=value_low,
            slope_low=slope_low,
            high=high,
            value_high=value_high,
            slope_high=slope_high,
            cubic_ref=low,
            value_cubic_ref=value_low,
            safe_stepsize=safe_stepsize,
            safe_value=safe_value,
            safe_grad=safe_grad,
        )
        return _tree.cast_like(new_state, state)

    def zoom_into_interval(self, state, value_and_grad_fn, fn_kwargs):
        """Algorithm 3.6: shrink [low, high] by cubic, quadratic or bisection steps."""
        low, value_low, slope_low = state.low, state.value_low, state.slope_low
        high, value_high, slope_high = state.high, state.value_high, state.slope_high
        cubic_ref, value_cubic_ref = state.cubic_ref, state.value_cubic_ref
        delta = _ops.abs(high - low)
        left, right = _ops.minimum(high, low), _ops.maximum(high, low)
        cubic_chk, quad_chk = 0.2 * delta, 0.1 * delta
        too_small_int = delta <= self.interval_threshold

        middle_cubic = cubicmin(
            low, value_low, slope_low, high, value_high, cubic_ref, value_cubic_ref
        )
        use_cubic = (middle_cubic > left + cubic_chk) & (middle_cubic < right - cubic_chk)
        middle_quad = quadmin(low, value_low, slope_low, high, value_high)
        quad_valid = (middle_quad > left + quad_chk) & (middle_quad < right - quad_chk)
        use_quad = ~use_cubic & quad_valid
        use_bisection = ~use_cubic & ~use_quad
        middle = _ops.where(use_cubic, middle_cubic, cubic_ref)
        middle = _ops.where(use_quad, middle_quad, middle)
        middle = _ops.where(use_bisection, (low + high) / 2.0, middle)

        value_mid, grad_mid, slope_mid = self.on_line(
            value_and_grad_fn, state.params, middle, state.updates, fn_kwargs
        )
        decrease_error = self.decrease_error(
            middle, value_mid, slope_mid, state.value_init, state.slope_init
        )
        curvature_error = self.curvature_error(slope_mid, state.slope_init)
        new_error = _ops.maximum(decrease_error, curvature_error)

        # Keep the lowest value with sufficient decrease, in case curvature cannot be met.
        update_safe = (decrease_error <= self.tol) & (value_mid < state.safe_value)
        safe_stepsize, safe_value, safe_grad = _tree.where(
            update_safe,
            [middle, value_mid, grad_mid],
            [state.safe_stepsize, state.safe_value, state.safe_grad],
        )
        done = new_error <= self.tol

        set_high_to_middle = (decrease_error > 0.0) | (value_mid >= value_low)
        set_high_to_low = (slope_mid * (high - low) >= 0.0) & ~set_high_to_middle
        set_low_to_middle = ~set_high_to_middle
        new_high = _tree.where(
            set_high_to_middle, [middle, value_mid, slope_mid], [high, value_high, slope_high]
        )
        new_high = _tree.where(set_high_to_low, [low, value_low, slope_low], new_high)
        new_low = _tree.where(
            set_low_to_middle, [middle, value_mid, slope_mid], [low, value_low, slope_low]
        )
        # The point dropped from the interval becomes the cubic's third point.
        new_cubic_ref, new_value_cubic_ref = _tree.where(
            set_high_to_middle | set_high_to_low, [high, value_high], [low, value_low]
        )
        # Stop if the interval is too small once a step with sufficient decrease is known
        # (very steep functions may need tiny steps: keep going until one is found).
        max_iter_reached = (state.count + 1) >= self.max_linesearch_steps
        failed = (max_iter_reached | (too_small_int & (safe_stepsize > 0.0))) & ~done
        new_state = state._replace(
            count=_tree.safe_increment(state.count),
            stepsize=middle,
            value=value_mid,
            grad=grad_mid,
            slope=slope_mid,
            decrease_error=decrease_error,
            curvature_error=curvature_error,
            error=new_error,
            done=done,
            failed=failed,
            low=new_low[0],
            value_low=new_low[1],
            slope_low=new_low[2],
            high=new_high[0],
            value_high=new_high[1],
            slope_high=new_high[2],
            cubic_ref=new_cubic_ref,
            value_cubic_ref=new_value_cubic_ref,
            safe_stepsize=safe_stepsize,
            safe_value=safe_value,
            safe_grad=safe_grad,
        )
        return _tree.cast_like(new_state, state)

    def try_safe_step(self, state):
        """On failure, fall back to the safe step (sufficient decrease) if there is one."""
        outside_domain = isinf(state.decrease_error)
        stepsize, value, grad = _tree.where(
            (state.safe_stepsize > 0.0) | outside_domain,
            [state.safe_stepsize, state.safe_value, state.safe_grad],
            [state.stepsize, state.value, state.grad],
        )
        if self.verbose:
            self.print_failure(state)
        new_state = state._replace(stepsize=stepsize, value=value, grad=grad)
        return _tree.cast_like(new_state, state)

    def print_failure(self, state):
        p = _autodiff.cond_print
        p(
            True,
            "INFO: optax.scale_by_zoom_linesearch:\nValue at current params: {value_init}\n"
            "Slope along update direction: {slope_init}\nStepsize reached: {stepsize}\n"
            "Decrease Error: {decrease_error}\nCurvature Error: {curvature_error}",
            value_init=state.value_init,
            slope_init=state.slope_init,
            stepsize=state.stepsize,
            decrease_error=state.decrease_error,
            curvature_error=state.curvature_error,
        )
        interval_length = _ops.abs(state.low - state.high)
        p(
            interval_length <= self.interval_threshold,
            FLAG_INTERVAL_TOO_SMALL + " Interval length: {interval_length}.",
            interval_length=interval_length,
        )
        safe = state.safe_stepsize > 0.0
        p(
            safe,
            FLAG_CURVATURE_COND_NOT_SATISFIED
            + " Stepsize ensuring sufficient decrease: {safe_stepsize}.",
            safe_stepsize=state.safe_stepsize,
        )
        descent = state.slope_init < 0.0
        outside_domain = isinf(state.decrease_error)
        p(~safe, FLAG_NO_STEPSIZE_FOUND)
        p(
            ~safe & ~descent,
            FLAG_NOT_A_DESCENT_DIRECTION
            + "The slope (={slope_init}) at stepsize=0 should be negative",
            slope_init=state.slope_init,
        )
        p(~safe & descent, "Consider augmenting the maximal number of linesearch iterations.")
        p(
            ~safe & outside_domain,
            "Cannot even make a step without getting Inf or Nan. "
            "The linesearch won't make a step and the optimizer is stuck.",
        )
        p(
            ~safe & ~outside_domain,
            "Making an unsafe step, not decreasing enough the objective. "
            "Convergence of the solver is compromised as it does not reduce values.",
        )
