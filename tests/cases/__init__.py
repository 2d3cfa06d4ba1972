"""optax parity cases by family; ``tests/optax_cases.py`` merges them."""
