r"""GaLore (Zhao et al., 2024): the base optimizer runs on low-rank projections of gradients.

A matrix gradient :math:`G \in \mathbb R^{m \times n}` is projected on its top-``r``
singular vectors, recomputed every ``update_proj_gap`` steps from the SVD of the
current gradient: with :math:`m \ge n`, :math:`P = U_{:, :r}`, :math:`R = P^T G` and the
update is :math:`\text{scale} \cdot P\, \rho(R)`; with :math:`m < n`,
:math:`P = V_{:, :r}`, :math:`R = G P` and the update is :math:`\text{scale} \cdot \rho(R) P^T`,
where :math:`\rho` is the base optimizer (``scale_by_adam()`` by default), whose state
therefore has the shape of :math:`R`. Other leaves go through :math:`\rho` unprojected.

The SVD runs in float32 with each framework's own routine. Singular vectors are defined
up to sign, and frameworks (LAPACK builds) pick different signs: on JAX the projectors are
optax's exactly; elsewhere a projector column may be negated, which leaves the update
unchanged until the next recomputation, where the base optimizer's moments (kept across
recomputations, as in optax and the paper's code) then see a different basis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Optional, Union

from anyopt import _autodiff, _ops, _tree, _validate, backends
from anyopt._base import GradientTransformation, OptState, ScalarOrSchedule, Updates
from anyopt._combine import chain
from anyopt.algorithms.adam import scale_by_adam
from anyopt.transforms._adding import add_decayed_weights
from anyopt.transforms._scaling import scale_by_learning_rate


class GaLoreDimensionNumbers(NamedTuple):
    """Which axes of a leaf form the rows (``reduction_axis``) and the columns
    (``output_axis``) of the matrix GaLore projects; every axis must be named once."""

    reduction_axis: Union[Sequence[int], int] = 0
    output_axis: Union[Sequence[int], int] = 1


class GaLoreState(NamedTuple):
    """State of GaLore."""

    count: Any  # shape=(), dtype=int32
    base_optimizer_state: OptState  # on the projected (low-rank) leaves
    projector: Updates  # P per leaf; shape (0, 0) for leaves that are not projected


def _axes(axis: Union[Sequence[int], int], ndim: int) -> tuple:
    return tuple(a % ndim for a in ((axis,) if isinstance(axis, int) else axis))


def _permute(x: Any, perm: Sequence[int]) -> Any:
    """``x.transpose(perm)`` as a sequence of axis swaps."""
    order = list(range(len(perm)))
    for i, axis in enumerate(perm):
        j = order.index(axis)
        if j != i:
            x = _ops.swapaxes(x, i, j)
            order[i], order[j] = order[j], order[i]
    return x


class _Matrix:
    """How a leaf of ``shape`` is viewed as an (m, n) matrix under ``dims``."""

    def __init__(self, shape: tuple, dims: GaLoreDimensionNumbers):
        ndim = len(shape)
        if ndim < 2:
            raise ValueError(f"galore: projected leaves need rank >= 2; got shape {shape}")
        rows, cols = _axes(dims.reduction_axis, ndim), _axes(dims.output_axis, ndim)
        if set(rows) & set(cols):
            raise ValueError(
                f"galore: reduction axes {rows} and output axes {cols} must be disjoint "
                f"(dimension numbers {dims} for shape {shape})"
            )
        if len(set(rows) | set(cols)) != ndim:
            raise ValueError(
                f"galore: the reduction axes {rows} and output axes {cols} must name every "
                f"axis of shape {shape}"
            )
        self.perm = rows + cols
        self.inverse = tuple(sorted(range(ndim), key=lambda i: self.perm[i]))
        self.permuted_shape = tuple(shape[a] for a in self.perm)
        self.m = math.prod(shape[a] for a in rows)
        self.n = math.prod(shape[a] for a in cols)
        self.left = self.m >= self.n  # project the rows (P^T G) or the columns (G P)

    def to_2d(self, x):
        return _ops.reshape(_permute(x, self.perm), (self.m, self.n))

    def from_2d(self, y):
        return _permute(_ops.reshape(y, self.permuted_shape), self.inverse)


def _is_dims(x: Any) -> bool:
    return isinstance(x, GaLoreDimensionNumbers)


def scale_by_galore(
    rank: int = 128,
    update_proj_gap: int = 200,
    scale: float = 1.0,
    base_optimizer: Optional[GradientTransformation] = None,
    weight_dimension_numbers: Optional[Any] = None,
) -> GradientTransformation:
    """GaLore's projected base optimizer (no learning rate).

    ``weight_dimension_numbers``: None (project 2-D leaves only), one
    ``GaLoreDimensionNumbers`` for every leaf of rank >= 2, a tree of them (None to skip
    a leaf) or a function of the parameters returning such a tree. ``base_optimizer``
    must not need parameters (``scale_by_adam``, ``scale_by_lion`` ..., not ``adamw``):
    it sees projected gradients; use ``galore``'s ``weight_decay`` for weight decay.
    """
    if not isinstance(rank, int) or isinstance(rank, bool):
        raise TypeError(f"scale_by_galore: rank must be an int; got {rank!r}")
    _validate.positive("scale_by_galore", "rank", rank)
    _validate.positive("scale_by_galore", "update_proj_gap", update_proj_gap)
    inner = scale_by_adam() if base_optimizer is None else base_optimizer

    def dims_for(tree):
        spec = weight_dimension_numbers
        if spec is None:
            default = GaLoreDimensionNumbers()
            return _tree.map(lambda p: default if _ops.ndim(p) == 2 else None, tree)
        if callable(spec):
            return spec(tree)
        if _is_dims(spec):
            return _tree.map(lambda p: spec if _ops.ndim(p) >= 2 else None, tree)
        return spec

    def per_leaf(tree, *others):
        """``tree``'s leaves, its treedef and the matching subtrees of ``others``."""
        leaves, treedef = backends.flatten(tree)
        return leaves, treedef, [backends.flatten_up_to(treedef, o, tree) for o in others]

    def init_fn(params):
        leaves, treedef, (dims,) = per_leaf(params, dims_for(params))
        if not leaves:
            return GaLoreState(_tree.count_init(params), inner.init(params), params)
        projectors, proxies = [], []
        for p, d in zip(leaves, dims):
            dtype = _ops.dtype(p)
            if d is None:
                projectors.append(_ops.zeros((0, 0), dtype, p))
                proxies.append(_ops.zeros_like(p))
                continue
            mat = _Matrix(_ops.shape(p), d)
            r = min(rank, mat.m, mat.n)
            big = mat.m if mat.left else mat.n
            projectors.append(_ops.zeros((big, r), dtype, p))
            proxies.append(_ops.zeros((r, mat.n) if mat.left else (mat.m, r), dtype, p))
        return GaLoreState(
            count=_tree.count_init(params),
            base_optimizer_state=inner.init(backends.unflatten(treedef, proxies)),
            projector=backends.unflatten(treedef, projectors),
        )

    def update_fn(updates, state, params=None):
        del params
        leaves, treedef, (projectors, dims) = per_leaf(updates, state.projector, dims_for(updates))
        refresh = (state.count % update_proj_gap) == 0
        mats = [None if d is None else _Matrix(_ops.shape(g), d) for g, d in zip(leaves, dims)]
        low_rank, new_projectors = [], []
        for g, proj, mat in zip(leaves, projectors, mats):
            if mat is None:
                low_rank.append(g)
                new_projectors.append(proj)
                continue
            g2 = mat.to_2d(g)
            r, dtype = min(rank, mat.m, mat.n), _ops.dtype(g)

            def fresh(g2=g2, r=r, left=mat.left, dtype=dtype):
                u, _, vh = _ops.svd(_ops.astype(g2, "float32"))
                basis = u[:, :r] if left else _ops.swapaxes(vh[:r, :], 0, 1)
                return _ops.astype(basis, dtype)

            try:  # lax.cond under JAX; a Python branch elsewhere (one SVD per refresh)
                proj = _autodiff.cond(refresh, fresh, lambda proj=proj: proj)
            except ValueError:  # MLX cannot branch on a value inside mx.compile
                proj = _ops.where(refresh, fresh(), proj)
            new_projectors.append(proj)
            low_rank.append(
                _ops.matmul(_ops.swapaxes(proj, 0, 1), g2) if mat.left else _ops.matmul(g2, proj)
            )
        inner_updates, inner_state = inner.update(
            backends.unflatten(treedef, low_rank), state.base_optimizer_state, None
        )
        out = []
        for u, g, proj, mat in zip(
            backends.flatten_up_to(treedef, inner_updates), leaves, new_projectors, mats
        ):
            if mat is None:
                out.append(u)
                continue
            full = _ops.matmul(proj, u) if mat.left else _ops.matmul(u, _ops.swapaxes(proj, 0, 1))
            out.append(_ops.astype(scale * mat.from_2d(full), _ops.dtype(g)))
        new_state = GaLoreState(
            count=_tree.safe_increment(state.count),
            base_optimizer_state=inner_state,
            projector=backends.unflatten(treedef, new_projectors),
        )
        return backends.unflatten(treedef, out), new_state

    return GradientTransformation(init_fn, update_fn)


