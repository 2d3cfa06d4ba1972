"""JAX backend: leaf operations on ``jax.Array`` (and tracers under jit/vmap/grad)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

NAME = "jax"
xp = jnp

sqrt, abs, sign, tanh, cos, exp, log = (
    jnp.sqrt,
    jnp.abs,
    jnp.sign,
    jnp.tanh,
    jnp.cos,
    jnp.exp,
    jnp.log,
)
maximum, minimum, where, isfinite = jnp.maximum, jnp.minimum, jnp.where, jnp.isfinite
sum, max, min, mean, all, any = jnp.sum, jnp.max, jnp.min, jnp.mean, jnp.all, jnp.any
log1p, sin, floor, isnan, real, imag, conj = (
    jnp.log1p,
    jnp.sin,
    jnp.floor,
    jnp.isnan,
    jnp.real,
    jnp.imag,
    jnp.conj,
)
matmul, reshape, swapaxes, expand_dims, broadcast_to = (
    jnp.matmul,
    jnp.reshape,
    jnp.swapaxes,
    jnp.expand_dims,
    jnp.broadcast_to,
)
stack, concatenate, eigh = jnp.stack, jnp.concatenate, jnp.linalg.eigh
remainder = jnp.remainder
sort, argsort, cumsum = jnp.sort, jnp.argsort, jnp.cumsum


def dtype(name: str):
    return jnp.dtype(name)


def dtype_name(d) -> str:
    return jnp.dtype(d).name


def astype(x, d):
    return jnp.asarray(x).astype(d)


def asarray(value, d=None, like=None):
    return jnp.asarray(value, dtype=d)


def zeros_like(x, d=None):
    return jnp.zeros_like(x, dtype=d)


def full_like(x, value, d=None):
    return jnp.full_like(x, value, dtype=d)


def clip(x, lo=None, hi=None):
    return jnp.clip(x, lo, hi)


def count_zero(like=None):
    return jnp.zeros([], jnp.int32)


def is_floating(x) -> bool:
    return jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)


def vdot(a, b):
    return jnp.vdot(a, b)


def shape(x) -> tuple:
    return tuple(jnp.shape(x))


def zeros(shape, d=None, like=None):
    return jnp.zeros(shape, d)


def eye(n: int, d=None, like=None):
    return jnp.eye(n, dtype=d)


def arange(n: int, d=None, like=None):
    return jnp.arange(n, dtype=d)


def svd(x):
    return jnp.linalg.svd(x, full_matrices=False)


def copy(x):
    return jnp.array(x, copy=True)


def size(x) -> int:
    return int(jnp.size(x))


def to_float(x) -> float:
    return float(x)


def to_numpy(x):
    import numpy as np

    return np.asarray(x)


def key(seed: int):
    return jax.random.PRNGKey(seed)


def split(k, num: int = 2):
    return jax.random.split(k, num)


def normal(k, shape, d=None):
    return jax.random.normal(k, shape, d or jnp.float32)


def uniform(k, shape, d=None, minval=0.0, maxval=1.0):
    return jax.random.uniform(k, shape, d or jnp.float32, minval, maxval)


def matmul_precision(a, b, precision):
    """``a @ b`` at XLA ``precision`` ('highest' ...): JAX may use TF32 by default."""
    return jnp.matmul(a, b, precision=precision)


def compile_step(step, donate: bool):
    """``step(params, grads, state) -> (params, state)`` under ``jax.jit``; params and state
    buffers are donated (reused for the outputs) when ``donate``."""
    return jax.jit(step, donate_argnums=(0, 2) if donate else ())


def host_views(leaves):
    """The leaves, checked to be arrays the fused step can run on: in CPU memory, of a
    dtype numba has (the fused step on JAX runs inside XLA: it needs no NumPy views)."""
    from anyopt.backends._trace import Unsupported

    for x in leaves:
        if isinstance(x, jax.Array):
            if x.dtype in (jnp.bfloat16, jnp.float16):
                raise Unsupported("the fused step cannot compute in float16 or bfloat16")
            if {d.platform for d in x.devices()} != {"cpu"}:
                raise Unsupported("the fused step on JAX needs arrays in CPU memory")
    return leaves


def concat(leaves):
    return jnp.concatenate([jnp.ravel(x) for x in leaves])


def view(buffer, start: int, stop: int, shape):
    return buffer[start:stop].reshape(shape)


# --- autodiff and traced control flow (line searches, L-BFGS, SAM, Sophia) ----------------
def value_and_grad(fun, has_aux: bool = False):
    """``jax.value_and_grad`` with respect to the first argument (any pytree)."""
    return jax.value_and_grad(fun, has_aux=has_aux)


def hvp(fun, params, tangents):
    """Hessian-vector product of scalar ``fun`` at ``params`` (forward over reverse)."""
    return jax.jvp(jax.grad(fun), (params,), (tangents,))[1]


def stop_gradient(x):
    return jax.lax.stop_gradient(x)


def scan(f, init, xs):
    return jax.lax.scan(f, init, xs)


def while_loop(cond_fn, body_fn, init):
    return jax.lax.while_loop(cond_fn, body_fn, init)


def cond(pred, true_fn, false_fn, *operands):
    return jax.lax.cond(pred, true_fn, false_fn, *operands)


def debug_print(pred, message: str, **kwargs):
    jax.lax.cond(pred, lambda: jax.debug.print(message, ordered=True, **kwargs), lambda: None)


def pmean(tree, axis_name):
    return jax.lax.pmean(tree, axis_name=axis_name)


def rademacher(k, shape, d=None):
    return jax.random.rademacher(k, shape, d or jnp.float32)


# --- scale_gradient: identity forward, cotangent times ``scale`` backward ----------------------
@jax.custom_vjp
def _scaled_gradient(x, scale):
    return x


def _scaled_gradient_fwd(x, scale):
    return x, scale


def _scaled_gradient_bwd(scale, g):
    return (g * scale).astype(g.dtype), None


_scaled_gradient.defvjp(_scaled_gradient_fwd, _scaled_gradient_bwd)


def scale_gradient(x, scale):
    if isinstance(scale, (int, float)) and scale == 0:
        return jax.lax.stop_gradient(x)
    return _scaled_gradient(x, scale)


# --- tree utilities and microbatching -------------------------------------------------------
def key_data(x):
    """The raw uint32 data of a typed key (``jax.random.key``); other arrays unchanged."""
    if hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(x)
    return x


def fori_loop(lower, upper, body_fun, init_val):
    return jax.lax.fori_loop(lower, upper, body_fun, init_val)


def eval_shape(fun, *args):
    return jax.eval_shape(fun, *args)


def vmap(fun, in_axes=0, out_axes=0):
    return jax.vmap(fun, in_axes=in_axes, out_axes=out_axes)


def index_set(x, index, value):
    """``x`` with ``x[index] = value`` (a copy; ``index`` may be traced)."""
    return x.at[index].set(value)


promote_types = jnp.promote_types
