"""One call that computes an update and applies it: ``params, state = step(params, grads, state)``.

``make_step(tx, mode)`` picks how, among the backend layer's fast paths; every mode runs
the same reference ``tx.update`` (traced or compiled) and is tested equal to it:

- ``"reference"``: ``tx.update`` then ``apply_updates``, eagerly (every framework).
- ``"compiled"``: the whole step under the framework's compiler, compiled once per tree
  structure: ``jax.jit`` with donation, ``torch.compile`` writing in place, ``mx.compile``.
- ``"fused"`` (NumPy; torch and MLX arrays in CPU memory that NumPy can view, so no
  bfloat16; JAX arrays on the CPU, inside ``jax.jit`` as XLA FFI calls; needs numba, so no
  float16): the step traced once and run as parallel loops that read each input once and
  write parameters and state in place (leaves that run the same code: one batched loop).
- ``"flat"`` (NumPy, torch): leaves packed into one buffer per dtype and the step run once
  per buffer (fused or compiled); for many small leaves. Only for steps that treat every
  leaf alike (checked by tracing); its state is that of the flat buffers.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

from anyopt import _tree, backends
from anyopt._base import GradientTransformation
from anyopt._update import apply_updates

MODES = ("reference", "compiled", "fused", "flat")


def _module(name: str):
    """``backends._fused`` / ``backends._flat``, imported on first use (they need NumPy)."""
    return importlib.import_module(f"anyopt.backends.{name}")


FLAT_MEAN_LEAF = 1 << 16  # "auto" packs trees whose leaves average fewer elements


def step_modes(framework: str) -> list[str]:
    """The modes ``make_step`` supports on ``framework`` ('numpy', 'jax', 'torch', 'mlx')."""
    backends.load(framework)  # validates the name
    if framework == "numpy":
        return ["reference", "fused", "flat"] if _module("_fused").available() else ["reference"]
    if framework == "torch":
        fused = ["fused"] if _module("_fused").available() else []
        return ["reference", "compiled", *fused, "flat"]
    if framework == "mlx" and _module("_fused").available() and backends.load("mlx").host_fusable():
        return ["reference", "compiled", "fused"]
    if framework == "jax" and _module("_fused_xla").available():
        return ["reference", "compiled", "fused"]
    return ["reference", "compiled"]


def reference_step(tx: GradientTransformation) -> Callable:
    def step(params, grads, state):
        updates, state = tx.update(grads, state, params)
        return apply_updates(params, updates), state

    return step


class _Direct:
    """Reference, compiled or fused: the state is ``tx``'s own state for ``params``."""

    def __init__(self, tx, framework: str, mode: str, donate: bool):
        self.tx, self.reference = tx, reference_step(tx)
        if mode == "compiled":
            self.run = backends.load(framework).compile_step(self.reference, donate)
        elif mode == "fused" and framework == "jax":
            self.run = _module("_fused_xla").XlaFusedRunner(self.reference, donate)
        elif mode == "fused":
            self.run = _FusedRunner(self.reference, donate, backends.load(framework))
        else:
            self.run = self.reference

    def init(self, params):
        return self.tx.init(params)

    def __call__(self, params, grads, state):
        return self.run(params, grads, state)


class _FusedRunner:
    """Traces the step once per tree structure (and leaf dtypes) and runs the numba plan
    on the arrays' host memory: NumPy arrays, CPU tensors, MLX buffers, written in place."""

    def __init__(self, reference, donate: bool, backend):
        self.reference, self.donate, self.backend, self.plans = reference, donate, backend, {}

    def __call__(self, params, grads, state):
        plan, flat = self.plan_for(params, grads, state)
        new_p, new_s = self.run_leaves(plan, [ls for ls, _ in flat])
        return _rebuilt(params, flat[0][0], plan.def_p, new_p), _rebuilt(
            state, flat[2][0], plan.def_s, new_s
        )

    def plan_for(self, params, grads, state) -> tuple:
        """The plan for these trees' structure and leaf types, and the flattened trees."""
        flat = [backends.flatten(t) for t in (params, grads, state)]
        key = tuple((d, tuple(map(_leaf_signature, ls))) for ls, d in flat)
        plan = self.plans.get(key)
        if plan is None:
            try:
                plan = _module("_fused").Plan(self.reference, params, grads, state)
            except _module("_trace").Unsupported as e:
                raise ValueError(f"make_step: mode 'fused' cannot compile this step: {e}") from e
            self.plans[key] = plan
        return plan, flat

    def run_leaves(self, plan, leaves: list, grads_match: bool = False) -> tuple[list, list]:
        """``plan`` on ``leaves`` = [param, grad, state leaves]: new param and state leaves."""
        try:
            return plan.run_native(self.backend, leaves, self.donate, grads_match)
        except _module("_trace").Unsupported as e:  # raised before anything is written
            raise ValueError(f"make_step: mode 'fused' cannot run on these arrays: {e}") from e


