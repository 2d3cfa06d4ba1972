"""L-BFGS and the line searches against optax 0.2.8, on every framework with autodiff.

* L-BFGS with its zoom line search, SGD with the backtracking and the zoom line searches:
  every step along optax's trajectory (optax's params and state fed in, one anyopt step,
  compared with optax's next params and state) on Rosenbrock, a quadratic and a small
  least-squares problem, plus free-running parity where the problem is well conditioned,
  convergence, ``jax.jit`` and the NumPy error;
* ``scale_by_lbfgs``: a float64 NumPy transcription of the BFGS inverse-Hessian recursion
  (matrix form, not the two-loop recursion) checked on every framework.

Rosenbrock is the reason for feeding optax's state in at every step: XLA compiles optax's
``lax.scan`` differently from our unrolled loop, a one-ulp difference in float32, and
L-BFGS amplifies such differences along Rosenbrock's valley, so free-running trajectories of
two correct implementations part after about 20 steps (see ``test_free_running``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import anyopt
from anyopt import _autodiff, _ops, capabilities

from conftest import FRAMEWORKS, Backend, relative_error_norm

AUTODIFF = [f for f in FRAMEWORKS if f in capabilities.AUTODIFF_FRAMEWORKS]
RTOL = 1e-5

RNG = np.random.default_rng(42)
A_MAT = RNG.standard_normal((5, 5)).astype(np.float32)
A_MAT = (A_MAT @ A_MAT.T / 5 + 0.5 * np.eye(5)).astype(np.float32)
B_VEC = RNG.standard_normal(5).astype(np.float32)
X_DATA = RNG.standard_normal((8, 4)).astype(np.float32)
Y_DATA = RNG.standard_normal((8, 3)).astype(np.float32)


# --- problems, written once for every framework -------------------------------------------
def rosenbrock(backend):
    def f(p):
        return _ops.sum(100.0 * (p[1:] - p[:-1] ** 2) ** 2 + (1 - p[:-1]) ** 2)

    return f, np.array([-1.2, 1.0, -0.5, 0.8], np.float32)


def quadratic(backend):
    a, b = backend.array(A_MAT), backend.array(B_VEC)

    def f(p):
        return 0.5 * _ops.sum(p * _ops.matmul(a, p)) - _ops.sum(b * p)

    return f, np.linspace(-1, 1, 5).astype(np.float32)


def least_squares(backend):
    x, y = backend.array(X_DATA), backend.array(Y_DATA)

    def f(p):
        return _ops.sum((_ops.matmul(x, p["w"]) + p["b"] - y) ** 2) / 8

    x0 = {"w": np.full((4, 3), 0.3, np.float32), "b": np.zeros(3, np.float32)}
    return f, x0


PROBLEMS = {"rosenbrock": rosenbrock, "quadratic": quadratic, "least_squares": least_squares}

# name -> (build(lib), steps, reuse the line search's value and gradient)
SOLVERS = {
    "lbfgs": (lambda lib: lib.lbfgs(), 30, True),
    "lbfgs/memory3_backtracking": (
        lambda lib: lib.lbfgs(
            memory_size=3,
            linesearch=lib.scale_by_backtracking_linesearch(20, store_grad=True),
        ),
        30,
        True,
    ),
    "lbfgs/no_scale_init": (lambda lib: lib.lbfgs(scale_init_precond=False), 25, True),
    "sgd_backtracking": (
        lambda lib: lib.chain(lib.sgd(1.0), lib.scale_by_backtracking_linesearch(15)),
        25,
        False,
    ),
    "sgd_backtracking/store_grad_tols": (
        lambda lib: lib.chain(
            lib.sgd(1.0),
            lib.scale_by_backtracking_linesearch(
                15, decrease_factor=0.5, increase_factor=2.0, rtol=1e-3, store_grad=True
            ),
        ),
        25,
        True,
    ),
    "sgd_zoom": (lambda lib: lib.chain(lib.sgd(1.0), lib.scale_by_zoom_linesearch(15)), 25, True),
    "sgd_zoom/max_lr_no_approx": (
        lambda lib: lib.chain(
            lib.sgd(1.0),
            lib.scale_by_zoom_linesearch(
                15, max_learning_rate=0.5, approx_dec_rtol=None, curv_rtol=0.5
            ),
        ),
        25,
        True,
    ),
}


def value_and_grad_fn(lib, f, from_state):
    if lib is optax:
        return optax.value_and_grad_from_state(f) if from_state else jax.value_and_grad(f)
    if from_state:
        return anyopt.value_and_grad_from_state(f)
    return _autodiff.value_and_grad(f, name="value_and_grad_from_state")


def make_step(lib, solver, f):
    build, _, from_state = SOLVERS[solver]
    tx = build(lib)
    vg = value_and_grad_fn(lib, f, from_state)

    def step(params, state):
        value, grad = vg(params, state=state) if from_state else vg(params)
        updates, state = tx.update(grad, state, params, value=value, grad=grad, value_fn=f)
        return lib.apply_updates(params, updates), state

    return tx, step


@functools.cache
def optax_trajectory(solver: str, problem: str):
    """optax's (params, state) at every step, on JAX under jit."""
    f, x0 = PROBLEMS[problem](Backend("jax"))
    tx, step = make_step(optax, solver, f)
    params = jax.tree_util.tree_map(jnp.asarray, x0)
    state = tx.init(params)
    out = [(params, state)]
    step = jax.jit(step)
    for _ in range(SOLVERS[solver][1]):
        params, state = step(params, state)
        out.append((params, state))
    return out


