"""A boot that crashes half-way is resumed from SQLite without redoing or losing work.

Run with ``python -m pytest examples/``.
"""

from __future__ import annotations

import pytest
from boot import STORE, Cloud, boot_flow

from pytest_flowfault import FlowFault


@pytest.mark.parametrize("engine", ["serial", "parallel"])
def test_crash_after_create_instance_resumes_from_sqlite(flowfault: FlowFault, engine: str) -> None:
    """The instance is created once: the resumption picks up after it."""
    cloud = Cloud()
    flowfault.crash(after="create_instance")
    crashed = flowfault.run(boot_flow(cloud), store=STORE, backend="sqlite", engine=engine)
    assert "CRASHED" == crashed.state
    resumed = flowfault.resume(crashed)
    resumed.assert_resumed()
    resumed.assert_executed_once("create_volume")
    resumed.assert_executed_once("create_instance")
    resumed.assert_no_lost_results()
    assert (1, 1) == (len(cloud.volumes), len(cloud.instances))


def test_crash_during_attach_reruns_only_attach(flowfault: FlowFault) -> None:
    """A task that died mid-execute runs again on resume; the ones before it do not."""
    flowfault.crash(during="attach_volume_to_instance")
    crashed = flowfault.run(boot_flow(Cloud()), store=STORE, backend="dir")
    resumed = flowfault.resume(crashed)
    assert ("attach_volume_to_instance",) == resumed.execution_order()
    resumed.assert_resumed()
