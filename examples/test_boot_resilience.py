"""The boot-instance scenarios from the talk that introduced TaskFlow, proven with flowfault.

Run with ``python -m pytest examples/``.
"""

from __future__ import annotations

import pytest
from boot import (
    STORE,
    Cloud,
    boot_flow,
    boot_graph_flow,
    buggy_boot_flow,
    misordered_boot_flow,
)
from taskflow import exceptions
from taskflow.retry import Times

from pytest_flowfault import FlowFault


def test_flaky_api_recovers_with_retry(flowfault: FlowFault) -> None:
    """create_instance fails twice, the third attempt works: the boot succeeds."""
    cloud = Cloud()
    flowfault.fail("create_instance", times=2, exc=RuntimeError("The API is down"))
    run = flowfault.run(boot_flow(cloud, retry=Times(3)), store=STORE)
    run.assert_succeeded()
    run.assert_attempts("create_instance", 3)
    assert 1 == len(cloud.instances) and 1 == len(cloud.volumes)


def test_flaky_api_without_retry_fails_cleanly(flowfault: FlowFault) -> None:
    """Without a retry controller one failure reverts the boot, and nothing is left."""
    cloud = Cloud()
    flowfault.fail("create_instance", times=2, exc=RuntimeError("The API is down"))
    run = flowfault.run(boot_flow(cloud), store=STORE)
    run.assert_failed(RuntimeError, match="The API is down")
    run.assert_attempts("create_instance", 1)
    run.assert_not_run("attach_volume_to_instance")
    run.assert_compensated()
    assert [] == cloud.leftovers()


def test_misordered_linear_flow_is_a_definition_error(flowfault: FlowFault) -> None:
    """attach listed first requires what nothing provides yet: TaskFlow refuses to start."""
    with pytest.raises(exceptions.MissingDependencies):
        flowfault.run(misordered_boot_flow(Cloud()), store=STORE)


def test_graph_flow_orders_tasks_by_what_they_need(flowfault: FlowFault) -> None:
    """Added attach-first, the graph flow still creates both resources before attaching."""
    run = flowfault.run(boot_graph_flow(Cloud()), store=STORE)
    run.assert_succeeded()
    run.assert_order("create_volume", "attach_volume_to_instance")
    run.assert_order("create_instance", "attach_volume_to_instance")


def test_parallel_engine_creates_volume_and_instance_at_once(flowfault: FlowFault) -> None:
    """On the parallel engine the two creations overlap; attach still waits for both."""
    cloud = Cloud(concurrent_creations=2)  # each creation waits until both are under way
    run = flowfault.run(boot_graph_flow(cloud), store=STORE, engine="parallel")
    run.assert_succeeded()
    run.assert_order("create_volume", "attach_volume_to_instance")
    run.assert_order("create_instance", "attach_volume_to_instance")
    with pytest.raises(AssertionError, match="to finish before 'create_instance' started"):
        run.assert_order("create_volume", "create_instance")


@pytest.mark.parametrize("engine", ["serial", "parallel"])
def test_attach_failure_cleans_up_three_times(flowfault: FlowFault, engine: str) -> None:
    """Attach always fails: under Times(3) instance and volume are reverted three times."""
    cloud = Cloud()
    flowfault.fail("attach_volume_to_instance")
    run = flowfault.run(boot_graph_flow(cloud, retry=Times(3)), store=STORE, engine=engine)
    run.assert_failed(RuntimeError)
    run.assert_attempts("attach_volume_to_instance", 3)
    assert (3, 3) == (run.reverts("create_instance"), run.reverts("create_volume"))
    run.assert_compensated()
    assert [] == cloud.leftovers()


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="real bug: CreateInstanceWithBuggyRevert.revert indexes result['id'], but when its "
    "own execute failed TaskFlow passes a Failure; the revert crashes (REVERT_FAILURE) and "
    "the volume created before it is never reverted",
)
def test_buggy_revert_leaks_the_volume(flowfault: FlowFault) -> None:
    """The plugin exposes the leak that a plain `engine.run()` raising would hide."""
    flowfault.fail("create_instance")
    run = flowfault.run(buggy_boot_flow(Cloud()), store=STORE)
    run.assert_compensated()
