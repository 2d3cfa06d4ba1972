"""anyopt.monte_carlo: each estimator's sample mean converges to the analytic gradient of a
Gaussian expectation, control variates cut the variance, the optax README example runs.

Truths, for x ~ N(mu, sigma^2) per coordinate (sigma = exp(log_scale)):
  E[w . x]      = w . mu                      -> d/dmu = w,       d/dlog_sigma = 0
  E[x^2]        = mu^2 + sigma^2              -> d/dmu = 2 mu,    d/dlog_sigma = 2 sigma^2
  E[sin x]      = sin(mu) exp(-sigma^2 / 2)   -> d/dmu = cos(mu) exp(-sigma^2 / 2),
                                                 d/dlog_sigma = -sigma^2 sin(mu) exp(-sigma^2 / 2)
A sample mean passes if it is within 5 standard errors (plus float32 slack) of the truth.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from anyopt import monte_carlo as mc

from conftest import FRAMEWORKS, Backend

AUTODIFF = [f for f in FRAMEWORKS if f != "numpy"]
DOC = Path(__file__).parents[1] / "docs" / "monte_carlo.md"

MEAN = np.array([0.5, -1.0, 1.5], np.float32)
LOG_SCALE = np.array([-0.5, -0.2, 0.1], np.float32)
WEIGHTS = np.array([2.0, -1.0, 0.5], np.float32)

ESTIMATORS = {
    "score_function": mc.score_function_jacobians,
    "pathwise": mc.pathwise_jacobians,
    "measure_valued": mc.measure_valued_jacobians,
}
# Samples per estimator (NumPy maps f with a Python loop: fewer there), and the largest
# 5-standard-error bound a test accepts (plus 5% of the truth). The score function has the
# largest variance, as expected of it.
NUM_SAMPLES = {"score_function": 100_000, "pathwise": 20_000, "measure_valued": 20_000}
NUMPY_SAMPLES = 4_000
CAPS = {"score_function": 0.3, "pathwise": 0.1, "measure_valued": 0.1, "numpy": 0.3}


def num_samples(backend: Backend, estimator_name: str) -> int:
    return NUMPY_SAMPLES if backend.name == "numpy" else NUM_SAMPLES[estimator_name]


def cap(backend: Backend, estimator_name: str) -> float:
    return CAPS["numpy" if backend.name == "numpy" else estimator_name]


def xp(backend: Backend):
    """The framework's array namespace (sum, sin ...)."""
    if backend.name == "jax":
        import jax.numpy as jnp

        return jnp
    if backend.name == "torch":
        import torch

        return torch
    if backend.name == "mlx":
        import mlx.core as mx

        return mx
    return np


def rng(backend: Backend, seed: int):
    """The framework's own randomness: a JAX key, a torch.Generator, an MLX key, a seed.

    On JAX a typed key of the "rbg" generator, which XLA compiles faster than threefry
    (the README and vmap tests use ``PRNGKey``)."""
    if backend.name == "jax":
        import jax

        return jax.random.key(seed, impl="rbg")
    if backend.name == "torch":
        import torch

        return torch.Generator().manual_seed(seed)
    if backend.name == "mlx":
        import mlx.core as mx

        return mx.random.key(seed)
    return seed


def functions(backend: Backend):
    """name -> (f, d E f / d mean, d E f / d log_scale) at any (mean, log_scale)."""
    ns, w = xp(backend), backend.array(WEIGHTS)

    def sine_truth(mu, log_scale):
        var = np.exp(2 * log_scale)
        damp = np.exp(-var / 2)
        return np.cos(mu) * damp, -var * np.sin(mu) * damp

    return {
        "linear": (
            lambda x: ns.sum(x * w),
            lambda mu, ls: (WEIGHTS + 0 * mu, 0 * mu),
        ),
        "quadratic": (
            lambda x: ns.sum(x * x),
            lambda mu, ls: (2 * mu, 2 * np.exp(2 * ls)),
        ),
        "sin": (lambda x: ns.sum(ns.sin(x)), sine_truth),
    }