# --- tree comparison ----------------------------------------------------------------------
def as_numpy(tree, backend):
    return [np.asarray(backend.numpy(x)) for x in jax.tree_util.tree_leaves(tree)]


def to_backend(jax_tree, backend, template):
    """``jax_tree``'s leaves on ``backend``, in ``template``'s (anyopt's) structure."""
    leaves = jax.tree_util.tree_leaves(jax_tree)
    treedef = jax.tree_util.tree_structure(template)
    assert treedef.num_leaves == len(leaves), f"{treedef} vs {len(leaves)} leaves"
    return jax.tree_util.tree_unflatten(
        treedef, [backend.array(np.asarray(x), np.asarray(x).dtype.name) for x in leaves]
    )


def assert_close(actual, expected, backend, what, rtol=RTOL):
    """Integer and non-finite leaves equal; finite float leaves within rtol (relative
    2-norm over all of them)."""
    got, want = as_numpy(actual, backend), as_numpy(expected, Backend("jax"))
    assert len(got) == len(want), f"{what}: {len(got)} leaves, optax has {len(want)}"
    a_all, e_all = [], []
    for i, (a, e) in enumerate(zip(got, want)):
        assert a.shape == e.shape, f"{what} leaf {i}: shape {a.shape} != {e.shape}"
        if e.dtype.kind != "f":
            np.testing.assert_array_equal(a, e, err_msg=f"{what} leaf {i}")
            continue
        finite = np.isfinite(e)
        np.testing.assert_array_equal(a[~finite], e[~finite], err_msg=f"{what} leaf {i}")
        a_all.append(a[finite].ravel())
        e_all.append(e[finite].ravel())
    if not a_all:
        return
    err = relative_error_norm(np.concatenate(a_all), np.concatenate(e_all))
    assert err <= rtol, f"{what}: relative error {err:.2e} > {rtol}"


def anyopt_step(backend, solver, problem):
    f, x0 = PROBLEMS[problem](backend)
    tx, step = make_step(anyopt, solver, f)
    if backend.name == "jax":
        step = jax.jit(step)
    return tx, step, backend.tree(x0)


