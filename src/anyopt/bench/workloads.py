"""Benchmark workloads (parameter trees) and the optimizers every framework is timed on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OPTIMIZERS = ("adam", "adamw", "sgd", "lion", "clip_adamw")
LABELS = {"sgd": "sgd (momentum 0.9)", "clip_adamw": "clip+adamw"}
WORKLOADS = ("large", "many", "tiny")

# Hyperparameters shared by anyopt, optax, torch.optim, mlx.optimizers and the NumPy loops.
LR = 1e-3
B1, B2, EPS = 0.9, 0.999, 1e-8
ADAMW_WD = 1e-4  # optax.adamw's default
MOMENTUM = 0.9
LION_B1, LION_B2, LION_WD = 0.9, 0.99, 1e-3  # optax.lion's defaults
MAX_NORM = 1.0

# Bytes of memory traffic per float32 parameter for one step at the bandwidth floor.
BYTES_PER_PARAM = {
    "adam": 28,  # read p, g, m, v; write p, m, v
    "adamw": 28,
    "sgd": 20,  # read p, g, m; write p, m
    "lion": 20,
    "clip_adamw": 32,  # adamw + one pass reading g for the global norm
}


def label(opt: str) -> str:
    """The display name of optimizer ``opt``."""
    return LABELS.get(opt, opt)


def make_tx(lib: Any, opt: str) -> Any:
    """Build optimizer ``opt`` from ``lib``, which is ``anyopt`` or ``optax`` (same API)."""
    if opt == "adam":
        return lib.adam(LR, b1=B1, b2=B2, eps=EPS)
    if opt == "adamw":
        return lib.adamw(LR, b1=B1, b2=B2, eps=EPS, weight_decay=ADAMW_WD)
    if opt == "sgd":
        return lib.sgd(LR, momentum=MOMENTUM)
    if opt == "lion":
        return lib.lion(LR, b1=LION_B1, b2=LION_B2, weight_decay=LION_WD)
    if opt == "clip_adamw":
        return lib.chain(lib.clip_by_global_norm(MAX_NORM), make_tx(lib, "adamw"))
    raise ValueError(f"unknown optimizer {opt!r}; choose from {', '.join(OPTIMIZERS)}")


def _transformer_shapes() -> dict[str, tuple[int, ...]]:
    """152 leaves, ~21.0M parameters: 12 pre-LN blocks (d=320, MLP 1280) plus embeddings."""
    d, ff, vocab, seq, classes = 320, 1280, 16384, 1024, 2048
    shapes: dict[str, tuple[int, ...]] = {"embed.tokens": (vocab, d), "embed.positions": (seq, d)}
    shapes.update({"embed.ln.scale": (d,), "embed.ln.bias": (d,)})
    for i in range(12):
        b = f"blocks.{i:02d}"
        shapes.update({f"{b}.ln1.scale": (d,), f"{b}.ln1.bias": (d,)})
        shapes.update({f"{b}.attn.{w}": (d, d) for w in ("wq", "wk", "wv", "wo")})
        shapes.update({f"{b}.ln2.scale": (d,), f"{b}.ln2.bias": (d,)})
        shapes.update({f"{b}.mlp.w1": (d, ff), f"{b}.mlp.b1": (ff,)})
        shapes.update({f"{b}.mlp.w2": (ff, d), f"{b}.mlp.b2": (d,)})
    shapes.update({"final_ln.scale": (d,), "final_ln.bias": (d,)})
    shapes.update({"head.w": (d, classes), "head.b": (classes,)})
    return shapes


@dataclass
class Workload:
    """A named tree of float32 parameter shapes; NumPy params/grads are made on demand."""

    name: str
    shapes: dict[str, tuple[int, ...]]
    description: str = ""
    _arrays: Any = field(default=None, repr=False)

    @property
    def n_leaves(self) -> int:
        return len(self.shapes)

    @property
    def n_params(self) -> int:
        total = 0
        for shape in self.shapes.values():
            size = 1
            for s in shape:
                size *= s
            total += size
        return total

    def arrays(self, seed: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(params, grads)`` as dicts of float32 NumPy arrays (cached until ``release``)."""
        if self._arrays is None:
            import numpy as np

            rng = np.random.default_rng(seed)
            params, grads = {}, {}
            for k, shape in self.shapes.items():
                params[k] = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
                grads[k] = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.01)
            self._arrays = (params, grads)
        return self._arrays

    def release(self) -> None:
        self._arrays = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "n_leaves": self.n_leaves,
            "n_params": self.n_params,
        }


def make_workload(name: str) -> Workload:
    """``large``, ``many``, ``tiny`` or ``size=N`` (one leaf of N parameters)."""
    if name == "large":
        return Workload("large", {"w": (16_777_216,)}, "1 leaf x 16,777,216")
    if name == "many":
        shapes = _transformer_shapes()
        return Workload("many", shapes, "152 leaves, transformer-like (12 blocks, d=320)")
    if name == "tiny":
        shapes = {f"p{i:04d}": (140,) for i in range(1000)}
        return Workload("tiny", shapes, "1000 leaves x 140")
    if name.startswith("size="):
        n = int(name[5:])
        if n < 1:
            raise ValueError("--size must be >= 1")
        return Workload(name, {"w": (n,)}, f"1 leaf x {n:,}")
    raise ValueError(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)} or size=N")
