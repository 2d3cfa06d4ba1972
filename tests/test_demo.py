"""End-to-end tests for the two-spirals demo and the ``anyopt`` command line."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from anyopt.cli import main
from anyopt.demo.data import make_spirals, one_hot
from anyopt.demo.models import init_params, installed_backends, make_backend
from anyopt.demo.run import run_demo

SRC = str(Path(__file__).resolve().parents[1] / "src")
BACKENDS = installed_backends()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
    return env


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from rich.console import Console

    out = tmp_path_factory.mktemp("demo") / "loss.png"
    console = Console(file=io.StringIO(), width=160, color_system=None)
    results = run_demo(
        optimizer="adam", backends=BACKENDS, steps=30, out=str(out), show_progress=False,
        console=console,
    )  # fmt: skip
    return results, console.file.getvalue(), out


def test_demo_writes_png(demo):
    _, _, out = demo
    data = out.read_bytes()
    assert len(data) > 1000
    assert data.startswith(PNG_MAGIC)


def test_demo_table_lists_every_framework(demo):
    results, text, _ = demo
    assert list(results) == BACKENDS
    rows = [line.split("│") for line in text.splitlines() if line.startswith("│")]
    assert [cells[1].strip() for cells in rows] == BACKENDS
    for cells, name in zip(rows, BACKENDS, strict=True):
        assert cells[2].strip() == f"{results[name]['final_loss']:#.6g}"


def test_demo_loss_decreases(demo):
    results, _, _ = demo
    for name, r in results.items():
        assert len(r["losses"]) == 31, name
        assert np.all(np.isfinite(r["losses"])), name
        assert r["final_loss"] < 0.95 * r["losses"][0], name


def test_demo_frameworks_agree(demo):
    results, _, _ = demo
    ref = results[BACKENDS[0]]["final_loss"]
    for name, r in results.items():
        assert r["final_loss"] == pytest.approx(ref, rel=1e-4, abs=0), name
        assert r["rel_diff"] <= 1e-4, name


@pytest.mark.parametrize("name", BACKENDS)
def test_gradients_match_numpy_backward(name):
    """Each framework's autodiff agrees with the hand-written NumPy backward pass."""
    x, labels = make_spirals(64, seed=3)
    y, params = one_hot(labels), init_params(seed=3)
    ref_loss, ref_grads = make_backend("numpy").loss_and_grad(params, x, y)
    be = make_backend(name)
    native = {k: be.to_native(v) for k, v in params.items()}
    loss, grads = be.loss_and_grad(native, be.to_native(x), be.to_native(y))
    assert set(grads) == set(params)
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-5)
    for k in params:
        g = be.to_numpy(grads[k])
        assert g.dtype == np.float32 and g.shape == params[k].shape, k
        np.testing.assert_allclose(g, ref_grads[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_cli_subprocess(tmp_path):
    out = tmp_path / "cli.png"
    cmd = [sys.executable, "-m", "anyopt", "demo", "--steps", "5", "--backends", "numpy"]
    proc = subprocess.run(
        [*cmd, "--out", str(out)],
        check=False,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "numpy" in proc.stdout
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_cli_rejects_bad_arguments(capsys):
    assert main(["demo", "--backends", "numpy,fortran", "--steps", "1"]) == 2
    assert "fortran" in capsys.readouterr().err
    assert main(["demo", "--optimizer", "no_such_optimizer", "--steps", "1"]) == 2
    assert "no_such_optimizer" in capsys.readouterr().err
    assert main(["demo", "--steps", "0"]) == 2
    assert main([]) == 2


def test_import_is_lazy():
    """Importing anyopt, its CLI and demo modules pulls in no array framework or plotting."""
    code = (
        "import sys, anyopt, anyopt.cli, anyopt.demo, anyopt.demo.run, anyopt.demo.models, "
        "anyopt.demo.data\n"
        "heavy = ('numpy', 'jax', 'torch', 'mlx', 'matplotlib', 'rich')\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
