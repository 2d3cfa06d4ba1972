"""Complex parameters, as optax 0.2.8 treats them, on every framework.

* convergence on optax's complex64 parabola and Rosenbrock problems (its
  ``alias_test.test_optimization``) for every optimizer optax supports for complex;
* parity with optax (JAX) over a 30-step trajectory on a complex tree, params and state;
* the transformations optax cannot run on complex numbers raise a clear ``ValueError``;
* complex ``mu_dtype`` / ``accumulator_dtype`` / ``state_dtype`` and complex128;
* the core pieces: ``abs_sq``, tree norms, moments, and the backend ops torch and MLX lack.
"""

from __future__ import annotations

import functools

import numpy as np
import optax
import pytest

import anyopt
from anyopt import _ops, _tree, backends

from conftest import Backend, random_tree, relative_error_norm
from optax_cases import BLOCK_STEP, CASES, OPTIMIZERS

JAX = Backend("jax")
RTOL = 1e-5


def to_numpy(x):
    return None if x is None else np.asarray(backends.of(x).to_numpy(x))


# --- convergence: optax's alias_test.test_optimization, complex64 -------------------------
# optax's list minus the optimizers it skips for complex parameters (fromage, noisy_sgd,
# sm3, optimistic_gradient_descent, optimistic_adam, lion, rprop, adadelta, adan,
# polyak_sgd, sign_sgd, signum) and adafactor without a learning rate (never asserted).
SUPPORTED = [
    ("adabelief", {"learning_rate": 1e-2}),
    ("adafactor", {"learning_rate": 5e-3}),
    ("adagrad", {"learning_rate": 1.0}),
    ("adam", {"learning_rate": 1e-1}),
    ("adamax", {"learning_rate": 1e-1}),
    ("adamaxw", {"learning_rate": 1e-1}),
    ("adamw", {"learning_rate": 1e-1}),
    ("amsgrad", {"learning_rate": 1e-1}),
    ("lamb", {"learning_rate": 1e-3}),
    ("lars", {"learning_rate": 1.0}),
    ("nadam", {"learning_rate": 1e-2}),
    ("nadamw", {"learning_rate": 1e-2}),
    ("novograd", {"learning_rate": 1e-3}),
    ("optimistic_adam_v2", {"learning_rate": 2e-3}),
    ("radam", {"learning_rate": 5e-3}),
    ("rmsprop", {"learning_rate": 5e-3}),
    ("rmsprop", {"learning_rate": 5e-3, "momentum": 0.9}),
    ("sgd", {"learning_rate": 1e-3, "momentum": 0.9}),
    ("yogi", {"learning_rate": 1e-1}),
]


def parabola(backend):
    """``sum |p - t|**2``; the descent direction ``conj(jax.grad)`` is ``2 (p - t)``."""
    target = (np.array([1.0, -1.0, 1.0]) * (1 + 1j)).astype(np.complex64)
    t = backend.array(target)
    return backend.array(np.array([-1.0, 10.0, 1.0], np.complex64)), target, lambda p: 2 * (p - t)


def rosenbrock(backend):
    """``|a - x|**2 + b |y - x**2|**2`` with ``a = 1 + 1j``, ``b = 100``; the direction
    ``2 df/d(conj z)`` is ``(2 (x - a) - 4 b conj(x) r, 2 b r)`` with ``r = y - x**2``."""
    a, b = 1 + 1j, 100.0

    def direction(p):
        x, y = p[0], p[1]
        r = y - x * x
        return _ops.stack([2 * (x - a) - 4 * b * _ops.conj(x) * r, 2 * b * r])

    target = np.array([a, a * a], np.complex64)
    return backend.array(np.zeros(2, np.complex64)), target, direction


def test_problems_match_optax_conjugated_jax_gradients():
    import jax
    import jax.numpy as jnp
    from optax._src import numerics

    rng = np.random.default_rng(0)
    for setup in (parabola, rosenbrock):
        p0, target, direction = setup(JAX)
        t = jnp.asarray(target)
        if setup is parabola:

            def objective(p, t=t):
                return jnp.sum(numerics.abs_sq(p - t))

        else:

            def objective(p, t=t):
                return numerics.abs_sq(t[0] - p[0]) + 100.0 * numerics.abs_sq(p[1] - p[0] ** 2)

        for _ in range(3):
            p = jnp.asarray(p0 + (rng.standard_normal(p0.shape) * (1 + 1j)).astype(np.complex64))
            want = np.conj(np.asarray(jax.grad(objective)(p)))
            np.testing.assert_allclose(to_numpy(direction(p)), want, rtol=1e-5, atol=1e-4)


