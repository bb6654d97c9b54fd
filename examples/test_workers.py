"""The boot flow on TaskFlow's worker-based engine: its tasks run on workers, which build
their own task objects; the faults fire there, and the run records every remote call.

``flowfault.run(engine="worker-based")`` starts in-process workers (threads on kombu's
memory transport) that can run the flow's task classes, and stops them after the test;
after ``flowfault.workers(2, redis=flowfault_redis)`` it starts worker processes instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import boot
import pytest
from boot import STORE, Cloud, remote_boot_flow, remote_boot_graph_flow
from taskflow.exceptions import RequestTimeout
from taskflow.retry import Times

from pytest_flowfault import FlowFault, InjectedFault, RedisServer


@pytest.fixture(autouse=True)
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    """A fresh cloud for the tasks the workers build (they act on ``boot.SHARED_CLOUD``)."""
    fresh = Cloud()
    monkeypatch.setattr(boot, "SHARED_CLOUD", fresh)
    yield fresh


def test_create_instance_fails_twice_on_the_worker(flowfault: FlowFault, cloud: Cloud) -> None:
    flowfault.fail("create_instance", times=2)
    run = flowfault.run(remote_boot_flow(retry=Times(3)), store=STORE, engine="worker-based")
    run.assert_succeeded()
    run.assert_attempts("create_instance", 3)
    run.assert_order("create_volume", "create_instance", "attach_volume_to_instance")
    assert {"worker-1"} == {call.worker for call in run.calls("create_instance", "execute")}
    assert (1, 1, 1) == (len(cloud.volumes), len(cloud.instances), len(cloud.attachments))


def test_attach_fails_and_the_workers_clean_up(flowfault: FlowFault, cloud: Cloud) -> None:
    flowfault.fail("attach_volume_to_instance")
    run = flowfault.run(remote_boot_graph_flow(retry=Times(2)), store=STORE, engine="worker-based")
    run.assert_failed(InjectedFault)
    run.assert_attempts("attach_volume_to_instance", 2)
    run.assert_compensated()
    assert [] == cloud.leftovers()


@pytest.mark.flowfault(engines=["serial", "parallel", "worker-based"], fail="create_instance")
def test_on_every_engine(flowfault: FlowFault, cloud: Cloud) -> None:
    run = flowfault.run(remote_boot_flow(), store=STORE)
    run.assert_failed(InjectedFault)
    run.assert_compensated()
    assert [] == cloud.leftovers()


# Worker processes: child Pythons running TaskFlow's Worker on kombu's Redis transport, on a
# real redis-server. Each builds its own tasks, on its own SHARED_CLOUD: what they created
# is checked through the run, not through this process's cloud.


def test_a_worker_dies_mid_create_instance_and_the_other_finishes(
    flowfault: FlowFault, flowfault_redis: RedisServer
) -> None:
    flowfault.workers(2, redis=flowfault_redis)
    flowfault.crash(during="create_instance")  # SIGKILLs the worker that takes it
    run = flowfault.run(remote_boot_flow(retry=Times(3)), store=STORE, engine="worker-based")
    run.assert_succeeded()
    died, finished = run.calls("create_instance", "execute")
    assert ("killed", "ok") == (died.what, finished.what)
    assert died.worker != finished.worker
    assert 1 == run.reverts("create_volume")  # undone before the retry, then made again


def test_a_worker_dies_mid_create_instance_and_the_boot_reverts(
    flowfault: FlowFault, flowfault_redis: RedisServer
) -> None:
    flowfault.workers(2, redis=flowfault_redis)
    flowfault.crash(during="create_instance")
    run = flowfault.run(remote_boot_flow(), store=STORE, engine="worker-based")
    run.assert_failed(RequestTimeout)  # the engine gave up waiting for the dead worker
    run.assert_compensated()
    run.assert_not_run("attach_volume_to_instance")