def _rebuilt(tree, leaves: list, treedef, new_leaves: list):
    """``tree`` itself when every leaf was updated in place, else the new tree."""
    if len(leaves) == len(new_leaves) and all(a is b for a, b in zip(leaves, new_leaves)):
        return tree
    return backends.unflatten(treedef, new_leaves)


def _leaf_signature(x) -> tuple:
    shape = getattr(x, "shape", None)
    return (-1 if shape is None else len(shape), getattr(x, "dtype", type(x)))


class _Flat:
    """Runs an inner step on per-dtype flat buffers; see ``make_step``."""

    def __init__(self, tx, framework: str, donate: bool):
        inner_mode = "fused" if "fused" in step_modes(framework) else "compiled"
        self.tx, self.donate = tx, donate
        self.inner = _Direct(tx, framework, inner_mode, donate=True)
        self.layout = self.treedef = self.views = None

    def _prepare(self, params):
        layout, treedef, leaves = _module("_flat").layout_of(params)
        if self.layout is None or layout.key() != self.layout.key():
            self.layout, self.treedef = layout, treedef
            self.params_buf, self.grads_buf = layout.new_buffers(), layout.new_buffers()
            self.views = None
        return leaves

    def init(self, params):
        leaves = self._prepare(params)
        return self.tx.init(self.layout.pack(leaves, self.params_buf))

    def adopt(self, params):
        """``params`` as views into this step's buffer: passing them back skips copies
        (the step then always updates them in place)."""
        leaves = self._prepare(params)
        self.layout.pack(leaves, self.params_buf)
        self.views = self.layout.views(self.params_buf)
        return backends.unflatten(self.treedef, self.views)

    def step_adopted(self, grad_leaves: list, state):
        """A step on the adopted parameters (updated in place), with gradient leaves in
        ``flatten`` order; returns the new state."""
        if self.views is None:
            raise ValueError("make_step: call adopt(params) before step_adopted")
        return self._run(self.params_buf, grad_leaves, state)

    def _run(self, pbuf: dict, grad_leaves: list, state):
        """The inner step on packed parameters ``pbuf`` (left holding the new ones)."""
        gbuf = self.layout.pack(grad_leaves, self.grads_buf)
        new_pbuf, state = self.inner(pbuf, gbuf, state)
        for key, buf in new_pbuf.items():
            if buf is not pbuf[key]:
                backends.of(buf).copy_leaves([pbuf[key]], [buf])
        return state

    def __call__(self, params, grads, state):
        if self.layout is None:
            raise ValueError("make_step: call init(params) before the first flat step")
        leaves, treedef = backends.flatten(params)
        if treedef != self.treedef:
            backends.flatten_up_to(self.treedef, params, None)  # names the differing path
            raise backends.TreeMismatchError(
                "make_step: params do not have the structure the step was initialised with"
            )
        grad_leaves = backends.flatten_up_to(self.treedef, grads, params)
        if self.views is not None and all(a is b for a, b in zip(leaves, self.views)):
            return params, self.step_adopted(grad_leaves, state)
        pbuf = self.params_buf if self.donate else self.layout.new_buffers()
        self.layout.pack(leaves, pbuf)
        state = self._run(pbuf, grad_leaves, state)
        if self.donate:
            self.layout.unpack_into(pbuf, leaves)
            return params, state
        return backends.unflatten(self.treedef, self.layout.views(pbuf)), state


