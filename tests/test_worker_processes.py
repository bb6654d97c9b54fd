"""Worker processes on kombu's Redis transport: faults fire in the child Pythons, their
records come back into the run, and a crash point SIGKILLs the worker that takes the task."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from conftest import WARNINGS_INI
from flowkit import Boom, Plain
from taskflow.patterns import linear_flow
from taskflow.retry import Times

from pytest_flowfault import FlowFault, InjectedFault, RedisServer

pytest.importorskip("kombu", reason="the worker-based engine needs kombu")
pytest.importorskip("redis", reason="kombu's Redis transport needs redis-py")

TOPICS = {"worker-1", "worker-2"}


def boot(retry: Any = None) -> linear_flow.Flow:
    return linear_flow.Flow("boot", retry=retry).add(
        Plain("volume", provides="volume_id"),
        Plain("instance", provides="instance_id"),
        Plain("attach"),
    )


def killed(run: Any, name: str) -> list[Any]:
    return [event for event in run.calls(name, "execute") if event.what == "killed"]


class TestFaultsInWorkerProcesses:
    def test_a_transient_fault_fires_in_the_child(
        self, flowfault: FlowFault, flowfault_redis: RedisServer
    ) -> None:
        """Attempts are counted in Redis per run and atom, whichever process runs them."""
        flowfault.workers(2, redis=flowfault_redis)
        flowfault.fail("instance", times=2)
        run = flowfault.run(boot(Times(3)), engine="worker-based")
        run.assert_succeeded()
        run.assert_attempts("instance", 3)
        calls = run.calls("instance", "execute")
        assert [(1, True), (2, True), (3, False)] == [(c.attempt, c.injected) for c in calls]
        assert {call.worker for call in calls} <= TOPICS
        assert "InjectedFault('instance', 'execute', 1)" == repr(calls[0].error)
        assert () == run.not_injected

    def test_records_and_engine_events_are_in_one_order(
        self, flowfault: FlowFault, flowfault_redis: RedisServer
    ) -> None:
        """Merged by the machine's monotonic clock, each remote call sits between the
        engine's RUNNING and SUCCESS of its task; sequence numbers follow that order."""
        flowfault.workers(1, redis=flowfault_redis)
        run = flowfault.run(boot(), engine="worker-based")
        assert list(range(len(run.events))) == [event.seq for event in run.events]
        for name in ("volume", "instance", "attach"):
            states = {e.what: e.seq for e in run.events if e.kind == "task" and e.name == name}
            (start, end) = run.call_events(name, "execute")
            assert states["RUNNING"] < start.seq < end.seq < states["SUCCESS"]
        run.assert_order("volume", "instance", "attach")

    def test_an_exception_of_the_childs_own_code(
        self, flowfault: FlowFault, flowfault_redis: RedisServer
    ) -> None:
        flowfault.workers(1, redis=flowfault_redis)
        run = flowfault.run(
            linear_flow.Flow("broken").add(Plain("volume"), Boom("quota")), engine="worker-based"
        )
        run.assert_failed(ValueError, match="quota is broken")
        run.assert_compensated()
        (call,) = run.calls("quota", "execute")
        assert ("raised", "ValueError('quota is broken')") == (call.what, repr(call.error))

    def test_a_failing_revert_in_the_child(
        self, flowfault: FlowFault, flowfault_redis: RedisServer
    ) -> None:
        flowfault.workers(1, redis=flowfault_redis)
        flowfault.fail("attach")
        flowfault.fail_revert("instance")
        run = flowfault.run(boot(), engine="worker-based")
        run.assert_failed(InjectedFault)
        assert "FAILURE" == run.state
        (revert,) = run.calls("instance", "revert")
        assert revert.injected


class TestAWorkerDies:
    def test_the_task_is_retried_on_the_live_worker(
        self, flowfault: FlowFault, flowfault_redis: RedisServer
    ) -> None:
        """The worker that takes create_instance is SIGKILLed; the engine's request times
        out, the retry re-sends the task, and the other worker finishes it."""
        flowfault.workers(2, redis=flowfault_redis)
        flowfault.crash(during="instance")
        run = flowfault.run(boot(Times(3)), engine="worker-based")
        run.assert_succeeded()
        (death,) = killed(run, "instance")
        (dead,) = flowfault.session.workers.processes
        assert -signal.SIGKILL == dead.exit_codes()[death.worker]
        (failure,) = [e for e in run.events if e.name == "instance" and e.what == "FAILURE"]
        assert "RequestTimeout" == type(failure.error).__name__
        assert death.seq < failure.seq
        finished = run.calls("instance", "execute")[-1]
        assert ("ok", 2) == (finished.what, finished.attempt)
        assert {death.worker, finished.worker} == TOPICS  # the re-sent attempt went elsewhere
        run.assert_attempts("instance", 2)

    def test_without_a_retry_the_flow_reverts(
        self, flowfault: FlowFault, flowfault_redis: RedisServer
    ) -> None:
        flowfault.workers(2, redis=flowfault_redis)
        flowfault.crash(during="instance")
        run = flowfault.run(boot(), engine="worker-based")
        from taskflow.exceptions import RequestTimeout

        run.assert_failed(RequestTimeout)
        run.assert_compensated()
        assert 1 == len(killed(run, "instance"))
        run.assert_not_run("attach")


class TestTheFixture:
    def test_a_task_class_in_main_is_refused(self) -> None:
        from pytest_flowfault.errors import WorkerTaskError
        from pytest_flowfault.workers import WorkerProcesses

        with pytest.raises(WorkerTaskError) as refused:
            WorkerProcesses(["__main__:Trivial"], count=1, url="redis://127.0.0.1:1/0").start()
        assert (
            "Trivial cannot run on worker processes: defined in __main__ (the script being "
            "run), which another Python cannot import by name; move it to a module"
        ) == str(refused.value)

    def test_bad_arguments(self, flowfault: FlowFault, flowfault_redis: RedisServer) -> None:
        with pytest.raises(ValueError, match=r"flowfault.workers\(count=0\): give the number"):
            flowfault.workers(0, redis=flowfault_redis)
        with pytest.raises(TypeError, match=r"flowfault.workers\(redis='redis://x'\): give the"):
            flowfault.workers(2, redis="redis://x")  # type: ignore[arg-type]

    def test_a_failing_test_stops_its_worker_processes(self, pytester: pytest.Pytester) -> None:
        here = Path(__file__).parent
        pytester.makepyfile(flowkit=(here / "flowkit.py").read_text())
        pytester.makeini(WARNINGS_INI)
        pytester.makepyfile(
            test_fails="""
            from taskflow.patterns import linear_flow
            from flowkit import Plain

            def test_fails(flowfault, flowfault_redis):
                flowfault.workers(2, redis=flowfault_redis)
                flowfault.run(linear_flow.Flow("f").add(Plain("a")), engine="worker-based")
                (workers,) = flowfault.session.workers.processes
                with open("pids.txt", "w") as pids:
                    pids.write(" ".join(map(str, workers.pids.values())))
                assert False
            """
        )
        pytester.runpytest_inprocess().assert_outcomes(failed=1)
        pids = [int(pid) for pid in (pytester.path / "pids.txt").read_text().split()]
        assert 2 == len(pids)
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
