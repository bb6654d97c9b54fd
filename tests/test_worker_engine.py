"""The worker-based engine on workers the plugin starts: faults fire on the workers' own
task objects, every remote call is recorded in the run, and the workers stop afterwards."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import WARNINGS_INI
from flowkit import Step
from taskflow import task
from taskflow.exceptions import WrappedFailure
from taskflow.patterns import graph_flow, linear_flow
from taskflow.retry import Times

from pytest_flowfault import Fault, FaultPlan, InjectedFault, run_flow
from pytest_flowfault.errors import FaultNotInjected, UnmatchedFault, WorkerTaskError
from pytest_flowfault.remote import CRASH_IN_THREADS
from pytest_flowfault.session import Session
from pytest_flowfault.workers import THREAD_PREFIX, InProcessWorkers, task_classes

pytest.importorskip("kombu", reason="the worker-based engine needs kombu")

#: What the real code of the tasks below created and has not deleted (per test).
CREATED: list[str] = []
#: How often the real code of the tasks below ran (per test).
CALLS: list[tuple[str, str]] = []


class QuotaExceeded(ValueError):
    """A project's own exception, raised on the worker."""


class Make(task.Task):
    """Creates a resource named after itself; its revert deletes it again."""

    def execute(self, **kwargs: Any) -> str:
        CALLS.append((self.name, "execute"))
        CREATED.append(self.name)
        return str(self.name)

    def revert(self, result: Any, **kwargs: Any) -> None:
        CALLS.append((self.name, "revert"))
        if result in CREATED:  # a Failure when our own execute failed
            CREATED.remove(result)


class OverQuota(task.Task):
    """Its real code fails with the project's own exception."""

    def execute(self, **kwargs: Any) -> None:
        raise QuotaExceeded(f"{self.name}: no quota left")


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    CREATED.clear()
    CALLS.clear()
    yield
    assert [] == worker_threads(), "a test left worker threads behind"


def worker_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith(THREAD_PREFIX)]


def boot(retry: Any = None) -> linear_flow.Flow:
    return linear_flow.Flow("boot", retry=retry).add(
        Make("volume", provides="volume_id"),
        Make("instance", provides="instance_id"),
        Make("attach", requires=("volume_id", "instance_id")),
    )


def boot_graph(retry: Any = None) -> graph_flow.Flow:
    return graph_flow.Flow("boot-graph", retry=retry).add(
        Make("attach", requires=("volume_id", "instance_id")),
        Make("instance", provides="instance_id"),
        Make("volume", provides="volume_id"),
    )


def remote_calls(run: Any) -> list[tuple[str, str, int | None, str | None]]:
    """Every call of a task (retry controllers run in the engine)."""
    return [
        (event.name, event.kind, event.attempt, event.worker)
        for event in run.events
        if event.is_call_end and run.atom(event.name).kind == "task"
    ]


