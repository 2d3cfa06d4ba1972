r"""Muon (Jordan, 2024): momentum orthogonalised by Newton-Schulz iterations.

.. math::
    m_t = \beta m_{t-1} + (1 - \beta) g_t, \quad
    u_t = \mathrm{NS}(\hat m_t)\, \sqrt{\max(1, \mathrm{fan_{out}} / \mathrm{fan_{in}})},

where :math:`\hat m_t` is the bias-corrected (by default Nesterov) momentum and NS the
Newton-Schulz orthogonalisation (``_muon_ns``). ``muon`` applies this to matrices and AdamW
to every other parameter (or as ``muon_weight_dimension_numbers`` says).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

from anyopt import _ops, _tree, _validate, backends
from anyopt._base import (
    EmptyState,
    GradientTransformation,
    ScalarOrSchedule,
    Updates,
)
from anyopt._combine import chain
from anyopt.algorithms._common import check_betas_eps, nesterov_mu_hat
from anyopt.algorithms.adam import adamw
from anyopt.contrib._muon_ns import (
    PRECONDITIONINGS,
    MuonDimensionNumbers,
    is_dimension_numbers,
    orthogonalize,
    scale_for_shape,
)
from anyopt.transforms._adding import add_decayed_weights
from anyopt.transforms._masking import MaskedNode
from anyopt.transforms._partition import partition
from anyopt.transforms._scaling import scale_by_learning_rate

_DEFAULT_NS_COEFFS = (3.4445, -4.7750, 2.0315)
_NS_COEFFS_PRESETS = {
    "standard": _DEFAULT_NS_COEFFS,
    "dion": (  # Ahn et al. 2025: one quintic per step
        (4.0848, -6.8946, 2.9270),
        (3.9505, -6.3029, 2.6377),
        (3.7418, -5.5913, 2.3037),
        (2.8769, -3.1427, 1.2046),
        (2.8366, -3.0525, 1.2012),
    ),
}


class MuonState(NamedTuple):
    """State of Muon."""

    count: Any  # shape=(), dtype=int32
    mu: Updates  # momentum, dtype mu_dtype or the parameters'
    ns_coeffs: Any  # shape=(3,) or (steps, 3): Newton-Schulz coefficients


def _coefficient_rows(fn: str, ns_coeffs, ns_steps) -> list:
    """The coefficients as nested Python floats, shape (3,) or (n, 3) with n <= ns_steps."""
    try:
        rows = [float(c) for c in ns_coeffs]
    except (TypeError, ValueError):
        try:
            rows = [[float(c) for c in row] for row in ns_coeffs]
        except (TypeError, ValueError):
            rows = None
    flat = bool(rows) and not isinstance(rows[0], list)
    if not rows or (len(rows) != 3 if flat else any(len(r) != 3 for r in rows)):
        raise ValueError(f"{fn}: ns_coeffs must have shape (3,) or (n, 3); got {ns_coeffs!r}")
    if not flat and len(rows) > ns_steps:
        raise ValueError(
            f"{fn}: ns_coeffs has {len(rows)} rows, more than ns_steps={ns_steps}; "
            "each row is one Newton-Schulz step"
        )
    return rows


_REAL_PART = {"complex64": "float32", "complex128": "float64"}


def _coefficients_like(rows, params):
    """``rows`` as an array of the parameters' widest float dtype (the real dtype of a
    complex one, as optax's), on their framework."""
    b, leaves = _tree.backend_of(params), _tree.leaves(params)
    if not leaves:
        return b.asarray(rows, b.dtype("float32"))
    widest = _tree.dtype(params, "highest")
    like = next(x for x in leaves if _ops.dtype(x) == widest)
    name = backends.dtype_name(widest)
    return b.asarray(rows, b.dtype(_REAL_PART.get(name, name)), like=like)


def _resolve(spec, tree):
    return spec(tree) if callable(spec) else spec