# --- parity along optax's trajectory ------------------------------------------------------
# Near the minimum, objective values differ from it by float32 rounding only and the line
# searches' decisions (accept a step or not) turn on that rounding, which differs between any
# two float32 implementations (XLA's fused reductions, torch's, MLX's). Steps are compared
# while optax's objective is still FLOOR above the minimum (relative to max(1, |f*|)).
FLOOR = 1e-5
# Plain SGD with backtracking diverges on Rosenbrock (optax too): no trajectory worth comparing.
PAIRS = [
    (solver, problem)
    for solver in sorted(SOLVERS)
    for problem in sorted(PROBLEMS)
    if (solver, problem) != ("sgd_backtracking", "rosenbrock")
]


def compared_steps(solver, problem) -> int:
    f, _ = PROBLEMS[problem](Backend("jax"))
    best = minimum(problem)
    for k, (params, _) in enumerate(optax_trajectory(solver, problem)):
        if float(f(params)) - best <= FLOOR * max(1.0, abs(best)):
            return k
    return len(optax_trajectory(solver, problem)) - 1


@pytest.mark.parametrize("solver, problem", PAIRS)
@pytest.mark.parametrize("framework", AUTODIFF)
def test_every_step_matches_optax(framework, solver, problem):
    backend = Backend(framework)
    expected = optax_trajectory(solver, problem)
    tx, step, params0 = anyopt_step(backend, solver, problem)
    template = tx.init(params0)
    assert_close(template, expected[0][1], backend, "init state")
    steps = compared_steps(solver, problem)
    assert steps >= 5, f"only {steps} steps above the rounding floor"
    for k in range(steps):
        params = to_backend(expected[k][0], backend, params0)
        state = to_backend(expected[k][1], backend, template)
        new_params, new_state = step(params, state)
        assert_close(new_params, expected[k + 1][0], backend, f"step {k} params")
        assert_close(new_state, expected[k + 1][1], backend, f"step {k} state")


FREE_RUNNING = [
    ("lbfgs", "quadratic", 12),
    ("lbfgs", "least_squares", 15),
    ("lbfgs", "rosenbrock", 10),
    ("sgd_backtracking", "least_squares", 25),
    ("sgd_zoom", "quadratic", 25),
]


@pytest.mark.parametrize("solver, problem, steps", FREE_RUNNING)
@pytest.mark.parametrize("framework", AUTODIFF)
def test_free_running(framework, solver, problem, steps):
    """Our own trajectory stays on optax's where the problem does not amplify rounding."""
    backend = Backend(framework)
    expected = optax_trajectory(solver, problem)
    tx, step, params = anyopt_step(backend, solver, problem)
    state = tx.init(params)
    for k in range(steps):
        params, state = step(params, state)
        assert_close(params, expected[k + 1][0], backend, f"step {k} params")


CONVERGENCE = [
    ("lbfgs", "rosenbrock", 60, 1e-7),
    ("lbfgs", "quadratic", 15, 1e-6),
    ("lbfgs/memory3_backtracking", "least_squares", 40, 1e-6),
    ("sgd_zoom", "quadratic", 40, 1e-5),
    ("sgd_backtracking", "quadratic", 80, 1e-4),
]


def minimum(problem: str) -> float:
    if problem == "rosenbrock":
        return 0.0
    if problem == "quadratic":
        x = np.linalg.solve(A_MAT.astype(np.float64), B_VEC.astype(np.float64))
        return float(-0.5 * B_VEC @ x)
    x = np.hstack([X_DATA, np.ones((8, 1))]).astype(np.float64)
    coef = np.linalg.lstsq(x, Y_DATA.astype(np.float64), rcond=None)[0]
    return float(np.sum((x @ coef - Y_DATA) ** 2) / 8)


@pytest.mark.parametrize("solver, problem, steps, gap", CONVERGENCE)
@pytest.mark.parametrize("framework", AUTODIFF)
def test_converges(framework, solver, problem, steps, gap):
    backend = Backend(framework)
    f = PROBLEMS[problem](backend)[0]
    tx, step, params = anyopt_step(backend, solver, problem)
    state = tx.init(params)
    values = [float(backend.numpy(f(params)))]
    for _ in range(steps):
        params, state = step(params, state)
        values.append(float(backend.numpy(f(params))))
    assert values[-1] - minimum(problem) <= gap * max(1.0, abs(minimum(problem))), values[-5:]
    # Line searches with sufficient decrease never increase the objective.
    assert all(b <= a + 1e-6 * abs(a) for a, b in zip(values, values[1:])), values


