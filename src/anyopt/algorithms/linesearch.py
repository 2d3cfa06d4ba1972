"""What the line searches share: reusing their value and gradient, scalars, keyword routing.

``value_and_grad_from_state(fn)`` behaves like ``jax.value_and_grad(fn)`` but returns the
value and gradient a line search stored in the optimizer state when they are finite, saving
one evaluation per iteration on deterministic objectives.
"""

from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import Callable
from typing import Any

from anyopt import _autodiff, _ops, _tree, backends, capabilities

_REAL = {"complex64": "float32", "complex128": "float64"}


def value_dtype(params: Any) -> str:
    """The (real) dtype of objective values for ``params``: that of its first leaf."""
    name = backends.dtype_name(_ops.dtype(_tree.leaves(params)[0]))
    return _REAL.get(name, name)


def scalar(value: Any, dtype: Any, like: Any) -> Any:
    """``value`` (a number or a 0-d array) as a 0-d array of ``dtype`` on ``like``'s framework."""
    zero = _ops.zeros((), dtype, like=like)
    if isinstance(value, (bool, int, float)):
        return _ops.full_like(zero, value)
    return _ops.like(value, zero)


def real_vdot(x: Any, y: Any) -> Any:
    """``Re <x, y>`` over two trees (``x`` conjugated, as ``jnp.vdot`` does)."""
    return _ops.real(_tree.vdot(x, y))


def conj(tree: Any) -> Any:
    return _tree.map(_ops.conj, tree)


def jax_convention(grad: Any, params: Any) -> Any:
    """Complex gradients in JAX's convention (``jax.grad`` gives the conjugate of the
    steepest-ascent direction, torch's and MLX's autodiff the direction itself), in which
    the line searches compute, as optax's; its own inverse."""
    if _autodiff.framework(params) not in ("torch", "mlx"):
        return grad
    return _tree.map(lambda g: _ops.conj(g) if _ops.is_complex(g) else g, grad)


def isinf(x: Any) -> Any:
    return ~_ops.isfinite(x) & ~_ops.isnan(x)


def nan_to_inf(x: Any) -> Any:
    """Positive part of an error, with NaN read as +inf (the criterion failed)."""
    x = _ops.maximum(x, 0.0)
    return _ops.where(_ops.isnan(x), _ops.full_like(x, float("inf")), x)


def split_fn_kwargs(fn_name: str, value_fn: Callable, extra_args: dict) -> dict:
    """The extra keyword arguments ``value_fn`` accepts; ``TypeError`` for any other."""
    (fn_kwargs,), remaining = extract_fns_kwargs((value_fn,), extra_args)
    if remaining:
        raise TypeError(
            f"Unexpected keyword arguments passed to `{fn_name}.update`. These arguments "
            f"were not consumed by `value_fn`: {sorted(remaining)}. Ensure that all extra "
            "keyword arguments are accepted by `value_fn`."
        )
    return fn_kwargs


def extract_fns_kwargs(fns: tuple, kwargs: dict) -> tuple[list[dict], dict]:
    """Splits ``kwargs`` by the parameter names of each function in ``fns``; the rest is
    returned separately."""
    names = [list(inspect.signature(fn).parameters) for fn in fns]
    per_fn = [{k: v for k, v in kwargs.items() if k in fn_names} for fn_names in names]
    known = functools.reduce(operator.add, names)
    return per_fn, {k: v for k, v in kwargs.items() if k not in known}


def find_field(tree: Any, key: str) -> Any:
    """The one NamedTuple field or dict entry named ``key`` in ``tree`` (None if absent)."""
    found: list = []

    def visit(node):
        if isinstance(node, tuple) and hasattr(type(node), "_fields"):
            for field, child in zip(node._fields, node):
                if field == key:
                    found.append(child)
                else:
                    visit(child)
        elif isinstance(node, (list, tuple)):
            for child in node:
                visit(child)
        elif isinstance(node, dict):
            for k, child in node.items():
                if k == key:
                    found.append(child)
                else:
                    visit(child)

    visit(tree)
    if len(found) > 1:
        raise KeyError(f"Found multiple values for '{key}' in the state.")
    return found[0] if found else None


def value_and_grad_from_state(
    value_fn: Callable[..., Any],
) -> Callable[..., tuple[Any, Any]]:
    r"""Like ``value_and_grad(value_fn)``, reusing the value and gradient found in the state.

    The returned ``f(params, *fn_args, state, **fn_kwargs)`` looks up the fields ``value``
    and ``grad`` in ``state`` (stored there by :func:`scale_by_zoom_linesearch` or by
    :func:`scale_by_backtracking_linesearch` with ``store_grad=True``). When the stored value
    is finite it returns them; otherwise (the first iteration) it differentiates
    ``value_fn`` at ``params`` with the framework's own autodiff (JAX, PyTorch or MLX).

    Example:
        >>> import jax.numpy as jnp, anyopt
        >>> def f(x): return jnp.sum(x ** 2)
        >>> solver = anyopt.lbfgs()
        >>> params = jnp.array([1., 2., 3.])
        >>> state = solver.init(params)
        >>> value_and_grad = anyopt.value_and_grad_from_state(f)
        >>> value, grad = value_and_grad(params, state=state)
        >>> updates, state = solver.update(
        ...     grad, state, params, value=value, grad=grad, value_fn=f)
        >>> params = anyopt.apply_updates(params, updates)
    """
    compute = _autodiff.value_and_grad(value_fn, name="value_and_grad_from_state")

    def _value_and_grad(params: Any, *fn_args: Any, state: Any, **fn_kwargs: Any):
        capabilities.check("value_and_grad_from_state", _autodiff.framework(params))
        value, grad = find_field(state, "value"), find_field(state, "grad")
        if value is None or grad is None:
            raise ValueError(
                "Value or gradient not found in the state. Make sure that these values are "
                "stored in the state by the optimizer."
            )
        return _autodiff.cond(
            _ops.isfinite(value),
            lambda p, a, kw: (value, jax_convention(grad, p)),
            lambda p, a, kw: compute(p, *a, **kw),
            params,
            fn_args,
            fn_kwargs,
        )

    return _value_and_grad