def _stepper(tx, direction, framework):
    def step(p, s):
        u, s = tx.update(direction(p), s, p)
        return anyopt.apply_updates(p, u), s

    if framework == "jax":
        import jax

        return jax.jit(step)
    return step


@pytest.mark.parametrize("setup", [parabola, rosenbrock], ids=["parabola", "rosenbrock"])
@pytest.mark.parametrize(
    ("name", "kwargs"),
    SUPPORTED,
    ids=["-".join([n, *(k for k in kw if k != "learning_rate")]) for n, kw in SUPPORTED],
)
def test_converges_on_complex_problems(name, kwargs, setup, backend):
    """optax's criterion (allclose, rtol = atol = 3e-2) within its 10000 steps."""
    params, target, direction = setup(backend)
    tx = getattr(anyopt, name)(**kwargs)
    state = tx.init(params)
    step = _stepper(tx, direction, backend.name)
    done = False
    for k in range(1, 10001):
        params, state = step(params, state)
        if k % 250 == 0 and np.allclose(to_numpy(params), target, rtol=3e-2, atol=3e-2):
            done = True
            break
    assert done, f"{name} did not reach {target}: {to_numpy(params)}"
    assert backends.dtype_name(_ops.dtype(params)) == "complex64"
    for leaf in _tree.leaves(state):
        assert np.all(np.isfinite(to_numpy(leaf)))


# --- parity with optax on a complex tree -------------------------------------------------
PARITY = [
    # optimizers and transformations optax supports for complex parameters
    "adabelief", "adafactor", "adafactor/factored_momentum_decay", "adagrad", "adam",
    "adam/schedule", "adamax", "adamaxw", "adamw", "amsgrad", "lamb", "lars",
    "lars/nesterov_masks", "nadam", "nadamw", "novograd", "optimistic_adam_v2", "radam",
    "rmsprop", "rmsprop/centered_momentum", "rmsprop/bias_correction", "sgd/momentum", "yogi",
    "scale_by_rss", "scale_by_stddev/bias_correction", "scale_by_factored_rms/factored",
    "scale_by_trust_ratio", "scale_by_adam/nesterov_eps_root", "clip_by_global_norm",
    "clip_by_block_rms", "adaptive_grad_clip", "chain", "trace/nesterov", "ema",
    "keep_params_nonnegative", "monitor",
    # optax's tests skip these for complex, but optax computes them: the same numbers
    "lion", "sign_sgd", "signum", "fromage", "adadelta", "adan", "polyak_sgd",
    "optimistic_gradient_descent", "optimistic_adam",
    # contrib
    "contrib.acprop", "contrib.ademamix", "contrib.simplified_ademamix",
    "contrib.adopt/nesterov_no_clipping", "contrib.cocob", "contrib.dadapt_adamw",
    "contrib.dog", "contrib.dowg", "contrib.mechanize", "contrib.normalize", "contrib.prodigy",
    "contrib.schedule_free_adamw", "contrib.muon",
]  # fmt: skip
# NumPy, torch and MLX divide complex numbers with different rounding from XLA (``a / b``
# with a real-valued ``b`` is exact in XLA, not in NumPy); these amplify it.
PARITY_RTOL = {
    "contrib.dowg": 5e-5,  # ||x_t - x_0||**2 cancels in its first steps
    "contrib.mechanize": 5e-5,  # as for real parameters (capabilities.TOLERANCES)
}


def complex_tree(seed: int) -> dict:
    """``random_tree(seed) + 1j * random_tree(seed + 1000)`` as complex64 (None kept)."""
    return _tree.map(
        lambda a, b: (a + 1j * b).astype(np.complex64), random_tree(seed), random_tree(seed + 1000)
    )


def run_case(lib, backend, case, steps=30):
    tx = CASES[case](lib)
    multiplier = 1.0 if case.split("/")[0] in OPTIMIZERS else BLOCK_STEP
    params = backend.tree(complex_tree(0))
    state = tx.init(params)
    update = tx.update
    if lib is optax:  # compiled: eager JAX dispatches op by op (slow for Muon)
        import jax

        update = jax.jit(tx.update)
    for k in range(steps):
        noise = backend.tree(complex_tree(100 + k))
        grads = _tree.map(lambda n, p: n + 0.1 * p, noise, params)
        updates, state = update(grads, state, params)
        params = lib.apply_updates(params, lib.tree_utils.tree_scale(multiplier, updates))
    return params, state


