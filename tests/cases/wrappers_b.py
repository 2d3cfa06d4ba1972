"""optax parity cases for wrappers group B: partition / multi_transform, freeze,
selective_transform, snapshot, monitor, measure_with_ema (see tests/optax_cases.py)."""

from __future__ import annotations

from anyopt import backends

# Full optimizers (their updates include a learning rate).
OPTIMIZERS: set[str] = {"partition", "multi_transform", "selective_transform"}

# Labels for conftest.random_tree: a prefix tree ("adam" covers the whole tuple).
LABELS = {"dense": {"w": "adam", "b": "sgd"}, "layers": ["sgd", "adam"], "skip": None}
FREEZE = {"dense": {"w": False, "b": True}, "layers": [True, (False, False)], "skip": None}
OUTER = {"dense": "clip_masked", "layers": ["inner", ("clip_masked", "inner")], "skip": None}
INNER = {"dense": "a", "layers": ["b", ("a", "b")], "skip": None}
MASK = {"dense": {"w": True, "b": False}, "layers": True, "skip": None}


def by_ndim(params):
    """'matrix' for leaves with ndim >= 2, else 'vector' (works on every framework)."""
    leaves, treedef = backends.flatten(params)
    return backends.unflatten(
        treedef, ["matrix" if len(x.shape) >= 2 else "vector" for x in leaves]
    )


def _nested(lib):
    inner = lib.partition({"a": lib.sgd(0.1), "b": lib.adam(0.02)}, INNER)
    clip_masked = lib.chain(
        lib.clip_by_global_norm(1.0), lib.masked(lib.adamw(0.01, weight_decay=0.1), MASK)
    )
    return lib.partition({"clip_masked": clip_masked, "inner": inner}, OUTER)


CASES: dict = {
    "partition": lambda lib: lib.partition(
        {"adam": lib.adam(0.01), "sgd": lib.sgd(0.05, momentum=0.9)}, LABELS
    ),
    "partition/callable": lambda lib: lib.partition(
        {"matrix": lib.adamw(0.01, weight_decay=0.1), "vector": lib.lion(0.001)}, by_ndim
    ),
    "partition/one_label": lambda lib: lib.partition({"all": lib.adam(0.01)}, "all"),
    "partition/unused_label": lambda lib: lib.partition(
        {"adam": lib.adam(0.01), "sgd": lib.sgd(0.05), "unused": lib.lion(0.1)}, LABELS
    ),
    "partition/nested": _nested,
    "multi_transform": lambda lib: lib.multi_transform(
        {"adam": lib.adam(0.01), "sgd": lib.sgd(0.05)}, LABELS
    ),
    "freeze": lambda lib: lib.freeze(FREEZE),
    "freeze/all": lambda lib: lib.freeze(True),
    "freeze/prefix": lambda lib: lib.freeze({"dense": True, "layers": False, "skip": None}),
    "selective_transform": lambda lib: lib.selective_transform(lib.adam(0.01), freeze_mask=FREEZE),
    "selective_transform/none_frozen": lambda lib: lib.selective_transform(
        lib.sgd(0.05, momentum=0.9), freeze_mask=False
    ),
    "snapshot": lambda lib: lib.snapshot("norm", lib.tree.norm),
    "snapshot/in_chain": lambda lib: lib.chain(
        lib.trace(0.9),
        lib.snapshot("norm_before_clip", lib.tree.norm),
        lib.clip_by_global_norm(0.5),
    ),
    "monitor": lambda lib: lib.monitor(
        {
            "norm": lib.tree.norm,
            "max": lib.tree.max,
            "ema": lib.measure_with_ema(lib.tree.norm, 0.9),
        }
    ),
    "measure_with_ema": lambda lib: lib.chain(
        lib.trace(0.5),
        lib.monitor({"norm_ema": lib.measure_with_ema(lib.tree.norm, 0.8, debias=False)}),
    ),
    "measure_with_ema/debias": lambda lib: lib.monitor(
        {"sq_norm": lib.measure_with_ema(lambda u: lib.tree.norm(u, squared=True), 0.95)}
    ),
}