def run(backend: Backend, estimator, *args, **kwargs):
    """``estimator(*args)``, under ``jax.jit`` on JAX (function, builder, num_samples static)."""
    if backend.name == "jax":
        import jax

        static = {"static_argnames": "coupling"} if "coupling" in kwargs else {}
        seed = (3,) if isinstance(args[3], int) else ()  # an int seed is static under jit
        return jax.jit(estimator, static_argnums=(0, 2, 4) + seed, **static)(*args, **kwargs)
    return estimator(*args, **kwargs)


def jit_on_jax(backend: Backend, fn):
    """``fn`` under ``jax.jit`` on JAX (one compilation for the whole test), else itself."""
    if backend.name == "jax":
        import jax

        return jax.jit(fn)
    return fn


def to_numpy(backend: Backend, jacobians) -> list:
    return [backend.numpy(j) for j in jacobians]


def assert_converges(rows: np.ndarray, truth: np.ndarray, cap: float = 0.1, what: str = ""):
    """The row mean is within 5 standard errors of ``truth``; the bound itself is tight."""
    n = rows.shape[0]
    stderr = rows.std(axis=0) / np.sqrt(n)
    bound = 5 * stderr + 1e-4 * (1 + np.abs(truth))
    assert np.all(bound < cap + 0.05 * np.abs(truth)), f"{what}: test too loose: bound {bound}"
    error = np.abs(rows.mean(axis=0) - truth)
    assert np.all(error <= bound), f"{what}: mean {rows.mean(axis=0)}, truth {truth}, bound {bound}"


def cases():
    for name in ESTIMATORS:
        for framework in FRAMEWORKS if name == "measure_valued" else AUTODIFF:
            yield pytest.param(framework, name, id=f"{framework}-{name}")


@pytest.mark.parametrize("framework, estimator_name", list(cases()))
def test_sample_mean_converges_to_the_analytic_gradient(framework, estimator_name):
    """For f linear, quadratic and sin (one jitted call for the three on JAX)."""
    backend = Backend(framework)
    n, estimator = num_samples(backend, estimator_name), ESTIMATORS[estimator_name]
    fs = functions(backend)

    def estimate(params, key):
        return {name: estimator(f, params, mc.multi_normal, key, n) for name, (f, _) in fs.items()}

    params = [backend.array(MEAN), backend.array(LOG_SCALE)]
    results = jit_on_jax(backend, estimate)(params, rng(backend, 1))
    for name, (_, truth) in fs.items():
        mean_rows, log_scale_rows = to_numpy(backend, results[name])
        assert mean_rows.shape == log_scale_rows.shape == (n, 3), name
        true_mean_grad, true_log_scale_grad = truth(MEAN.astype(np.float64), LOG_SCALE)
        assert_converges(mean_rows, true_mean_grad, cap(backend, estimator_name), name)
        assert_converges(log_scale_rows, true_log_scale_grad, cap(backend, estimator_name), name)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_measure_valued_coupling(framework):
    """Uncoupled samples converge too. For f symmetric about the mean, the coupled mean
    differences f(mu + s w) - f(mu - s w) vanish, and the Maxwell coupling (z = u m) halves
    the log-scale variance: Var[m^2 (1 - u^2)] = 4 against Var[m^2 - z^2] = 8."""
    backend = Backend(framework)
    ns, centre = xp(backend), backend.array(MEAN)

    def f(x):
        return ns.sum((x - centre) * (x - centre))

    var = np.exp(2 * LOG_SCALE.astype(np.float64))
    truths = [0 * var, 2 * var]  # E f = sum sigma^2, whatever the mean
    params = [backend.array(MEAN), backend.array(LOG_SCALE)]
    n, key = num_samples(backend, "measure_valued"), rng(backend, 2)

    def both(params, key):
        coupled = mc.measure_valued_jacobians(f, params, mc.multi_normal, key, n)
        uncoupled = mc.measure_valued_jacobians(f, params, mc.multi_normal, key, n, False)
        return coupled, uncoupled

    coupled, uncoupled = jit_on_jax(backend, both)(params, key)
    for rows, without, true_grad in zip(
        to_numpy(backend, coupled), to_numpy(backend, uncoupled), truths
    ):
        assert_converges(without, true_grad, cap(backend, "measure_valued"))
        assert_converges(rows, true_grad, cap(backend, "measure_valued"))
        assert np.all(rows.var(axis=0) < 0.7 * without.var(axis=0))
    np.testing.assert_allclose(backend.numpy(coupled[0]), 0.0, atol=1e-5)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("shape", [(), (2, 2)])
