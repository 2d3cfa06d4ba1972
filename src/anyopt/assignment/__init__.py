"""The linear assignment problem (optax.assignment): two Hungarian algorithms that run on
every framework's arrays, and under ``jax.jit`` / ``jax.vmap`` on JAX."""

from anyopt.assignment._base_hungarian import base_hungarian_algorithm
from anyopt.assignment._hungarian import hungarian_algorithm

__all__ = ["base_hungarian_algorithm", "hungarian_algorithm"]
