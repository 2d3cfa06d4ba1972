"""optax.contrib: community optimizers and transformations, on every framework."""

__all__: list[str] = []
