r"""Layer-wise DoG, "Distance over Gradients" (Ivgi et al., 2023): a learning-rate-free
step size per parameter leaf.

.. math::
    \bar r_k = \max\big(\bar r_{k-1}, \|x_k - x_0\|\big), \quad
    \bar r_0 = r_\epsilon (1 + \|x_0\|), \quad
    G_k = G_{k-1} + \|g_k\|^2, \quad
    u_k = s\, \frac{\bar r_k}{\sqrt{G_k + \epsilon}}\, g_k

with norms taken over each leaf and :math:`s` the ``global_scale`` (use -1 to descend).
Deviations from optax: a 0-d parameter keeps its shape (optax's update of a 0-d leaf has
shape (1,)), and ``max_dist`` stays in the parameter's dtype. Complex parameters: the norms
are of :math:`|x|` (real step sizes) and :math:`x_0` keeps its imaginary part (stored as
the complex dtype of ``param_dtype``'s precision); optax squares complex values instead
(:math:`\sum z^2`, complex step sizes) and drops :math:`x_0`'s imaginary part.
"""

from __future__ import annotations

from typing import NamedTuple

from anyopt import _ops, _tree, _validate, backends
from anyopt._base import NO_PARAMS_MSG, GradientTransformation, OptState
from anyopt.transforms._norms import abs_sq, block_norm


class ScaleByDistanceOverGradientsState(NamedTuple):
    """State of layer-wise DoG: per leaf, the largest distance travelled (0-d), the
    running sum of squared gradient norms (shape (1,), float32) and the initial params."""

    max_dist: OptState
    grad_sum_of_squares: OptState
    init_params: OptState


class _DTypeName(str):
    """A dtype named by a string that also equals that dtype in any framework's spelling,
    so that the default ``"float32"`` compares equal to optax's ``jnp.float32``."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return str.__eq__(self, other)
        try:
            return backends.dtype_name(other) == str(self)
        except (TypeError, ValueError, AttributeError):
            return False

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__


_FLOAT32 = _DTypeName("float32")


def _as(x, dtype):
    if dtype is None:
        return x
    if _ops.is_complex(x):  # a real param_dtype names the precision: keep Im(x)
        real = backends.dtype_name(dtype)
        dtype = {"float64": "complex128", "complex128": "complex128"}.get(real, "complex64")
    return _ops.astype(x, dtype)


def scale_by_distance_over_gradients(
    reps_rel=1e-6, eps=1e-8, param_dtype=_FLOAT32, global_scale=1.0
) -> GradientTransformation:
    """Layer-wise DoG step sizes (no learning rate); ``x_0`` is stored in ``param_dtype``
    (None: the parameters' own dtype).

    ``reps_rel`` sets the initial distance (the authors suggest 1e-4 with batch norm,
    1e-6 otherwise). The paper recommends averaging the iterates.
    """
    fn = "scale_by_distance_over_gradients"
    _validate.positive(fn, "reps_rel", reps_rel)
    _validate.non_negative(fn, "eps", eps)
    _validate.float_dtype(fn, "param_dtype", param_dtype)

    def init_fn(params):
        return ScaleByDistanceOverGradientsState(
            max_dist=_tree.map(lambda x: reps_rel * (1 + block_norm(x)), params),
            grad_sum_of_squares=_tree.map(lambda x: _ops.zeros((1,), "float32", like=x), params),
            # a copy: x_0 must not alias parameters that a fused or donated step overwrites
            init_params=_tree.map(lambda x: _ops.copy(_as(x, param_dtype)), params),
        )

    def new_max_dist(d, x, x0):
        return _ops.astype(_ops.maximum(d, block_norm(x - x0)), _ops.dtype(d))

    def step(g, d, g_sos):
        eta = global_scale * (d / _ops.sqrt(g_sos + eps))
        return _ops.like(_ops.reshape(eta, ()), g) * g

    def update_fn(updates, state, params):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        max_dist = _tree.map(new_max_dist, state.max_dist, params, state.init_params)
        g_sos = _tree.map(
            lambda s, g: s + _ops.astype(_ops.sum(abs_sq(g)), _ops.dtype(s)),
            state.grad_sum_of_squares,
            updates,
        )
        updates = _tree.map(step, updates, max_dist, g_sos)
        return updates, ScaleByDistanceOverGradientsState(max_dist, g_sos, state.init_params)

    return GradientTransformation(init_fn, update_fn)
