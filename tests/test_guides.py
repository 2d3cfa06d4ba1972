"""Every python block of the guides in docs/ runs as written (the blocks assert their claims)."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"
GUIDES = ["groups_and_hyperparameters.md", "optimizers.md", "torch.md"]


def blocks(guide: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / guide).read_text(), flags=re.S)


@pytest.mark.parametrize("guide, index", [(g, i) for g in GUIDES for i in range(len(blocks(g)))])
def test_guide_block_runs(guide, index):
    code = blocks(guide)[index]
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, f"{guide} block {index}", "exec"), {"__name__": "guide"})


def test_guides_have_examples():
    assert all(blocks(g) for g in GUIDES)
