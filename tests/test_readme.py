"""Every Python snippet in the README runs, against the flows in examples/boot.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
SNIPPETS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)


def test_readme_has_snippets() -> None:
    """The README shows code (so the parametrized test below cannot pass vacuously)."""
    assert len(SNIPPETS) >= 4


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_snippet_passes(pytester: pytest.Pytester, snippet: str) -> None:
    """Each snippet's tests pass as written."""
    pytester.makepyfile(boot=(ROOT / "examples" / "boot.py").read_text())
    pytester.makepyfile(test_snippet=snippet)
    result = pytester.runpytest("-W", "ignore:eventletutils module is deprecated")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 1, result.stdout.str()
    assert {"passed"} == set(outcomes), result.stdout.str()
