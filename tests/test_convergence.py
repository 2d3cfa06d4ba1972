"""Every optimizer converges on optax's two test problems, on every framework.

optax's ``alias_test.py`` and ``contrib/_common_test.py`` run each optimizer on a parabola
and on Rosenbrock's function from fixed starts and check the final parameters against the
optimum with ``rtol = atol = 3e-2``. This file does the same for every optimizer of anyopt
(the aliases at the top level and the optimizers in ``anyopt.contrib``), with float32 arrays
of NumPy, JAX, PyTorch and MLX:

* the problems, starts, optima and tolerance are optax's; gradients (and the values that
  Polyak's step size, MoMo and reduce_on_plateau need) are written in closed form, so NumPy
  runs too; optimizers that differentiate ``value_fn`` themselves (L-BFGS, Sophia) run on
  the frameworks with autodiff and must raise NumPy's documented error;
* the hyperparameters per optimizer are in ``tests/convergence_setups.py``: optax's where
  they converge within a few hundred steps, otherwise a larger or decaying learning rate;
* discovery is automatic: every optimizer of anyopt, and every optimizer of optax, must have
  a setup (or an entry in ``NOT_OPTIMIZERS`` with its reason), so none goes untested.

JAX runs each problem of a setup as one jitted ``fori_loop``; NumPy, PyTorch and MLX run
``update`` eagerly, a problem at most ``EAGER_MAX_STEPS`` steps: the few optimizers that
need thousands of steps on Rosenbrock (those without momentum, as in optax's tests) run
it on JAX only, and the parabola everywhere.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from typing import Any, NamedTuple

import numpy as np
import optax
import pytest

import anyopt
from anyopt import _ops, capabilities
from convergence_setups import NOT_OPTIMIZERS, SETUPS, Setup

from conftest import Backend

RTOL = ATOL = 3e-2  # optax's tolerance
# NumPy, PyTorch and MLX spend ~0.05-0.5 ms of Python per step; a problem whose setup needs
# more steps than this runs on JAX only, where the compiled loop costs microseconds a step.
EAGER_MAX_STEPS = 1000


# --- the problems (optax's) ---------------------------------------------------------------
class Problem(NamedTuple):
    start: np.ndarray
    solution: np.ndarray
    value: Any  # (params, consts) -> 0-d array
    grad: Any  # (params, consts) -> array like params


def _parabola_value(p, target):
    return _ops.sum((p - target) ** 2)


def _parabola_grad(p, target):
    return 2.0 * (p - target)


A, B = 1.0, 100.0  # Rosenbrock's (a - x)**2 + b (y - x**2)**2, minimum at (a, a**2)


def _rosenbrock_value(p, _):
    x, y = p[0:1], p[1:2]
    return _ops.sum((A - x) ** 2 + B * (y - x**2) ** 2)


def _rosenbrock_grad(p, _):
    x, y = p[0:1], p[1:2]
    gy = 2.0 * B * (y - x**2)
    return _ops.concatenate([2.0 * (x - A) - 2.0 * x * gy, gy])


PROBLEMS = {
    "parabola": Problem(
        np.array([-1.0, 10.0, 1.0]), np.array([1.0, -1.0, 1.0]), _parabola_value, _parabola_grad
    ),
    "rosenbrock": Problem(
        np.array([0.0, 0.0]), np.array([A, A**2]), _rosenbrock_value, _rosenbrock_grad
    ),
}


def test_closed_form_gradients_match_finite_differences():
    for name, problem in PROBLEMS.items():
        target = problem.solution
        for p in (problem.start, problem.start + 0.3, problem.solution - 0.2):
            h, eye = 1e-6, np.eye(len(p))
            numeric = [
                (problem.value(p + h * e, target) - problem.value(p - h * e, target)) / (2 * h)
                for e in eye
            ]
            np.testing.assert_allclose(problem.grad(p, target), numeric, rtol=1e-5, err_msg=name)
        assert problem.value(problem.solution, target) == 0.0


# --- running one setup ----------------------------------------------------------------------
def _step(setup: Setup, tx, problem: Problem, target):
    """``(params, state) -> (params, state)``: one step with the extra arguments it needs."""

    def value_fn(p):
        return problem.value(p, target)

    def step(params, state):
        grads = problem.grad(params, target)
        extra: dict = {}
        if setup.extra in ("value", "lbfgs"):
            extra["value"] = value_fn(params)
        if setup.extra == "lbfgs":
            extra.update(grad=grads, value_fn=value_fn)
        if setup.extra == "obj_fn":
            extra["obj_fn"] = value_fn
        if setup.extra == "per_example":  # a batch of one example
            grads = _ops.expand_dims(grads, 0)
        updates, state = tx.update(grads, state, params, **extra)
        return anyopt.apply_updates(params, updates), state

    return step


def _descend(backend: Backend, setup: Setup, name: str, problem: Problem, steps: int):
    """The final (evaluation) parameters after ``steps`` steps from optax's start."""
    tx = setup.build(anyopt, steps)
    params = backend.array(problem.start, "float32")
    target = backend.array(problem.solution, "float32")
    step = _step(setup, tx, problem, target)
    if backend.name == "jax":
        import jax

        def run(params):
            return jax.lax.fori_loop(0, steps, lambda _, c: step(*c), (params, tx.init(params)))

        # XLA's compile time dominates these tiny loops; -O0 saves a third of it.
        compiled = jax.jit(run).lower(params).compile({"xla_backend_optimization_level": 0})
        params, state = compiled(params)
    else:
        sync = _mlx_sync() if backend.name == "mlx" else None
        state = tx.init(params)
        for _ in range(steps):
            params, state = step(params, state)
            if sync is not None:  # MLX is lazy: evaluate each step
                sync(params, state)
    if setup.eval_params:  # schedule-free: the averaged point, not the gradient point
        params = anyopt.contrib.schedule_free_eval_params(state, params)
    assert str(params.dtype).endswith("float32"), f"{name}: params became {params.dtype}"
    return backend.numpy(params)


