"""Resilience of Octavia-shaped flows (``amphora.py``): 30 and 59 atoms, nested unordered
subflows, retry controllers that pick what they retry, tenacity inside tasks.

Run with ``python -m pytest examples/``.
"""

from __future__ import annotations

from typing import Any

import amphora
import pytest
from amphora import (
    CONF,
    AmpConnectionRetry,
    Cloud,
    ComputeBuildException,
    ComputeWaitTimeoutException,
    create_load_balancer_flow,
    delete_amphora_flow,
)
from octavia_faults import RETRIED

from pytest_flowfault import FlowFault, InjectedFault

MASTER = "MASTER-octavia-create-amp-for-lb-subflow"
STANDALONE = "STANDALONE-octavia-create-amp-for-lb-subflow"
COMPUTE_RETRY = "-octavia-compute-create-retry-subflow_retry"  # TaskFlow's name for it
AMP_RETRY = "-octavia-create-amphora-retry-subflow_retry"


# Octavia's own waits (10 s between compute polls, tenacity backoff, 5 s between delete
# attempts) are kept as they are in production; virtual time skips them.
pytestmark = pytest.mark.flowfault(virtual_time=True)


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Cloud:
    """A fresh fake cloud, bound by every task built during the test."""
    cloud = Cloud()
    monkeypatch.setattr(amphora, "CLOUD", cloud)
    return cloud


def lb_status(cloud: Cloud, store: dict[str, Any]) -> str:
    status: str = cloud.database.load_balancers[store["loadbalancer_id"]]["provisioning_status"]
    return status


@pytest.mark.parametrize("engine", ["serial", "parallel"])
@pytest.mark.parametrize(("topology", "atoms", "servers"),
                         [("SINGLE", 30, 1), ("ACTIVE_STANDBY", 59, 2)])
def test_create_succeeds_untouched(flowfault: FlowFault, cloud: Cloud, engine: str,
                                   topology: str, atoms: int, servers: int) -> None:
    """Without faults the flow builds every amphora and marks the load balancer ACTIVE."""
    store = cloud.new_load_balancer(topology)
    run = flowfault.run(create_load_balancer_flow(topology), store=store, engine=engine)
    run.assert_succeeded()
    assert atoms == len(run.atoms)
    assert any(len(atom.name) > 100 for atom in run.atoms)
    assert servers == len(cloud.compute.servers)
    assert "ACTIVE" == lb_status(cloud, store)


def test_compute_wait_timeout_is_retried(flowfault: FlowFault, cloud: Cloud) -> None:
    """One ComputeWaitTimeoutException: ComputeRetry retries the wait, the create succeeds."""
    flowfault.fail("*-octavia-compute-wait", times=1, exc=ComputeWaitTimeoutException)
    run = flowfault.run(create_load_balancer_flow(), store=cloud.new_load_balancer())
    run.assert_succeeded()
    run.assert_attempts(STANDALONE + "-octavia-compute-wait", 2)
    assert ("RETRY",) == run.decisions(STANDALONE + COMPUTE_RETRY)
    assert 1 == len(cloud.compute.servers)


def test_slow_boot_is_polled_until_active(flowfault: FlowFault, cloud: Cloud) -> None:
    """Nova reports BUILD twice: the real ComputeWait times out twice, then finds it ACTIVE."""
    cloud.compute.boot_polls = 2
    run = flowfault.run(create_load_balancer_flow(), store=cloud.new_load_balancer())
    run.assert_succeeded()
    assert ("RETRY", "RETRY") == run.decisions(STANDALONE + COMPUTE_RETRY)
    # Octavia's amp_active_wait_sec (10 s) after each BUILD, skipped by virtual time.
    assert (10.0, 10.0) == run.sleeps(STANDALONE + "-octavia-compute-wait")


