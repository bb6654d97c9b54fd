from __future__ import annotations

import pytest

# pytester's in-process runs forget every module a run imported; TaskFlow must be
# imported once, out here, or each run would see classes of a different identity.
import pytest_flowfault.engine  # noqa: F401  (imports taskflow.engines)
import taskflow.patterns.graph_flow  # noqa: F401
import taskflow.patterns.linear_flow  # noqa: F401
import taskflow.patterns.unordered_flow  # noqa: F401
import taskflow.retry  # noqa: F401
from flowkit import Log


@pytest.fixture
def log() -> Log:
    """What the real code of the test tasks did."""
    return Log()