class TestFaultsFireOnTheWorkers:
    def test_a_transient_fault_is_retried_on_the_worker(self) -> None:
        """Attempts are counted per run and atom across the worker's fresh task objects."""
        run = run_flow(
            boot(Times(3)), plan=FaultPlan(Fault.fail("instance", times=2)), engine="worker-based"
        )
        run.assert_succeeded()
        run.assert_attempts("instance", 3)
        run.assert_attempts("volume", 3)
        assert "worker-based" == run.engine
        assert () == run.not_injected
        assert [True, True, False] == [call.injected for call in run.calls("instance", "execute")]
        assert {"worker-1"} == {worker for *_, worker in remote_calls(run)}
        # the real code ran on the worker, once per attempt that was not injected
        assert 1 == CALLS.count(("instance", "execute"))
        assert ["volume", "instance", "attach"] == CREATED

    def test_a_permanent_fault_on_a_graph_flow_is_compensated(self) -> None:
        run = run_flow(
            boot_graph(Times(2)), plan=FaultPlan(Fault.fail("attach")), engine="worker-based"
        )
        run.assert_failed(InjectedFault)
        run.assert_attempts("attach", 2)
        run.assert_compensated()
        assert [] == CREATED
        assert 2 == run.reverts("volume") == run.reverts("instance")

    def test_a_task_class_target_hits_the_workers_objects(self) -> None:
        """fail(Make) hits every Make on the worker, which builds its own from the class."""
        run = run_flow(boot(), plan=FaultPlan(Fault.fail(Make)), engine="worker-based")
        run.assert_failed(InjectedFault)
        assert [True] == [call.injected for call in run.calls("volume", "execute")]
        assert () == run.not_injected
        assert [] == CREATED

    def test_the_order_is_the_order_the_workers_ran_the_calls_in(self) -> None:
        run = run_flow(boot(), engine="worker-based")
        run.assert_order("volume", "instance", "attach")
        assert ("volume", "instance", "attach") == run.execution_order()

    def test_remote_calls_and_engine_events_are_in_one_total_order(self) -> None:
        """Each remote call sits between the engine's RUNNING and its SUCCESS of the task."""
        run = run_flow(boot(), engine="worker-based")
        for name in ("volume", "instance", "attach"):
            states = {e.what: e.seq for e in run.events if e.kind == "task" and e.name == name}
            (start, end) = run.call_events(name, "execute")
            assert states["RUNNING"] < start.seq < end.seq < states["SUCCESS"]
            assert "worker-1" == start.worker == end.worker
        assert all(e.worker is None for e in run.events if e.kind not in ("execute", "revert"))

    def test_a_failing_revert_on_the_worker(self) -> None:
        run = run_flow(
            boot(),
            plan=FaultPlan(Fault.fail("attach"), Fault.fail_revert("instance")),
            engine="worker-based",
        )
        assert "FAILURE" == run.state
        with pytest.raises(AssertionError, match="was not compensated"):
            run.assert_compensated()
        (revert,) = run.calls("instance", "revert")
        assert (True, "worker-1") == (revert.injected, revert.worker)
        assert ["volume", "instance"] == CREATED  # the halted rollback left both behind

    def test_a_side_effect_value_is_the_workers_result(self) -> None:
        run = run_flow(
            boot(), plan=FaultPlan(Fault.side_effect("instance", ["inst-fake"])),
            engine="worker-based",
        )
        run.assert_succeeded()
        assert "inst-fake" == run.results["instance_id"]
        assert ("instance", "execute") not in CALLS

    def test_chaos_injects_what_it_injects_on_the_serial_engine(self) -> None:
        """Draws depend on the seed, flow, atom and attempt only, never on the engine."""
        plan = FaultPlan(Fault.chaos("*", rate=0.5, seed=7))
        injected = {}
        for engine in ("serial", "worker-based"):
            run = run_flow(boot(Times(4)), plan=plan, engine=engine)
            injected[engine] = [
                (e.name, e.attempt) for e in run.events if e.is_injected_fault
            ]
        assert injected["serial"] == injected["worker-based"]
        assert injected["serial"]  # the seed injects something


class TestExceptionsCrossTheBroker:
    def test_the_original_type_is_found(self) -> None:
        """The engine raises a WrappedFailure of a Failure that kept only the type names;
        assert_failed finds the project's exception, its bases and its message."""
        run = run_flow(linear_flow.Flow("quota").add(OverQuota("reserve")), engine="worker-based")
        assert isinstance(run.error, WrappedFailure)
        run.assert_failed(QuotaExceeded)
        run.assert_failed(ValueError, match="reserve: no quota left")
        with pytest.raises(AssertionError, match="to fail with KeyError"):
            run.assert_failed(KeyError)
        (call,) = run.calls("reserve", "execute")
        assert isinstance(call.error, QuotaExceeded)  # the worker's own exception object

    def test_an_injected_project_exception(self) -> None:
        run = run_flow(
            boot(),
            plan=FaultPlan(Fault.fail("attach", exc=QuotaExceeded("injected"))),
            engine="worker-based",
        )
        run.assert_failed(QuotaExceeded, match="injected")
        run.assert_compensated()


class TestFaultsThatCannotFire:
    def test_a_fault_matching_nothing_is_still_reported(self) -> None:
        with pytest.raises(UnmatchedFault, match="'instanse'.*did you mean 'instance'"):
            run_flow(boot(), plan=FaultPlan(Fault.fail("instanse")), engine="worker-based")

    def test_a_crash_during_a_task_on_a_thread_is_not_injected(self) -> None:
        with pytest.raises(FaultNotInjected) as failed:
            run_flow(boot(), plan=FaultPlan(Fault.crash_during("instance")), engine="worker-based")
        assert (
            f"Fault.crash_during('instance') (from run_flow(plan=...)) cannot be injected into "
            f"'instance' of flow 'boot': {CRASH_IN_THREADS}"
        ) == str(failed.value)

    def test_a_crash_after_a_task_fires_in_the_engine(self) -> None:
        session = Session(FaultPlan(Fault.crash_after("instance")))
        try:
            run = session.run(boot(), engine="worker-based", backend="memory")
            assert "CRASHED" == run.state
            resumed = session.resume(run)
        finally:
            session.close()
        resumed.assert_resumed()
        resumed.assert_executed_once("instance")
        assert ["volume", "instance", "attach"] == CREATED