def test_jitted_lbfgs_step_traces_once():
    backend = Backend("jax")
    f, x0 = rosenbrock(backend)
    tx, step = make_step(anyopt, "lbfgs", f)
    traces = []

    def counted(params, state):
        traces.append(1)
        return step(params, state)

    jitted = jax.jit(counted)
    params = jnp.asarray(x0)
    state = tx.init(params)
    for _ in range(4):
        params, state = jitted(params, state)
    assert len(traces) == 1
    assert float(f(params)) < float(f(jnp.asarray(x0)))


# --- NumPy: no autodiff -------------------------------------------------------------------
NUMPY_ERRORS = {
    "lbfgs": ("scale_by_zoom_linesearch", lambda: anyopt.lbfgs()),
    "zoom": ("scale_by_zoom_linesearch", lambda: anyopt.scale_by_zoom_linesearch(10)),
    "backtracking": (
        "scale_by_backtracking_linesearch",
        lambda: anyopt.scale_by_backtracking_linesearch(10),
    ),
}


@pytest.mark.parametrize("name", sorted(NUMPY_ERRORS))
def test_numpy_line_searches_raise_a_clear_error(name):
    fn_name, build = NUMPY_ERRORS[name]
    f, x0 = quadratic(Backend("numpy"))
    tx = build()
    state = tx.init(x0)
    grad = A_MAT @ x0 - B_VEC
    with pytest.raises(NotImplementedError, match=f"{fn_name} does not run on numpy") as info:
        tx.update(grad, state, x0, value=f(x0), grad=grad, value_fn=f)
    assert "automatic differentiation" in str(info.value)
    assert "it runs on jax, torch, mlx" in str(info.value)


def test_numpy_value_and_grad_from_state_raises_a_clear_error():
    f, x0 = quadratic(Backend("numpy"))
    state = anyopt.scale_by_zoom_linesearch(10).init(x0)
    vg = anyopt.value_and_grad_from_state(f)
    with pytest.raises(
        NotImplementedError, match="value_and_grad_from_state does not run on numpy"
    ):
        vg(x0, state=state)
    assert capabilities.supported("value_and_grad_from_state") == ("jax", "torch", "mlx")


def test_lbfgs_without_line_search_runs_on_numpy():
    f, x0 = quadratic(Backend("numpy"))
    tx = anyopt.lbfgs(learning_rate=0.5, linesearch=None)
    params, state = x0, tx.init(x0)
    for _ in range(30):
        updates, state = tx.update(A_MAT @ params - B_VEC, state, params)
        params = anyopt.apply_updates(params, updates)
    assert params.dtype == np.float32
    assert f(params) - minimum("quadratic") < 1e-4


# --- value_and_grad_from_state and keyword routing ----------------------------------------
def test_value_and_grad_from_state_needs_value_and_grad(backend):
    params = backend.array(np.ones(3, np.float32))
    state = anyopt.adam(0.1).init(params)
    vg = anyopt.value_and_grad_from_state(lambda p: _ops.sum(p * p))
    if backend.name == "numpy":
        with pytest.raises(NotImplementedError):
            vg(params, state=state)
        return
    with pytest.raises(ValueError, match="Value or gradient not found in the state"):
        vg(params, state=state)
    # With store_grad=False the backtracking search stores no gradient: also an error.
    state = anyopt.scale_by_backtracking_linesearch(5).init(params)
    with pytest.raises(ValueError, match="Value or gradient not found"):
        vg(params, state=state)