def scale_by_muon(
    ns_coeffs: Any = _DEFAULT_NS_COEFFS,
    ns_steps: int = 5,
    beta: float = 0.95,
    eps: float = 1e-8,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    weight_dimension_numbers: Any = None,
) -> GradientTransformation:
    """Orthogonalises the (Nesterov) momentum of each matrix (no learning rate).

    ``weight_dimension_numbers`` is a tree of ``MuonDimensionNumbers`` matching the
    parameters, or a function of the updates returning one; None treats every leaf as a
    matrix. ``adaptive`` scales each update by :math:`\\langle \\hat m, u \\rangle`
    (Bernstein & Newhouse, 2024).
    """
    fn = "scale_by_muon"
    rows = _coefficient_rows(fn, ns_coeffs, ns_steps)
    _validate.non_negative(fn, "ns_steps", ns_steps)
    check_betas_eps(fn, beta=beta, eps=eps)
    _validate.float_dtype(fn, "mu_dtype", mu_dtype)
    _validate.choice(fn, "preconditioning", preconditioning, PRECONDITIONINGS)

    def init_fn(params):
        return MuonState(
            count=_tree.count_init(params),
            mu=_tree.zeros_like(params, dtype=mu_dtype),
            ns_coeffs=_coefficients_like(rows, params),
        )

    def update_fn(updates, state, params=None):
        del params
        dims = _resolve(weight_dimension_numbers, updates)
        mu = _tree.update_moment(updates, state.mu, beta, 1)
        count_inc = _tree.safe_increment(state.count)
        if nesterov:
            mu_hat = nesterov_mu_hat(mu, updates, beta, count_inc)
        else:
            mu_hat = _tree.bias_correction(mu, beta, count_inc)

        def ortho(x, d=None):
            return orthogonalize(x, state.ns_coeffs, ns_steps, preconditioning, eps, d)

        if dims is None:
            new_updates = _tree.map(ortho, mu_hat)
        else:
            new_updates = _tree.map(ortho, mu_hat, dims)
        if adaptive:
            new_updates = _tree.map(
                lambda m, u: _ops.sum(_ops.conj(m) * u) * u, mu_hat, new_updates
            )
        new_updates = _tree.cast_like(new_updates, updates)
        mu = _tree.cast(_tree.cast_like(mu, state.mu), mu_dtype)
        return new_updates, MuonState(count=count_inc, mu=mu, ns_coeffs=state.ns_coeffs)

    return GradientTransformation(init_fn, update_fn)


def _scale_by_shape(weight_dimension_numbers, consistent_rms) -> GradientTransformation:
    """Scales each matrix update for its shape (stateless); see ``scale_for_shape``."""

    def update_fn(updates, state, params=None):
        del params
        dims = _resolve(weight_dimension_numbers, updates)
        return _tree.map(lambda u, d: scale_for_shape(u, d, consistent_rms), updates, dims), state

    return GradientTransformation(lambda params: EmptyState(), update_fn)


def _is_spec_leaf(x) -> bool:
    return x is None or is_dimension_numbers(x) or isinstance(x, MaskedNode)