def plain_leaves(tree) -> list:
    import jax

    def unwrap(x):  # JAX's typed random keys as their raw data
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.key_data(x)
        return x

    return [to_numpy(unwrap(x)) for x in backends.flatten(tree)[0] if x is not None]


@functools.cache
def optax_run(case):
    return run_case(optax, JAX, case)


def assert_tree_close(actual, expected, rtol, what):
    a, e = plain_leaves(actual), plain_leaves(expected)
    assert len(a) == len(e), f"{what}: {len(a)} leaves, optax has {len(e)}"
    for x, y in zip(a, e):
        assert x.dtype == y.dtype or y.dtype.kind not in "fc", f"{what}: {x.dtype} != {y.dtype}"
        assert x.shape == y.shape, f"{what}: shape {x.shape} != {y.shape}"
    inexact = [(x, y) for x, y in zip(a, e) if y.dtype.kind in "fc"]
    for x, y in zip(a, e):
        if y.dtype.kind not in "fc":
            np.testing.assert_array_equal(x, y, err_msg=what)
    if inexact:

        def flat(arrays):
            return np.concatenate([np.asarray(v, np.complex128).ravel() for v in arrays])

        got, want = flat(x for x, _ in inexact), flat(y for _, y in inexact)
        err = relative_error_norm(np.stack([got.real, got.imag]), np.stack([want.real, want.imag]))
        assert err <= rtol, f"{what}: relative error {err:.2e} > {rtol}"


@pytest.mark.parametrize("case", PARITY)
def test_matches_optax_on_complex_tree(case, backend):
    want_params, want_state = optax_run(case)
    params, state = run_case(anyopt, backend, case)
    rtol = PARITY_RTOL.get(case, RTOL)
    assert_tree_close(params, want_params, rtol, f"{case} params")
    assert_tree_close(state, want_state, rtol, f"{case} state")


def test_parity_cases_exist():
    assert set(PARITY) <= CASES.keys()


# --- what optax cannot run on complex numbers raises clearly ------------------------------
REJECTED = {  # name -> (build(lib), message)
    "clip": (lambda lib: lib.clip(1.0), "clip: complex updates are not supported"),
    "rprop": (lambda lib: lib.rprop(0.1), "scale_by_rprop: complex parameters"),
    "sm3": (lambda lib: lib.sm3(0.1), "scale_by_sm3: complex parameters"),
    "adopt": (lambda lib: lib.contrib.adopt(0.1), "scale_by_adopt: complex parameters"),
    "madgrad": (lambda lib: lib.contrib.madgrad(0.1), "scale_by_madgrad: complex parameters"),
}


def mixed_tree(backend):
    return backend.tree({"real": np.ones(2, np.float32), "z": np.ones(3, np.complex64)})


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_unsupported_transformations_raise_clearly(name, backend):
    build, message = REJECTED[name]
    params = mixed_tree(backend)
    tx = build(anyopt)
    with pytest.raises(ValueError, match=message) as info:
        tx.update(params, tx.init(params), params)
    assert "['z'] is complex64" in str(info.value)


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_optax_fails_on_the_rejected_inputs_too(name):
    tx, params = REJECTED[name][0](optax), mixed_tree(JAX)
    with pytest.raises((ValueError, TypeError)):
        tx.update(params, tx.init(params), params)


def test_unsupported_transformations_accept_real_parameters(backend):
    params = backend.tree({"w": np.ones((2, 3), np.float32)})
    for build, _ in REJECTED.values():
        tx = build(anyopt)
        updates, _ = tx.update(params, tx.init(params), params)
        assert _ops.shape(updates["w"]) == (2, 3)


def test_adopt_without_clipping_accepts_complex(backend):
    params = backend.tree({"z": np.full(3, 1 + 2j, np.complex64)})
    tx = anyopt.contrib.adopt(0.1, use_clipping=False)
    state = tx.init(params)
    for _ in range(3):
        updates, state = tx.update(params, state, params)
    assert backends.dtype_name(_ops.dtype(updates["z"])) == "complex64"
    assert np.all(np.isfinite(to_numpy(updates["z"])))


