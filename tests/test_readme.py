"""The README's example runs and gives the same numbers on JAX and torch."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs_and_frameworks_agree():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md has no python example"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[0], "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["ArrayImpl", "Tensor"]
    values = [re.findall(r"[-\d.]+(?:e[-+]?\d+)?", line.split(None, 1)[1]) for line in lines]
    jax_values, torch_values = ([float(v) for v in vs] for vs in values)
    assert len(jax_values) == 3 and jax_values[0] < 1.0
    assert all(abs(a - b) < 1e-4 for a, b in zip(jax_values, torch_values))