def muon(
    learning_rate: ScalarOrSchedule,
    ns_coeffs: Any = _DEFAULT_NS_COEFFS,
    ns_steps: int = 5,
    beta: float = 0.95,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    weight_decay_mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    adam_b1: float = 0.9,
    adam_b2: float = 0.999,
    adam_eps_root: float = 0.0,
    adam_weight_decay: float = 0.0,
    adam_learning_rate: Optional[ScalarOrSchedule] = None,
    muon_weight_dimension_numbers: Any = None,
    consistent_rms: Optional[float] = None,
    nu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """Muon for matrices (or the leaves ``muon_weight_dimension_numbers`` names), AdamW
    (``adam_*``, Nesterov as ``nesterov``) for every other leaf.

    ``ns_coeffs`` may name a preset: ``'standard'`` or ``'dion'``. The state is optax's
    ``PartitionState`` with a ``'muon'`` and an ``'adam'`` entry. ``nu_dtype`` (not in
    optax): the AdamW leaves' second-moment dtype; None: the parameters'.

    Example:
        >>> import numpy as np, anyopt
        >>> params = {"w": np.eye(3, dtype=np.float32), "b": np.zeros(3, np.float32)}
        >>> tx = anyopt.contrib.muon(0.1)
        >>> state = tx.init(params)
        >>> grads = {"w": np.diag(np.float32([1, 2, 3])), "b": np.ones(3, np.float32)}
        >>> updates, state = tx.update(grads, state, params)
        >>> np.round(np.diag(updates["w"]), 1)  # orthogonalised: every direction alike
        array([-0.1, -0.1, -0.1], dtype=float32)
        >>> np.round(updates["b"], 3)  # NAdam's first step
        array([-0.147, -0.147, -0.147], dtype=float32)
    """
    fn = "muon"
    if isinstance(ns_coeffs, str):
        if ns_coeffs not in _NS_COEFFS_PRESETS:
            raise ValueError(
                f"muon: ns_coeffs must be one of {tuple(_NS_COEFFS_PRESETS)} or coefficients; "
                f"got {ns_coeffs!r}"
            )
        ns_coeffs = _NS_COEFFS_PRESETS[ns_coeffs]
    _coefficient_rows(fn, ns_coeffs, ns_steps)
    _validate.learning_rate(fn, learning_rate)
    check_betas_eps(fn, beta=beta, eps=eps, adam_b1=adam_b1, adam_b2=adam_b2)
    _validate.non_negative(fn, "adam_eps_root", adam_eps_root)
    _validate.non_negative(fn, "weight_decay", weight_decay)
    _validate.non_negative(fn, "adam_weight_decay", adam_weight_decay)
    _validate.choice(fn, "preconditioning", preconditioning, PRECONDITIONINGS)
    _validate.float_dtype(fn, "nu_dtype", nu_dtype)
    if adam_learning_rate is None:
        adam_learning_rate = learning_rate
    else:
        _validate.learning_rate(fn, adam_learning_rate)
    specs = muon_weight_dimension_numbers

    if specs is None:  # every matrix is a Muon parameter
        specs = MuonDimensionNumbers()

        def param_labels(params):
            return _tree.map(lambda x: "muon" if _ops.ndim(x) == 2 else "adam", params)

    else:

        def param_labels(params):
            def label(spec, subtree):
                return _tree.map(lambda _: "adam" if spec is None else "muon", subtree)

            return _tree.map(label, _resolve(specs, params), params, is_leaf=_is_spec_leaf)

    def dimension_numbers(params):
        """The specs as a full tree: a spec per Muon leaf, MaskedNode elsewhere."""
        is_muon = _tree.map(lambda label: label == "muon", param_labels(params))

        def fill(spec, submask):
            return _tree.map(lambda m: spec if m else MaskedNode(), submask)

        return _tree.map(fill, _resolve(specs, params), is_muon, is_leaf=_is_spec_leaf)

    muon_tx = chain(
        scale_by_muon(
            ns_coeffs,
            ns_steps,
            beta,
            eps,
            mu_dtype,
            nesterov=nesterov,
            adaptive=adaptive,
            preconditioning=preconditioning,
            weight_dimension_numbers=dimension_numbers,
        ),
        _scale_by_shape(dimension_numbers, consistent_rms),
        add_decayed_weights(weight_decay, weight_decay_mask),
        scale_by_learning_rate(learning_rate),
    )
    adam_tx = adamw(
        learning_rate=adam_learning_rate,
        b1=adam_b1,
        b2=adam_b2,
        eps=eps,
        eps_root=adam_eps_root,
        weight_decay=adam_weight_decay,
        mu_dtype=mu_dtype,
        nesterov=nesterov,
        nu_dtype=nu_dtype,
    )
    return partition({"muon": muon_tx, "adam": adam_tx}, param_labels)
