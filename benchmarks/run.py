"""``python benchmarks/run.py [options]`` (or ``python -m benchmarks.run``): ``anyopt bench``.

The harness lives in ``src/anyopt/bench/`` so that the installed ``anyopt bench`` command
runs it too; this script only forwards its arguments. See ``--help``.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from anyopt.bench.run import main
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from anyopt.bench.run import main

if __name__ == "__main__":
    raise SystemExit(main())