class Step:
    """A compiled-once optimizer step for one transformation; see ``make_step``."""

    def __init__(self, tx: GradientTransformation, mode: str, donate: bool):
        if mode not in MODES and mode != "auto":
            raise ValueError(f"make_step: mode must be 'auto' or one of {MODES}; got {mode!r}")
        self.tx, self.requested_mode, self.donate = tx, mode, donate
        self._impl: dict[str, Any] = {}
        self.mode: str | None = None

    def _impl_for(self, params, grads=None, state=None):
        framework = _tree.backend_of(params).NAME
        impl = self._impl.get(framework)
        if impl is None:
            mode = self._choose(framework, params)
            self.mode = mode
            if mode == "flat":
                impl = _Flat(self.tx, framework, self.donate)
            else:
                impl = _Direct(self.tx, framework, mode, self.donate)
            self._impl[framework] = impl
        return impl

    def _choose(self, framework: str, params) -> str:
        available = step_modes(framework)
        if self.requested_mode != "auto":
            if self.requested_mode not in available:
                raise ValueError(
                    f"make_step: mode {self.requested_mode!r} is not available on {framework}; "
                    f"available: {available}"
                )
            fused_inside = self.requested_mode == "fused" or (
                self.requested_mode == "flat" and "fused" in available
            )
            if fused_inside and not _host_ok(params, framework):
                raise ValueError(
                    f"make_step: mode {self.requested_mode!r} needs arrays NumPy can view "
                    f"(CPU memory, a dtype NumPy has); use 'compiled' or 'reference'"
                )
            if self.requested_mode == "flat" and not _flat_compatible(self.tx, params):
                raise ValueError(_NOT_FLAT)
            return self.requested_mode
        leaves = _tree.leaves(params)
        small = len(leaves) > 1 and _tree.size(params) < FLAT_MEAN_LEAF * len(leaves)
        flat_ok = "fused" not in available or _host_ok(params, framework)
        if "flat" in available and small and flat_ok and _flat_compatible(self.tx, params):
            return "flat"
        # On JAX each leaf is an operand of an XLA custom call: for many small leaves the
        # call costs more than XLA's own loops.
        fused_pays = framework != "jax" or not small
        if "fused" in available and fused_pays and _fused_ok(self.tx, params, framework):
            return "fused"
        return "reference" if framework == "numpy" else "compiled"

    def init(self, params: Any) -> Any:
        """The state for ``params`` (``tx.init(params)``, or the flat buffers' state)."""
        return self._impl_for(params).init(params)

    def adopt(self, params: Any) -> Any:
        """In ``flat`` mode, ``params`` as views into the step's buffer (no copy per step)."""
        impl = self._impl_for(params)
        return impl.adopt(params) if isinstance(impl, _Flat) else params

    def step_adopted(self, grad_leaves: list, state: Any) -> Any:
        """In ``flat`` mode, after ``adopt``: one step on the adopted parameters (written
        in place) given the gradients as leaves in ``flatten`` order; returns the state.
        For callers that keep the leaves and skip flattening trees every step."""
        impl = self._impl.get(backends.of(grad_leaves[0]).NAME) if grad_leaves else None
        if not isinstance(impl, _Flat):
            raise ValueError(
                f"make_step: step_adopted needs mode 'flat'; this step is {self.mode!r}"
            )
        return impl.step_adopted(grad_leaves, state)

    def flatten(self, params: Any) -> dict:
        """``params`` packed into one 1-D buffer per dtype, ``{"float32": buffer, ...}``.

        For many small leaves on JAX and MLX: keep the parameters flat, compute the loss on
        ``step.unflatten(flat)`` (slices, free under jit) and step on the flat gradients;
        the step then touches one buffer per dtype. ``ValueError`` if the transformation
        does not treat every leaf alike (masks, per-leaf norms ...).
        """
        if not _flat_compatible(self.tx, params):
            raise ValueError(_NOT_FLAT)
        layout, treedef, leaves = _module("_flat").layout_of(params)
        self._flat_layout = (layout, treedef)
        return layout.concat(leaves)

    def unflatten(self, flat: dict) -> Any:
        """The tree of ``flatten``'s input, its leaves slices (or views) of ``flat``."""
        layout, treedef = self._flat_layout
        return backends.unflatten(treedef, layout.views(flat))

    def __call__(self, params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        return self._impl_for(params)(params, grads, state)

    def leaf_runner(self, params: Any, grads: Any, state: Any) -> Callable | None:
        """In mode ``fused`` (NumPy, torch, MLX): ``run([param leaves, grad leaves, state
        leaves]) -> (param leaves, state leaves)`` for trees like these (leaves in
        ``flatten`` order, of the same dtypes), for callers that keep the leaves themselves
        and skip flattening every step; ``None`` in other modes. ``run(leaves,
        grads_match=True)`` tells that each gradient has its parameter's dtype, device and
        shape (as torch checks for ``.grad``): steps that reuse their arguments then read
        only the gradients' addresses."""
        runner = getattr(self._impl_for(params), "run", None)
        if not isinstance(runner, _FusedRunner):
            return None
        plan, _ = runner.plan_for(params, grads, state)
        return functools.partial(runner.run_leaves, plan)


_NOT_FLAT = (
    "make_step: packing leaves into flat buffers needs a step that treats every leaf alike "
    "(no masks, per-leaf norms or shape-dependent operations)"
)


def _flat_compatible(tx, params) -> bool:
    return _module("_fused").flat_compatible(reference_step(tx), params, params, tx.init(params))


def _host_ok(params, framework: str) -> bool:
    """The arrays live where the fused kernels can reach them (e.g. not torch bfloat16)."""
    try:
        backends.load(framework).host_views(_tree.leaves(params))
    except _module("_trace").Unsupported:
        return False
    return True


def _fused_ok(tx, params, framework: str) -> bool:
    """The step traces, and the arrays live where the fused kernels can reach them."""
    if not _host_ok(params, framework):
        return False
    try:
        _module("_fused").Plan(reference_step(tx), params, params, tx.init(params))
    except _module("_trace").Unsupported:
        return False
    return True


def make_step(tx: GradientTransformation, mode: str = "auto", *, donate: bool = True) -> Step:
    """A function ``step(params, grads, state) -> (params, state)`` applying ``tx`` in one call.

    ``mode`` is ``"auto"`` (the fastest mode for the arrays' framework and tree), or one of
    ``"reference"``, ``"compiled"``, ``"fused"``, ``"flat"`` (see ``step_modes``). With
    ``donate=True`` the step may reuse the buffers of ``params`` and ``state`` for its
    outputs (JAX donation; NumPy and torch write in place), so do not use the old ones
    afterwards. Build the state with ``step.init(params)``.
    """
    return Step(tx, mode, donate)