def test_compute_wait_gives_up_after_amp_active_retries(
    flowfault: FlowFault, cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ComputeRetry reads CONF.controller_worker.amp_active_retries when it decides."""
    monkeypatch.setattr(CONF.controller_worker, "amp_active_retries", 2)
    flowfault.fail("*-octavia-compute-wait", exc=ComputeWaitTimeoutException)
    store = cloud.new_load_balancer()
    run = flowfault.run(create_load_balancer_flow(), store=store)
    run.assert_failed(ComputeWaitTimeoutException)
    assert ("RETRY", "RETRY", "REVERT_ALL") == run.decisions(STANDALONE + COMPUTE_RETRY)
    run.assert_compensated()
    assert [] == cloud.leftovers()
    assert "ERROR" == lb_status(cloud, store)


def test_build_failure_is_not_retried(flowfault: FlowFault, cloud: Cloud) -> None:
    """A fault ComputeRetry does not retry: REVERT_ALL at once, on both amphorae."""
    flowfault.fail(MASTER + "-octavia-compute-wait", exc=ComputeBuildException)
    store = cloud.new_load_balancer("ACTIVE_STANDBY")
    run = flowfault.run(create_load_balancer_flow("ACTIVE_STANDBY"), store=store,
                        engine="parallel")
    run.assert_failed(ComputeBuildException)
    assert ("REVERT_ALL",) == run.decisions(MASTER + COMPUTE_RETRY)
    run.assert_attempts(MASTER + "-octavia-compute-wait", 1)
    run.assert_compensated()
    assert [] == cloud.leftovers()


@pytest.mark.parametrize("engine", ["serial", "parallel"])
def test_permanent_failure_deep_in_master_leaves_nothing(
    flowfault: FlowFault, cloud: Cloud, engine: str
) -> None:
    """The MASTER's last network task fails: both amphorae, ports, VIP and SG are gone."""
    flowfault.fail("MASTER-octavia-plug-net-subflow-octavia-amp-post-vip-plug")
    store = cloud.new_load_balancer("ACTIVE_STANDBY")
    run = flowfault.run(create_load_balancer_flow("ACTIVE_STANDBY"), store=store,
                        engine=engine)
    run.assert_failed(InjectedFault)
    run.assert_compensated()
    assert [] == cloud.leftovers()
    assert "ERROR" == lb_status(cloud, store)


def test_unreachable_amphorae_are_retried_by_amp_retry(flowfault: FlowFault,
                                                       cloud: Cloud) -> None:
    """AmpConnectionRetry twice on each amphora: each AmpRetry retries its own subflow."""
    flowfault.fail("*-octavia-amp-compute-connectivity-wait", times=2, exc=AmpConnectionRetry)
    run = flowfault.run(create_load_balancer_flow("ACTIVE_STANDBY"),
                        store=cloud.new_load_balancer("ACTIVE_STANDBY"), engine="parallel")
    run.assert_succeeded()
    for role in ("MASTER", "BACKUP"):
        subflow = role + "-octavia-create-amp-for-lb-subflow"
        assert ("RETRY", "RETRY") == run.decisions(subflow + AMP_RETRY)
        run.assert_attempts(subflow + "-octavia-amp-compute-connectivity-wait", 3)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="real Octavia 19 bug (network_tasks.py ApplyQosAmphora.revert): with the "
    "database gone, the except clause logs orig_qos_id, never assigned: UnboundLocalError "
    "halts the rollback and the amphora's server, ports and security group leak",
)
def test_database_outage_during_create_leaks_the_amphora(flowfault: FlowFault,
                                                         cloud: Cloud) -> None:
    """The DB drops while recording the VRRP port; the revert must still clean up."""
    cloud.database.go_down_at("update_amphora_vip_data")
    run = flowfault.run(create_load_balancer_flow(), store=cloud.new_load_balancer())
    run.assert_compensated()
    assert [] == cloud.leftovers()


def created_amphora(cloud: Cloud) -> dict[str, Any]:
    """An allocated amphora, as a create flow leaves it (without running one)."""
    amphora_id = cloud.new_id("amphora")
    cloud.database.create_amphora("lb-0", amphora_id)
    cloud.database.update_amphora(amphora_id, status="ALLOCATED",
                                  compute_id=cloud.compute.build("amphora-" + amphora_id, None),
                                  vrrp_port_id=cloud.network.create_port("vrrp"))
    return dict(cloud.database.amphorae[amphora_id])


def test_delete_retries_nova_inside_the_task(flowfault: FlowFault, cloud: Cloud) -> None:
    """Nova fails twice: tenacity retries inside one execute, reading its statistics."""
    amp = created_amphora(cloud)
    cloud.compute.delete_failures = 2
    run = flowfault.run(delete_amphora_flow(amp))
    run.assert_succeeded()
    run.assert_attempts("delete-amphora-" + amp["id"], 1)
    assert 3 == cloud.compute.delete_calls
    assert (1.0, 2.0) == run.sleeps("delete-amphora-" + amp["id"])  # tenacity's backoff
    assert amp["compute_id"] not in cloud.compute.servers


def test_delete_abandons_the_server_on_the_last_attempt(flowfault: FlowFault,
                                                        cloud: Cloud) -> None:
    """passive_failure: on tenacity's last attempt (its statistics say so) ComputeDelete
    gives up quietly, as Octavia's does; the server is left for an operator."""
    amp = created_amphora(cloud)
    cloud.compute.delete_failures = CONF.compute.max_retries
    run = flowfault.run(delete_amphora_flow(amp))
    run.assert_succeeded()
    assert CONF.compute.max_retries == cloud.compute.delete_calls
    assert amp["compute_id"] in cloud.compute.servers
    assert amp["vrrp_port_id"] not in cloud.network.ports


def test_delete_flow_is_retried_whole(flowfault: FlowFault, cloud: Cloud) -> None:
    """DeletePort fails once: SleepingRetryTimesController reruns the idempotent flow."""
    amp = created_amphora(cloud)
    flowfault.fail("delete-port-*", times=1)
    run = flowfault.run(delete_amphora_flow(amp))
    run.assert_succeeded()
    assert ("RETRY",) == run.decisions("retry-octavia-delete-amphora-flow-" + amp["id"])
    run.assert_attempts("delete-amphora-" + amp["id"], 2)
    assert amp["vrrp_port_id"] not in cloud.network.ports