def galore(
    learning_rate: ScalarOrSchedule,
    rank: int = 128,
    update_proj_gap: int = 200,
    scale: float = 1.0,
    base_optimizer: Optional[GradientTransformation] = None,
    weight_decay: Any = 0.0,
    mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
    weight_dimension_numbers: Optional[Any] = None,
) -> GradientTransformation:
    """GaLore: ``scale_by_galore``, decoupled weight decay (full space), then ``-lr``.

    Example:
        >>> import numpy as np, anyopt
        >>> params = {"w": np.ones((6, 4), np.float32), "b": np.ones(4, np.float32)}
        >>> tx = anyopt.contrib.galore(0.01, rank=2)
        >>> state = tx.init(params)
        >>> state[0].projector["w"].shape, state[0].projector["b"].shape
        ((6, 2), (0, 0))

    References:
        Zhao et al., `GaLore: Memory-Efficient LLM Training by Gradient Low-Rank
        Projection <https://arxiv.org/abs/2403.03507>`_, 2024.
    """
    _validate.learning_rate("galore", learning_rate)
    _validate.non_negative("galore", "weight_decay", weight_decay)
    return chain(
        scale_by_galore(
            rank=rank,
            update_proj_gap=update_proj_gap,
            scale=scale,
            base_optimizer=base_optimizer,
            weight_dimension_numbers=weight_dimension_numbers,
        ),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
