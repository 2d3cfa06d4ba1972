"""``python benchmarks/torch_training_loop.py``: ``optimizer.step()`` inside a training loop.

``anyopt bench`` times steps back to back. In a training loop each step follows a
backward pass instead: the newest gradients are in cache, torch's threads have just
worked, and the Python around the kernels runs with cold caches. This script trains
identical models side by side, one step of each in turn, and reports the median step
time of each optimizer and the median of the per-iteration ratios to torch.optim's
fused mode (below 1: anyopt is faster).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

try:
    import anyopt
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import anyopt
import anyopt.torch as anyopt_torch

MODELS = {
    "mlp": (lambda: _mlp(), (64, 2048)),
    "cnn-channels-last": (lambda: _cnn(), (32, 3, 32, 32)),
}


def _mlp() -> torch.nn.Module:
    layers = [torch.nn.Linear(2048, 2048), torch.nn.ReLU(), torch.nn.Linear(2048, 2048)]
    return torch.nn.Sequential(*layers, torch.nn.ReLU(), torch.nn.Linear(2048, 10))


def _cnn() -> torch.nn.Module:
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(64, 128, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(4),
        torch.nn.Flatten(),
        torch.nn.Linear(128 * 16, 10),
    )
    return net.to(memory_format=torch.channels_last)


class _ClipThenStep:
    """torch's idiom for ``chain(clip_by_global_norm(1.0), ...)``: ``clip_grad_norm_``
    before the step, timed together with it."""

    def __init__(self, params, optimizer: torch.optim.Optimizer):
        self.params, self.optimizer = list(params), optimizer

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()

    def step(self) -> None:
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()


def _torch_clip_adamw(params):
    params = list(params)
    return _ClipThenStep(params, torch.optim.AdamW(params, lr=1e-3, fused=True))


def _clip_adamw(learning_rate, weight_decay=1e-2):
    return anyopt.chain(
        anyopt.clip_by_global_norm(1.0), anyopt.adamw(learning_rate, weight_decay=weight_decay)
    )


OPTIMIZERS = {
    "adamw": {
        "torch.optim fused": lambda p: torch.optim.AdamW(p, lr=1e-3, fused=True),
        "anyopt.torch.AdamW": lambda p: anyopt_torch.AdamW(p, lr=1e-3),
        "Optimizer(anyopt.adamw)": lambda p: anyopt_torch.Optimizer(p, anyopt.adamw, lr=1e-3),
    },
    "sgd": {
        "torch.optim fused": lambda p: torch.optim.SGD(p, lr=1e-2, momentum=0.9, fused=True),
        "anyopt.torch.SGD": lambda p: anyopt_torch.SGD(p, lr=1e-2, momentum=0.9),
    },
    "clip_adamw": {
        "torch.optim fused": _torch_clip_adamw,
        "Optimizer(chain(clip, adamw))": lambda p: anyopt_torch.Optimizer(p, _clip_adamw, lr=1e-3),
    },
}


def run(model_name: str, optimizer: str, iterations: int) -> None:
    make_model, shape = MODELS[model_name]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=gen)
    if x.ndim == 4:
        x = x.to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (shape[0],), generator=gen)
    runs = {}
    for name, make in OPTIMIZERS[optimizer].items():
        torch.manual_seed(0)
        model = make_model()
        params = model.named_parameters() if "Optimizer" in name else model.parameters()
        runs[name] = (model, make(params))
    times: dict = {name: [] for name in runs}
    for i in range(iterations + 5):
        for name, (model, opt) in runs.items():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            start = time.perf_counter()
            opt.step()
            if i >= 5:  # warm-up iterations are not counted
                times[name].append((time.perf_counter() - start) * 1e3)
    peer = times["torch.optim fused"]
    for name, samples in times.items():
        ratio = statistics.median(a / b for a, b in zip(samples, peer))
        ms = statistics.median(samples)
        print(f"{model_name:18s} {optimizer:10s} {name:29s} {ms:7.3f} ms  {ratio:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--optimizers", default=",".join(OPTIMIZERS))
    args = parser.parse_args()
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} threads; ms per step, ratio to fused")
    for model_name in args.models.split(","):
        for optimizer in args.optimizers.split(","):
            run(model_name, optimizer, args.iterations)


if __name__ == "__main__":
    main()