def _mlx_sync():
    import mlx.core as mx

    return mx.eval


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_converges(name, backend):
    setup = SETUPS[name]
    base = name.split("/")[0]
    if base not in anyopt.__all__ and base not in anyopt.contrib.__all__:
        pytest.fail(f"{base}: no such optimizer in anyopt or anyopt.contrib yet")
    if setup.autodiff and backend.name not in capabilities.AUTODIFF_FRAMEWORKS:
        with pytest.raises(NotImplementedError, match=backend.name):
            _descend(backend, setup, name, PROBLEMS[next(iter(setup.steps))], 1)
        return
    failures = []
    for problem_name, steps in setup.steps.items():
        if steps > EAGER_MAX_STEPS and backend.name != "jax":
            continue  # a long horizon: JAX's compiled loop covers it
        problem = PROBLEMS[problem_name]
        final = _descend(backend, setup, name, problem, steps)
        if not np.allclose(final, problem.solution, rtol=RTOL, atol=ATOL):
            failures.append(f"{problem_name}: {final} after {steps} steps, not {problem.solution}")
    assert not failures, f"{name} on {backend.name}: " + "; ".join(failures)


# --- discovery: no optimizer without a setup -----------------------------------------------
def _takes_learning_rate(fn) -> bool:
    try:
        return any(p.endswith("learning_rate") for p in inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return False


def _returns_transformation(fn) -> bool:
    try:
        annotation = inspect.signature(fn).return_annotation
    except (TypeError, ValueError):
        return False
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return "GradientTransformation" in str(text)


def optimizers(lib) -> set[str]:
    """``lib``'s optimizers: the top-level aliases that take a learning rate, and the
    contrib factories that take one or return a transformation; ``scale_by_*`` building
    blocks excluded."""
    found = set()
    for module, any_transform in ((lib, False), (lib.contrib, True)):
        # optax.__all__ misses a few exports (optimistic_*), so public dir() names count too
        names = set(getattr(module, "__all__", ())) | set(dir(module))
        for name in names:
            if name.startswith(("_", "scale_by_")):
                continue
            with warnings.catch_warnings():  # optax's deprecated top-level aliases warn
                warnings.simplefilter("ignore", DeprecationWarning)
                fn = getattr(module, name, None)
            if not (inspect.isfunction(fn) or isinstance(fn, functools.partial)):
                continue  # nadam is a partial of adam
            if _takes_learning_rate(fn) or (any_transform and _returns_transformation(fn)):
                found.add(name)
    return found


def _covered() -> set[str]:
    return {name.split("/")[0] for name in SETUPS}


@pytest.mark.parametrize("lib", [anyopt, optax], ids=["anyopt", "optax"])
def test_discovery_finds_the_known_optimizers(lib):
    known = {"adam", "nadam", "optimistic_adam_v2", "polyak_sgd", "lbfgs", "muon", "dog", "sam"}
    found = optimizers(lib)
    assert known <= found, known - found
    assert not found & {"scale_by_adam", "chain", "clip", "apply_updates", "cosine_decay_schedule"}


def test_every_optimizer_meets_both_problems():
    problems: dict[str, set] = {}
    for name, setup in SETUPS.items():
        assert set(setup.steps) <= set(PROBLEMS), f"{name}: unknown problem in {setup.steps}"
        problems.setdefault(name.split("/")[0], set()).update(setup.steps)
    partial = {name: sorted(p) for name, p in problems.items() if p != set(PROBLEMS)}
    assert not partial, f"setups that miss a problem: {partial}"


def test_every_anyopt_optimizer_has_a_setup():
    missing = optimizers(anyopt) - _covered() - set(NOT_OPTIMIZERS)
    assert not missing, f"optimizers without a convergence setup: {sorted(missing)}"


def test_every_optax_optimizer_has_a_setup():
    """So setups exist for optimizers before their anyopt implementation lands."""
    missing = optimizers(optax) - _covered() - set(NOT_OPTIMIZERS)
    assert not missing, f"optax optimizers without a convergence setup: {sorted(missing)}"


def test_exclusions_are_current():
    stale = set(NOT_OPTIMIZERS) & _covered()
    assert not stale, f"{sorted(stale)} have setups; drop them from NOT_OPTIMIZERS"
    unknown = set(NOT_OPTIMIZERS) - optimizers(optax) - optimizers(anyopt)
    assert not unknown, f"NOT_OPTIMIZERS names no discovered optimizer: {sorted(unknown)}"
