"""optax parity cases: see tests/optax_cases.py for the format.

optax.contrib group B. Transformations that cannot run in the generic harness are tested
against optax in tests/test_contrib_b.py instead: momo and momo_adam and
reduce_on_plateau (their update needs ``value=``), dpsgd and
differentially_private_aggregate (per-example gradients with a batch axis) and galore
(optax's galore rejects the harness tree's None leaf).
"""

from __future__ import annotations


def _decay_mask(params):
    return {"dense": {"w": True, "b": False}, "layers": [True, (True, False)], "skip": None}


# Full optimizers (their updates include a learning rate).
OPTIMIZERS: set[str] = {
    "contrib.madgrad",
    "contrib.scale_by_madgrad",  # MADGRAD's learning rate is part of the method
    "contrib.acprop",
    "contrib.split_real_and_imaginary",
}

CASES: dict = {
    "contrib.madgrad": lambda lib: lib.contrib.madgrad(0.01),
    "contrib.madgrad/schedule_decay": lambda lib: lib.contrib.madgrad(
        lib.linear_schedule(0.02, 0.005, 40), momentum=0.5, weight_decay=0.01, eps=1e-5
    ),
    "contrib.scale_by_madgrad": lambda lib: lib.contrib.scale_by_madgrad(0.005, momentum=0.0),
    "contrib.acprop": lambda lib: lib.contrib.acprop(0.01),
    "contrib.acprop/decay_mask": lambda lib: lib.contrib.acprop(
        0.01, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-12, weight_decay=0.01, mask=_decay_mask
    ),
    "contrib.scale_by_acprop": lambda lib: lib.contrib.scale_by_acprop(),
    "contrib.normalize": lambda lib: lib.contrib.normalize(),
    # Real parameters pass through to the inner optimizer; complex ones in test_contrib_b.
    "contrib.split_real_and_imaginary": lambda lib: lib.contrib.split_real_and_imaginary(
        lib.adam(0.01)
    ),
}