# --- optimizers whose update needs more than the gradient ----------------------------------
def _loss(params) -> float:
    return float(sum(np.sum(np.abs(to_numpy(x)) ** 2) for x in _tree.leaves(params)))


EXTRA = {  # name -> (build(lib), extra update arguments)
    "momo": (lambda lib: lib.contrib.momo(0.1), "value"),
    "momo_adam": (lambda lib: lib.contrib.momo_adam(0.01), "value"),
    "reduce_on_plateau": (
        lambda lib: lib.chain(
            lib.sgd(0.01), lib.contrib.reduce_on_plateau(patience=2, accumulation_size=2)
        ),
        "value",
    ),
    "dp_aggregate": (
        lambda lib: lib.chain(
            lib.contrib.differentially_private_aggregate(1.0, 0.0, key=0), lib.sgd(0.01)
        ),
        "batch",
    ),
}


def run_extra(lib, backend, name, steps=30):
    build, extra = EXTRA[name]
    tx = build(lib)
    params = backend.tree(complex_tree(0))
    state = tx.init(params)
    for k in range(steps):
        grads = _tree.map(lambda n, p: n + 0.1 * p, backend.tree(complex_tree(100 + k)), params)
        kwargs = {}
        if extra == "value":
            kwargs["value"] = backend.array(np.float32(_loss(params)))
        else:  # per-example gradients: a batch of three
            grads = _tree.map(lambda g: _ops.stack([g, 2 * g, -0.5 * g]), grads)
        updates, state = tx.update(grads, state, params, **kwargs)
        params = lib.apply_updates(params, updates)
    return params, state


@functools.cache
def optax_extra(name):
    return run_extra(optax, JAX, name)


@pytest.mark.parametrize("name", sorted(EXTRA))
def test_value_and_per_example_optimizers_match_optax(name, backend):
    want_params, want_state = optax_extra(name)
    params, state = run_extra(anyopt, backend, name)
    assert_tree_close(params, want_params, RTOL, f"{name} params")
    if name != "dp_aggregate":  # the key in the state is the framework's own
        assert_tree_close(state, want_state, RTOL, f"{name} state")


def test_distance_over_gradients_keeps_complex_x0_and_converges(backend):
    """Deviation from optax (docs/differences.md): real norms of |x|, complex x_0."""
    params, target, direction = parabola(backend)
    tx = anyopt.chain(anyopt.scale_by_distance_over_gradients(), anyopt.scale(-1.0))
    state = tx.init(params)
    x0 = state[0].init_params
    assert backends.dtype_name(_ops.dtype(x0)) == "complex64"
    np.testing.assert_array_equal(to_numpy(x0), to_numpy(params))
    for _ in range(2000):
        updates, state = tx.update(direction(params), state, params)
        params = anyopt.apply_updates(params, updates)
    assert backends.dtype_name(_ops.dtype(state[0].max_dist)) == "float32"
    np.testing.assert_allclose(to_numpy(params), target, rtol=3e-2, atol=3e-2)


# --- complex state dtypes (optax's test_explicit_dtype) -----------------------------------
STATE_DTYPE = {  # name -> (build(dtype), the state field holding the dtype)
    "sgd": (lambda d: anyopt.sgd(0.1, momentum=0.9, accumulator_dtype=d), "trace"),
    "adam": (lambda d: anyopt.adam(0.1, mu_dtype=d), "mu"),
    "adamw": (lambda d: anyopt.adamw(0.1, mu_dtype=d), "mu"),
    "amsgrad": (lambda d: anyopt.amsgrad(0.1, mu_dtype=d), "mu"),
    "schedule_free": (
        lambda d: anyopt.contrib.schedule_free(anyopt.sgd(1.0), 1.0, state_dtype=d),
        "z",
    ),
}


def state_field(state, field):
    found = []

    def visit(node):
        if isinstance(node, tuple) and hasattr(type(node), "_fields"):
            if field in node._fields:
                found.append(getattr(node, field))
            for child in node:
                visit(child)
        elif isinstance(node, (tuple, list)):
            for child in node:
                visit(child)

    visit(state)
    assert len(found) == 1, f"{field}: {found}"
    return found[0]


