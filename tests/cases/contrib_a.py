"""optax parity cases: see tests/optax_cases.py for the format.

optax.contrib group A: muon, schedule-free, prodigy, DoG/DoWG, ADOPT, AdEMAMix, Mechanic,
D-Adaptation and COCOB. ``schedule_free_eval_params`` (not a transformation) is checked
against optax in tests/test_contrib_a.py.
"""

from __future__ import annotations


def _decay_mask(params):
    return {"dense": {"w": True, "b": False}, "layers": [True, (True, False)], "skip": None}


def _matrix_mask(params):
    """The leaves a bare ``scale_by_muon`` can orthogonalise: the matrix and the 3-d tensor."""
    return {"dense": {"w": True, "b": False}, "layers": [False, (True, False)], "skip": None}


def _muon_specs(lib):
    """Muon for the matrix and for the (2, 2, 3) tensor as a batch of 2x3 matrices."""
    dims = lib.contrib.MuonDimensionNumbers
    return {
        "dense": {"w": dims(), "b": None},
        "layers": [None, (dims(reduction_axis=1, output_axis=2), None)],
        "skip": None,
    }


def _masked_specs(lib):
    """``_muon_specs`` for the masked tree a bare ``scale_by_muon`` sees under ``masked``."""
    dims, hidden = lib.contrib.MuonDimensionNumbers, lib.MaskedNode()
    return {
        "dense": {"w": dims(), "b": hidden},
        "layers": [hidden, (dims(reduction_axis=(0, 1), output_axis=-1), hidden)],
        "skip": None,
    }


def _scale_by_muon(lib, **kwargs):
    inner = lib.contrib.scale_by_muon(weight_dimension_numbers=_masked_specs(lib), **kwargs)
    return lib.masked(inner, _matrix_mask)


def _warmup(lib, peak=0.01):
    return lib.linear_schedule(0.0, peak, 10)


# Full optimizers (their updates include a learning rate).
OPTIMIZERS: set[str] = {
    "contrib.muon",
    "contrib.schedule_free",
    "contrib.schedule_free_adamw",
    "contrib.schedule_free_sgd",
    "contrib.prodigy",
    "contrib.dog",
    "contrib.dowg",
    "contrib.adopt",
    "contrib.ademamix",
    "contrib.simplified_ademamix",
    "contrib.mechanize",
    "contrib.dadapt_adamw",
    "contrib.cocob",
    "contrib.scale_by_cocob",  # COCOB's update is the whole step x_{t+1} - x_t
}