def test_jacobian_shapes_follow_the_parameters(framework, shape):
    backend = Backend(framework)
    ns = xp(backend)
    params = [backend.array(np.full(shape, 0.3, np.float32)), backend.array(np.zeros(shape, "f"))]
    names = ["measure_valued"] + (["score_function", "pathwise"] if framework != "numpy" else [])
    for name in names:
        call = ESTIMATORS[name]
        args = (lambda x: ns.sum(x * x), params, mc.multi_normal, rng(backend, 0), 7)
        if framework == "jax":  # traced, not compiled: shapes are what is checked here
            import jax

            jacobians = jax.eval_shape(
                lambda p, k: call(args[0], p, args[2], k, 7), params, args[3]
            )
        else:
            jacobians = call(*args)
            assert all(type(j) is type(params[0]) for j in jacobians)
        assert [tuple(j.shape) for j in jacobians] == [(7, *shape)] * 2


# --- random numbers ---------------------------------------------------------------------
@pytest.mark.parametrize("framework", AUTODIFF)
def test_seeds_and_keys_reproduce_samples(framework):
    backend = Backend(framework)
    f = functions(backend)["sin"][0]
    params = [backend.array(MEAN), backend.array(LOG_SCALE)]

    def draw(r):
        return to_numpy(
            backend, run(backend, mc.pathwise_jacobians, f, params, mc.multi_normal, r, 50)
        )[1]

    np.testing.assert_array_equal(draw(3), draw(3))
    assert not np.array_equal(draw(3), draw(4))
    np.testing.assert_array_equal(draw(rng(backend, 5)), draw(rng(backend, 5)))
    if framework == "torch":  # a generator is advanced by each call
        generator = rng(backend, 5)
        first, second = draw(generator), draw(generator)
        assert not np.array_equal(first, second)
        np.testing.assert_array_equal(first, draw(rng(backend, 5)))


def test_numpy_takes_seeds_and_generators():
    params = [MEAN, LOG_SCALE]

    def draw(r):
        return mc.measure_valued_jacobians(np.sum, params, mc.multi_normal, r, 20)[1]

    np.testing.assert_array_equal(draw(3), draw(3))
    assert not np.array_equal(draw(3), draw(4))
    generator = np.random.default_rng(5)
    first, second = draw(generator), draw(generator)  # the generator is advanced
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, draw(np.random.default_rng(5)))


def test_a_key_of_another_framework_is_a_clear_error():
    if not {"jax", "torch"} <= set(FRAMEWORKS):
        pytest.skip("needs JAX and PyTorch")
    torch_backend = Backend("torch")
    params = [torch_backend.array(MEAN), torch_backend.array(LOG_SCALE)]
    with pytest.raises(TypeError, match="rng is a jax object but params are torch arrays"):
        mc.pathwise_jacobians(sum, params, mc.multi_normal, rng(Backend("jax"), 0), 4)


def test_measure_valued_rejects_other_distributions():
    params = [MEAN, LOG_SCALE]
    with pytest.raises(ValueError, match="supports only Gaussians"):
        mc.measure_valued_jacobians(np.sum, params, lambda m, s: None, 0, 4)


@pytest.mark.skipif("jax" not in FRAMEWORKS, reason="needs JAX")
def test_jax_vmap_over_keys():
    import jax

    backend = Backend("jax")
    f = functions(backend)["quadratic"][0]
    params = [backend.array(MEAN), backend.array(LOG_SCALE)]
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    batched = jax.jit(jax.vmap(lambda k: mc.pathwise_jacobians(f, params, mc.multi_normal, k, 10)))(
        keys
    )
    assert [j.shape for j in batched] == [(4, 10, 3)] * 2
    one = mc.pathwise_jacobians(f, params, mc.multi_normal, keys[2], 10)
    np.testing.assert_allclose(np.asarray(batched[0][2]), np.asarray(one[0]), rtol=1e-6)