@pytest.mark.parametrize("params_dtype", ["float32", "complex64"])
@pytest.mark.parametrize("name", sorted(STATE_DTYPE))
def test_complex_state_dtypes_are_honoured(name, params_dtype, backend):
    build, field = STATE_DTYPE[name]
    params = backend.array(np.array([0.5, -1.0]), params_dtype)
    grads = backend.array(np.array([1.0, 2.0]), params_dtype)
    for state_dtype in ("complex64", backend.dtype("complex64"), None):
        tx = build(state_dtype)
        state = tx.init(params)
        want = params_dtype if state_dtype is None else "complex64"
        assert backends.dtype_name(_ops.dtype(state_field(state, field))) == want
        updates, state = tx.update(grads, state, params)
        assert backends.dtype_name(_ops.dtype(state_field(state, field))) == want
        assert np.all(np.isfinite(to_numpy(updates)))


def test_complex_mu_dtype_matches_optax(backend):
    def run(lib, b):
        tx = lib.adam(0.1, mu_dtype="complex64")
        params = b.array(np.array([0.5, -1.0, 2.0], np.float32))
        state = tx.init(params)
        for k in range(10):
            updates, state = tx.update(params * (k + 1) - 1.0, state, params)
            params = lib.apply_updates(params, updates)
        return params, state

    want = run(optax, JAX)
    got = run(anyopt, backend)
    assert_tree_close(got[0], want[0], RTOL, "params")
    assert_tree_close(got[1], want[1], RTOL, "state")


# --- complex128 -------------------------------------------------------------------------
COMPLEX128 = ["adam", "rmsprop/centered_momentum", "adagrad", "lamb", "radam", "yogi", "lion"]


@pytest.mark.parametrize("case", COMPLEX128)
def test_complex128_keeps_dtype_and_matches_optax_x64(case, backend):
    import jax

    if backend.name == "mlx":
        pytest.skip("MLX has no complex128")

    def run(lib, b):
        tx = CASES[case](lib)
        params = b.tree(_tree.map(lambda x: x.astype(np.complex128), complex_tree(0)))
        state = tx.init(params)
        for k in range(10):
            noise = b.tree(_tree.map(lambda x: x.astype(np.complex128), complex_tree(100 + k)))
            grads = _tree.map(lambda n, p: n + 0.1 * p, noise, params)
            updates, state = tx.update(grads, state, params)
            params = lib.apply_updates(params, updates)
        return params, state

    with jax.enable_x64(True):
        want = run(optax, JAX)
        got = run(anyopt, backend)
    for leaf in plain_leaves(got[0]):
        assert leaf.dtype == np.complex128
    assert_tree_close(got[0], want[0], 1e-12, "params")
    assert_tree_close(got[1], want[1], 1e-12, "state")


# --- the core pieces ------------------------------------------------------------------------
def sample(seed=0, shape=(4, 3)):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def test_abs_sq_is_real_and_exact(backend):
    z = sample()
    out = _ops.abs_sq(backend.array(z))
    assert backends.dtype_name(_ops.dtype(out)) == "float32"
    want = z.real.astype(np.float64) ** 2 + z.imag.astype(np.float64) ** 2
    np.testing.assert_allclose(to_numpy(out), want, rtol=1e-6)
    x = backend.array(z.real)
    np.testing.assert_array_equal(to_numpy(_ops.abs_sq(x)), to_numpy(x * x))
    assert _ops.is_complex(backend.array(z)) and not _ops.is_complex(x)
    assert _ops.real_part(x) is x
    np.testing.assert_array_equal(to_numpy(_ops.real_part(backend.array(z))), z.real)


@pytest.mark.parametrize("ord_", [None, 1, "inf"])
@pytest.mark.parametrize("squared", [False, True])
def test_tree_norm_of_complex_leaves(ord_, squared, backend):
    tree = {"a": sample(1), "b": [sample(2, (5,))]}
    flat = np.concatenate([sample(1).ravel(), sample(2, (5,)).ravel()]).astype(np.complex128)
    want = {None: np.linalg.norm(flat), 1: np.sum(np.abs(flat)), "inf": np.max(np.abs(flat))}[ord_]
    got = _tree.norm(backend.tree(tree), ord_, squared)
    assert not _ops.is_complex(got)
    np.testing.assert_allclose(float(to_numpy(got)), want**2 if squared else want, rtol=1e-5)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_update_moment_per_elem_norm_complex(order, backend):
    g, m = sample(3), sample(4)
    got = _tree.update_moment_per_elem_norm(backend.array(g), backend.array(m), 0.9, order)
    assert backends.dtype_name(_ops.dtype(got)) == "complex64"  # the moment's dtype
    want = 0.1 * np.abs(g.astype(np.complex128)) ** order + 0.9 * m.astype(np.complex128)
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-5)


