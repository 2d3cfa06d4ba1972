"""Framework-neutral autodiff and control flow for algorithm code.

Each function finds the framework from the arrays it is given and calls that backend's
primitive: ``jax.value_and_grad`` / ``torch.func`` / ``mx.value_and_grad`` for derivatives,
``jax.lax.while_loop`` / ``jax.lax.cond`` for loops and branches under JAX (so that line
searches trace under ``jax.jit``) and plain Python loops elsewhere. NumPy has no autodiff:
``name`` is then looked up in ``anyopt.capabilities`` to raise a ``NotImplementedError``
naming the frameworks that work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from anyopt import _ops, _tree, backends, capabilities


def framework(tree: Any) -> str:
    """The name of the framework of ``tree``'s arrays ('numpy' for a tree of numbers)."""
    return _tree.backend_of(tree).NAME


def _autodiff_backend(tree: Any, name: str):
    b = _tree.backend_of(tree)
    capabilities.check(name, b.NAME)
    if not hasattr(b, "value_and_grad"):  # a framework with no entry in GAPS yet
        raise NotImplementedError(
            f"{name} does not run on {b.NAME}: {capabilities.NO_AUTODIFF}; it runs on "
            f"{', '.join(capabilities.AUTODIFF_FRAMEWORKS)}"
        )
    return b


def value_and_grad(fun: Callable, has_aux: bool = False, *, name: str) -> Callable:
    """``fun``'s value and gradient with respect to its first argument, a tree of arrays.

    ``name`` is the public function that needs the derivative (for the error on NumPy).
    """

    def call(params, *args, **kwargs):
        b = _autodiff_backend(params, name)
        return b.value_and_grad(fun, has_aux)(params, *args, **kwargs)

    return call


def grad(fun: Callable, has_aux: bool = False, *, name: str) -> Callable:
    """``fun``'s gradient (and its aux output, with ``has_aux``), from ``value_and_grad``."""
    value_and_grad_fn = value_and_grad(fun, has_aux, name=name)

    def call(params, *args, **kwargs):
        value, g = value_and_grad_fn(params, *args, **kwargs)
        return (g, value[1]) if has_aux else g

    return call


def hvp(fun: Callable, params: Any, tangents: Any, *, name: str) -> Any:
    """The Hessian of scalar ``fun`` at ``params`` times the tree ``tangents``."""
    return _autodiff_backend(params, name).hvp(fun, params, tangents)


def stop_gradient(tree: Any) -> Any:
    b = _tree.backend_of(tree)
    if not hasattr(b, "stop_gradient"):
        return tree
    return _tree.map(b.stop_gradient, tree)


# --- control flow -------------------------------------------------------------------------
def _control(tree: Any):
    leaves = [x for x in _tree.leaves(tree) if hasattr(x, "dtype")]
    return backends.check_one_framework(leaves) or backends.load("numpy")


def while_loop(cond_fn: Callable, body_fn: Callable, init: Any) -> Any:
    """``while cond_fn(state): state = body_fn(state)``; ``jax.lax.while_loop`` under JAX."""
    b = _control((init, cond_fn(init)))
    if hasattr(b, "while_loop"):
        return b.while_loop(cond_fn, body_fn, init)
    state = init
    while bool(cond_fn(state)):
        state = body_fn(state)
    return state


def cond(pred: Any, true_fn: Callable, false_fn: Callable, *operands: Any) -> Any:
    """``true_fn(*operands) if pred else false_fn(*operands)``; ``jax.lax.cond`` under JAX."""
    b = _control((pred, operands))
    if hasattr(b, "cond"):
        return b.cond(pred, true_fn, false_fn, *operands)
    try:
        take = bool(pred)
    except ValueError:  # a traced value (inside mx.compile): run both branches and select
        return _tree.where(pred, true_fn(*operands), false_fn(*operands))
    return true_fn(*operands) if take else false_fn(*operands)


def cond_print(pred: Any, message: str, **kwargs: Any) -> None:
    """Prints ``message.format(**kwargs)`` when ``pred`` holds (``jax.debug.print`` in JAX)."""
    b = _control((pred, kwargs))
    if hasattr(b, "debug_print"):
        b.debug_print(pred, message, **kwargs)
    elif bool(pred):
        print(message.format(**{k: _show(v) for k, v in kwargs.items()}))


def _show(x: Any) -> Any:
    return _ops.to_float(x) if hasattr(x, "dtype") and _ops.size(x) == 1 else x


def pmean(tree: Any, axis_name: str) -> Any:
    """Mean over the named mapped axis (``jax.lax.pmean``); JAX only."""
    b = _tree.backend_of(tree)
    if not hasattr(b, "pmean"):
        raise NotImplementedError(
            f"batch_axis_name={axis_name!r} needs jax.lax.pmean, which {b.NAME} does not have; "
            "average the gradients across devices yourself and pass batch_axis_name=None"
        )
    return b.pmean(tree, axis_name)


# --- randomness ---------------------------------------------------------------------------
def key_like(seed: int, tree: Any) -> Any:
    """A random key from ``seed`` on the framework of ``tree``'s arrays."""
    return _tree.backend_of(tree).key(seed)


def split(key: Any, num: int = 2) -> list:
    keys = backends.of(key).split(key, num)
    return [keys[i] for i in range(num)]


def rademacher(key: Any, shape: tuple, dtype: Any) -> Any:
    """Uniform random signs (+1 or -1) of ``dtype``."""
    b = backends.of(key)
    return b.rademacher(key, shape, dtype)
