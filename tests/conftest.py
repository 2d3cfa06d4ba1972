"""Shared fixtures: every test that takes ``backend`` runs once per installed framework."""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")

FRAMEWORKS = [
    name
    for name, module in [("numpy", "numpy"), ("jax", "jax"), ("torch", "torch"), ("mlx", "mlx")]
    if importlib.util.find_spec(module) is not None
]


class Backend:
    """Converts NumPy test data to one framework's arrays and back."""

    def __init__(self, name: str):
        self.name = name
        if name == "jax":
            import jax.numpy as jnp

            self._to = lambda a, d: jnp.asarray(a, dtype=d)
        elif name == "torch":
            import torch

            self._to = lambda a, d: torch.tensor(np.asarray(a), dtype=d)
        elif name == "mlx":
            import mlx.core as mx

            self._to = lambda a, d: mx.array(np.asarray(a), dtype=d)
        else:
            self._to = lambda a, d: np.asarray(a, dtype=d)

    def dtype(self, name: str):
        from anyopt import backends

        return backends.load(self.name).dtype(name)

    def array(self, a, dtype: str | None = None):
        """``a`` as this framework's array; low-precision dtypes go through float32."""
        a = np.asarray(a)
        dtype = dtype or a.dtype.name
        if dtype in ("float16", "bfloat16") and self.name != "numpy":
            from anyopt import _ops

            return _ops.astype(self._to(a.astype(np.float32), self.dtype("float32")), dtype)
        return self._to(a, self.dtype(dtype))

    def tree(self, np_tree, dtype: str | None = None):
        from anyopt import _tree

        return _tree.map(lambda a: self.array(a, dtype), np_tree)

    @staticmethod
    def numpy(x):
        from anyopt import backends

        if x is None or isinstance(x, (int, float)):
            return x
        return (
            np.asarray(backends.of(x).to_numpy(x), dtype=np.float64)
            if _is_float(x)
            else (np.asarray(backends.of(x).to_numpy(x)))
        )

    def __repr__(self):
        return self.name


def _is_float(x) -> bool:
    name = str(getattr(x, "dtype", ""))
    return "float" in name


# Each compiled XLA program holds memory maps; a worker that compiles thousands of them reaches
# Linux's vm.max_map_count (65530) and XLA crashes, so caches are dropped well before that.
MAX_MEMORY_MAPS = 30_000


def _memory_maps() -> int:
    try:
        with open("/proc/self/maps", "rb") as maps:
            return maps.read().count(b"\n")
    except OSError:
        return 0


@pytest.fixture(autouse=True)
def _free_jax_executables():
    yield
    if "jax" in sys.modules and _memory_maps() > MAX_MEMORY_MAPS:
        sys.modules["jax"].clear_caches()


@pytest.fixture(params=FRAMEWORKS)
def backend(request) -> Backend:
    return Backend(request.param)


def random_tree(seed: int = 0, scale: float = 1.0):
    """A nested tree of float32 NumPy arrays: dict, list, tuple, a scalar leaf and None."""
    rng = np.random.default_rng(seed)

    def r(*shape):
        return (scale * rng.standard_normal(shape)).astype(np.float32)

    return {"dense": {"w": r(4, 3), "b": r(3)}, "layers": [r(5), (r(2, 2, 3), r())], "skip": None}


def relative_error_norm(actual, expected) -> float:
    """``||actual - expected|| / ||expected||`` (absolute when ``expected`` is zero)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    scale = float(np.linalg.norm(expected))
    err = float(np.linalg.norm(actual - expected))
    return err / scale if scale > 0 else err


def state_fields(state, field: str) -> list:
    """Every ``field`` of a NamedTuple anywhere in the state."""
    found = []

    def visit(node):
        if isinstance(node, tuple) and hasattr(type(node), "_fields"):
            if field in node._fields:
                found.append(getattr(node, field))
            for child in node:
                visit(child)
        elif isinstance(node, (tuple, list)):
            for child in node:
                visit(child)
        elif isinstance(node, dict):
            for child in node.values():
                visit(child)

    visit(state)
    return found