# --- NumPy: no autodiff -------------------------------------------------------------------
def test_numpy_raises_for_what_needs_autodiff():
    params = [MEAN, LOG_SCALE]
    calls = {
        "score_function_jacobians": lambda: mc.score_function_jacobians(
            np.sum, params, mc.multi_normal, 0, 4
        ),
        "pathwise_jacobians": lambda: mc.pathwise_jacobians(np.sum, params, mc.multi_normal, 0, 4),
        "control_variates_jacobians": lambda: mc.control_variates_jacobians(
            np.sum,
            mc.moving_avg_baseline,
            mc.measure_valued_jacobians,
            params,
            mc.multi_normal,
            0,
            4,
            (0.0, 0),
        ),
        "control_delta_method": lambda: mc.control_delta_method(np.sum)[0](params, MEAN),
    }
    for name, call in calls.items():
        with pytest.raises(
            NotImplementedError, match=f"{name} does not run on numpy.*jax, torch, mlx"
        ):
            call()


def test_numpy_runs_the_baseline_and_coefficients_with_measure_valued():
    cv, expected_cv, update_state = mc.moving_avg_baseline(np.sum)
    samples = mc.multi_normal(MEAN, LOG_SCALE).sample((100,), np.array([0, 1], np.uint32))
    value, count = update_state([MEAN, LOG_SCALE], samples, (0.0, 0))
    np.testing.assert_allclose(value, samples.sum(axis=1).mean(), rtol=1e-6)
    assert count == 1 and cv(None, samples[0], (value, 1)) == expected_cv(None, (value, 1))
    coeffs = mc.estimate_control_variate_coefficients(
        np.sum,
        mc.moving_avg_baseline,
        mc.measure_valued_jacobians,
        [MEAN, LOG_SCALE],
        mc.multi_normal,
        0,
        20,
        (value, 1),
    )
    assert len(coeffs) == 2  # a constant baseline: no covariance with f's Jacobians
    np.testing.assert_allclose(np.asarray(coeffs, np.float64), 0.0, atol=1e-6)


# --- control variates ---------------------------------------------------------------------
@pytest.mark.parametrize("framework", AUTODIFF)
def test_delta_method_is_the_second_order_taylor_expansion(framework):
    backend = Backend(framework)
    fs = functions(backend)
    params = [backend.array(MEAN), backend.array(LOG_SCALE)]
    mu, var = MEAN.astype(np.float64), np.exp(2 * LOG_SCALE.astype(np.float64))
    points = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    c = points - mu

    cv, expected_cv, update_state = mc.control_delta_method(fs["quadratic"][0])
    cvs = jit_on_jax(backend, lambda p, xs: [cv(p, x) for x in xs])(params, backend.array(points))
    # exact for a quadratic: h(x) = f(x), E h = sum(mu^2 + sigma^2)
    np.testing.assert_allclose(
        [backend.numpy(v) for v in cvs], np.sum(c * c + 2 * mu * c + mu**2, 1), 1e-5
    )
    expected = jit_on_jax(backend, lambda p: expected_cv(p, None))(params)
    np.testing.assert_allclose(backend.numpy(expected), np.sum(mu**2 + var), rtol=1e-5)
    assert update_state(params, None, None) is None

    cv, expected_cv, _ = mc.control_delta_method(fs["sin"][0])
    cvs = jit_on_jax(backend, lambda p, xs: [cv(p, x) for x in xs])(params, backend.array(points))
    taylor = np.sum(np.sin(mu) + np.cos(mu) * c - np.sin(mu) * c * c / 2, axis=1)
    np.testing.assert_allclose([backend.numpy(v) for v in cvs], taylor, rtol=1e-5, atol=1e-6)
    expected = jit_on_jax(backend, lambda p: expected_cv(p, None))(params)
    np.testing.assert_allclose(backend.numpy(expected), np.sum(np.sin(mu) * (1 - var / 2)), 1e-5)