@pytest.mark.parametrize("framework", AUTODIFF)
def test_extra_arguments_reach_value_fn(framework):
    backend = Backend(framework)
    x, y = backend.array(X_DATA[:, :3]), backend.array(Y_DATA[:, 0])

    def fn(params, x, y):
        return _ops.sum((_ops.matmul(x, params) - y) ** 2)

    params = backend.array(np.zeros(3, np.float32))
    for tx in (anyopt.scale_by_backtracking_linesearch(10), anyopt.scale_by_zoom_linesearch(10)):
        solver = anyopt.chain(anyopt.sgd(1.0), tx)
        state = solver.init(params)
        value, grad = _autodiff.value_and_grad(fn, name="value_and_grad_from_state")(params, x, y)
        updates, state = solver.update(
            grad, state, params, value=value, grad=grad, value_fn=fn, x=x, y=y
        )
        assert float(backend.numpy(fn(anyopt.apply_updates(params, updates), x, y))) < float(
            backend.numpy(value)
        )
        with pytest.raises(TypeError, match=r"not consumed by `value_fn`: \['z'\]"):
            solver.update(grad, state, params, value=value, grad=grad, value_fn=fn, x=x, y=y, z=1)


# --- scale_by_lbfgs against the BFGS recursion in matrix form (float64 NumPy) --------------
def bfgs_direction(grad, s_list, y_list, gamma):
    """``H_k @ grad`` with ``H`` built by H <- V^T H V + rho s s^T from ``gamma * I``."""
    n = grad.size
    h = gamma * np.eye(n)
    for s, y in zip(s_list, y_list):
        rho = 1.0 / (y @ s) if y @ s != 0 else 0.0
        v = np.eye(n) - rho * np.outer(y, s)
        h = v.T @ h @ v + rho * np.outer(s, s)
    return h @ grad


@pytest.mark.parametrize("memory_size, scale_init", [(3, True), (10, False), (2, False)])
def test_scale_by_lbfgs_matches_the_bfgs_recursion(backend, memory_size, scale_init):
    rng = np.random.default_rng(3)
    tx = anyopt.scale_by_lbfgs(memory_size, scale_init_precond=scale_init)
    params = rng.standard_normal(6)
    state = tx.init(backend.array(params.astype(np.float32)))
    s_list, y_list, prev = [], [], None
    for k in range(8):
        grad = A_MAT @ params[:5] - B_VEC
        grad = np.append(grad, params[5]) + 0.01 * rng.standard_normal(6)
        ours, state = tx.update(
            backend.array(grad.astype(np.float32)),
            state,
            backend.array(params.astype(np.float32)),
        )
        if prev is not None:
            s_list.append(params - prev[0])
            y_list.append(grad - prev[1])
        s_list, y_list = s_list[-memory_size:], y_list[-memory_size:]
        if k == 0:
            gamma = min(1.0, 1.0 / np.linalg.norm(grad)) if scale_init else 1.0
        elif scale_init:
            gamma = (y_list[-1] @ s_list[-1]) / (y_list[-1] @ y_list[-1])
        want = bfgs_direction(grad, s_list, y_list, gamma)
        got = backend.numpy(ours)
        assert relative_error_norm(got, want) < 1e-4, (k, got, want)
        prev = (params, grad)
        params = params - 0.3 * want


# --- build-time validation ----------------------------------------------------------------
BAD = [
    (lambda: anyopt.scale_by_lbfgs(memory_size=0), "scale_by_lbfgs: memory_size must be >= 1"),
    (lambda: anyopt.lbfgs(memory_size=0), "scale_by_lbfgs: memory_size must be >= 1"),
    (
        lambda: anyopt.scale_by_zoom_linesearch(10, initial_guess_strategy="two"),
        "scale_by_zoom_linesearch: initial_guess_strategy must be one of",
    ),
    (
        lambda: anyopt.scale_by_zoom_linesearch(0),
        "scale_by_zoom_linesearch: max_linesearch_steps must be > 0; got 0",
    ),
    (
        lambda: anyopt.scale_by_zoom_linesearch(10, curv_rtol=-0.1),
        "scale_by_zoom_linesearch: curv_rtol must be >= 0; got -0.1",
    ),
    (
        lambda: anyopt.scale_by_backtracking_linesearch(10, decrease_factor=0.0),
        "scale_by_backtracking_linesearch: decrease_factor must be > 0; got 0.0",
    ),
    (
        lambda: anyopt.scale_by_backtracking_linesearch(-1),
        "scale_by_backtracking_linesearch: max_backtracking_steps must be >= 0; got -1",
    ),
]


