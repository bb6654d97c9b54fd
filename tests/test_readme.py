"""Every Python snippet in the README runs, against the flows in examples/boot.py.

A snippet headed ``# examples/NAME.py`` is an excerpt of that example file, which the
examples suite runs: it must appear there verbatim.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
SNIPPETS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
FILE_HEADER = re.compile(r"^# (\S+\.py)$", re.MULTILINE)


def files_of(snippet: str) -> dict[str, str]:
    """A snippet is one test file, or several each starting with a `# name.py` line."""
    parts = FILE_HEADER.split(snippet)
    if len(parts) == 1:
        return {"test_snippet.py": snippet}
    return dict(zip(parts[1::2], parts[2::2]))


def test_readme_has_snippets() -> None:
    """The README shows code (so the parametrized test below cannot pass vacuously)."""
    assert len(SNIPPETS) >= 6


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_snippet_passes(pytester: pytest.Pytester, snippet: str) -> None:
    """Each snippet's tests pass as written."""
    excerpts = {name: source for name, source in files_of(snippet).items()
                if name.startswith("examples/")}
    if excerpts:
        for name, source in excerpts.items():
            assert source.strip() in (ROOT / name).read_text(), f"{name} has no {source!r}"
        return
    pytester.makepyfile(boot=(ROOT / "examples" / "boot.py").read_text())
    for name, source in files_of(snippet).items():
        (pytester.path / name).write_text(source)
    result = pytester.runpytest("-W", "ignore:eventletutils module is deprecated")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 1, result.stdout.str()
    assert {"passed"} == set(outcomes) - {"warnings"}, result.stdout.str()
