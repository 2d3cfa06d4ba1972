"""Two-spirals classification data, generated in NumPy from a seed."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def make_spirals(
    n_points: int = 512, seed: int = 0, noise: float = 0.1, turns: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(x, labels)``: float32 inputs of shape (n, 2) and int64 labels in {0, 1}.

    Half of the points lie on each of two interleaved spirals.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    n0 = n_points // 2
    labels = np.concatenate([np.zeros(n0, np.int64), np.ones(n_points - n0, np.int64)])
    r = np.sqrt(rng.uniform(0.05, 1.0, n_points))
    theta = turns * 2.0 * np.pi * r + np.pi * labels
    x = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    x = x + noise * r[:, None] * rng.normal(size=x.shape) / 3.0
    perm = rng.permutation(n_points)
    return x[perm].astype(np.float32), labels[perm]


def one_hot(labels: np.ndarray, num_classes: int = 2) -> np.ndarray:
    """float32 one-hot encoding of integer labels."""
    import numpy as np

    return np.eye(num_classes, dtype=np.float32)[labels]
