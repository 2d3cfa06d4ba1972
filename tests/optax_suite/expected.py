"""Which of optax's own test files run against anyopt, and the failures expected in them.

``FILES[path] = {pattern: reason}``: the file runs; tests whose ``Class::test`` id
matches a pattern are expected to fail, for the reason given (an open issue, or a
deliberate difference documented in the README). ``PENDING_FILES[path] = reason``: the
file does not run yet, because what it tests belongs to an open issue.
"""

from __future__ import annotations

ISSUE_5 = "issue 5 (wrappers, partition, tree utilities)"
ISSUE_8 = "issue 8 (losses, second order)"

FILES: dict[str, dict[str, str]] = {
    "_src/base_test.py": {},
    "_src/combine_test.py": {},
    "_src/numerics_test.py": {},
    "_src/update_test.py": {},
    "schedules/_join_test.py": {},
    "transforms/_adding_test.py": {},
    "transforms/_combining_test.py": {},
    "transforms/_freezing_test.py": {},
    "transforms/_monitoring_test.py": {},
    "microbatching/_microbatching_test.py": {},
    "tree_utils/_casting_test.py": {},
    "tree_utils/_random_test.py": {},
    "tree_utils/_state_utils_test.py": {},
    "tree_utils/_tree_math_test.py": {
        "TreeUtilsTest::test_tree_sum": "NumPy inputs sum in complex128 where optax uses JAX's "
        "complex64: 2.7e-7 relative, above the test's rtol of 1e-7",
    },
}

PENDING_FILES: dict[str, str] = {}
