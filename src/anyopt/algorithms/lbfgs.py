r"""L-BFGS (Liu & Nocedal, 1989): a limited-memory quasi-Newton direction.

With :math:`s_i = w_{i+1} - w_i`, :math:`y_i = u_{i+1} - u_i` and
:math:`\rho_i = 1 / \langle y_i, s_i \rangle` for the last :math:`m` steps, the direction
:math:`P_k u_k` comes from the two-loop recursion (Nocedal & Wright, Algorithm 7.4):

.. math::
    q \leftarrow u_k;\quad \text{for } i = k-1 \dots k-m:\ \alpha_i = \rho_i \langle s_i, q
    \rangle,\ q \leftarrow q - \alpha_i y_i;

    r \leftarrow \gamma_k q;\quad \text{for } i = k-m \dots k-1:\ \beta_i = \rho_i \langle
    y_i, r \rangle,\ r \leftarrow r + (\alpha_i - \beta_i) s_i;

with :math:`\gamma_k = \langle y_{k-1}, s_{k-1} \rangle / \|y_{k-1}\|^2` (or 1 if
``scale_init_precond`` is False) and, at the first step, :math:`\gamma_0 =
\min(1, 1/\|u_0\|)`, as optax does. The memory is a ring buffer: each leaf is stacked
``memory_size`` times along a new leading axis.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional, Union

from anyopt import _autodiff, _ops, _tree
from anyopt._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    ScalarOrSchedule,
    Updates,
    identity,
)
from anyopt._combine import chain
from anyopt.algorithms.linesearch import real_vdot, value_dtype
from anyopt.algorithms.linesearch_zoom import scale_by_zoom_linesearch
from anyopt.transforms._scaling import scale, scale_by_learning_rate


class ScaleByLBFGSState(NamedTuple):
    """State of L-BFGS."""

    count: Any  # shape=(), dtype=int32
    params: Updates  # the parameters at the last step
    updates: Updates  # the updates (gradients) at the last step
    diff_params_memory: Updates  # s_i, each leaf of shape (memory_size, *leaf.shape)
    diff_updates_memory: Updates  # y_i, likewise
    weights_memory: Any  # rho_i, shape (memory_size,), the parameters' real dtype


def _safe_div(num: Any, den: Any, ok: Any) -> Any:
    """``num / den`` where ``ok``, computed without dividing by the masked denominators."""
    return num / _ops.where(ok, den, _ops.full_like(den, 1))


def _write(memory: Any, index: Any, value: Any) -> Any:
    """``memory`` with row ``index`` set to ``value`` (functional ``memory[index] = value``)."""
    m = _ops.shape(memory)[0]
    rows = _ops.reshape(_ops.arange(m, "int32", like=memory), (m,) + (1,) * _ops.ndim(value))
    new = _ops.where(rows == index, _ops.expand_dims(value, 0), memory)
    return _ops.astype(new, _ops.dtype(memory))


def _read(memory: Any, index: Any) -> Any:
    return _tree.map(lambda x: x[index], memory)


def _precondition(updates, dw_memory, du_memory, rhos, identity_scale, memory_idx, m):
    """The two-loop recursion: ``P_k @ updates`` from the memory (oldest entry at
    ``memory_idx``)."""
    indices = [_ops.remainder(memory_idx + j, m) for j in range(m)]
    alphas = []
    vec = updates
    for idx in reversed(indices):
        dw, du = _read(dw_memory, idx), _read(du_memory, idx)
        alpha = rhos[idx] * real_vdot(dw, vec)
        vec = _tree.cast_like(_tree.add_scale(vec, -alpha, du), vec)
        alphas.append(alpha)
    vec = _tree.scale(identity_scale, vec)
    for idx, alpha in zip(indices, reversed(alphas)):
        dw, du = _read(dw_memory, idx), _read(du_memory, idx)
        beta = rhos[idx] * real_vdot(du, vec)
        vec = _tree.cast_like(_tree.add_scale(vec, alpha - beta, dw), vec)
    return vec


def scale_by_lbfgs(
    memory_size: int = 10,
    scale_init_precond: bool = True,
) -> GradientTransformation:
    """Multiplies updates by L-BFGS's inverse-Hessian approximation (no step size).

    Chain it with a line search (as :func:`lbfgs` does) for a step size satisfying the
    Wolfe conditions. Needs ``params`` in ``update``; needs no autodiff, so it runs on
    NumPy too.
    """
    if not isinstance(memory_size, int) or memory_size < 1:
        raise ValueError(f"scale_by_lbfgs: memory_size must be >= 1; got {memory_size!r}")

    def init_fn(params):
        first = _tree.leaves(params)[0]
        return ScaleByLBFGSState(
            count=_tree.count_init(params),
            params=_tree.zeros_like(params),
            updates=_tree.zeros_like(params),
            diff_params_memory=_tree.map(
                lambda x: _ops.zeros((memory_size,) + _ops.shape(x), _ops.dtype(x), like=x),
                params,
            ),
            diff_updates_memory=_tree.map(
                lambda x: _ops.zeros((memory_size,) + _ops.shape(x), _ops.dtype(x), like=x),
                params,
            ),
            weights_memory=_ops.zeros((memory_size,), value_dtype(params), like=first),
        )

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("scale_by_lbfgs: update needs params; pass params=...")
        memory_idx = _ops.remainder(state.count, memory_size)
        prev_memory_idx = _ops.remainder(state.count - 1, memory_size)
        started = state.count > 0

        # 1. Push the newest differences (zero at the first step) into the ring buffer.
        diff_params = _tree.sub(params, state.params)
        diff_updates = _tree.sub(updates, state.updates)
        curvature = real_vdot(diff_updates, diff_params)
        nonzero = curvature != 0
        one = _ops.full_like(curvature, 1)
        weight = _ops.where(nonzero, _safe_div(one, curvature, nonzero), _ops.zeros_like(one))
        diff_params, diff_updates, weight = _tree.map(
            lambda x: _ops.where(started, x, _ops.zeros_like(x)),
            (diff_params, diff_updates, weight),
        )
        dw_memory = _tree.map(
            lambda mem, x: _write(mem, prev_memory_idx, x), state.diff_params_memory, diff_params
        )
        du_memory = _tree.map(
            lambda mem, x: _write(mem, prev_memory_idx, x), state.diff_updates_memory, diff_updates
        )
        rhos = _write(state.weights_memory, prev_memory_idx, weight)

        # 2. gamma_k, the scale of the initial (identity) preconditioner.
        if scale_init_precond:
            numerator = real_vdot(diff_updates, diff_params)
            denominator = _tree.norm(diff_updates, squared=True)
            positive = denominator > 0
            identity_scale = _ops.where(
                positive,
                _safe_div(numerator, denominator, positive),
                _ops.full_like(numerator, 1),
            )
            norm = _tree.norm(_autodiff.stop_gradient(updates))
            small = norm <= 1  # min(1, 1 / norm), without dividing by zero
            one = _ops.full_like(norm, 1)
            capped_inv_norm = _ops.where(small, one, 1 / _ops.where(small, one, norm))
            identity_scale = _ops.where(started, identity_scale, capped_inv_norm)
        else:
            identity_scale = 1.0

        # 3. P_k u_k by the two-loop recursion.
        precond_updates = _precondition(
            updates, dw_memory, du_memory, rhos, identity_scale, memory_idx, memory_size
        )
        return precond_updates, ScaleByLBFGSState(
            count=_tree.safe_increment(state.count),
            params=_tree.map(_ops.copy, params),
            updates=_tree.map(_ops.copy, updates),
            diff_params_memory=dw_memory,
            diff_updates_memory=du_memory,
            weights_memory=rhos,
        )

    return GradientTransformation(init_fn, update_fn)


# optax's default line search: one instance, built at import.
_ZOOM = scale_by_zoom_linesearch(max_linesearch_steps=20, initial_guess_strategy="one")


def lbfgs(
    learning_rate: Optional[ScalarOrSchedule] = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    linesearch: Optional[Union[GradientTransformationExtraArgs, GradientTransformation]] = _ZOOM,
) -> GradientTransformationExtraArgs:
    """L-BFGS: ``scale_by_lbfgs``, then ``-learning_rate`` (or -1), then a line search.

    The default line search (zoom, Wolfe conditions) differentiates the objective, so its
    ``update`` needs ``value``, ``grad`` and ``value_fn`` and runs on JAX, PyTorch and MLX;
    with ``linesearch=None`` L-BFGS runs on every framework, NumPy included.

    Example:
        >>> import jax.numpy as jnp, anyopt
        >>> def f(x): return jnp.sum(x ** 2)
        >>> solver = anyopt.lbfgs()
        >>> params = jnp.array([1., 2., 3.])
        >>> state = solver.init(params)
        >>> value_and_grad = anyopt.value_and_grad_from_state(f)
        >>> for _ in range(2):
        ...     value, grad = value_and_grad(params, state=state)
        ...     updates, state = solver.update(
        ...         grad, state, params, value=value, grad=grad, value_fn=f)
        ...     params = anyopt.apply_updates(params, updates)
        >>> print(f"{float(f(params)):.1e}")
        7.5e-14
    """
    base_scaling = scale(-1.0) if learning_rate is None else scale_by_learning_rate(learning_rate)
    return chain(
        scale_by_lbfgs(memory_size=memory_size, scale_init_precond=scale_init_precond),
        base_scaling,
        identity() if linesearch is None else linesearch,
    )
