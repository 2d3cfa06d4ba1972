"""Every transformation under test, built from a library module (``anyopt`` or ``optax``).

Each case is ``name -> build(lib)``; ``build`` uses only names both libraries share,
so the same code builds the anyopt transformation and its optax oracle.
"""

from __future__ import annotations


def _adder(lib):
    return lib.stateless(lambda u, p: lib.tree_utils.tree_add(u, p))


def _halver(lib):
    return lib.stateless_with_tree_map(lambda u, p: 0.5 * u + 0.1 * p)


def _mask(params):
    return {"dense": {"w": True, "b": False}, "layers": [True, (False, True)], "skip": None}


# Cases that are full optimizers (their updates include a learning rate); the others are
# building blocks whose raw updates the harness scales by BLOCK_STEP before applying.
OPTIMIZERS = {
    "sgd", "adam", "adamw", "nadam", "nadamw", "amsgrad", "adabelief", "rmsprop", "lion",
    "sign_sgd", "signum", "chain", "named_chain", "scale", "scale_by_learning_rate",
    "scale_by_schedule",
}  # fmt: skip
BLOCK_STEP = -0.01

CASES = {
    "identity": lambda lib: lib.identity(),
    "set_to_zero": lambda lib: lib.set_to_zero(),
    "stateless": _adder,
    "stateless_with_tree_map": _halver,
    "scale": lambda lib: lib.scale(-0.05),
    "scale_by_learning_rate": lambda lib: lib.scale_by_learning_rate(0.03),
    "scale_by_learning_rate/no_flip": lambda lib: lib.scale_by_learning_rate(0.03, flip_sign=False),
    "scale_by_schedule": lambda lib: lib.scale_by_schedule(lib.linear_schedule(0.1, 0.01, 30)),
    "trace": lambda lib: lib.trace(0.9),
    "trace/nesterov": lambda lib: lib.trace(0.8, nesterov=True),
    "ema": lambda lib: lib.ema(0.9),
    "ema/no_debias": lambda lib: lib.ema(0.7, debias=False),
    "add_decayed_weights": lambda lib: lib.add_decayed_weights(0.1),
    "add_decayed_weights/mask": lambda lib: lib.add_decayed_weights(0.1, mask=_mask),
    "add_decayed_weights/schedule": lambda lib: lib.add_decayed_weights(
        lib.linear_schedule(0.1, 0.0, 40)
    ),
    "clip": lambda lib: lib.clip(0.3),
    "clip_by_global_norm": lambda lib: lib.clip_by_global_norm(1.0),
    "masked": lambda lib: lib.masked(lib.scale_by_adam(), _mask),
    "chain": lambda lib: lib.chain(lib.clip_by_global_norm(2.0), lib.adamw(0.01)),
    "named_chain": lambda lib: lib.named_chain(("clip", lib.clip(0.5)), ("sgd", lib.sgd(0.1, 0.9))),
    "scale_by_adam": lambda lib: lib.scale_by_adam(),
    "scale_by_adam/nesterov_eps_root": lambda lib: lib.scale_by_adam(
        0.8, 0.99, eps_root=1e-8, nesterov=True
    ),
    "scale_by_amsgrad": lambda lib: lib.scale_by_amsgrad(),
    "scale_by_amsgrad/no_bias_correction": lambda lib: lib.scale_by_amsgrad(
        bias_correction_mu=False, bias_correction_nu=False
    ),
    "scale_by_rms": lambda lib: lib.scale_by_rms(),
    "scale_by_rms/bias_correction": lambda lib: lib.scale_by_rms(
        0.95, 1e-6, 0.1, eps_in_sqrt=False, bias_correction=True
    ),
    "scale_by_stddev": lambda lib: lib.scale_by_stddev(),
    "scale_by_stddev/bias_correction": lambda lib: lib.scale_by_stddev(
        0.9, 1e-6, 0.5, eps_in_sqrt=False, bias_correction=True
    ),
    "scale_by_sign": lambda lib: lib.scale_by_sign(),
    "scale_by_belief": lambda lib: lib.scale_by_belief(),
    "scale_by_belief/nesterov": lambda lib: lib.scale_by_belief(nesterov=True),
    "scale_by_lion": lambda lib: lib.scale_by_lion(),
    "scale_by_lion/smooth": lambda lib: lib.scale_by_lion(mode="smooth", smooth_beta=2.0),
    "scale_by_lion/refined": lambda lib: lib.scale_by_lion(mode="refined"),
    "sgd": lambda lib: lib.sgd(0.1),
    "sgd/momentum": lambda lib: lib.sgd(0.05, momentum=0.9),
    "sgd/nesterov": lambda lib: lib.sgd(0.05, momentum=0.9, nesterov=True),
    "adam": lambda lib: lib.adam(0.01),
    "adam/schedule": lambda lib: lib.adam(
        lib.warmup_cosine_decay_schedule(0.0, 0.02, 10, 50, 1e-3)
    ),
    "adamw": lambda lib: lib.adamw(0.01, weight_decay=0.05),
    "adamw/mask": lambda lib: lib.adamw(0.01, weight_decay=0.05, mask=_mask),
    "nadam": lambda lib: lib.nadam(0.01),
    "nadamw": lambda lib: lib.nadamw(lib.cosine_decay_schedule(0.02, 40, alpha=0.1)),
    "amsgrad": lambda lib: lib.amsgrad(0.01),
    "adabelief": lambda lib: lib.adabelief(0.01),
    "rmsprop": lambda lib: lib.rmsprop(0.01),
    "rmsprop/centered_momentum": lambda lib: lib.rmsprop(0.01, centered=True, momentum=0.9),
    "rmsprop/nesterov_eps_outside": lambda lib: lib.rmsprop(
        0.01, momentum=0.5, nesterov=True, eps_in_sqrt=False
    ),
    "rmsprop/bias_correction": lambda lib: lib.rmsprop(
        0.01, initial_scale=0.1, bias_correction=True
    ),
    "rmsprop/centered_bias_correction": lambda lib: lib.rmsprop(
        lib.constant_schedule(0.01), eps=0.1, centered=True, bias_correction=True
    ),
    "lion": lambda lib: lib.lion(0.001),
    "lion/schedule_decay": lambda lib: lib.lion(
        0.001, weight_decay=lib.linear_schedule(0.1, 0, 20)
    ),
    "sign_sgd": lambda lib: lib.sign_sgd(0.01),
    "signum": lambda lib: lib.signum(0.01, beta=0.8),
}

# The cases above, before the families in tests/cases/ join them: the fast-path matrix of
# tests/test_step.py runs these on every mode by default and the rest as `slow`.
CORE_CASES = frozenset(CASES)


def gap(case: str, framework: str) -> str | None:
    """Why ``case`` does not run on ``framework`` (``anyopt.capabilities``), or None."""
    from anyopt import capabilities

    return capabilities.GAPS.get(case.split("/")[0], {}).get(framework)


def _merge_families():
    from cases import (
        alias_a,
        alias_b,
        autodiff,
        contrib_a,
        contrib_b,
        schedules,
        wrappers_a,
        wrappers_b,
    )

    families = (alias_a, alias_b, autodiff, contrib_a, contrib_b, schedules, wrappers_a, wrappers_b)
    for family in families:
        clash = CASES.keys() & family.CASES.keys()
        assert not clash, f"{family.__name__} redefines cases {sorted(clash)}"
        CASES.update(family.CASES)
        OPTIMIZERS.update(family.OPTIMIZERS)


_merge_families()
