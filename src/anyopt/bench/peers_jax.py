"""JAX: optax under ``jax.jit`` (update + apply_updates in one jitted step, donating state)."""

from __future__ import annotations

import functools
from typing import Any

from anyopt.bench.harness import Runner, Variant
from anyopt.bench.workloads import make_tx

FRAMEWORK = "jax"


def to_native(tree: dict[str, Any]) -> dict[str, Any]:
    import jax.numpy as jnp

    return {k: jnp.array(v, copy=True) for k, v in tree.items()}


def sync(tree: Any) -> None:
    import jax

    jax.block_until_ready(tree)


def _optax(opt: str, workload: Any) -> Runner:
    import jax
    import optax

    tx = make_tx(optax, opt)

    @functools.partial(jax.jit, donate_argnums=(0, 2))
    def step(params, grads, state):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    params_np, grads_np = workload.arrays()
    cell = [to_native(params_np), None]
    grads = to_native(grads_np)
    cell[1] = tx.init(cell[0])

    def run() -> None:
        cell[0], cell[1] = step(cell[0], grads, cell[1])
        jax.block_until_ready(cell)

    return Runner(run, lambda: cell[1], lambda: cell[0])


def peers(opt: str, workload: Any) -> list[Variant]:
    build = functools.partial(_optax, opt, workload)
    return [Variant(FRAMEWORK, "peer", "optax jit", build, compiled=True)]
