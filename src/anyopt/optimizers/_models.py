"""``Optimizer.update(model, gradients)`` for each framework's modules.

MLX modules are trees themselves (``model.update`` takes the new parameters); torch modules
are updated in place from a dict of gradients keyed like ``named_parameters()`` (or nested
by module). JAX has no mutable modules: there the functional pattern applies
(``params = optimizer.apply_gradients(grads, params)``).
"""

from __future__ import annotations

from typing import Any

from anyopt.optimizers._trees import tree_flatten


def _is_torch_module(model: Any) -> bool:
    return any(c.__module__ == "torch.nn.modules.module" for c in type(model).__mro__)


def _is_mlx_module(model: Any) -> bool:
    return any(c.__module__ == "mlx.nn.layers.base" for c in type(model).__mro__)


def update(optimizer: Any, model: Any, gradients: Any) -> None:
    if _is_mlx_module(model):
        model.update(optimizer.apply_gradients(gradients, model))
    elif _is_torch_module(model):
        _update_torch(optimizer, model, gradients)
    else:
        raise TypeError(
            f"anyopt.optimizers: update(model, gradients) updates an mlx.nn.Module or a "
            f"torch.nn.Module in place; got {type(model).__name__}. For JAX (flax, equinox) "
            f"and plain trees use the functional form: "
            f"params = optimizer.apply_gradients(grads, params)"
        )


def _update_torch(optimizer: Any, model: Any, gradients: Any) -> None:
    import torch

    params = dict(model.named_parameters())
    if not isinstance(gradients, dict):
        raise TypeError(
            f"anyopt.optimizers: update(torch_module, gradients) takes a dict of gradients "
            f"keyed like named_parameters(); got {type(gradients).__name__}"
        )
    flat = dict(tree_flatten(gradients))
    unknown = sorted(set(flat) - set(params))
    if unknown:
        raise KeyError(
            f"anyopt.optimizers: update: gradients for {unknown[:3]} match no parameter of "
            f"the module (its names look like {list(params)[:3]})"
        )
    grads = {name: g for name, g in flat.items() if g is not None}
    current = {name: params[name].detach() for name in grads}
    new = optimizer.apply_gradients(grads, current)
    with torch.no_grad():
        for name, value in new.items():
            params[name].copy_(value)
