"""Upgrades: the next release resumes what the previous one saved, in process, after a real
SIGKILL, and in a conductor that takes a job over. Every hazard TaskFlow lets through is
caught by assert_upgrade_safe() (or refused with an UpgradeError); careful upgrades pass."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import releases
from taskflow import exceptions as taskflow_exceptions
from taskflow.patterns import linear_flow

from pytest_flowfault import FlowFault, FlowRun, JobBoard, RedisServer, UpgradeError
from pytest_flowfault.persist import reload_flow_detail
from pytest_flowfault.upgrade import (
    AtomAdded,
    AtomRemoved,
    ProvidesChanged,
    RequiresChanged,
    VersionChanged,
    upgrade_problems,
    upgrade_verdict,
)

SERVER_MAJOR = (
    "'server' completed under version 1.0 and the new release runs 2.0, a major change: "
    "TaskFlow skips it as done on the result 1.0 saved ('server-1'), written by incompatible "
    "code, and hands that result to the new code: its consumers, and its revert if the flow "
    "fails"
)
NETWORK_GONE = (
    "'network' had completed (saved result 'network-1') and is absent from the new release: "
    "what it did can no longer be reverted"
)
DNS_GONE = (
    "'dns' was RUNNING when its state was saved and is absent from the new release: its work "
    "can no longer be reverted, and TaskFlow leaves it RUNNING in the flow detail forever"
)
NET_REDONE = (
    "'net', new in this release, executed again the work that 'network' had completed before "
    "the upgrade (both are Create tasks): TaskFlow sees a renamed atom as a new one"
)
CARELESS = (SERVER_MAJOR, NETWORK_GONE, DNS_GONE, NET_REDONE)
NETWORK_MISSING = (
    "'server' requires 'network', which the removed atom 'network' provided (saved SUCCESS): "
    "TaskFlow cannot read a result saved by an atom the flow no longer has, and the store "
    "does not hold it"
)


@pytest.fixture(autouse=True)
def fresh_log() -> Iterator[None]:
    releases.LOG.entries.clear()
    yield


def crash_release_1(flowfault: FlowFault, *, during: str = "dns", **options: Any) -> FlowRun:
    """Release 1 dies inside ``during``: the tasks before it SUCCESS, ``during`` RUNNING."""
    flowfault.crash(during=during)
    crashed = flowfault.run(releases.release_1(), backend=options.pop("backend", "memory"),
                            **options)
    assert "CRASHED" == crashed.state
    return crashed


def problems_of(failed: pytest.ExceptionInfo[AssertionError]) -> list[str]:
    """The bulleted problems of an assert_upgrade_safe() message."""
    return [line[4:] for line in str(failed.value).splitlines() if line.startswith("  - ")]


class TestHazardsInProcess:
    def test_a_major_bump_of_a_completed_task(self, flowfault: FlowFault) -> None:
        """TaskFlow skips the 2.0 task as done on the result 1.0 saved, and its saved detail
        still says 1.0 afterwards: it never compares versions."""
        crashed = crash_release_1(flowfault, backend="sqlite")
        resumed = flowfault.resume(crashed, flow=releases.careless_release_2)
        assert "SUCCESS" == resumed.state  # TaskFlow sees nothing wrong
        resumed.assert_not_run("server")
        assert ("1.0", "2.0") == resumed.versions()["server"]
        point = resumed.resume_point
        assert point is not None
        detail = reload_flow_detail(point.backend, point.flow_detail.uuid)
        assert ("1.0", "server-1") == next(
            (atom.version, atom.results) for atom in detail if atom.name == "server"
        )
        with pytest.raises(AssertionError) as failed:
            resumed.assert_upgrade_safe()
        assert SERVER_MAJOR in problems_of(failed)

    def test_the_new_revert_is_handed_the_old_result(self, flowfault: FlowFault) -> None:
        """When the upgraded flow fails, the 2.0 revert receives what 1.0 returned."""
        crashed = crash_release_1(flowfault)
        flowfault.fail("net")
        resumed = flowfault.resume(crashed, flow=releases.careless_release_2)
        assert "REVERTED" == resumed.state
        assert 1 == releases.LOG.count("server", "revert 'server-1'")  # 2.0 returns a dict
        assert ["execute"] == [action for name, action in releases.LOG.entries
                               if name == "network"]  # removed: never reverted
        with pytest.raises(AssertionError) as failed:
            resumed.assert_upgrade_safe()
        assert SERVER_MAJOR in problems_of(failed)

    def test_a_removed_running_task_is_never_reverted(self, flowfault: FlowFault) -> None:
        """The removed task stays RUNNING in the flow detail, even once the flow reverted."""
        crashed = crash_release_1(flowfault)
        resumed = flowfault.resume(
            crashed,
            flow=lambda: linear_flow.Flow("deploy").add(
                releases.Create("network", provides="network"),
                releases.Create("server", requires=["network"], provides="server"),
                releases.Create("audit", requires=["server"]),
            ),
        )
        assert "SUCCESS" == resumed.state
        point = resumed.resume_point
        assert point is not None
        assert "RUNNING" == next(atom.state for atom in point.flow_detail if atom.name == "dns")
        with pytest.raises(AssertionError) as failed:
            resumed.assert_upgrade_safe()
        assert [DNS_GONE] == problems_of(failed)

    def test_a_removed_completed_task(self, flowfault: FlowFault) -> None:
        crashed = crash_release_1(flowfault)
        resumed = flowfault.resume(
            crashed,
            flow=lambda: linear_flow.Flow("deploy").add(
                releases.Create("server", requires=["network"], provides="server",
                                inject={"network": "net-0"}),
                releases.Create("dns", requires=["server"]),
            ),
        )
        resumed.assert_resumed()
        with pytest.raises(AssertionError) as failed:
            resumed.assert_upgrade_safe()
        assert [NETWORK_GONE] == problems_of(failed)

    def test_a_renamed_task_runs_its_work_again(self, flowfault: FlowFault) -> None:
        """A renamed atom is a new atom to TaskFlow: its work runs a second time."""
        crashed = crash_release_1(flowfault)
        resumed = flowfault.resume(crashed, flow=releases.careless_release_2)
        assert ("net",) == resumed.execution_order()
        assert 2 == releases.LOG.count("network", "execute") + releases.LOG.count("net", "execute")
        with pytest.raises(AssertionError) as failed:
            resumed.assert_upgrade_safe()
        assert NET_REDONE in problems_of(failed)

    @pytest.mark.parametrize("engine", ["serial", "parallel"])
    def test_every_hazard_of_a_careless_release_is_named(
        self, flowfault: FlowFault, engine: str
    ) -> None:
        crashed = crash_release_1(flowfault, engine=engine)
        resumed = flowfault.resume(crashed, flow=releases.careless_release_2)
        with pytest.raises(AssertionError) as failed:
            resumed.assert_upgrade_safe()
        assert list(CARELESS) == problems_of(failed)
        message = str(failed.value)
        assert message.startswith("resuming flow 'deploy' with a new release is not safe:\n")
        assert (
            "what changed:\n"
            "  'network' removed (saved SUCCESS by version 1.0, result 'network-1')\n"
            "  'server' version 1.0 -> 2.0 (major; saved SUCCESS)\n"
            "  'dns' removed (saved RUNNING by version 1.0)\n"
            "  'net' added (version 1.0)\n\n"
            f"flow 'deploy' on the {engine} engine ended SUCCESS"
        ) in message

    def test_a_requirement_only_a_removed_task_provided(self, flowfault: FlowFault) -> None:
        """TaskFlow refuses the flow (MissingDependencies); the error says why."""
        crashed = crash_release_1(flowfault)
        with pytest.raises(UpgradeError) as refused:
            flowfault.resume(crashed, flow=releases.dropped_producer_release_2)
        assert (
            "the new release of flow 'deploy' cannot resume its saved state; TaskFlow refuses "
            f"to start it (MissingDependencies): {NETWORK_MISSING}"
        ) == str(refused.value)
        assert isinstance(refused.value.__cause__, taskflow_exceptions.MissingDependencies)

    def test_a_requirement_nothing_provides(self, flowfault: FlowFault) -> None:
        crashed = crash_release_1(flowfault)
        with pytest.raises(UpgradeError, match="'dns' requires 'zone', which neither the saved "
                           "results nor the store provide"):
            flowfault.resume(
                crashed,
                flow=lambda: linear_flow.Flow("deploy").add(
                    releases.Create("network", provides="network"),
                    releases.Create("server", requires=["network"], provides="server"),
                    releases.Create("dns", requires=["server", "zone"]),
                ),
            )

    def test_a_store_value_replaces_the_removed_producer(self, flowfault: FlowFault) -> None:
        """What the store holds is there for the new release too."""
        flowfault.crash(during="dns")
        crashed = flowfault.run(releases.release_1(), store={"network": "net-0"},
                                backend="memory")
        resumed = flowfault.resume(crashed, flow=releases.dropped_producer_release_2)
        resumed.assert_resumed()
        with pytest.raises(AssertionError) as failed:
            resumed.assert_upgrade_safe()
        assert [NETWORK_GONE] == problems_of(failed)  # still: it cannot be reverted

    def test_provides_of_a_completed_task_changed(self, flowfault: FlowFault) -> None:
        """A saved 'server-1' read as ('server', 'zone') is split into 's' and 'e'."""
        crashed = crash_release_1(flowfault)
        resumed = flowfault.resume(
            crashed,
            flow=lambda: linear_flow.Flow("deploy").add(
                releases.Create("network", provides="network"),
                releases.Create("server", requires=["network"], provides=("server", "zone")),
                releases.Create("dns", requires=["server"]),
            ),
        )
        assert ("s", "e") == (resumed.results["server"], resumed.results["zone"])
        with pytest.raises(AssertionError) as failed:
            resumed.assert_upgrade_safe()
        assert [
            "'server' completed under the old release, which saved its result as 'server' "
            "(the whole result); the new release reads that saved result as 'server' from "
            "result[0], 'zone' from result[1]"
        ] == problems_of(failed)

    def test_a_version_on_the_class_is_ignored_and_named(self, flowfault: FlowFault) -> None:
        """Atom.__init__ sets self.version = (1, 0): a class attribute changes nothing."""

        class Server(releases.Create):
            version = (2, 0)

        crashed = crash_release_1(flowfault)
        resumed = flowfault.resume(
            crashed,
            flow=lambda: linear_flow.Flow("deploy").add(
                releases.Create("network", provides="network"),
                Server("server", requires=["network"], provides="server"),
                releases.Create("dns", requires=["server"]),
            ),
        )
        assert ("1.0", "1.0") == resumed.versions()["server"]
        assert "2.0" == resumed.atom("server").class_version
        with pytest.raises(AssertionError) as failed:
            resumed.assert_upgrade_safe()
        assert [
            "'server' sets version = (2, 0) on its class, which TaskFlow ignores "
            "(Atom.__init__ sets self.version = (1, 0) on every instance): TaskFlow saves and "
            "runs 1.0, so no version change can be seen; set self.version in __init__, after "
            "super().__init__()"
        ] == problems_of(failed)


class TestSafeUpgrades:
    def test_a_careful_release_passes(self, flowfault: FlowFault) -> None:
        crashed = crash_release_1(flowfault)
        resumed = flowfault.resume(crashed, flow=releases.careful_release_2)
        resumed.assert_resumed()
        resumed.assert_upgrade_safe()
        assert (VersionChanged("server", "1.0", "1.1", False, "SUCCESS"),) == (
            resumed.upgrade_changes()
        )
        assert {"network": ("1.0", "1.0"), "server": ("1.0", "1.1"), "dns": ("1.0", "1.0")} == (
            resumed.versions()
        )
        assert upgrade_verdict(resumed) is None
        for name in ("network", "server", "dns"):
            resumed.assert_executed_once(name)

    def test_the_same_release_changes_nothing(self, flowfault: FlowFault) -> None:
        crashed = crash_release_1(flowfault)
        resumed = flowfault.resume(crashed)
        assert () == resumed.upgrade_changes()
        resumed.assert_upgrade_safe()

    def test_removing_and_adding_tasks_that_had_not_started(self, flowfault: FlowFault) -> None:
        """dns had not run when release 1 crashed: release 2 may replace it."""
        flowfault.crash(after="server")
        crashed = flowfault.run(releases.release_1(), backend="memory")
        resumed = flowfault.resume(
            crashed,
            flow=lambda: linear_flow.Flow("deploy").add(
                releases.Create("network", provides="network"),
                releases.Create("server", requires=["network"], provides="server"),
                releases.Create("register", requires=["server"]),
            ),
        )
        resumed.assert_upgrade_safe()
        assert (
            AtomRemoved("dns", "PENDING", "1.0"),
            AtomAdded("register", "1.0"),
        ) == resumed.upgrade_changes()
        assert ("register",) == resumed.execution_order()

    def test_a_major_bump_of_a_task_that_had_not_completed(self, flowfault: FlowFault) -> None:
        """dns died mid-execute: 2.0 runs it afresh, nothing of 1.0 is handed on."""
        crashed = crash_release_1(flowfault)
        resumed = flowfault.resume(
            crashed,
            flow=lambda: linear_flow.Flow("deploy").add(
                releases.Create("network", provides="network"),
                releases.Create("server", requires=["network"], provides="server"),
                releases.Create("dns", version=(2, 0), requires=["server"]),
            ),
        )
        resumed.assert_upgrade_safe()
        assert (VersionChanged("dns", "1.0", "2.0", True, "RUNNING"),) == (
            resumed.upgrade_changes()
        )


class TestUpgradeChanges:
    def test_requires_and_provides(self, flowfault: FlowFault) -> None:
        crashed = crash_release_1(flowfault, during="server")
        resumed = flowfault.resume(
            crashed,
            flow=lambda: linear_flow.Flow("deploy").add(
                releases.Create("network", provides=("network", "subnet")),
                releases.Create("server", requires=["network", "subnet"], provides="server"),
                releases.Create("dns", requires=["server"]),
            ),
        )
        network = ProvidesChanged("network", ("network",), ("network", "subnet"), (None,), (0, 1))
        server = RequiresChanged("server", ("network",), ("network", "subnet"))
        assert (network, server) == resumed.upgrade_changes()
        assert [
            "'network' provides 'network' (the whole result) -> 'network' from result[0], "
            "'subnet' from result[1]",
            "'server' requires ['network'] -> ['network', 'subnet']",
        ] == [str(change) for change in resumed.upgrade_changes()]

    def test_a_name_no_longer_provided_is_a_safe_change(self, flowfault: FlowFault) -> None:
        """network stops providing 'subnet': nothing reads the saved result anew."""
        flowfault.crash(during="dns")
        crashed = flowfault.run(
            linear_flow.Flow("deploy").add(
                releases.Create("network", provides=("network", "subnet")),
                releases.Create("dns", requires=["network"]),
            ),
            backend="memory",
        )
        resumed = flowfault.resume(
            crashed,
            flow=lambda: linear_flow.Flow("deploy").add(
                releases.Create("network", provides=("network",)),
                releases.Create("dns", requires=["network"]),
            ),
        )
        (change,) = resumed.upgrade_changes()
        assert isinstance(change, ProvidesChanged) and not change.rereads_result
        resumed.assert_upgrade_safe()

    def test_a_version_set_on_the_instance_too_is_not_ignored(self, flowfault: FlowFault) -> None:
        class Server(releases.Create):
            version = (2, 0)

        crashed = crash_release_1(flowfault, during="server")
        resumed = flowfault.resume(
            crashed,
            flow=lambda: linear_flow.Flow("deploy").add(
                releases.Create("network", provides="network"),
                Server("server", version=(2, 1), requires=["network"], provides="server"),
                releases.Create("dns", requires=["server"]),
            ),
        )
        assert resumed.atom("server").class_version is None
        resumed.assert_upgrade_safe()  # server was RUNNING: 2.1 runs it afresh

    def test_each_change_in_words(self) -> None:
        assert "'dns' removed (saved RUNNING by version 1.0)" == str(
            AtomRemoved("dns", "RUNNING", "1.0")
        )
        assert "'a' removed (saved SUCCESS by version 1.0, result 'x')" == str(
            AtomRemoved("a", "SUCCESS", "1.0", "x")
        )
        assert "'a' version 1.0 -> 1.2 (minor; saved PENDING)" == str(
            VersionChanged("a", "1.0", "1.2", False, "PENDING")
        )
        assert "'a' added (version 3.1)" == str(AtomAdded("a", "3.1"))

    def test_a_run_that_started_afresh_has_no_saved_state(self, flowfault: FlowFault) -> None:
        run = flowfault.run(releases.release_1())
        with pytest.raises(TypeError) as raised:
            run.upgrade_changes()
        assert (
            "upgrade_changes() needs a run that resumed saved state, e.g. "
            "flowfault.resume(crashed, flow=new_release_flow); flow 'deploy' started afresh"
        ) == str(raised.value)
        with pytest.raises(TypeError, match=r"^assert_upgrade_safe\(\) needs a run"):
            run.assert_upgrade_safe()

    def test_a_resumption_records_what_was_saved(self, flowfault: FlowFault) -> None:
        crashed = crash_release_1(flowfault)
        resumed = flowfault.resume(crashed, flow=releases.careful_release_2)
        assert resumed.saved is not None
        assert [("network", "SUCCESS", "network-1"), ("server", "SUCCESS", "server-1"),
                ("dns", "RUNNING", None)] == [
            (atom.name, atom.state, atom.result) for atom in resumed.saved.atoms
        ]
        assert ("1.1", ("network",), ("server",)) == (
            resumed.atom("server").version,
            resumed.atom("server").requires,
            resumed.atom("server").provides,
        )


class TestUpgradeVerdict:
    def test_problems_joined(self, flowfault: FlowFault) -> None:
        crashed = crash_release_1(flowfault)
        resumed = flowfault.resume(crashed, flow=releases.careless_release_2)
        assert "; ".join(CARELESS) == upgrade_verdict(resumed)
        assert CARELESS == upgrade_problems(resumed)

    def test_a_failed_resumption(self, flowfault: FlowFault) -> None:
        crashed = crash_release_1(flowfault)
        flowfault.fail("dns")
        resumed = flowfault.resume(crashed, flow=releases.careful_release_2)
        assert "the resumed flow ended REVERTED" == upgrade_verdict(resumed)

    def test_a_completed_task_that_ran_again(self, flowfault: FlowFault) -> None:
        """Progress lost in storage: the task's work is done twice under the same name."""
        crashed = crash_release_1(flowfault)
        point = crashed.resume_point
        assert point is not None
        with contextlib.closing(point.backend.get_connection()) as connection:
            detail = connection.get_flow_details(point.flow_detail.uuid)
            for atom in detail:
                if atom.name == "network":
                    atom.state, atom.results = "PENDING", None
            connection.update_flow_details(detail)
        resumed = flowfault.resume(crashed, flow=releases.careful_release_2)
        assert "'network' ran again after the upgrade (2 times in all)" == upgrade_verdict(resumed)


