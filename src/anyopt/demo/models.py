"""A 2-32-32-2 tanh MLP with softmax cross-entropy, written once per framework.

Every backend gets identical float32 initial weights (made in NumPy) and computes
gradients with its own autodiff; the NumPy backend uses a hand-written backward pass.
Frameworks are imported only when their backend is built.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

BACKENDS = ("numpy", "jax", "torch", "mlx")
_MODULES = {"numpy": "numpy", "jax": "jax", "torch": "torch", "mlx": "mlx"}
_SUBMODULES = {"mlx": "mlx.core"}


def is_installed(name: str) -> bool:
    """Whether the framework behind backend ``name`` can be found (without importing it)."""
    if importlib.util.find_spec(_MODULES[name]) is None:
        return False
    sub = _SUBMODULES.get(name)
    return sub is None or importlib.util.find_spec(sub) is not None


def installed_backends() -> list[str]:
    """Names of the backends whose framework is installed, in canonical order."""
    return [b for b in BACKENDS if is_installed(b)]


def init_params(seed: int = 0, hidden: int = 32) -> dict[str, Any]:
    """Glorot-uniform float32 weights and zero biases, as NumPy arrays."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sizes = [(2, hidden), (hidden, hidden), (hidden, 2)]
    params = {}
    for i, (fan_in, fan_out) in enumerate(sizes, start=1):
        lim = np.sqrt(6.0 / (fan_in + fan_out))
        params[f"w{i}"] = rng.uniform(-lim, lim, (fan_in, fan_out)).astype(np.float32)
        params[f"b{i}"] = np.zeros(fan_out, np.float32)
    return params


def _forward(p, x, tanh):
    h1 = tanh(x @ p["w1"] + p["b1"])
    h2 = tanh(h1 @ p["w2"] + p["b2"])
    return h2 @ p["w3"] + p["b3"]


@dataclass
class Backend:
    """Per-framework hooks used by the training loop."""

    name: str
    to_native: Callable[[Any], Any]  # NumPy array -> framework array
    to_numpy: Callable[[Any], Any]  # framework array -> NumPy array
    forward: Callable[[dict, Any], Any]  # (params, x) -> logits
    loss_and_grad: Callable[[dict, Any, Any], tuple[Any, dict]]  # (params, x, y1h)
    sync: Callable[..., None] = lambda *trees: None  # force lazy evaluation (MLX)


def _numpy_backend() -> Backend:
    import numpy as np

    def loss_and_grad(p, x, y):
        h1 = np.tanh(x @ p["w1"] + p["b1"])
        h2 = np.tanh(h1 @ p["w2"] + p["b2"])
        z = h2 @ p["w3"] + p["b3"]
        m = z.max(axis=1, keepdims=True)
        e = np.exp(z - m)
        s = e.sum(axis=1, keepdims=True)
        loss = np.mean(m[:, 0] + np.log(s[:, 0]) - (z * y).sum(axis=1))
        dz = (e / s - y) / np.float32(x.shape[0])
        dh2 = (dz @ p["w3"].T) * (1 - h2 * h2)
        dh1 = (dh2 @ p["w2"].T) * (1 - h1 * h1)
        grads = {
            "w1": x.T @ dh1, "b1": dh1.sum(0),
            "w2": h1.T @ dh2, "b2": dh2.sum(0),
            "w3": h2.T @ dz, "b3": dz.sum(0),
        }  # fmt: skip
        return loss, grads

    return Backend(
        "numpy", lambda a: np.array(a, np.float32), np.asarray,
        lambda p, x: _forward(p, x, np.tanh), loss_and_grad,
    )  # fmt: skip


def _jax_backend() -> Backend:
    import jax
    import jax.numpy as jnp
    import numpy as np

    def loss(p, x, y):
        z = _forward(p, x, jnp.tanh)
        return jnp.mean(jax.nn.logsumexp(z, axis=1) - jnp.sum(z * y, axis=1))

    return Backend(
        "jax", lambda a: jnp.asarray(a, jnp.float32), np.asarray,
        jax.jit(lambda p, x: _forward(p, x, jnp.tanh)), jax.jit(jax.value_and_grad(loss)),
    )  # fmt: skip


def _torch_backend() -> Backend:
    import torch

    def loss_and_grad(p, x, y):
        leaves = {k: v.detach().requires_grad_(True) for k, v in p.items()}
        z = _forward(leaves, x, torch.tanh)
        loss = torch.mean(torch.logsumexp(z, dim=1) - torch.sum(z * y, dim=1))
        grads = torch.autograd.grad(loss, list(leaves.values()))
        return loss.detach(), dict(zip(leaves, grads, strict=True))

    def forward(p, x):
        with torch.no_grad():
            return _forward(p, x, torch.tanh)

    return Backend(
        "torch", lambda a: torch.tensor(a, dtype=torch.float32),
        lambda t: t.detach().cpu().numpy(), forward, loss_and_grad,
    )  # fmt: skip


def _mlx_leaves(tree, mx):
    if isinstance(tree, mx.array):
        yield tree
    elif isinstance(tree, (list, tuple)):
        for t in tree:
            yield from _mlx_leaves(t, mx)
    elif isinstance(tree, dict):
        for t in tree.values():
            yield from _mlx_leaves(t, mx)


def _mlx_backend() -> Backend:
    import mlx.core as mx
    import numpy as np

    def loss(p, x, y):
        z = _forward(p, x, mx.tanh)
        return mx.mean(mx.logsumexp(z, axis=1) - mx.sum(z * y, axis=1))

    return Backend(
        "mlx", lambda a: mx.array(a, dtype=mx.float32), lambda a: np.array(a),
        lambda p, x: _forward(p, x, mx.tanh), mx.value_and_grad(loss),
        lambda *trees: mx.eval(*_mlx_leaves(trees, mx)),
    )  # fmt: skip


_BUILDERS = {
    "numpy": _numpy_backend,
    "jax": _jax_backend,
    "torch": _torch_backend,
    "mlx": _mlx_backend,
}


def make_backend(name: str) -> Backend:
    """Build the backend ``name`` (one of :data:`BACKENDS`), importing its framework."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    if not is_installed(name):
        raise ValueError(f"backend {name!r} requested but {_MODULES[name]!r} is not installed")
    return _BUILDERS[name]()