class TestWorkers:
    def test_task_classes_of_nested_flows(self) -> None:
        flow = linear_flow.Flow("outer").add(
            Make("a"), graph_flow.Flow("inner").add(Make("b"), OverQuota("c"))
        )
        assert ("test_worker_engine:Make", "test_worker_engine:OverQuota") == task_classes(flow)

    def test_a_class_defined_in_a_function_is_refused(self) -> None:
        class Local(task.Task):
            def execute(self) -> None:
                pass

        with pytest.raises(WorkerTaskError) as refused:
            run_flow(linear_flow.Flow("local").add(Local("local")), engine="worker-based")
        assert (
            "task 'local' cannot run on TaskFlow's workers: a worker builds each task from the "
            "class name the engine sends ('test_worker_engine.Local') as Local(name='local') "
            "(taskflow/engines/worker_based/endpoint.py), and it is defined inside "
            "TestWorkers.test_a_class_defined_in_a_function_is_refused(); define Local at the "
            "top level of an importable module"
        ) == str(refused.value)

    def test_a_task_that_needs_constructor_arguments_is_refused(self, log: Any) -> None:
        with pytest.raises(WorkerTaskError) as refused:
            run_flow(linear_flow.Flow("steps").add(Step("step", log)), engine="worker-based")
        assert (
            "task 'step' cannot run on TaskFlow's workers: a worker builds each task from the "
            "class name the engine sends ('flowkit.Step') as Step(name='step') "
            "(taskflow/engines/worker_based/endpoint.py), which fails: missing a required "
            "argument: 'log'; give Step a constructor that works with name= alone (a "
            "worker's task reaches its resources through its arguments or clients of its own "
            "process)"
        ) == str(refused.value)

    def test_workers_started_by_hand_are_reached(self) -> None:
        """Workers of the plugin's are reached whoever passes their options to the engine."""
        with InProcessWorkers(["test_worker_engine:Make"], count=2) as workers:
            run = run_flow(
                boot(), plan=FaultPlan(Fault.fail("attach")), engine="worker-based",
                **workers.engine_options,
            )
        run.assert_failed(InjectedFault)
        run.assert_compensated()
        assert {"worker-1", "worker-2"} >= {worker for *_, worker in remote_calls(run)}

    def test_a_session_reuses_its_workers_and_stops_them_on_close(self) -> None:
        session = Session()
        try:
            for _ in range(2):
                session.run(boot(), engine="worker-based").assert_succeeded()
            assert [f"{THREAD_PREFIX}-worker-1"] == [
                name for name in worker_threads() if not name.startswith(f"{THREAD_PREFIX}_")
            ]
        finally:
            session.close()
        assert [] == worker_threads()

    def test_without_kombu_the_error_names_the_extra(self) -> None:
        code = (
            "import sys; sys.modules['kombu'] = None\n"
            "from pytest_flowfault.errors import MissingExtra\n"
            "from pytest_flowfault.workers import worker_module\n"
            "try:\n    worker_module()\nexcept MissingExtra as error:\n    print(error)\n"
        )
        done = subprocess.run(
            [sys.executable, "-W", "ignore::DeprecationWarning", "-c", code],
            capture_output=True, text=True, check=True,
        )
        assert (
            "the worker-based engine needs kombu; install it with "
            "pip install 'pytest-flowfault[workers]'\n"
        ) == done.stdout


MATRIX = """
import threading

import pytest
from boot import STORE, boot_graph_flow


@pytest.mark.flowfault(engines=["serial", "parallel", "worker-based"], fail="attach*")
def test_on_every_engine(flowfault):
    run = flowfault.run(boot_graph_flow(), store=STORE)
    run.assert_failed()
    run.assert_compensated()
    assert flowfault.engine == run.engine


def test_fails_after_a_worker_based_run(flowfault):
    flowfault.run(boot_graph_flow(), store=STORE, engine="worker-based").assert_succeeded()
    assert False, "the test fails"


def test_no_worker_is_left(flowfault):
    assert [] == [t.name for t in threading.enumerate() if t.name.startswith("flowfault-worker")]
"""

INTERRUPTED = """
from boot import STORE, boot_flow


def test_interrupted(flowfault):
    flowfault.run(boot_flow(), store=STORE, engine="worker-based").assert_succeeded()
    raise KeyboardInterrupt
"""


class TestPlugin:
    @pytest.fixture
    def suite(self, boot: pytest.Pytester) -> pytest.Pytester:
        boot.makeini(WARNINGS_INI)
        return boot

    def test_the_engines_matrix_and_teardown(self, suite: pytest.Pytester) -> None:
        """A test runs on all three engines; a failing test's workers stop at teardown."""
        suite.makepyfile(test_matrix=MATRIX)
        result = suite.runpytest_inprocess("-v")
        result.assert_outcomes(passed=4, failed=1)
        result.stdout.fnmatch_lines([
            "*test_on_every_engine?serial? PASSED*",
            "*test_on_every_engine?parallel? PASSED*",
            "*test_on_every_engine?worker-based? PASSED*",
        ])
        assert [] == worker_threads()

    def test_an_interrupted_test_stops_its_workers(self, suite: pytest.Pytester) -> None:
        suite.makepyfile(test_interrupted=INTERRUPTED)
        result = suite.runpytest_inprocess(no_reraise_ctrlc=True)
        assert pytest.ExitCode.INTERRUPTED == result.ret
        assert [] == worker_threads()