def test_delete_flow_gives_up_after_its_attempts(flowfault: FlowFault, cloud: Cloud) -> None:
    """Five failed attempts (Octavia's default), then everything done is reverted."""
    amp = created_amphora(cloud)
    flowfault.fail("delete-port-*")
    run = flowfault.run(delete_amphora_flow(amp))
    run.assert_failed(InjectedFault)
    retry_name = "retry-octavia-delete-amphora-flow-" + amp["id"]
    assert ("RETRY",) * 4 + ("REVERT",) == run.decisions(retry_name)
    assert (5.0,) * 4 == run.sleeps(retry_name)  # SleepingRetryTimesController, 5 s each
    run.assert_compensated()
    assert "ERROR" == cloud.database.amphorae[amp["id"]]["status"]




def test_delete_flow_survives_every_single_fault(flowfault: FlowFault, cloud: Cloud) -> None:
    """Each delete task failing once, then for good: retried whole, or fully reverted."""
    amp = created_amphora(cloud)
    report = flowfault.sweep(lambda: delete_amphora_flow(amp, retry_attempts=2))
    report.assert_resilient()
    assert 17 == report.runs  # baseline + 8 tasks x (transient, permanent)


#: Tasks of the create flow with nothing to undo: they read (the load balancer, the VIP's
#: subnet, network configs), wait, notify, or fill in columns of rows that the reverts of
#: the tasks that created them delete (the amphora row, the load balancer's VIP).
NOTHING_TO_UNDO: list[str | type] = [
    amphora.ReloadLoadBalancer, amphora.GetSubnetFromVIP, amphora.GetAmphoraNetworkConfigs,
    amphora.ComputeWait, amphora.AmphoraComputeConnectivityWait,
    amphora.SendCreateNotification, amphora.GenerateServerPEMTask,
    "amphora.UpdateVIP*", "amphora.UpdateAdditionalVIPsAfterAllocation",
    amphora.UpdateAmphoraComputeId, amphora.UpdateAmphoraInfo,
    amphora.UpdateAmphoraDBCertExpiration, amphora.UpdateAmphoraVIPData,
    amphora.UpdateLoadbalancerInDB,
]


class FreshCloud:
    """``setup=`` for a sweep: a new cloud before every run, holding the same PENDING_CREATE
    load balancer, so that nothing a variant left behind is seen by the next one."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, topology: str) -> None:
        self.monkeypatch = monkeypatch
        self.topology = topology
        self.cloud = Cloud()
        self.store = self.cloud.new_load_balancer(topology)  # ids restart in a new cloud

    def __call__(self) -> None:
        self.cloud = Cloud()
        self.monkeypatch.setattr(amphora, "CLOUD", self.cloud)
        assert self.store == self.cloud.new_load_balancer(self.topology)

    def check(self, run: Any) -> None:
        """``check=``: ACTIVE, or reverted to ERROR with nothing left in the cloud. (A
        rollback halted by a failing revert leaves what it had not reached yet: the
        sweep notes that, and this check has nothing to add.)"""
        if run.succeeded:
            assert "ACTIVE" == lb_status(self.cloud, self.store)
        elif run.state == "REVERTED":
            assert [] == self.cloud.leftovers()
            assert "ERROR" == lb_status(self.cloud, self.store)


def test_create_survives_every_single_fault(flowfault: FlowFault,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Each of the 30 atoms failing once or for good: retried by Octavia's own retry
    controllers, or reverted with nothing left behind, strictly compensated."""
    fresh = FreshCloud(monkeypatch, "SINGLE")
    report = flowfault.sweep(
        lambda: create_load_balancer_flow("SINGLE"),
        store=fresh.store,
        setup=fresh,
        exc=RETRIED,
        kinds=("transient", "permanent", "revert"),
        strict=True,
        nothing_to_undo=NOTHING_TO_UNDO,
        check=fresh.check,
    )
    report.assert_resilient()
    retried = sorted(str(variant.plan.faults[0].target).rpartition("-")[2]
                     for variant in report.variants if variant.run.succeeded)
    assert ["wait", "wait"] == retried  # compute-wait, connectivity-wait: retried, ACTIVE
    halted = [variant for variant in report.variants if variant.notes]
    assert halted and all("FAILURE" == variant.run.state for variant in halted)


def test_parallel_rollbacks_of_both_amphorae_are_repeatable(
    flowfault: FlowFault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the parallel engine MASTER and BACKUP roll back side by side, in an order that
    varies between runs: every revert fault, twice, judged the same each time."""
    fresh = FreshCloud(monkeypatch, "ACTIVE_STANDBY")
    report = flowfault.sweep(
        lambda: create_load_balancer_flow("ACTIVE_STANDBY"),
        store=fresh.store,
        setup=fresh,
        engine="parallel",
        kinds=("revert",),
        repeat=2,
    )
    report.assert_resilient()
    assert () == report.flaky
    assert all(2 == len(variant.repetitions) for variant in report.variants)

