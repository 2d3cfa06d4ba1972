"""Microbatching: evaluate a function on a large batch one slice at a time.

``microbatch(fun, argnums, microbatch_size)`` splits the batch axis of the chosen
arguments into microbatches, calls ``fun`` on each in turn and combines the results with
an ``Accumulator``; ``micro_vmap`` is vmap with a bounded memory footprint and
``micro_grad`` a value-and-grad per example, transformed and accumulated.

Microbatch ``j`` of ``n`` holds rows ``j, j + n, j + 2n ...`` (optax's column-major
split, which keeps a sharded batch axis sharded). Under JAX the loop is
``jax.lax.fori_loop`` (so ``num_real_microbatches`` may be traced); elsewhere a Python
loop. vmap and grad are the framework's own (``torch.func``, ``mx.vmap`` / ``mx.grad``).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from typing import Any

from anyopt import _ops, backends
from anyopt.microbatching import _transforms
from anyopt.microbatching._accumulators import (
    AccumulationType,
    canonicalize,
    tree_map,
)

Function = Callable[..., Any]
IndividualOutputs = collections.namedtuple("Aux", ["values", "metrics", "aux"])


def reshape_batch_axis(tree: Any, microbatch_size: int, axis: int = 0) -> Any:
    """Every leaf's batch axis (``axis``) split into ``(num_microbatches, microbatch_size)``,
    column-major: entry ``[j, k]`` is row ``j + num_microbatches * k``."""

    def split(x):
        shape = tuple(_ops.shape(x))
        parts = (*shape[:axis], microbatch_size, shape[axis] // microbatch_size, *shape[axis + 1 :])
        return _ops.swapaxes(_ops.reshape(x, parts), axis, axis + 1)

    return tree_map(split, tree)


def _reshape_all_args(microbatch_size, argnums, argnames, in_axes, args, kwargs):
    batch_args = [args[i] for i in argnums] + [kwargs[n] for n in argnames]
    sizes = [
        _ops.shape(x)[ax] for ax, arg in zip(in_axes, batch_args) for x in backends.flatten(arg)[0]
    ]
    if len(set(sizes)) > 1:
        raise ValueError(f"Batch Arguments must have equal-size batch axes, found {sizes}.")
    if not sizes:
        raise ValueError("microbatch: the batch arguments (argnums, argnames) hold no arrays")
    batch_size = sizes[0]
    if batch_size % microbatch_size != 0:
        raise ValueError(
            f"batch_size={batch_size} must be divisible by microbatch_size={microbatch_size}."
        )
    new_args, new_kwargs = list(args), dict(kwargs)
    for i, ax in zip(argnums, in_axes):
        new_args[i] = reshape_batch_axis(args[i], microbatch_size, ax)
    for name, ax in zip(argnames, in_axes[len(argnums) :]):
        new_kwargs[name] = reshape_batch_axis(kwargs[name], microbatch_size, ax)
    return tuple(new_args), new_kwargs, batch_size


def microbatch(
    fun: Function,
    argnums: int | Sequence[int],
    microbatch_size: int | None,
    accumulator: Any = AccumulationType.SUM,
    *,
    argnames: str | Sequence[str] = (),
    in_axes: int | Sequence[int] = 0,
    num_real_microbatches: Any = None,
) -> Function:
    """``fun`` evaluated one microbatch at a time and accumulated.

    ``argnums`` / ``argnames`` name the arguments with a batch axis (at ``in_axes``, one
    entry per ``argnums + argnames``); the batch size must be divisible by
    ``microbatch_size`` (None returns ``fun`` itself). ``accumulator`` (SUM, MEAN,
    RUNNING_MEAN, CONCAT, an ``Accumulator``, or a tree of them that is a prefix of
    ``fun``'s output) says how results combine. ``num_real_microbatches`` stops early.

    Example::

        total = anyopt.microbatch(lambda x: (x**2).sum(), argnums=0, microbatch_size=2)(x)
    """
    if microbatch_size is None:
        return fun
    argnums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    argnames = (argnames,) if isinstance(argnames, str) else tuple(argnames)
    if isinstance(in_axes, int):
        in_axes = (in_axes,) * (len(argnums) + len(argnames))
    in_axes = tuple(in_axes)

    def microbatched_fun(*args, **kwargs):
        args, kwargs, batch_size = _reshape_all_args(
            microbatch_size, argnums, argnames, in_axes, args, kwargs
        )
        num_microbatches = batch_size // microbatch_size
        acc = canonicalize(accumulator, num_microbatches)

        def f(index):
            call_args, call_kwargs = list(args), dict(kwargs)
            for i, ax in zip(argnums, in_axes):
                call_args[i] = tree_map(lambda x, a=ax: _transforms._take(x, index, a), args[i])
            for name, ax in zip(argnames, in_axes[len(argnums) :]):
                call_kwargs[name] = tree_map(
                    lambda x, a=ax: _transforms._take(x, index, a), kwargs[name]
                )
            return fun(*call_args, **call_kwargs)

        bound = num_microbatches if num_real_microbatches is None else num_real_microbatches
        b = _transforms.framework_of([args[i] for i in argnums], kwargs)
        if hasattr(b, "fori_loop"):  # JAX: a traced loop, bound possibly traced too
            carry = acc.init(b.eval_shape(f, 0))
            carry = b.fori_loop(0, bound, lambda i, c: acc.update(c, f(i), i), carry)
            return acc.finalize(carry)
        bound = int(bound)
        first = f(0)
        carry = acc.init(first)
        for i in range(bound):
            carry = acc.update(carry, first if i == 0 else f(i), i)
        return acc.finalize(carry)

    return microbatched_fun


def micro_vmap(
    fun: Function,
    in_axes: int | Sequence[int] = 0,
    out_axes: Any = 0,
    *,
    microbatch_size: int | None = None,
    vmap_fn: Callable | None = None,
    accumulator: Any = AccumulationType.CONCAT,
    num_real_microbatches: Any = None,
) -> Function:
    """vmap of ``fun`` over ``in_axes``, run ``microbatch_size`` rows at a time.

    By default (CONCAT) the outputs keep the batch axis, as with vmap; SUM / MEAN reduce
    it (per subtree, with a tree of accumulators). ``vmap_fn(fun, in_axes, out_axes)``
    replaces the vmap used (default: the arrays' framework's own; a loop on NumPy).
    ``out_axes`` must be 0.
    """
    if out_axes != 0:
        raise NotImplementedError("out_axis != 0 is not currently supported")
    in_axes = (in_axes,) if isinstance(in_axes, int) else tuple(in_axes)
    vmap = vmap_fn or _transforms.vmap

    def vmap_reduce_fn(*args, kwargs):
        output = vmap(fun, in_axes, out_axes)(*args, **kwargs)
        rows = _ops.shape(backends.flatten(output)[0][0])[0]
        return canonicalize(accumulator, rows).aggregate(output)

    micro_vmap_fn = microbatch(
        vmap_reduce_fn,
        argnums=tuple(i for i, ax in enumerate(in_axes) if ax is not None),
        argnames="kwargs",
        microbatch_size=microbatch_size,
        accumulator=accumulator,
        in_axes=tuple(ax for ax in in_axes if ax is not None) + (0,),
        num_real_microbatches=num_real_microbatches,
    )

    def wrapped_fn(*args, **kwargs):
        return micro_vmap_fn(*args, kwargs=kwargs)

    return wrapped_fn


def _with_extra_batch_axis(fun: Function, batch_argnums: Sequence[int]) -> Function:
    def wrapped(*args, **kwargs):
        args = list(args)
        for i in batch_argnums:
            args[i] = tree_map(lambda x: _ops.expand_dims(x, 1), args[i])
        return fun(*args, **kwargs)

    return wrapped


def micro_grad(
    fun: Function,
    has_aux: bool = False,
    argnums: int | Sequence[int] = 0,
    *,
    batch_argnums: int | Sequence[int] = 1,
    keep_batch_dim: bool = True,
    microbatch_size: int | None = None,
    accumulator: Any = AccumulationType.SUM,
    transform_fn: Callable[[Any], Any] = lambda x: x,
    metrics_fn: Callable[[Any], Any] = lambda x: None,
    num_real_microbatches: Any = None,
) -> Callable[..., tuple[Any, Any]]:
    """Per-example gradients of ``fun``, transformed and accumulated over the batch.

    Returns ``(accumulated transform_fn(grad), Aux(values, metrics, aux))`` where
    ``values``, ``metrics_fn(grad)`` and ``fun``'s aux (``has_aux``) are per example.
    ``batch_argnums`` are the arguments with a batch axis (0); with ``keep_batch_dim``
    ``fun`` sees them with a batch axis of size 1. Uses the framework's vmap and grad
    (JAX, torch.func, MLX); NumPy has no autodiff.
    """
    batch_argnums = (batch_argnums,) if isinstance(batch_argnums, int) else tuple(batch_argnums)
    with_aux = fun if has_aux else (lambda *a, **k: (fun(*a, **k), None))
    value_and_grad = _transforms.value_and_grad(with_aux, argnums, name="microbatching.micro_grad")

    def grad_fn(*args, **kwargs):
        (value, aux), grad = value_and_grad(*args, **kwargs)
        return transform_fn(grad), IndividualOutputs(value, metrics_fn(grad), aux)

    in_axes = [None] * (max(batch_argnums) + 1)
    for i in batch_argnums:
        in_axes[i] = 0
    micro_fun = micro_vmap(
        grad_fn,
        in_axes=in_axes,
        accumulator=(accumulator, AccumulationType.CONCAT),
        microbatch_size=microbatch_size,
        num_real_microbatches=num_real_microbatches,
    )
    if keep_batch_dim:
        micro_fun = _with_extra_batch_axis(micro_fun, batch_argnums)
    return micro_fun