class TestAcrossSigkill:
    """Release 1 runs in a child process that is SIGKILLed; release 2 resumes here."""

    def test_a_careful_release(self, flowfault: FlowFault) -> None:
        crashed = flowfault.run_in_subprocess("releases:release_1", crash_during="dns")
        resumed = flowfault.resume(crashed, flow=releases.careful_release_2)
        resumed.assert_resumed()
        resumed.assert_upgrade_safe()
        assert ("dns",) == resumed.execution_order()

    def test_a_careless_release(self, flowfault: FlowFault) -> None:
        crashed = flowfault.run_in_subprocess("releases:release_1", crash_during="dns")
        resumed = flowfault.resume(crashed, flow=releases.careless_release_2)
        with pytest.raises(AssertionError) as failed:
            resumed.assert_upgrade_safe()
        assert list(CARELESS) == problems_of(failed)

    def test_the_store_is_no_atom(self, flowfault: FlowFault) -> None:
        """The store TaskFlow saves as a task detail is neither an atom nor a lost result
        (it was both before the run was rebuilt from the flow's code)."""
        crashed = flowfault.run_in_subprocess(
            "releases:release_1", crash_during="dns", store={"region": "r1"}
        )
        assert ["network", "server", "dns"] == [atom.name for atom in crashed.atoms]
        assert {"network", "server"} == set(crashed.atom_results)
        assert "releases.Create" == crashed.atom("server").class_path
        resumed = flowfault.resume(crashed, flow=releases.careful_release_2)
        resumed.assert_no_lost_results()
        assert ("region",) == (resumed.saved.store if resumed.saved else ())

    def test_a_dropped_producer(self, flowfault: FlowFault) -> None:
        crashed = flowfault.run_in_subprocess("releases:release_1", crash_during="dns")
        with pytest.raises(UpgradeError, match="'server' requires 'network', which the "
                           "removed atom 'network' provided"):
            flowfault.resume(crashed, flow=releases.dropped_producer_release_2)


