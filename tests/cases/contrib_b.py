"""optax parity cases: see tests/optax_cases.py for the format."""

from __future__ import annotations

# Full optimizers (their updates include a learning rate).
OPTIMIZERS: set[str] = set()

CASES: dict = {}