@pytest.mark.parametrize("build, message", BAD)
def test_bad_hyperparameters_fail_at_build_time(build, message):
    with pytest.raises(ValueError, match=message):
        build()


# --- verbose diagnostics ------------------------------------------------------------------
@pytest.mark.parametrize("framework", AUTODIFF)
def test_verbose_line_searches_explain_a_failure(framework, capfd):
    """An ascent direction: no step gives sufficient decrease, and the searches say why."""
    backend = Backend(framework)
    f, x0 = quadratic(backend)
    params = backend.array(x0)
    value, grad = _autodiff.value_and_grad(f, name="value_and_grad_from_state")(params)
    for tx in (
        anyopt.scale_by_zoom_linesearch(4, verbose=True),
        anyopt.scale_by_backtracking_linesearch(4, verbose=True),
    ):
        updates, state = tx.update(
            grad, tx.init(params), params, value=value, grad=grad, value_fn=f
        )
        if framework == "jax":
            jax.effects_barrier()
        assert float(backend.numpy(state.info.decrease_error)) > 0
    out = capfd.readouterr().out
    assert "not a descent direction" in out  # zoom
    assert "Backtracking linesearch failed" in out


# --- complex parameters ---------------------------------------------------------------------
COMPLEX_TARGET = (np.array([1 + 2j, -0.5 + 0.25j, 0.3 - 1j, 2 - 0.5j])).astype(np.complex64)
COMPLEX_SOLVERS = {
    "backtracking": lambda lib: lib.chain(
        lib.sgd(0.5), lib.scale_by_backtracking_linesearch(15, store_grad=True)
    ),
    "zoom": lambda lib: lib.chain(lib.sgd(1.0), lib.scale_by_zoom_linesearch(15)),
    "lbfgs": lambda lib: lib.lbfgs(),
}


def complex_run(lib, framework, solver, steps=4):
    """Minimises ``sum |A p - t|^2`` over complex ``p``. Gradients are the steepest-ascent
    direction on every framework: JAX's (its conjugate) are conjugated first, as optax's
    tests do; the ``grad=`` argument is what the framework's autodiff gives."""
    backend = Backend(framework)
    a = backend.array(A_MAT[:4, :4].astype(np.complex64))
    t = backend.array(COMPLEX_TARGET)

    def f(p):
        r = _ops.matmul(a, p) - t
        return _ops.sum(_ops.real(r * _ops.conj(r)))

    tx = COMPLEX_SOLVERS[solver](lib)
    p = backend.array(np.zeros(4, np.complex64))
    state = tx.init(p)
    value_and_grad = lib.value_and_grad_from_state(f)
    for _ in range(steps):
        value, grad = value_and_grad(p, state=state)
        ascent = _ops.conj(grad) if framework == "jax" else grad
        updates, state = tx.update(ascent, state, p, value=value, grad=grad, value_fn=f)
        p = lib.apply_updates(p, updates)
    return np.asarray(anyopt.backends.of(p).to_numpy(p))


@pytest.mark.parametrize("solver", sorted(COMPLEX_SOLVERS))
@pytest.mark.parametrize("framework", AUTODIFF)
def test_complex_parameters_follow_optax(framework, solver):
    want = complex_run(optax, "jax", solver)
    if solver == "zoom" and framework != "jax":
        # optax's zoom search starts from the slope Re<u, conj(g)> with JAX's conjugated g,
        # not the directional derivative its later steps use; in that inconsistent regime
        # XLA-compiled and eager runs pick different steps. anyopt keeps optax's formula
        # (equal to optax on JAX); eager frameworks are compared with eager JAX.
        with jax.disable_jit():
            want = complex_run(anyopt, "jax", solver)
    got = complex_run(anyopt, framework, solver)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert np.abs(want).max() > 0.1  # the solver moved
