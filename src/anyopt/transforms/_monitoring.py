"""Recording measurements of the updates in the state, for logging and debugging.

A measurement is stored under its name, so ``anyopt.tree.get(state, name)`` finds it
however deeply the transformation is nested.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Optional

from anyopt._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    stateless,
    with_extra_args_support,
)
from anyopt._combine import chain
from anyopt.transforms._accumulation import ema


class SnapshotState(NamedTuple):
    """``{measure_name: the latest measurement}``."""

    measurement: dict[str, Any]


def snapshot(measure_name: str, measure: Callable[[Any], Any]) -> GradientTransformation:
    """Passes updates through and stores ``measure(updates)`` under ``measure_name``.

    ``init`` stores ``measure(params)``, so the state keeps one structure. In a chain the
    measurement sees the updates as transformed so far, e.g.
    ``chain(sgd(0.1), snapshot("norm", anyopt.tree.norm), clip_by_global_norm(1.0))``.
    """

    def init_fn(params):
        return SnapshotState({measure_name: measure(params)})

    def update_fn(updates, state, params=None):
        del state, params
        return updates, SnapshotState({measure_name: measure(updates)})

    return GradientTransformation(init_fn, update_fn)


class MonitorState(NamedTuple):
    """The latest measurements by name, and the state of each stateful measure."""

    measurements: dict[str, Any]
    measure_states: tuple[OptState, ...]


def monitor(
    measures: dict[str, GradientTransformationExtraArgs | Callable[[Any], Any]],
) -> GradientTransformationExtraArgs:
    """Passes updates through and records each of ``measures`` under its name.

    A measure is a function of the updates, or a transformation whose output is the
    measurement (stateful, e.g. ``measure_with_ema``). As in optax, ``measurements`` is
    empty after ``init`` and filled by each ``update``.
    """
    wrapped = {}
    for name, measure in measures.items():
        if callable(measure):
            measure = stateless(lambda u, _, m=measure: m(u))
        wrapped[name] = with_extra_args_support(measure)
    names = tuple(wrapped)

    def init_fn(params):
        return MonitorState({}, tuple(wrapped[n].init(params) for n in names))

    def update_fn(updates, state, params=None, **extra_args):
        measurements, measure_states = {}, []
        for name, measure_state in zip(names, state.measure_states):
            measurements[name], measure_state = wrapped[name].update(
                updates, measure_state, params, **extra_args
            )
            measure_states.append(measure_state)
        return updates, MonitorState(measurements, tuple(measure_states))

    return GradientTransformationExtraArgs(init_fn, update_fn)


def measure_with_ema(
    measure: Callable[[Any], Any],
    decay: Any,
    debias: bool = True,
    accumulator_dtype: Optional[Any] = None,
) -> GradientTransformationExtraArgs:
    r"""A stateful measure for ``monitor``: the moving average
    :math:`e_k = (1 - \text{decay})\, m(u_k) + \text{decay}\, e_{k-1}` of ``measure``
    (debiased by :math:`1 - \text{decay}^k` if ``debias``); the state is ``ema``'s, shaped
    like ``measure(params)``."""
    average = ema(decay, debias, accumulator_dtype)
    average = average._replace(init=lambda params, init=average.init: init(measure(params)))
    return chain(stateless(lambda updates, _: measure(updates)), average)
