"""optax parity cases for alias group A: see tests/optax_cases.py for the format.

Adafactor's factored second moments need two axes of at least ``min_dim_size_to_factor``
entries; the test tree's largest leaves are (4, 3) and (2, 2, 3), so the factored cases
lower it to 2 or 3 (3 factors the matrix but not the 3-d tensor).
"""

from __future__ import annotations


def _mask(params):
    """Decay/trust-ratio mask over ``random_tree``'s structure."""
    del params
    return {"dense": {"w": True, "b": False}, "layers": [True, (False, True)], "skip": None}


# Full optimizers (their updates include a learning rate).
OPTIMIZERS: set[str] = {
    "adadelta", "adafactor", "adagrad", "adamax", "adamaxw", "adan", "fromage", "lamb",
    "lars", "novograd", "radam", "yogi",
}  # fmt: skip

CASES: dict = {
    # AdaDelta
    "adadelta": lambda lib: lib.adadelta(1.0),
    "adadelta/no_learning_rate": lambda lib: lib.adadelta(),
    "adadelta/weight_decay": lambda lib: lib.adadelta(
        0.5, rho=0.95, eps=1e-5, weight_decay=0.1, weight_decay_mask=_mask
    ),
    "scale_by_adadelta": lambda lib: lib.scale_by_adadelta(),
    "scale_by_adadelta/rho_eps": lambda lib: lib.scale_by_adadelta(rho=0.5, eps=1e-3),
    # Adafactor
    "adafactor": lambda lib: lib.adafactor(0.01),
    "adafactor/factored_momentum_decay": lambda lib: lib.adafactor(
        0.05,
        min_dim_size_to_factor=2,
        momentum=0.9,
        dtype_momentum=None,  # the default float32 is tested in tests/test_alias_a.py
        weight_decay_rate=0.01,
        weight_decay_mask=_mask,
    ),
    "adafactor/plain": lambda lib: lib.adafactor(
        0.01,
        min_dim_size_to_factor=3,
        decay_rate=0.5,
        decay_offset=-2,
        multiply_by_parameter_scale=False,
        clipping_threshold=None,
        eps=1e-20,
    ),
    "adafactor/not_factored": lambda lib: lib.adafactor(
        lib.linear_schedule(0.02, 0.002, 40), min_dim_size_to_factor=2, factored=False
    ),
    "scale_by_factored_rms": lambda lib: lib.scale_by_factored_rms(),
    "scale_by_factored_rms/factored": lambda lib: lib.scale_by_factored_rms(
        min_dim_size_to_factor=2
    ),
    "scale_by_factored_rms/constant_decay": lambda lib: lib.scale_by_factored_rms(
        min_dim_size_to_factor=3, decay_rate_fn=lambda step, rate: 0.95
    ),
    "scale_by_factored_rms/offset_unfactored": lambda lib: lib.scale_by_factored_rms(
        factored=False, decay_rate=0.6, step_offset=-5, epsilon=1e-10
    ),
    # AdaGrad
    "adagrad": lambda lib: lib.adagrad(0.1),
    "adagrad/zero_init": lambda lib: lib.adagrad(0.05, initial_accumulator_value=0.0, eps=1e-5),
    "scale_by_rss": lambda lib: lib.scale_by_rss(),
    "scale_by_rss/init": lambda lib: lib.scale_by_rss(initial_accumulator_value=1.0, eps=1e-3),
    # AdaMax
    "adamax": lambda lib: lib.adamax(0.01),
    "adamaxw": lambda lib: lib.adamaxw(0.01, weight_decay=0.05, mask=_mask),
    "adamaxw/schedule": lambda lib: lib.adamaxw(
        lib.cosine_decay_schedule(0.02, 40), b1=0.8, b2=0.99
    ),
    "scale_by_adamax": lambda lib: lib.scale_by_adamax(),
    "scale_by_adamax/eps": lambda lib: lib.scale_by_adamax(0.5, 0.9, eps=1e-3),
    # Adan
    "adan": lambda lib: lib.adan(0.01),
    "adan/weight_decay": lambda lib: lib.adan(0.01, weight_decay=0.02, mask=_mask, eps_root=0.0),
    "scale_by_adan": lambda lib: lib.scale_by_adan(),
    "scale_by_adan/betas": lambda lib: lib.scale_by_adan(0.9, 0.8, 0.95, eps=1e-6, eps_root=1e-8),
    # Fromage
    "fromage": lambda lib: lib.fromage(0.01),
    "fromage/schedule": lambda lib: lib.fromage(lib.linear_schedule(0.02, 0.001, 30), 1e-3),
    # LAMB, LARS and the trust ratio
    "lamb": lambda lib: lib.lamb(0.01),
    "lamb/weight_decay": lambda lib: lib.lamb(0.01, weight_decay=0.1, mask=_mask, eps_root=1e-8),
    "lars": lambda lib: lib.lars(0.1),
    "lars/nesterov_masks": lambda lib: lib.lars(
        0.1, weight_decay=0.01, trust_coefficient=0.01, trust_ratio_mask=_mask, nesterov=True
    ),
    "lars/decay_mask_eps": lambda lib: lib.lars(
        0.05, weight_decay=0.1, weight_decay_mask=_mask, eps=1e-4, momentum=0.5
    ),
    "scale_by_trust_ratio": lambda lib: lib.scale_by_trust_ratio(),
    "scale_by_trust_ratio/min_norm": lambda lib: lib.scale_by_trust_ratio(
        min_norm=0.5, trust_coefficient=0.1, eps=1e-3
    ),
    # NovoGrad
    "novograd": lambda lib: lib.novograd(0.01),
    "novograd/weight_decay": lambda lib: lib.novograd(0.01, b1=0.8, b2=0.5, weight_decay=0.1),
    "scale_by_novograd": lambda lib: lib.scale_by_novograd(),
    "scale_by_novograd/eps_root": lambda lib: lib.scale_by_novograd(
        eps=1e-6, eps_root=1e-8, weight_decay=0.05
    ),
    # RAdam
    "radam": lambda lib: lib.radam(0.01),
    "radam/nesterov": lambda lib: lib.radam(0.01, nesterov=True),
    "scale_by_radam": lambda lib: lib.scale_by_radam(),
    "scale_by_radam/threshold": lambda lib: lib.scale_by_radam(
        0.8, 0.95, eps=1e-6, eps_root=1e-8, threshold=6.0
    ),
    # Yogi
    "yogi": lambda lib: lib.yogi(0.01),
    "yogi/betas": lambda lib: lib.yogi(0.02, b1=0.8, b2=0.99, eps=1e-4),
    "scale_by_yogi": lambda lib: lib.scale_by_yogi(),
    "scale_by_yogi/init": lambda lib: lib.scale_by_yogi(
        0.8, 0.99, eps=1e-4, eps_root=1e-8, initial_accumulator_value=0.1
    ),
}
