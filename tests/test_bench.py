"""``anyopt bench`` end to end on a tiny workload, and the native peers' arithmetic.

Speed is never asserted: only that every framework, peer and anyopt mode gets a row with a
positive time, and that the outputs (JSON, Markdown, PNG) are written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from anyopt.bench import floor, harness, peers_numpy
from anyopt.bench.cases import variants
from anyopt.bench.workloads import BYTES_PER_PARAM, OPTIMIZERS, Workload, make_tx
from anyopt.cli import main
from anyopt.demo.models import installed_backends

SRC = str(Path(__file__).resolve().parents[1] / "src")
FRAMEWORKS = installed_backends()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PEERS = {
    "numpy": ["in-place loop"],
    "jax": ["optax jit"],
    "torch": ["optim foreach=False", "optim foreach=True", "optim fused=True"],
    "mlx": ["optimizers", "optimizers compiled"],
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
    return env


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    args = ["--quick", "--size", "1000", "--optimizers", "adam", "--out", str(out)]
    cmd = [sys.executable, "-m", "anyopt", "bench", *args, "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads((out / "bench.json").read_text()), proc.stdout


ADAPTER = {"torch": ["torch.Optimizer", "torch.Adam"]}  # the adam rows of anyopt.torch


def _expected(framework: str) -> list[tuple[str, str]]:
    return (
        [("peer", n) for n in PEERS[framework]]
        + [("anyopt", m) for m in harness.anyopt_modes(framework)]
        + [("anyopt", n) for n in ADAPTER.get(framework, [])]
    )


def test_bench_writes_json_markdown_png(bench):
    out, _, stdout = bench
    assert (out / "bench.png").read_bytes().startswith(PNG_MAGIC)
    assert (out / "bench.md").read_text().startswith("Floor: ")
    assert "anyopt bench" in stdout


def test_bench_json_has_every_variant_with_positive_times(bench):
    _, data, _ = bench
    assert data["floor"]["gbps"] > 0
    assert data["machine"]["cores"] >= 1 and data["machine"]["versions"]["anyopt"]
    cases = [(c["workload"], c["optimizer"], c["framework"]) for c in data["cases"]]
    assert cases == [("size=1000", "adam", fw) for fw in FRAMEWORKS]
    for case in data["cases"]:
        got = [(v["kind"], v["name"]) for v in case["variants"]]
        assert got == _expected(case["framework"])
        for v in case["variants"]:
            assert v["ms"] > 0 and v["state_bytes"] > 0, v
            assert len(v["samples_ms"]) == 3 and v["ratio_floor"] > 0
        assert case["ratio_peer"] > 0 and case["ratio_floor"] > 0
        assert case["floor_ms"] == pytest.approx(28 * 1000 / (data["floor"]["gbps"] * 1e6))


def test_bench_markdown_has_a_row_per_variant(bench):
    out, _, _ = bench
    rows = [line.split("|")[1:-1] for line in (out / "bench.md").read_text().splitlines()]
    detail = {(r[2].strip(), r[3].strip(), r[4].strip()): r for r in rows if len(r) == 10}
    summary = [r for r in rows if len(r) == 10 and r[0].strip() == "size=1000"]
    assert len(summary) > len(FRAMEWORKS)  # one summary row each, then the detail rows
    for fw in FRAMEWORKS:
        for kind, name in _expected(fw):
            assert float(detail[(fw, kind, name)][5]) > 0


def test_bench_rejects_bad_options(capsys):
    assert main(["bench", "--optimizers", "nope"]) == 2
    assert "unknown optimizer 'nope'" in capsys.readouterr().err
    assert main(["bench", "--size", "0"]) == 2


def test_bench_cli_imports_no_new_array_library():
    code = (
        "import sys, anyopt; names = ('numpy', 'jax', 'torch', 'mlx');"
        "before = {n for n in names if n in sys.modules};"
        "import anyopt.cli; anyopt.cli.build_parser();"
        "print(sorted({n for n in names if n in sys.modules} - before))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env())
    assert proc.stdout.strip() == "[]", proc.stderr


def test_torch_has_no_lion_peer():
    pytest.importorskip("torch")
    (v,) = variants("torch", "lion", Workload("w", {"w": (4,)}))[:1]
    assert v.build is None and "no Lion" in v.note
    assert harness.measure(v, harness.Settings()).ms is None


def test_floor_formula():
    assert floor.floor_ms("adam", 10**9, 28.0) == pytest.approx(1000.0)
    assert BYTES_PER_PARAM == {"adam": 28, "adamw": 28, "sgd": 20, "lion": 20, "clip_adamw": 32}


def _numpy(x):
    return x.detach().numpy() if hasattr(x, "detach") else np.array(x)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_every_variant_computes_the_same_steps_as_anyopt(framework, opt):
    """Every peer and anyopt variant (step modes, anyopt.torch) is the same optimizer: 3
    steps match anyopt's reference on NumPy."""
    import anyopt

    wl = Workload("w", {"a": (10000,), "b": (50, 300)})  # gradient norm > 1: clipping acts
    params, grads = wl.arrays()
    tx = make_tx(anyopt, opt)
    want, state = peers_numpy.to_native(params), None
    state = tx.init(want)
    for _ in range(3):
        updates, state = tx.update(grads, state, want)
        want = anyopt.apply_updates(want, updates)
    checked = 0
    for v in variants(framework, opt, wl):
        if v.build is None or (framework, v.name) == ("torch", "compiled"):
            continue  # torch.compile takes long; tests/test_step.py checks that mode
        checked += 1
        runner = v.build()
        for _ in range(3):
            runner.step()
        got = runner.params()
        for k in want:
            np.testing.assert_allclose(_numpy(got[k]), want[k], rtol=0, atol=2e-6, err_msg=v.name)
    assert checked >= len(harness.anyopt_modes(framework))


