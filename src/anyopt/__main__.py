"""``python -m anyopt``: same as the ``anyopt`` console script."""

from anyopt.cli import main

raise SystemExit(main())
