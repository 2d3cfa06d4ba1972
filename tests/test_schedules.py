"""Schedules agree with ``optax.schedules`` for every count, on every framework.

Python int counts are compared with optax evaluated in float64 (``jax.enable_x64``), as
anyopt computes them in Python/NumPy double precision. Counts that are int32 0-d arrays
give float32 results and are compared with optax on ``jnp.int32`` counts; near-zero values
of a float32 cosine differ by a few float32 ulps between libraries, so that comparison also
allows an absolute error of ``ULPS`` float32 ulps at the schedule's scale.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import anyopt
from anyopt import backends

N = 61  # counts 0..60, past every transition and decay below
RTOL = 1e-6
ULPS = 4 * 2.0**-23

# name -> (build(lib), constant?) ; constant schedules return their value unchanged.
CASES = {
    "constant": (lambda L: L.constant_schedule(0.3), True),
    "linear": (lambda L: L.linear_schedule(0.1, 0.001, 30), False),
    "linear/increasing": (lambda L: L.linear_schedule(0.0, 1.0, 20), False),
    "linear/transition_begin": (lambda L: L.linear_schedule(0.1, 0.001, 30, 5), False),
    "linear/zero_steps": (lambda L: L.linear_schedule(0.1, 0.001, 0, 5), True),
    "linear/negative_steps": (lambda L: L.linear_schedule(0.2, 0.0, -3), True),
    "polynomial/square": (lambda L: L.polynomial_schedule(1.0, 0.0, 2, 40, 3), False),
    "polynomial/sqrt": (lambda L: L.polynomial_schedule(0.5, 0.05, 0.5, 25), False),
    "polynomial/begin_past_end": (lambda L: L.polynomial_schedule(1.0, 0.1, 3, 10, 45), False),
    "cosine_decay": (lambda L: L.cosine_decay_schedule(0.1, 40), False),
    "cosine_decay/alpha_exponent": (
        lambda L: L.cosine_decay_schedule(0.1, 30, alpha=0.1, exponent=2.0),
        False,
    ),
    "cosine_decay/one_step": (lambda L: L.cosine_decay_schedule(2.0, 1, alpha=0.25), False),
    "warmup_cosine_decay": (
        lambda L: L.warmup_cosine_decay_schedule(0.0, 1.0, 10, 50, 0.0, 1.5),
        False,
    ),
    "warmup_cosine_decay/end_value": (
        lambda L: L.warmup_cosine_decay_schedule(0.01, 0.5, 5, 35, 0.05),
        False,
    ),
    "warmup_cosine_decay/no_warmup": (
        lambda L: L.warmup_cosine_decay_schedule(0.1, 0.5, 0, 30, 0.05),
        False,
    ),
    "join_schedules": (
        lambda L: L.join_schedules(
            [
                L.constant_schedule(1.0),
                L.linear_schedule(1.0, 0.0, 10),
                L.cosine_decay_schedule(0.5, 20),
            ],
            [5, 20],
        ),
        False,
    ),
    "join_schedules/single": (lambda L: L.join_schedules([L.linear_schedule(1, 0, 8)], []), False),
}


@functools.cache
def optax_values(name: str, x64: bool) -> np.ndarray:
    schedule = CASES[name][0](optax)
    if x64:
        with jax.enable_x64(True):
            return np.array([float(schedule(k)) for k in range(N)])
    return np.array([float(schedule(jnp.asarray(k, jnp.int32))) for k in range(N)])


@pytest.mark.parametrize("name", sorted(CASES))
def test_python_int_counts_match_optax(name):
    schedule = CASES[name][0](anyopt)
    out = [schedule(k) for k in range(N)]
    for value in out:
        assert isinstance(value, (int, float)), f"{name}: {type(value)} for a Python int count"
    np.testing.assert_allclose(
        np.array(out, np.float64), optax_values(name, x64=True), rtol=RTOL, atol=0, err_msg=name
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_int32_array_counts_match_optax(name, backend):
    build, constant = CASES[name]
    schedule = build(anyopt)
    out = [schedule(backend.array(np.int32(k))) for k in range(N)]
    if not constant:
        for value in out:
            assert backends.of(value).NAME == backend.name, f"{name}: {type(value)}"
            assert "float" in str(value.dtype), f"{name}: {value.dtype}"
    actual = np.array([float(backend.numpy(v)) for v in out])
    expected = optax_values(name, x64=False)
    scale = float(np.max(np.abs(expected)))
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ULPS * scale, err_msg=name)


def test_schedules_are_covered():
    """Every schedule function anyopt exports has a case above (protocol classes excluded)."""
    covered = {name.split("/")[0] for name in CASES}
    exported = {
        n.removesuffix("_schedule")
        for n in anyopt.schedules.__all__
        if not isinstance(getattr(anyopt.schedules, n), type)
    }
    assert exported <= covered, exported - covered


def test_join_schedules_needs_one_more_schedule_than_boundaries():
    with pytest.raises(ValueError, match="join_schedules"):
        anyopt.join_schedules([anyopt.constant_schedule(1.0)], [5])


def test_schedule_of_a_jitted_jax_count():
    schedule = anyopt.warmup_cosine_decay_schedule(0.0, 1.0, 10, 50)
    expected = optax.warmup_cosine_decay_schedule(0.0, 1.0, 10, 50)
    counts = jnp.arange(N, dtype=jnp.int32)
    np.testing.assert_allclose(
        np.asarray(jax.jit(jax.vmap(schedule))(counts)),
        np.asarray(jax.vmap(expected)(counts)),
        rtol=RTOL,
        atol=ULPS,
    )
