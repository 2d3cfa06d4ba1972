"""Hyperparameters and step counts for ``tests/test_convergence.py``.

``SETUPS[name] = Setup(build, steps, ...)``: ``build(lib, n)`` makes the optimizer for an
``n``-step run with ``lib`` = ``anyopt`` (or ``optax``: the same lambda builds both), and
``steps`` maps each problem to its number of steps. The part of ``name`` before "/" is the
optimizer it covers.

optax's tests run 10,000 steps (30,000 for contrib) with small learning rates: too slow for
NumPy, PyTorch and MLX, which spend ~0.05-0.5 ms of Python per step. So a setup keeps
optax's hyperparameters (marked "optax's") where they converge within a few hundred steps,
and otherwise takes a larger learning rate, a decaying one (``cos``, ``exp``) or a momentum
option; a "/parabola" + "/rosenbrock" pair where no single choice is fast on both. Steps are
what optax needs with the same setup on JAX, plus ~20%. Optimizers without momentum crawl
along Rosenbrock's curved valley (optax needs thousands of steps there too): their
Rosenbrock runs keep optax's hyperparameters and exceed ``EAGER_MAX_STEPS``, so only JAX's
compiled loop runs them (see test_convergence.py).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, NamedTuple


class Setup(NamedTuple):
    build: Callable[[Any, int], Any]  # (lib, steps) -> GradientTransformation
    steps: dict[str, int]  # problem -> steps
    extra: str = ""  # what update needs besides grads: value | obj_fn | lbfgs | per_example
    eval_params: bool = False  # schedule-free: check schedule_free_eval_params(state, params)
    autodiff: bool = False  # differentiates value_fn itself: NumPy raises NotImplementedError


def both(parabola: int, rosenbrock: int) -> dict[str, int]:
    return {"parabola": parabola, "rosenbrock": rosenbrock}


def cos(lib, peak: float, n: int):
    """Cosine decay from ``peak`` to 0 over the run."""
    return lib.cosine_decay_schedule(peak, n)


def exp(lib, peak: float, n: int, final: float = 1e-2):
    """Exponential decay from ``peak`` to ``final * peak`` over the run."""
    return lib.exponential_decay(peak, n, final)


def quietly(factory, *args, **kwargs):
    """``factory(*args, **kwargs)`` without the DeprecationWarning of a deprecated alias."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return factory(*args, **kwargs)


P, R = "parabola", "rosenbrock"

