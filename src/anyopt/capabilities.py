"""What runs where: every backend gap, kept as data with its reason.

``GAPS[name][framework]`` is the reason ``name`` does not run on ``framework``; a name that
is absent runs everywhere. ``check`` raises the documented error, and
``docs/capabilities.md`` is this table (``tests/test_capabilities.py`` keeps them equal).
"""

from __future__ import annotations

FRAMEWORKS = ("numpy", "jax", "torch", "mlx")
AUTODIFF_FRAMEWORKS = ("jax", "torch", "mlx")
NO_AUTODIFF = "needs automatic differentiation, which NumPy does not have"

# One entry per line: name -> {framework: reason}.
GAPS: dict[str, dict[str, str]] = {
    "value_and_grad_from_state": {"numpy": NO_AUTODIFF},
    "scale_by_backtracking_linesearch": {"numpy": NO_AUTODIFF},
    "scale_by_zoom_linesearch": {"numpy": NO_AUTODIFF},
    "contrib.hutchinson_estimator_diag_hessian": {"numpy": NO_AUTODIFF},
    "microbatching.micro_grad": {"numpy": NO_AUTODIFF},
    "monte_carlo.score_function_jacobians": {"numpy": NO_AUTODIFF},
    "monte_carlo.pathwise_jacobians": {"numpy": NO_AUTODIFF},
    "monte_carlo.control_variates_jacobians": {"numpy": NO_AUTODIFF},
    "monte_carlo.control_delta_method": {"numpy": NO_AUTODIFF},
    "second_order.hvp": {"numpy": NO_AUTODIFF},
    "second_order.hessian_diag": {"numpy": NO_AUTODIFF},
    "second_order.fisher_diag": {"numpy": NO_AUTODIFF},
    "second_order.hutchinson_diag": {"numpy": NO_AUTODIFF},
    "second_order.hutchinson_estimator": {"numpy": NO_AUTODIFF},
}

# Parity with optax holds to fp32 rtol 1e-5 unless listed here: name -> (rtol, reason).
TOLERANCES: dict[str, tuple[float, str]] = {
    "contrib.mechanize": (5e-5, "its <g, x0 - x> cancels: 1-ulp param differences reach 1e-5"),
}


def supported(name: str) -> tuple[str, ...]:
    """The frameworks ``name`` runs on."""
    gaps = GAPS.get(name, {})
    return tuple(f for f in FRAMEWORKS if f not in gaps)


def check(name: str, framework: str) -> None:
    """Raises ``NotImplementedError`` if ``name`` does not run on ``framework``."""
    reason = GAPS.get(name, {}).get(framework)
    if reason is not None:
        raise NotImplementedError(
            f"{name} does not run on {framework}: {reason}; "
            f"it runs on {', '.join(supported(name)) or 'no framework'}"
        )


def markdown() -> str:
    """The tables of ``docs/capabilities.md``."""
    lines = [
        "# What runs where",
        "",
        "Every optax name runs on NumPy, JAX, PyTorch and MLX with optax's numbers (fp32,",
        "relative error <= 1e-5 over 50 steps), except for the entries below.",
        "This page is generated from `anyopt.capabilities`; `tests/test_capabilities.py`",
        "keeps it current.",
        "",
        "## Gaps",
        "",
        "| name | framework | reason |",
        "|:--|:--|:--|",
    ]
    for name in sorted(GAPS):
        for framework, reason in sorted(GAPS[name].items()):
            lines.append(f"| `{name}` | {framework} | {reason} |")
    lines += ["", "## Looser parity tolerances", "", "| name | rtol | reason |", "|:--|--:|:--|"]
    for name in sorted(TOLERANCES):
        rtol, reason = TOLERANCES[name]
        lines.append(f"| `{name}` | {rtol:g} | {reason} |")
    return "\n".join(lines) + "\n"
