"""optax's own test files, shipped in its wheel, run against anyopt on JAX.

Each file runs in a subprocess with the ``anyopt_as_optax`` plugin
(``tests/optax_suite/anyopt_as_optax.py``), which makes every public optax name resolve
to anyopt's. ``optax_suite/expected.py`` lists, per file, the tests expected to fail (fnmatch
patterns over ``Class::test``) and why; anything else failing, or a pattern that matches
no failure any more, fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from fnmatch import fnmatch
from pathlib import Path

import optax
import pytest

from optax_suite.expected import FILES, PENDING_FILES

OPTAX_DIR = Path(optax.__file__).parent
PLUGIN_DIR = Path(__file__).parent / "optax_suite"


def run_optax_file(relative: str, tmp_path: Path) -> dict[str, str]:
    """Runs one optax test file; test id -> 'passed', 'failed' or 'skipped'."""
    report = tmp_path / "report.xml"
    ini = tmp_path / "pytest.ini"
    ini.write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": str(PLUGIN_DIR), "JAX_PLATFORMS": "cpu"}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(ini),
        "-p",
        "anyopt_as_optax",
        "-p",
        "no:cacheprovider",
        "-q",
        f"--junitxml={report}",
        str(OPTAX_DIR / relative),
    ]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert report.exists(), f"{relative} did not run:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    outcomes = {}
    for case in ET.parse(report).iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            outcomes[name] = "failed"
        elif case.find("skipped") is not None:
            outcomes[name] = "skipped"
        else:
            outcomes.setdefault(name, "passed")
    return outcomes


def test_every_optax_test_file_is_listed():
    found = {str(p.relative_to(OPTAX_DIR)) for p in OPTAX_DIR.rglob("*_test.py")}
    assert found == set(FILES) | set(PENDING_FILES), (
        sorted(found - set(FILES) - set(PENDING_FILES)),
        sorted((set(FILES) | set(PENDING_FILES)) - found),
    )


@pytest.mark.slow
@pytest.mark.parametrize("relative", sorted(FILES))
def test_optax_file_passes_against_anyopt(relative, tmp_path):
    outcomes = run_optax_file(relative, tmp_path)
    assert any(v == "passed" for v in outcomes.values()), f"{relative}: nothing passed"
    failed = {name for name, v in outcomes.items() if v == "failed"}
    patterns = FILES[relative]
    unexpected = sorted(n for n in failed if not any(fnmatch(n, p) for p in patterns))
    stale = sorted(p for p in patterns if not any(fnmatch(n, p) for n in failed))
    assert not unexpected, f"{relative}: unexpected failures {unexpected}"
    assert not stale, f"{relative}: expected failures that no longer fail: {stale}"