SETUPS: dict[str, Setup] = {
    # --- top-level aliases (optax/_src/alias_test.py) --------------------------------------
    "adabelief": Setup(lambda lib, n: lib.adabelief(3e-2), both(350, 275)),
    "adadelta/parabola": Setup(lambda lib, n: lib.adadelta(10.0), {P: 550}),
    "adadelta/rosenbrock": Setup(lambda lib, n: lib.adadelta(0.1), {R: 6000}),  # optax's
    "adafactor": Setup(
        lambda lib, n: lib.adafactor(cos(lib, 0.3, n), momentum=0.9), both(200, 450)
    ),
    "adagrad": Setup(lambda lib, n: lib.adagrad(1.0), both(275, 4500)),  # optax's
    "adam": Setup(lambda lib, n: lib.adam(0.1), both(350, 250)),  # optax's
    "adamax": Setup(lambda lib, n: lib.adamax(0.3), both(150, 550)),
    "adamaxw": Setup(lambda lib, n: lib.adamaxw(0.3), both(150, 550)),
    "adamw": Setup(lambda lib, n: lib.adamw(0.1), both(350, 250)),  # optax's
    "adan": Setup(lambda lib, n: lib.adan(0.1), both(700, 450)),  # optax's
    "amsgrad": Setup(lambda lib, n: lib.amsgrad(0.3), both(200, 650)),
    "fromage": Setup(lambda lib, n: lib.fromage(exp(lib, 0.5, n, 1e-3)), both(75, 650)),
    "lamb": Setup(lambda lib, n: lib.lamb(exp(lib, 0.1, n)), both(225, 425)),
    "lars": Setup(lambda lib, n: lib.lars(3.0), both(150, 300)),
    "lbfgs": Setup(lambda lib, n: lib.lbfgs(), both(5, 60), extra="lbfgs", autodiff=True),
    "lion/parabola": Setup(lambda lib, n: lib.lion(cos(lib, 0.3, n), weight_decay=1e-4), {P: 250}),
    "lion/rosenbrock": Setup(
        lambda lib, n: lib.lion(exp(lib, 0.03, n), weight_decay=1e-4), {R: 900}
    ),
    "nadam/parabola": Setup(lambda lib, n: lib.nadam(cos(lib, 1.0, n)), {P: 150}),
    "nadam/rosenbrock": Setup(lambda lib, n: lib.nadam(0.03), {R: 500}),
    "nadamw/parabola": Setup(lambda lib, n: lib.nadamw(cos(lib, 1.0, n)), {P: 150}),
    "nadamw/rosenbrock": Setup(lambda lib, n: lib.nadamw(0.03), {R: 500}),
    "noisy_sgd/parabola": Setup(lambda lib, n: lib.noisy_sgd(1e-2, eta=1e-4, key=0), {P: 375}),
    "noisy_sgd/rosenbrock": Setup(lambda lib, n: lib.noisy_sgd(1e-3, eta=1e-4, key=0), {R: 8500}),
    "novograd": Setup(lambda lib, n: lib.novograd(1e-2), both(200, 100)),
    # optimistic_adam is deprecated (as in optax): built without its DeprecationWarning.
    "optimistic_adam/parabola": Setup(lambda lib, n: quietly(lib.optimistic_adam, 0.06), {P: 650}),
    "optimistic_adam/rosenbrock": Setup(
        lambda lib, n: quietly(lib.optimistic_adam, 2e-3), {R: 1500}
    ),
    "optimistic_adam_v2/parabola": Setup(lambda lib, n: lib.optimistic_adam_v2(0.2), {P: 175}),
    "optimistic_adam_v2/rosenbrock": Setup(lambda lib, n: lib.optimistic_adam_v2(2e-3), {R: 1500}),
    "optimistic_gradient_descent/parabola": Setup(
        lambda lib, n: lib.optimistic_gradient_descent(2e-2, alpha=0.7, beta=0.1), {P: 275}
    ),
    "optimistic_gradient_descent/rosenbrock": Setup(
        lambda lib, n: lib.optimistic_gradient_descent(2e-3, alpha=0.7, beta=0.1), {R: 6000}
    ),
    "polyak_sgd": Setup(lambda lib, n: lib.polyak_sgd(1.0), both(25, 400), extra="value"),
    "radam": Setup(lambda lib, n: lib.radam(3e-2, b2=0.99), both(750, 250)),
    "rmsprop": Setup(lambda lib, n: lib.rmsprop(cos(lib, 2.5e-2, n), momentum=0.9), both(200, 150)),
    "rmsprop/no_momentum": Setup(lambda lib, n: lib.rmsprop(5e-3), {R: 3000}),  # optax's
    "rprop": Setup(lambda lib, n: lib.rprop(0.1), both(100, 3500)),  # optax's
    "sgd": Setup(lambda lib, n: lib.sgd(3e-3, momentum=0.9), both(150, 275)),
    "sign_sgd": Setup(lambda lib, n: lib.sign_sgd(exp(lib, 1.0, n)), both(75, 1700)),
    "signum/parabola": Setup(lambda lib, n: lib.signum(exp(lib, 0.3, n, 1e-3)), {P: 300}),
    "signum/rosenbrock": Setup(lambda lib, n: lib.signum(exp(lib, 0.1, n, 1e-3)), {R: 1150}),
    "sm3": Setup(lambda lib, n: lib.sm3(3.0), both(150, 400)),
    "yogi": Setup(lambda lib, n: lib.yogi(0.1), both(350, 250)),  # optax's
    # --- optax.contrib (optax/contrib/_common_test.py) --------------------------------------
    "acprop/parabola": Setup(lambda lib, n: lib.contrib.acprop(3e-2), {P: 450}),
    "acprop/rosenbrock": Setup(lambda lib, n: lib.contrib.acprop(1e-3), {R: 26000}),  # optax's
    "ademamix/parabola": Setup(lambda lib, n: lib.contrib.ademamix(cos(lib, 1.0, n)), {P: 150}),
    "ademamix/rosenbrock": Setup(lambda lib, n: lib.contrib.ademamix(cos(lib, 0.3, n)), {R: 1150}),
    "adopt/parabola": Setup(lambda lib, n: lib.contrib.adopt(1.0), {P: 150}),
    "adopt/rosenbrock": Setup(lambda lib, n: lib.contrib.adopt(cos(lib, 0.1, n)), {R: 550}),
    "cocob": Setup(lambda lib, n: lib.contrib.cocob(), both(75, 24000)),  # optax's
    "dadapt_adamw": Setup(
        lambda lib, n: lib.contrib.dadapt_adamw(cos(lib, 1.0, n)), both(200, 300)
    ),
    "dog": Setup(lambda lib, n: lib.contrib.dog(1.0), both(200, 6500)),  # optax's
    "dowg": Setup(lambda lib, n: lib.contrib.dowg(1.0), both(75, 8500)),  # optax's
    "dpsgd": Setup(
        lambda lib, n: lib.contrib.dpsgd(
            3e-3, l2_norm_clip=100.0, noise_multiplier=1e-5, seed=0, momentum=0.9
        ),
        both(150, 275),
        extra="per_example",
    ),
    "galore": Setup(lambda lib, n: lib.contrib.galore(0.1, rank=8), both(350, 250)),
    "madgrad": Setup(lambda lib, n: lib.contrib.madgrad(cos(lib, 3e-2, n)), both(275, 375)),
    "mechanize/parabola": Setup(
        lambda lib, n: lib.contrib.mechanize(lib.sgd(1.0, momentum=0.9), weight_decay=0.0),
        {P: 950},
    ),
    "mechanize/rosenbrock": Setup(  # optax's
        lambda lib, n: lib.contrib.mechanize(lib.sgd(0.1), weight_decay=0.0), {R: 20000}
    ),
    "momo": Setup(lambda lib, n: lib.contrib.momo(0.1), both(225, 200), extra="value"),  # optax's
    "momo_adam": Setup(lambda lib, n: lib.contrib.momo_adam(1.0), both(200, 225), extra="value"),
    "muon/parabola": Setup(lambda lib, n: lib.contrib.muon(cos(lib, 1.0, n)), {P: 150}),
    "muon/rosenbrock": Setup(lambda lib, n: lib.contrib.muon(0.03), {R: 500}),
    "prodigy": Setup(lambda lib, n: lib.contrib.prodigy(cos(lib, 3.0, n)), both(150, 450)),
    "reduce_on_plateau": Setup(
        lambda lib, n: lib.chain(
            lib.adam(0.1), lib.contrib.reduce_on_plateau(factor=0.5, patience=5)
        ),
        both(350, 550),
        extra="value",
    ),
    # SAM's adversarial step without normalize(), whose 0/0 at an exact optimum gives NaN
    # (optax's sam blends both branches arithmetically). Even steps end on an outer step.
    "sam": Setup(
        lambda lib, n: lib.contrib.sam(lib.sgd(3e-3, momentum=0.9), lib.sgd(1e-4)), both(300, 550)
    ),
    "schedule_free/parabola": Setup(
        lambda lib, n: lib.contrib.schedule_free(lib.adam(1.0, b1=0.0), 1.0),
        {P: 250},
        eval_params=True,
    ),
    "schedule_free/rosenbrock": Setup(  # optax's
        lambda lib, n: lib.contrib.schedule_free(lib.sgd(1e-2), 1e-2),
        {R: 2800},
        eval_params=True,
    ),
    "schedule_free_adamw/parabola": Setup(
        lambda lib, n: lib.contrib.schedule_free_adamw(1.0, warmup_steps=50),
        {P: 300},
        eval_params=True,
    ),
    "schedule_free_adamw/rosenbrock": Setup(
        lambda lib, n: lib.contrib.schedule_free_adamw(3e-2, warmup_steps=200),
        {R: 900},
        eval_params=True,
    ),
    "schedule_free_sgd/parabola": Setup(
        lambda lib, n: lib.contrib.schedule_free_sgd(1.0, warmup_steps=50),
        {P: 75},
        eval_params=True,
    ),
    "schedule_free_sgd/rosenbrock": Setup(  # optax's
        lambda lib, n: lib.contrib.schedule_free_sgd(1e-2, warmup_steps=5000),
        {R: 4500},
        eval_params=True,
    ),
    "simplified_ademamix": Setup(
        lambda lib, n: lib.contrib.simplified_ademamix(cos(lib, 1e-2, n), b1=0.9, alpha=1.0),
        both(350, 400),
    ),
    "sophia": Setup(
        lambda lib, n: lib.contrib.sophia(3e-2), both(800, 425), extra="obj_fn", autodiff=True
    ),
}

# Discovered factories that are not optimizers, and why they have no setup.
NOT_OPTIMIZERS: dict[str, str] = {
    "normalize": "SAM's building block: scales updates to unit global norm",
    "differentially_private_aggregate": "dpsgd's building block (covered by dpsgd)",
    "split_real_and_imaginary": "a wrapper for complex parameters; the problems are real",
}