def test_bench_redraws_reports_from_json(bench, tmp_path, capsys):
    out, data, _ = bench
    assert main(["bench", "--from-json", str(out / "bench.json"), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "bench.png").read_bytes().startswith(PNG_MAGIC)
    assert (tmp_path / "bench.md").read_text() == (out / "bench.md").read_text()
    assert json.loads((tmp_path / "bench.json").read_text()) == data


def test_variants_are_timed_in_turns_and_a_failing_one_is_reported():
    calls: list = []

    def build(name: str, fail_at: int | None = None):
        def make():
            count = [0]

            def step():
                count[0] += 1
                calls.append(name)
                if fail_at is not None and count[0] >= fail_at:
                    raise RuntimeError(f"{name} broke")

            return harness.Runner(step, lambda: {"m": np.zeros(4, np.float32)}, dict)

        return make

    settings = harness.Settings(warmup=1, compiled_warmup=1, repeat=4, min_time=0.0)
    names = ["a", "b", "c"]
    vs = [harness.Variant("numpy", "peer", n, build(n)) for n in names]
    vs.append(harness.Variant("numpy", "peer", "late", build("late", fail_at=3)))
    vs.append(harness.Variant("numpy", "peer", "missing", None, note="n/a"))
    results = harness.measure_in_turns(vs, settings)
    assert calls[:4] == ["a", "b", "c", "late"]  # every warm-up first
    # each repetition starts one further along; "late" fails in repetition 1 and is dropped
    assert calls[4:] == [*"abc", "late", *"bc", "late", *"acababc"]
    for res in results[:3]:
        assert len(res.samples_ms) == 4 and res.ms is not None and res.state_bytes == 16
    assert results[3].ms is None and "late broke" in results[3].note
    assert results[4].ms is None and results[4].note == "n/a"


def test_torch_compiled_mode_is_timed_in_its_own_process():
    pytest.importorskip("torch")
    from anyopt.bench import run

    vs = variants("torch", "sgd", Workload("w", {"w": (4,)}))
    assert [v.name for v in vs if v.own_process] == ["compiled"]
    settings = harness.Settings(warmup=1, compiled_warmup=1, repeat=1, min_time=0.0)
    results = run._measure_case(vs, settings, ["torch:*foreach*"], isolate=False)
    for v, res in zip(vs, results):
        if v.own_process:
            assert res is None  # left for run_isolated
        elif "foreach" in v.name:
            assert res.note == "skipped (--exclude)"
        else:
            assert res.ms is not None and res.ms > 0, (v.name, res.note)


def test_a_state_that_cannot_be_sized_keeps_its_timing():
    def state():
        raise RuntimeError("opaque")

    v = harness.Variant("numpy", "peer", "x", lambda: harness.Runner(lambda: None, state, dict))
    settings = harness.Settings(warmup=1, compiled_warmup=1, repeat=2, min_time=0.0)
    (res,) = harness.measure_in_turns([v], settings)
    assert res.ms is not None and res.state_bytes is None and "state size" in res.note


def test_the_training_loop_benchmark_prints_a_row_per_optimizer():
    pytest.importorskip("torch")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "torch_training_loop.py"
    args = ["--iterations", "2", "--models", "cnn-channels-last", "--optimizers", "sgd"]
    out = subprocess.run(
        [sys.executable, str(script), *args], env=_env(), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()[1:]]
    assert [" ".join(r[2:-3]) for r in rows] == ["torch.optim fused", "anyopt.torch.SGD"]
    assert all(r[0] == "cnn-channels-last" and r[1] == "sgd" for r in rows)
    assert all(float(r[-3]) > 0 and r[-2] == "ms" for r in rows)
    assert rows[0][-1] == "1.000x" and float(rows[1][-1].rstrip("x")) > 0
