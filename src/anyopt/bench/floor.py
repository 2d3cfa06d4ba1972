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


def _numba_kernels():
    import numba

    @numba.njit(parallel=True, cache=False)
    def copy(dst, src):
        for i in numba.prange(src.size):
            dst[i] = src[i]

    @numba.njit(parallel=True, cache=False)
    def add(dst, src):
        for i in numba.prange(src.size):
            dst[i] += src[i]

    return copy, add


def measure_bandwidth(megabytes: int = 256, reps: int = 10, frameworks=None) -> dict:
    """Stream ``megabytes``-sized float32 arrays with each method and keep the best GB/s.

    Copies count 2 streams (read + write); but a copy also pays for reading the destination
    before writing it (write-allocate), which an optimizer updating its arrays in place does
    not, so in-place adds ``a += b`` (3 streams: read a, b; write a) are measured too.
    Returns ``{"gbps": best, "method": name, "bytes": n, "methods": {name: GB/s}}``.
    """
    import numpy as np

    n = megabytes * 2**20 // 4
    src = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
    dst = np.zeros_like(src)
    methods: dict[str, float] = {}

    def record(name: str, fn: Callable[[], None], streams: int) -> None:
        try:
            methods[name] = streams * src.nbytes / _best_seconds(fn, reps) / 1e9
        except Exception as exc:  # a missing or failing method is simply skipped
            methods[name] = float("nan")
            print(f"anyopt bench: floor method {name} failed: {exc}")

    record("numpy copyto", lambda: np.copyto(dst, src), 2)
    record("numpy add out=", lambda: np.add(dst, src, out=dst), 3)
    want_torch = frameworks is None or "torch" in frameworks
    if want_torch and importlib.util.find_spec("torch") is not None:
        import torch

        ts, td, k = torch.from_numpy(src), torch.from_numpy(dst), torch.get_num_threads()
        record(f"torch copy_ ({k} threads)", lambda: td.copy_(ts), 2)
        record(f"torch add_ ({k} threads)", lambda: td.add_(ts), 3)
    if importlib.util.find_spec("numba") is not None:
        copy, add = _numba_kernels()
        record("numba prange copy", lambda: copy(dst, src), 2)
        record("numba prange add", lambda: add(dst, src), 3)
    valid = {k: v for k, v in methods.items() if v == v}
    method = max(valid, key=valid.get)
    return {"gbps": valid[method], "method": method, "bytes": src.nbytes, "methods": methods}


def floor_ms(opt: str, n_params: int, gbps: float) -> float:
    """Milliseconds per step if the step only streamed its arrays at ``gbps``."""
    return BYTES_PER_PARAM[opt] * n_params / (gbps * 1e9) * 1e3