CASES: dict = {
    # --- muon -------------------------------------------------------------------------------
    "contrib.muon": lambda lib: lib.contrib.muon(0.01),
    "contrib.muon/plain_momentum_adaptive": lambda lib: lib.contrib.muon(
        0.01, beta=0.9, nesterov=False, adaptive=True, adam_b1=0.8, adam_b2=0.99
    ),
    "contrib.muon/aol": lambda lib: lib.contrib.muon(0.01, ns_steps=4, preconditioning="aol"),
    "contrib.muon/schatten_dion": lambda lib: lib.contrib.muon(
        0.01, ns_coeffs="dion", preconditioning="schatten"
    ),
    "contrib.muon/spectral": lambda lib: lib.contrib.muon(0.01, preconditioning="spectral"),
    "contrib.muon/decay_rms_schedules": lambda lib: lib.contrib.muon(
        _warmup(lib),
        weight_decay=0.05,
        weight_decay_mask=_decay_mask,
        adam_learning_rate=0.005,
        adam_weight_decay=0.01,
        adam_eps_root=1e-8,
        consistent_rms=0.2,
    ),
    "contrib.muon/dimension_numbers": lambda lib: lib.contrib.muon(
        0.01, muon_weight_dimension_numbers=_muon_specs(lib)
    ),
    "contrib.muon/dimension_numbers_fn": lambda lib: lib.contrib.muon(
        0.01,
        ns_coeffs=((3.0, -3.2, 1.2), (3.4445, -4.7750, 2.0315)),
        muon_weight_dimension_numbers=lambda params: _muon_specs(lib),
    ),
    "contrib.scale_by_muon": lambda lib: _scale_by_muon(lib),
    "contrib.scale_by_muon/adaptive_aol": lambda lib: _scale_by_muon(
        lib, ns_steps=3, beta=0.8, nesterov=False, adaptive=True, preconditioning="aol"
    ),
    # --- schedule-free ----------------------------------------------------------------------
    "contrib.schedule_free": lambda lib: lib.contrib.schedule_free(lib.sgd(0.05), 0.05),
    "contrib.schedule_free/adam_warmup": lambda lib: lib.contrib.schedule_free(
        lib.adam(_warmup(lib), b1=0.0), _warmup(lib), b1=0.8, weight_lr_power=1.0
    ),
    "contrib.schedule_free_adamw": lambda lib: lib.contrib.schedule_free_adamw(0.01),
    "contrib.schedule_free_adamw/warmup_decay": lambda lib: lib.contrib.schedule_free_adamw(
        0.02, warmup_steps=10, b1=0.95, b2=0.99, weight_decay=0.01
    ),
    "contrib.schedule_free_sgd": lambda lib: lib.contrib.schedule_free_sgd(0.1),
    "contrib.schedule_free_sgd/warmup_decay": lambda lib: lib.contrib.schedule_free_sgd(
        0.1, warmup_steps=5, weight_decay=0.01
    ),
    # --- learning-rate-free -----------------------------------------------------------------
    "contrib.prodigy": lambda lib: lib.contrib.prodigy(),
    "contrib.prodigy/safeguard_decay": lambda lib: lib.contrib.prodigy(
        lib.linear_schedule(1.0, 0.1, 50),
        betas=(0.8, 0.99),
        beta3=0.9,
        estim_lr_coef=0.5,
        weight_decay=0.01,
        safeguard_warmup=True,
    ),
    "contrib.dadapt_adamw": lambda lib: lib.contrib.dadapt_adamw(),
    "contrib.dadapt_adamw/schedule_decay": lambda lib: lib.contrib.dadapt_adamw(
        lib.linear_schedule(1.0, 0.1, 50), betas=(0.8, 0.99), estim_lr0=1e-4, weight_decay=0.01
    ),
    "contrib.dog": lambda lib: lib.contrib.dog(),
    "contrib.dog/distance_decay": lambda lib: lib.contrib.dog(
        0.5, init_step=("distance", 0.1), weight_decay=0.01, mask=_decay_mask
    ),
    "contrib.dog/learning_rate": lambda lib: lib.contrib.dog(
        lib.linear_schedule(1.0, 0.5, 50), init_step=("learning_rate", 0.01), eps=1e-6
    ),
    "contrib.dowg": lambda lib: lib.contrib.dowg(),
    "contrib.dowg/init_decay": lambda lib: lib.contrib.dowg(
        0.5, init_estim_sq_dist=0.01, eps=1e-6, weight_decay=0.01
    ),
    "contrib.mechanize": lambda lib: lib.contrib.mechanize(lib.sgd(1.0)),
    "contrib.mechanize/adam": lambda lib: lib.contrib.mechanize(
        lib.adam(1.0), weight_decay=0.0, eps=1e-6, s_init=1e-4, num_betas=3
    ),
    "contrib.cocob": lambda lib: lib.contrib.cocob(),
    "contrib.cocob/decay_mask": lambda lib: lib.contrib.cocob(
        0.5, alpha=50.0, eps=1e-6, weight_decay=0.01, mask=_decay_mask
    ),
    "contrib.scale_by_cocob": lambda lib: lib.contrib.scale_by_cocob(20.0),
    # --- Adam variants ----------------------------------------------------------------------
    "contrib.adopt": lambda lib: lib.contrib.adopt(0.01),
    "contrib.adopt/nesterov_no_clipping": lambda lib: lib.contrib.adopt(
        0.01, b1=0.8, b2=0.99, eps=1e-4, nesterov=True, use_clipping=False
    ),
    "contrib.adopt/clip_value_fn": lambda lib: lib.contrib.adopt(
        _warmup(lib), clip_value_fn=lambda count: 0.5 + count**0.5
    ),
    "contrib.scale_by_adopt": lambda lib: lib.contrib.scale_by_adopt(),
    "contrib.ademamix": lambda lib: lib.contrib.ademamix(0.01),
    "contrib.ademamix/schedules_decay": lambda lib: lib.contrib.ademamix(
        0.01,
        b3=lib.linear_schedule(0.9, 0.999, 30),
        alpha=lib.linear_schedule(0.0, 5.0, 30),
        eps_root=1e-8,
        weight_decay=0.01,
        mask=_decay_mask,
    ),
    "contrib.scale_by_ademamix": lambda lib: lib.contrib.scale_by_ademamix(b3=0.99, alpha=2.0),
    "contrib.simplified_ademamix": lambda lib: lib.contrib.simplified_ademamix(0.001),
    "contrib.simplified_ademamix/alpha_decay": lambda lib: lib.contrib.simplified_ademamix(
        0.001,
        b1=0.9,
        alpha=lib.linear_schedule(0.0, 2.0, 20),
        eps_root=1e-8,
        weight_decay=0.01,
        mask=_decay_mask,
    ),
    "contrib.scale_by_simplified_ademamix": lambda lib: lib.contrib.scale_by_simplified_ademamix(
        b1=0.9, alpha=1.0
    ),
}