def _moving_average_reference(value, i, mean_f, decay, zero_debias, heuristic):
    beta = min(decay, (1.0 + i) / (10.0 + i)) if heuristic else decay
    new = beta * value + (1 - beta) * mean_f
    return new / (1 - beta ** (i + 1)) if zero_debias else new


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_moving_average_baseline_update(framework):
    backend = Backend(framework)
    f = functions(backend)["linear"][0]
    samples = np.random.default_rng(1).normal(size=(50, 3)).astype(np.float32)
    mean_f = float(np.mean(samples.astype(np.float64) @ WEIGHTS))
    settings = [(0.9, False, False), (0.99, True, True), (0.9, True, False)]
    for decay, zero_debias, heuristic in settings:
        cv, expected_cv, update_state = mc.moving_avg_baseline(f, decay, zero_debias, heuristic)
        for value, i in [(0.0, 0), (2.0, 3)]:
            new_value, count = update_state(None, backend.array(samples), (value, i))
            want = _moving_average_reference(value, i, mean_f, decay, zero_debias, heuristic)
            np.testing.assert_allclose(backend.numpy(new_value), want, rtol=1e-5)
            assert count == i + 1
            assert cv(None, backend.array(samples[0]), (new_value, count)) is new_value
            assert expected_cv(None, (new_value, count)) is new_value


def _cv_case(backend, estimator, control_variate, f, state, coeffs, n, log_scale=LOG_SCALE):
    """``control_variates_jacobians`` and the plain estimator from the same key (one jitted
    call on JAX), as NumPy arrays, with the returned state."""
    params = [backend.array(MEAN), backend.array(log_scale)]

    def both(params, state):
        jacobians, new_state = mc.control_variates_jacobians(
            f,
            control_variate,
            estimator,
            params,
            mc.multi_normal,
            rng(backend, 7),
            n,
            state,
            coeffs,
        )
        plain = estimator(f, params, mc.multi_normal, rng(backend, 7), n)
        return jacobians, new_state, plain

    jacobians, new_state, plain = jit_on_jax(backend, both)(params, state)
    return to_numpy(backend, jacobians), new_state, to_numpy(backend, plain)


