"""The capability table is consistent, documented, and its errors are clear."""

from __future__ import annotations

from pathlib import Path

import pytest

import anyopt
from anyopt import capabilities

DOC = Path(__file__).parents[1] / "docs" / "capabilities.md"


def test_docs_page_is_the_table():
    assert DOC.read_text() == capabilities.markdown(), (
        "docs/capabilities.md is stale: regenerate it with "
        "python -c 'import anyopt.capabilities as c; print(c.markdown(), end=\"\")' "
        "> docs/capabilities.md"
    )


@pytest.mark.parametrize("name", sorted(capabilities.GAPS) + sorted(capabilities.TOLERANCES))
def test_every_entry_names_a_public_object(name):
    obj = anyopt
    for part in name.split("."):
        obj = getattr(obj, part)
    assert callable(obj)


@pytest.mark.parametrize("name", sorted(capabilities.GAPS))
def test_gaps_have_reasons_and_known_frameworks(name):
    for framework, reason in capabilities.GAPS[name].items():
        assert framework in capabilities.FRAMEWORKS and len(reason) > 10
        with pytest.raises(NotImplementedError, match=f"{name} does not run on {framework}"):
            capabilities.check(name, framework)
    assert capabilities.supported(name), f"{name} runs nowhere"


def test_check_passes_where_supported():
    for name in capabilities.GAPS:
        for framework in capabilities.supported(name):
            capabilities.check(name, framework)
