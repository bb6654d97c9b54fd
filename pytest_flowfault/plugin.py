"""The ``pytest11`` entry point: the ``flowfault`` fixture and the typo check.

Imports neither taskflow nor hypothesis at module level: a suite that has the plugin
installed but does not use it pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_flowfault.fixture import FlowFault

_ACTIVE = pytest.StashKey["FlowFault"]()


@pytest.fixture
def flowfault(request: pytest.FixtureRequest) -> Iterator[FlowFault]:
    """Inject faults into TaskFlow engine runs and record them (``pytest_flowfault.FlowFault``).

    Every engine run in the process while the test runs is faulted and recorded, also
    the ones the code under test starts itself; everything is restored at teardown.
    """
    from pytest_flowfault.engine import Session, intercepting
    from pytest_flowfault.fixture import FlowFault

    session = Session()
    fixture = FlowFault(session)
    request.node.stash[_ACTIVE] = fixture
    try:
        with intercepting(session):
            yield fixture
    finally:
        session.close()
        del request.node.stash[_ACTIVE]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Fail a passing test whose faults never matched an atom: typos must not pass silently."""
    result = yield
    fixture = item.stash.get(_ACTIVE, None)
    problem = fixture.unmatched_problem() if fixture is not None else None
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    return result
