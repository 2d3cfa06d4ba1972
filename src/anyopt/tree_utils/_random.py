"""``tree_unwrap_random_key_data``: random keys as plain arrays, for comparisons."""

from __future__ import annotations

from typing import Any

from anyopt import backends


def tree_unwrap_random_key_data(input_tree: Any) -> Any:
    """``input_tree`` with typed JAX keys (``jax.random.key``) replaced by their raw data.

    Keys of the other frameworks (and legacy JAX ``PRNGKey`` arrays) are plain arrays
    already and pass through, as do all other leaves.
    """

    def unwrap(x):
        if type(x) in (int, float, bool, complex) or not hasattr(x, "dtype"):
            return x
        try:
            b = backends.of(x)
        except TypeError:  # not an array of a supported framework
            return x
        return b.key_data(x) if hasattr(b, "key_data") else x

    leaves, treedef = backends.flatten(input_tree)
    return backends.unflatten(treedef, [unwrap(x) for x in leaves])