def test_update_moment_integer_powers_of_complex_are_products(backend):
    """MLX's complex ``**`` goes through exp/log; integer orders multiply, as XLA does."""
    g, zero = backend.array(sample(5)), backend.array(np.zeros((4, 3), np.complex64))
    for order, want in [(1, g), (2, g * g), (3, g * g * g)]:
        got = _tree.update_moment(g, zero, 0.0, order)
        np.testing.assert_array_equal(to_numpy(got), to_numpy(want))


def test_complex_state_dtypes_pass_validation():
    for fn in (anyopt.adam, anyopt.adamw, anyopt.amsgrad, anyopt.lion):
        fn(0.1, mu_dtype="complex64")
        with pytest.raises(ValueError, match="mu_dtype must be a floating dtype"):
            fn(0.1, mu_dtype="int32")
    anyopt.sgd(0.1, 0.9, accumulator_dtype="complex128")


def test_tree_dtype_with_complex_leaves(backend):
    tree = {"z": backend.array(sample()), "x": backend.array(np.ones(2, np.float32))}
    assert backends.dtype_name(_tree.dtype({"z": tree["z"]}, "lowest")) == "complex64"
    assert backends.dtype_name(_tree.dtype(tree, "lowest")) == "float32"
    assert backends.dtype_name(_tree.dtype(tree, "highest")) == "complex64"


def test_complex_to_real_casts_keep_the_real_part_silently(backend):
    z = sample(6)
    out = _ops.astype(backend.array(z), "float32")  # warnings are errors in this suite
    np.testing.assert_array_equal(to_numpy(out), z.real)


# --- backend ops on complex leaves (NumPy's semantics everywhere) ---------------------------
def test_sign_of_complex_is_z_over_abs(backend):
    z = np.concatenate([sample(7).ravel(), np.zeros(1, np.complex64)])
    want = np.where(z == 0, 0, z / np.where(z == 0, 1, np.abs(z)))
    np.testing.assert_allclose(to_numpy(_ops.sign(backend.array(z))), want, rtol=1e-6, atol=1e-7)


def test_complex_maximum_minimum_and_reductions_are_lexicographic(backend):
    a = np.array([1 + 1j, 2 + 0j, 1 + 3j, -1 + 0j], np.complex64)
    b = np.array([1 + 2j, 1 + 5j, 1 + 3j, -1 - 1j], np.complex64)
    x, y = backend.array(a), backend.array(b)
    np.testing.assert_array_equal(to_numpy(_ops.maximum(x, y)), np.maximum(a, b))
    np.testing.assert_array_equal(to_numpy(_ops.minimum(x, y)), np.minimum(a, b))
    r = np.array([1.5, 1.5, 0.5, 3.0], np.float32)  # real against complex: promoted
    np.testing.assert_array_equal(to_numpy(_ops.maximum(backend.array(r), x)), np.maximum(r, a))
    m = np.stack([a, b])
    for axis in (None, 0, 1):
        for fn, ref in ((_ops.max, np.max), (_ops.min, np.min)):
            got = fn(backend.array(m), axis=axis, keepdims=True)
            np.testing.assert_array_equal(to_numpy(got), ref(m, axis=axis, keepdims=True))


def test_complex_fills_and_zeros_keep_complex_dtype(backend):
    like = backend.array(sample())
    for out in (_ops.full_like(like, 0.5), _ops.zeros_like(like), _tree.ones_like(like)):
        assert backends.dtype_name(_ops.dtype(out)) == "complex64"
    np.testing.assert_array_equal(to_numpy(_ops.full_like(like, 0.5)), np.full((4, 3), 0.5 + 0j))
    real = backend.array(np.ones(3, np.float32))
    assert backends.dtype_name(_ops.dtype(_ops.full_like(real, 1, "complex64"))) == "complex64"


def test_complex_normal_draws_have_unit_variance(backend):
    b = backends.load(backend.name)
    draws = to_numpy(b.normal(b.key(0), (20000,), b.dtype("complex64")))
    assert draws.dtype == np.complex64
    assert abs(np.var(draws.real) - 0.5) < 0.03 and abs(np.var(draws.imag) - 0.5) < 0.03
    assert abs(np.mean(draws)) < 0.03
