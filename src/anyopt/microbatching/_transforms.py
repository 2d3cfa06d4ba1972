"""vmap and value-and-grad over trees, with JAX's calling conventions, on every framework.

JAX's own ``jax.vmap`` / ``jax.value_and_grad`` take any pytree; ``torch.func`` and MLX
take arrays (and a few containers), so the arguments are flattened to their array leaves,
the function sees them rebuilt, and its outputs come back flattened (``None`` included).
NumPy has no vmap: a Python loop over the mapped axis stands in. It has no autodiff either.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from anyopt import _ops, backends, capabilities

_NUMBERS = (int, float, bool, complex)


def _is_array(x: Any) -> bool:
    return type(x) not in _NUMBERS and hasattr(x, "shape") and hasattr(x, "dtype")


def framework_of(*trees: Any):
    """The backend of the arrays in ``trees`` (NumPy when there are none)."""
    leaves = [x for t in trees for x in backends.flatten(t)[0] if _is_array(x)]
    return backends.check_one_framework(leaves, trees) or backends.load("numpy")


def vmap(fun: Callable, in_axes: Any = 0, out_axes: Any = 0) -> Callable:
    """``jax.vmap(fun, in_axes, out_axes)`` semantics: ``in_axes`` is an int or one entry
    (int or None) per positional argument; keyword arguments are mapped along axis 0."""

    def mapped(*args, **kwargs):
        b = framework_of(args, kwargs)
        if b.NAME == "jax":
            return b.vmap(fun, in_axes, out_axes)(*args, **kwargs)
        if out_axes != 0:
            raise NotImplementedError(f"vmap on {b.NAME}: only out_axes=0 is supported")
        axes = in_axes if isinstance(in_axes, (list, tuple)) else (in_axes,) * len(args)
        flat = [backends.flatten(a) for a in (*args, kwargs)]
        slots, mapped_leaves, mapped_axes = [], [], []
        for i, ((leaves, _), axis) in enumerate(zip(flat, (*axes, 0))):
            for j, x in enumerate(leaves):
                if axis is not None and _is_array(x):
                    slots.append((i, j))
                    mapped_leaves.append(x)
                    mapped_axes.append(axis)
        out_def = []

        def flat_fun(*xs):
            parts = [list(leaves) for leaves, _ in flat]
            for (i, j), x in zip(slots, xs):
                parts[i][j] = x
            rebuilt = [backends.unflatten(d, p) for (_, d), p in zip(flat, parts)]
            out, treedef = backends.flatten(fun(*rebuilt[:-1], **rebuilt[-1]))
            out_def[:] = [treedef]
            return tuple(out)

        if hasattr(b, "vmap"):
            out = b.vmap(flat_fun, tuple(mapped_axes), 0)(*mapped_leaves)
        else:
            out = _loop_vmap(flat_fun, mapped_leaves, mapped_axes)
        return backends.unflatten(out_def[0], list(out))

    return mapped


def _loop_vmap(flat_fun: Callable, leaves: list, axes: list) -> tuple:
    sizes = {_ops.shape(x)[a] for x, a in zip(leaves, axes)}
    if len(sizes) != 1:
        raise ValueError(f"vmap: mapped axes have different sizes {sorted(sizes)}")
    outs = []
    for k in range(sizes.pop()):
        outs.append(flat_fun(*(_take(x, k, a) for x, a in zip(leaves, axes))))
    return tuple(_ops.stack(list(column), axis=0) for column in zip(*outs))


def _take(x: Any, index: Any, axis: int) -> Any:
    """``x`` at ``index`` along ``axis`` (the axis removed); ``index`` may be traced (JAX)."""
    return x[(slice(None),) * axis + (index,)]


def value_and_grad(fun: Callable, argnums: int | Sequence[int], *, name: str) -> Callable:
    """``jax.value_and_grad(fun, argnums, has_aux=True)`` on every autodiff framework."""
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)

    def call(*args, **kwargs):
        b = framework_of(args, kwargs)
        capabilities.check(name, b.NAME)
        packed = tuple(args[i] for i in nums)
        if b.NAME != "jax":  # Python numbers become arrays that can carry a gradient
            like = next(x for x in backends.flatten((args, kwargs))[0] if _is_array(x))
            packed = _numbers_to_arrays(b, packed, like)
        aux_def = []

        def inner(p):
            full = list(args)
            for i, x in zip(nums, p):
                full[i] = x
            value, aux = fun(*full, **kwargs)
            leaves, treedef = backends.flatten(aux)
            aux_def[:] = [treedef]
            return value, tuple(leaves)

        (value, aux_leaves), grads = b.value_and_grad(inner, has_aux=True)(packed)
        aux = backends.unflatten(aux_def[0], list(aux_leaves))
        return (value, aux), (grads[0] if isinstance(argnums, int) else tuple(grads))

    return call


def _numbers_to_arrays(b, tree: Any, like: Any) -> Any:
    leaves, treedef = backends.flatten(tree)
    leaves = [b.asarray(float(x), like=like) if type(x) in (int, float) else x for x in leaves]
    return backends.unflatten(treedef, leaves)