@pytest.fixture(params=["sqlite", "memory"])
def board(request: pytest.FixtureRequest, flowfault: FlowFault,
          flowfault_redis: RedisServer) -> JobBoard:
    return flowfault.jobboard(flowfault_redis, backend=request.param)


class TestConductorTakeover:
    """A conductor of release 1 dies mid-job; one of release 2 takes the job over."""

    def test_a_careful_release(self, board: JobBoard) -> None:
        job = board.post(releases.release_1)
        board.run_conductor(crash_during="dns")
        second = board.run_conductor(factory=releases.careful_release_2)
        assert second.run is not None
        assert second.run.resumed_from is job.runs[0]
        second.run.assert_upgrade_safe()
        job.assert_completed_once()
        job.assert_executed_once()
        assert ("1.0", "1.1") == second.run.versions()["server"]

    def test_a_careless_release(self, board: JobBoard) -> None:
        job = board.post(releases.release_1)
        board.run_conductor(crash_during="dns")
        second = board.run_conductor(factory="releases:careless_release_2")
        assert second.run is not None
        job.assert_completed_once()  # TaskFlow sees nothing wrong
        with pytest.raises(AssertionError) as failed:
            second.run.assert_upgrade_safe()
        assert list(CARELESS) == problems_of(failed)

    def test_release_2_by_saved_path(self, board: JobBoard) -> None:
        """factory= maps the paths saved with jobs to the release's factories."""
        job = board.post(releases.release_1)
        board.run_conductor(crash_during="dns")
        board.run_conductor(factory={"releases.release_1": releases.careful_release_2})
        job.assert_completed_once()
        assert ("1.0", "1.1") == job.runs[-1].versions()["server"]

    def test_a_factory_path_release_2_lacks(self, board: JobBoard) -> None:
        """TaskFlow's conductor trashes the job, logging a warning; the plugin says why."""
        job = board.post(releases.release_1)
        board.run_conductor(crash_during="dns")
        with pytest.raises(UpgradeError) as refused:
            board.run_conductor(factory={"releases.deploy": releases.careful_release_2})
        assert (
            f"job 'deploy' ({job.uuid}) cannot be run by flowfault-conductor-2: the factory "
            f"saved with it, 'releases.release_1', does not import in the release this "
            f"conductor runs (this release's factories are releases.deploy); TaskFlow's "
            f"conductor trashes such a job, logging only a warning. Keep the old path "
            f"importable in the new release (an alias of the moved factory), or re-post the "
            f"jobs with the new path before upgrading"
        ) == str(refused.value)
        (_, second) = job.conductors
        assert ("trashed", None, str(refused.value)) == (second.outcome, second.run,
                                                           second.problem)

    def test_a_factory_that_no_longer_imports(
        self, board: JobBoard, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Release 2 renamed the module-level factory: the saved path no longer imports."""
        job = board.post(releases.release_1)
        board.run_conductor(crash_during="dns")
        monkeypatch.delattr(releases, "release_1")
        with pytest.raises(UpgradeError) as refused:
            board.run_conductor()
        assert str(refused.value).startswith(
            f"job 'deploy' ({job.uuid}) cannot be run by flowfault-conductor-2: the factory "
            f"saved with it, 'releases.release_1', does not import in the release this "
            f"conductor runs (module 'releases' has no attribute 'release_1'); TaskFlow's "
            f"conductor trashes such a job"
        )
        assert "trashed" == job.conductors[-1].outcome

    def test_a_dropped_producer(self, board: JobBoard) -> None:
        """TaskFlow's conductor consumes the job without running it; the plugin says why."""
        job = board.post(releases.release_1)
        board.run_conductor(crash_during="dns")
        with pytest.raises(UpgradeError) as refused:
            board.run_conductor(factory=releases.dropped_producer_release_2)
        assert (
            f"job 'deploy' ({job.uuid}): the release flowfault-conductor-2 runs cannot resume "
            f"the saved state of flow 'deploy'; TaskFlow refuses to start it "
            f"(MissingDependencies) and its conductor consumes the job without running it: "
            f"{NETWORK_MISSING}"
        ) == str(refused.value)
        assert ("consumed", None, "COMPLETE") == (
            job.conductors[-1].outcome, job.conductors[-1].run, job.state
        )

    def test_a_fresh_job_on_release_2(self, board: JobBoard) -> None:
        """A job no conductor started has no saved state: nothing to upgrade."""
        job = board.post(releases.release_1)
        done = board.run_conductor(factory=releases.careless_release_2)
        assert done.run is not None and done.run.saved is not None
        assert () == done.run.saved.atoms
        job.assert_completed_once()


def test_sigkilled_conductor_then_release_2_takes_over(
    flowfault: FlowFault, flowfault_redis: RedisServer
) -> None:
    """A conductor process of release 1 is SIGKILLed inside dns; release 2 takes over."""
    board = flowfault.jobboard(flowfault_redis)
    job = board.post("releases:release_1")
    board.run_conductor_in_subprocess(crash_during="dns")
    second = board.run_conductor(factory=releases.careless_release_2)
    assert second.run is not None
    with pytest.raises(AssertionError) as failed:
        second.run.assert_upgrade_safe()
    assert list(CARELESS) == problems_of(failed)
    job.assert_completed_once()


def test_a_failing_test_shows_every_hazard(boot_example: pytest.Pytester) -> None:
    """The assertion message, as a user's failing test prints it."""
    boot_example.makepyfile(
        test_release_2="""
        from taskflow.patterns import linear_flow
        from boot import STORE, Cloud, CreateInstance, CreateVolume, boot_flow


        class CreateInstanceV2(CreateInstance):
            def __init__(self, cloud):
                super().__init__(cloud)
                self.version = (2, 0)


        def test_upgrade(flowfault):
            cloud = Cloud()
            flowfault.crash(after="create_instance")
            crashed = flowfault.run(boot_flow(cloud), store=STORE, backend="sqlite")
            v2 = lambda: linear_flow.Flow("boot").add(CreateVolume(cloud), CreateInstanceV2(cloud))
            flowfault.resume(crashed, flow=v2).assert_upgrade_safe()
        """
    )
    result = boot_example.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E       AssertionError: resuming flow 'boot' with a new release is not safe:",
        "E         - 'create_instance' completed under version 1.0 and the new release runs "
        "2.0, a major change: TaskFlow skips it as done on the result 1.0 saved ('inst-2'), *",
        "E       what changed:",
        "E         'create_instance' version 1.0 -> 2.0 (major; saved SUCCESS)",
        "E         'attach_volume_to_instance' removed (saved PENDING by version 1.0)",
    ])
