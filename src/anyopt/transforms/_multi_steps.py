r"""Gradient accumulation: ``MultiSteps`` calls its optimizer once every k mini-steps.

With ``use_grad_mean`` the accumulator is the running mean of the k mini-batch
gradients (Welford's update, stable in low precision):

.. math::
    a_n = a_{n-1} + (g_n - a_{n-1}) / n, \qquad n = 1, \dots, k,

so the inner optimizer sees :math:`a_k = \frac1k \sum_n g_n`: the gradient of the large
batch, and one step of its schedule per k mini-steps (``gradient_step`` counts real
optimizer steps). Between emissions the updates are zeros and the inner state is kept.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Protocol, Union

from anyopt import _ops, _tree, _validate, backends
from anyopt._base import (
    GradientTransformation,
    Params,
    Updates,
    with_extra_args_support,
)
from anyopt.transforms._select import branches_lazily, cond, select


class ShouldSkipUpdateFunction(Protocol):
    """``(updates, gradient_step, params) -> (skip: 0-d bool array, skip_state)``.

    ``skip_state`` (any tree) is stored in ``MultiStepsState.skip_state``.
    """

    def __call__(
        self, updates: Updates, gradient_step: Any, params: Optional[Params]
    ) -> tuple[Any, Any]: ...


def skip_not_finite(
    updates: Updates, gradient_step: Any, params: Optional[Params]
) -> tuple[Any, Any]:
    """Skips a mini-step whose updates hold an Inf or a NaN.

    Returns ``(should_skip, {'should_skip', 'num_not_finite'})``; the count is int32.
    """
    del gradient_step, params
    num = _tree.count_init(updates)
    for x in _tree.leaves(updates):
        num = num + _ops.astype(_ops.sum(~_ops.isfinite(x)), "int32")
    should_skip = num > 0
    return should_skip, {"should_skip": should_skip, "num_not_finite": num}


def skip_large_updates(
    updates: Updates, gradient_step: Any, params: Optional[Params], max_squared_norm: Any
) -> tuple[Any, Any]:
    """Skips a mini-step whose squared global norm is not below ``max_squared_norm``
    (a NaN norm is skipped too). Returns ``(should_skip, {'should_skip', 'norm_squared'})``.
    """
    del gradient_step, params
    norm_sq = _tree.norm(updates, squared=True)
    if isinstance(norm_sq, (int, float)):  # a tree with no leaves
        norm_sq = _tree.backend_of(updates).asarray(float(norm_sq))
    should_skip = ~(norm_sq < max_squared_norm)
    return should_skip, {"should_skip": should_skip, "norm_squared": norm_sq}


class MultiStepsState(NamedTuple):
    """State of ``MultiSteps``."""

    mini_step: Any  # shape=(), dtype=int32: mini-steps since the last emission
    gradient_step: Any  # shape=(), dtype=int32: inner optimizer steps taken
    inner_opt_state: Any
    acc_grads: Any  # the accumulated gradients, in accumulator_dtype
    skip_state: Any = ()  # what should_skip_update_fn reports


def _check_k(every_k_schedule: Any) -> Callable[[Any], Any]:
    if isinstance(every_k_schedule, numbers.Integral) and not isinstance(every_k_schedule, bool):
        k = int(every_k_schedule)
        if k < 1:
            raise ValueError(f"MultiSteps: every_k_schedule must be >= 1; got {k}")
        return lambda step: k
    if not callable(every_k_schedule):
        raise TypeError(
            "MultiSteps: every_k_schedule must be a positive int or a function of the "
            f"gradient step returning one; got {every_k_schedule!r}"
        )
    return every_k_schedule


def _check_skip(flag: Any) -> None:
    dtype = backends.dtype_name(_ops.dtype(flag))
    shape = tuple(_ops.shape(flag))
    if (dtype, shape) != ("bool", ()):
        raise ValueError(
            "MultiSteps: should_skip_update_fn must return a 0-d boolean array first; "
            f"got dtype {dtype} and shape {shape}"
        )


class MultiSteps:
    """Accumulates updates over k mini-steps, then applies ``opt`` to their mean (or sum).

    ``every_k_schedule`` is an int k >= 1 or a function of the gradient step returning k
    (a growing effective batch size). ``should_skip_update_fn`` (e.g. ``skip_not_finite``)
    can reject a mini-step: it is then as if it never happened. The accumulator is kept in
    ``accumulator_dtype`` (None: the parameters' dtype); the updates in the gradients' dtype.

    Example::

        opt = anyopt.MultiSteps(anyopt.adam(1e-3), every_k_schedule=4)
        state = opt.init(params)
        updates, state = opt.update(grads, state, params)  # zeros for 3 steps out of 4
    """

    def __init__(
        self,
        opt: GradientTransformation,
        every_k_schedule: Union[int, Callable[[Any], Any]],
        use_grad_mean: bool = True,
        should_skip_update_fn: Optional[ShouldSkipUpdateFunction] = None,
        accumulator_dtype: Any = "float32",
    ):
        _validate.float_dtype("MultiSteps", "accumulator_dtype", accumulator_dtype)
        if should_skip_update_fn is not None and not callable(should_skip_update_fn):
            raise TypeError(
                "MultiSteps: should_skip_update_fn must be a function or None; "
                f"got {should_skip_update_fn!r}"
            )
        self._opt = with_extra_args_support(opt)
        self._every_k_schedule = _check_k(every_k_schedule)
        self._use_grad_mean = use_grad_mean
        self._should_skip_update_fn = should_skip_update_fn
        self._accumulator_dtype = accumulator_dtype

    @property
    def inner_opt(self):
        return self._opt

    def _accumulate(self, g, acc, n):
        if self._use_grad_mean:  # Welford: the running mean of the mini-steps so far
            diff = g - acc
            return acc + diff / _ops.like(n + 1, diff)
        return g + acc

    def init(self, params: Params) -> MultiStepsState:
        """The state before any mini-step: zero accumulator, counters at 0."""
        gradient_step = _tree.count_init(params)
        skip_state = ()
        if self._should_skip_update_fn is not None:
            zeros = _tree.zeros_like(params)
            skip_state = self._should_skip_update_fn(zeros, gradient_step, params)[1]
        return MultiStepsState(
            mini_step=_tree.count_init(params),
            gradient_step=gradient_step,
            inner_opt_state=self._opt.init(params),
            acc_grads=_tree.zeros_like(params, dtype=self._accumulator_dtype),
            skip_state=skip_state,
        )

    def update(
        self,
        updates: Updates,
        state: MultiStepsState,
        params: Optional[Params] = None,
        **extra_args: Any,
    ) -> tuple[Updates, MultiStepsState]:
        """Accumulates ``updates``; every k-th mini-step returns the inner update."""
        k = self._every_k_schedule(state.gradient_step)
        skip, skip_state = None, state.skip_state
        if self._should_skip_update_fn is not None:
            skip, skip_state = self._should_skip_update_fn(updates, state.gradient_step, params)
            _check_skip(skip)

        def inner_update(acc):
            return self._opt.update(
                _tree.cast_like(acc, updates), state.inner_opt_state, params, **extra_args
            )

        def do_update():
            acc = _tree.map(
                lambda g, a: self._accumulate(g, a, state.mini_step), updates, state.acc_grads
            )
            inner_updates, inner_state = inner_update(acc)
            emit = state.mini_step == k - 1
            new_state = MultiStepsState(
                mini_step=_int_like(
                    _ops.remainder(_tree.safe_increment(state.mini_step), k), state.mini_step
                ),
                gradient_step=_ops.where(
                    emit, _tree.safe_increment(state.gradient_step), state.gradient_step
                ),
                inner_opt_state=select(emit, inner_state, state.inner_opt_state),
                acc_grads=_tree.map(
                    lambda a, old: _ops.where(
                        emit, _ops.zeros_like(old), _ops.astype(a, old.dtype)
                    ),
                    acc,
                    state.acc_grads,
                ),
                skip_state=skip_state,
            )
            zeros = _tree.zeros_like(inner_updates)
            return select(emit, inner_updates, zeros), new_state

        if skip is None:
            return do_update()
        kept = state._replace(skip_state=skip_state)
        if branches_lazily(skip, updates):
            # JAX traces (and prunes) the inner update on the old, finite accumulator only
            # for the shapes of the zeros; NumPy runs it on skipped mini-steps only.
            def skip_update():
                return _tree.zeros_like(inner_update(state.acc_grads)[0]), kept

            return cond(skip, skip_update, do_update)
        new_updates, new_state = do_update()
        return select(skip, (_tree.zeros_like(new_updates), kept), (new_updates, new_state))

    def has_updated(self, state: Union[MultiStepsState, Any]) -> Any:
        """Whether the last ``update`` called the inner optimizer (a 0-d bool array)."""
        return (state.mini_step == 0) & (state.gradient_step > 0)

    def gradient_transformation(self) -> GradientTransformation:
        """This accumulator as a plain ``GradientTransformation``."""
        return GradientTransformation(init=self.init, update=self.update)


def _int_like(x: Any, counter: Any) -> Any:
    """``x`` in the counter's dtype (a schedule may return k in another integer dtype)."""
    return x if _ops.dtype(x) == _ops.dtype(counter) else _ops.astype(x, _ops.dtype(counter))