@pytest.mark.parametrize("framework", AUTODIFF)
@pytest.mark.parametrize("estimator_name", list(ESTIMATORS))
def test_delta_method_removes_the_variance_of_a_quadratic(framework, estimator_name):
    backend = Backend(framework)
    f, truth = functions(backend)["quadratic"]
    with_cv, state, plain = _cv_case(
        backend, ESTIMATORS[estimator_name], mc.control_delta_method, f, None, False, 2000
    )
    assert state is None
    for rows, plain_rows, true_grad in zip(with_cv, plain, truth(MEAN, LOG_SCALE)):
        assert rows.shape == plain_rows.shape == (2000, 3)
        # f - h = 0: every row is the exact gradient of E[h] = E[f]
        assert np.all(rows.var(axis=0) < 1e-6 * plain_rows.var(axis=0) + 1e-8)
        np.testing.assert_allclose(rows.mean(axis=0), true_grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("framework", AUTODIFF)
@pytest.mark.parametrize("estimator_name", ["score_function", "pathwise"])
def test_delta_method_is_unbiased_and_lowers_variance_where_taylor_is_good(
    framework, estimator_name
):
    """sin under narrow Gaussians (sigma <= 0.37): the expansion tracks f closely."""
    backend = Backend(framework)
    f, truth = functions(backend)["sin"]
    log_scale = np.array([-1.5, -1.2, -1.0], np.float32)
    coeffs = estimator_name != "pathwise"  # both ways of weighting the control variate
    with_cv, _, plain = _cv_case(
        backend,
        ESTIMATORS[estimator_name],
        mc.control_delta_method,
        f,
        None,
        coeffs,
        20_000,
        log_scale,
    )
    for rows, plain_rows, true_grad in zip(with_cv, plain, truth(MEAN, log_scale)):
        assert_converges(rows, true_grad, cap=0.05)
        assert np.all(rows.var(axis=0) < 0.5 * plain_rows.var(axis=0))


@pytest.mark.parametrize("framework", AUTODIFF)
def test_moving_average_baseline_lowers_score_function_variance(framework):
    backend = Backend(framework)
    shift = np.float32(3.0)  # far from zero: f alone is a poor multiplier of the score
    linear, truth = functions(backend)["linear"]

    def f(x):
        return linear(x) + shift

    n = NUM_SAMPLES["score_function"]
    count_dtype = "int32" if framework == "jax" else None
    state = (backend.array(np.float32(0.0)), backend.array(0, count_dtype) if count_dtype else 0)
    with_cv, (value, count), plain = _cv_case(
        backend, mc.score_function_jacobians, mc.moving_avg_baseline, f, state, False, n
    )
    # the first update (decay 0.1, debiased) sets the baseline to the sample mean of f
    sd_f = np.sqrt(np.sum(WEIGHTS**2 * np.exp(2 * LOG_SCALE)))
    assert abs(float(backend.numpy(value)) - (WEIGHTS @ MEAN + shift)) <= 5 * sd_f / np.sqrt(n)
    assert int(backend.numpy(count)) == 1
    for rows, plain_rows, true_grad in zip(with_cv, plain, truth(MEAN, LOG_SCALE)):
        assert_converges(rows, true_grad, CAPS["score_function"])
        assert np.all(rows.var(axis=0) < 0.5 * plain_rows.var(axis=0))


@pytest.mark.parametrize("framework", AUTODIFF)
def test_baseline_changes_nothing_for_the_pathwise_estimator(framework):
    backend = Backend(framework)
    count = backend.array(2, "int32") if framework == "jax" else 2
    state = (backend.array(np.float32(1.5)), count)
    f = functions(backend)["sin"][0]
    with_cv, new_state, plain = _cv_case(
        backend, mc.pathwise_jacobians, mc.moving_avg_baseline, f, state, False, 500
    )
    for rows, plain_rows in zip(with_cv, plain):
        np.testing.assert_allclose(rows, plain_rows, rtol=1e-5, atol=1e-6)
    assert int(backend.numpy(new_state[1])) == 3


# --- the optax README example -----------------------------------------------------------
README_EXAMPLE = """\
dist_params = [mean, log_scale]
function = lambda x: jnp.sum(x * weights)
jacobians = pathwise_jacobians(
      function, dist_params,
      utils.multi_normal, rng, num_samples)

mean_grads = jnp.mean(jacobians[0], axis=0)
log_scale_grads = jnp.mean(jacobians[1], axis=0)
grads = [mean_grads, log_scale_grads]
optim_update, optim_state = optim.update(grads, optim_state)
updated_dist_params = anyopt.apply_updates(dist_params, optim_update)
"""


def doc_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_docs_show_the_readme_example_verbatim():
    blocks = doc_blocks()
    assert blocks[0] == README_EXAMPLE
    assert [b.count("import ") > 0 for b in blocks[1:]] == [True] * 3


@pytest.mark.parametrize("framework", AUTODIFF)
def test_readme_example_runs_verbatim(framework):
    setup = {"jax": 1, "torch": 2, "mlx": 3}[framework]
    namespace: dict = {}
    exec(compile(doc_blocks()[setup], f"monte_carlo.md {framework} set-up", "exec"), namespace)
    exec(compile(README_EXAMPLE, "optax README example", "exec"), namespace)
    backend = Backend(framework)
    weights = backend.numpy(namespace["weights"])
    jacobians = to_numpy(backend, namespace["jacobians"])
    assert [j.shape for j in jacobians] == [(1000, 3)] * 2
    # linear f: every pathwise row of the mean Jacobian is exactly the weights
    np.testing.assert_allclose(jacobians[0], np.broadcast_to(weights, (1000, 3)), rtol=1e-6)
    log_scale = backend.numpy(namespace["log_scale"])
    assert_converges(jacobians[1], 0 * log_scale, cap=1.0)
    grads = [backend.numpy(g) for g in namespace["grads"]]
    updated = [backend.numpy(p) for p in namespace["updated_dist_params"]]
    for old, grad, new in zip([backend.numpy(namespace["mean"]), log_scale], grads, updated):
        np.testing.assert_allclose(new, old - 0.1 * grad, rtol=1e-6, atol=1e-6)
