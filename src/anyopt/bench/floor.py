"""The bandwidth floor: the best large-copy bandwidth, and ms/step at that speed."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable

from anyopt.bench.workloads import BYTES_PER_PARAM


def _best_seconds(copy: Callable[[], None], reps: int) -> float:
    copy()  # first touch / compilation
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        copy()
        best = min(best, time.perf_counter() - t0)
    return best


def _numba_copy():
    import numba

    @numba.njit(parallel=True, cache=False)
    def copy(dst, src):
        for i in numba.prange(src.size):
            dst[i] = src[i]

    return copy


def measure_bandwidth(megabytes: int = 256, reps: int = 10, frameworks=None) -> dict:
    """Copy ``megabytes`` of float32 with each method; GB/s counts bytes read + written.

    Returns ``{"gbps": best, "method": name, "bytes": n, "methods": {name: GB/s}}``.
    """
    import numpy as np

    n = megabytes * 2**20 // 4
    src = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
    dst = np.empty_like(src)
    methods: dict[str, float] = {}
    moved = 2 * src.nbytes

    def record(name: str, copy: Callable[[], None]) -> None:
        try:
            methods[name] = moved / _best_seconds(copy, reps) / 1e9
        except Exception as exc:  # a missing or failing method is simply skipped
            methods[name] = float("nan")
            print(f"anyopt bench: floor method {name} failed: {exc}")

    record("numpy copyto", lambda: np.copyto(dst, src))
    want_torch = frameworks is None or "torch" in frameworks
    if want_torch and importlib.util.find_spec("torch") is not None:
        import torch

        ts, td = torch.from_numpy(src), torch.from_numpy(dst)
        record(f"torch copy_ ({torch.get_num_threads()} threads)", lambda: td.copy_(ts))
    if importlib.util.find_spec("numba") is not None:
        copy = _numba_copy()
        record("numba prange", lambda: copy(dst, src))
    valid = {k: v for k, v in methods.items() if v == v}
    method = max(valid, key=valid.get)
    return {"gbps": valid[method], "method": method, "bytes": src.nbytes, "methods": methods}


def floor_ms(opt: str, n_params: int, gbps: float) -> float:
    """Milliseconds per step if the step only streamed its arrays at ``gbps``."""
    return BYTES_PER_PARAM[opt] * n_params / (gbps * 1e9) * 1e3
