"""run_flow: faults injected into the real TaskFlow engine, and what the run records."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from flowkit import Boom, Log, Step
from taskflow import exceptions as taskflow_exceptions
from taskflow import retry, task
from taskflow.patterns import graph_flow, linear_flow, unordered_flow

from pytest_flowfault import Fault, FaultPlan, InjectedFault, UnmatchedFault, run_flow

ENGINES = ["serial", "parallel"]


def steps(log: Log, *names: str) -> list[Step]:
    """Independent steps, each providing its own name."""
    return [Step(name, log, provides=name) for name in names]


@pytest.mark.parametrize("engine", ENGINES)
class TestRetries:
    def test_transient_failure_is_retried_until_it_works(self, log: Log, engine: str) -> None:
        """A task failing twice under Times(3) succeeds on its third attempt."""
        flow = linear_flow.Flow("boot", retry=retry.Times(3, name="again")).add(
            *steps(log, "a", "b", "c")
        )
        run = run_flow(flow, plan=FaultPlan(Fault.fail("b", times=2)), engine=engine)
        run.assert_succeeded()
        run.assert_attempts("b", 3)
        assert 1 == log.count("b", "execute")  # only the third attempt ran the real code
        assert ("RETRY", "RETRY") == run.decisions("again")
        assert {"a": "a", "b": "b", "c": "c"} == dict(run.results)

    def test_exhausted_retries_revert_everything(self, log: Log, engine: str) -> None:
        """A task that always fails is tried three times, then the flow is reverted."""
        flow = linear_flow.Flow("boot", retry=retry.Times(3, name="again")).add(
            *steps(log, "a", "b", "c")
        )
        run = run_flow(flow, plan=FaultPlan(Fault.fail("b")), engine=engine)
        run.assert_failed(InjectedFault, match=r"'b' \(execute attempt 3\)")
        run.assert_attempts("b", 3)
        run.assert_attempts("a", 3)
        run.assert_not_run("c")
        run.assert_compensated()
        assert "REVERTED" == run.state
        assert 3 == run.reverts("a") == log.count("a", "revert")

    def test_revert_failure_is_terminal_and_leaks(self, log: Log, engine: str) -> None:
        """A revert that raises stops the clean-up: a's work is never undone."""
        flow = linear_flow.Flow("boot", retry=retry.Times(3)).add(*steps(log, "a", "b", "c"))
        run = run_flow(
            flow, plan=FaultPlan(Fault.fail("c"), Fault.fail_revert("b")), engine=engine
        )
        assert "FAILURE" == run.state
        run.assert_attempts("c", 1)
        with pytest.raises(AssertionError) as raised:
            run.assert_compensated()
        first_lines = str(raised.value).splitlines()[:3]
        assert [
            "flow 'boot' ended FAILURE and was not compensated:",
            "  - 'b' failed to revert: InjectedFault('b', 'revert', 1)",
            "  - 'a' completed (execute attempt 1) but was never reverted",
        ] == first_lines


class TestRetryControllers:
    def test_for_each_tries_each_value(self, log: Log) -> None:
        """ForEach hands the next value to the flow on every retry."""
        flow = linear_flow.Flow(
            "f", retry=retry.ForEach(["x", "y", "z"], name="each", provides="value")
        ).add(Step("a", log, requires=["value"]))
        run = run_flow(flow, plan=FaultPlan(Fault.fail("a", times=2)))
        run.assert_succeeded()
        run.assert_attempts("a", 3)
        run.assert_attempts("each", 3)
        assert "z" == run.results["value"]

    def test_parameterized_for_each_reads_values_from_storage(self, log: Log) -> None:
        """ParameterizedForEach takes its values from the store."""
        flow = linear_flow.Flow(
            "f", retry=retry.ParameterizedForEach(name="each", rebind=["choices"], provides="v")
        ).add(Step("a", log, requires=["v"]))
        run = run_flow(flow, plan=FaultPlan(Fault.fail("a")), store={"choices": [1, 2]})
        run.assert_failed(InjectedFault)
        run.assert_attempts("a", 2)
        run.assert_compensated()

    def test_always_revert_never_retries(self, log: Log) -> None:
        """AlwaysRevert decides REVERT on the first failure."""
        flow = linear_flow.Flow("f", retry=retry.AlwaysRevert("never")).add(
            *steps(log, "a", "b")
        )
        run = run_flow(flow, plan=FaultPlan(Fault.fail("b")))
        assert ("REVERT",) == run.decisions("never")
        run.assert_attempts("b", 1)
        run.assert_compensated()

    def test_always_revert_all_reverts_the_outer_flow_too(self, log: Log) -> None:
        """AlwaysRevertAll in a subflow reverts the tasks outside it as well."""
        inner = linear_flow.Flow("inner", retry=retry.AlwaysRevertAll("all")).add(
            Step("b", log)
        )
        flow = linear_flow.Flow("outer", retry=retry.Times(5, name="outer_retry")).add(
            Step("a", log), inner
        )
        run = run_flow(flow, plan=FaultPlan(Fault.fail("b")))
        assert ("REVERT_ALL",) == run.decisions("all")
        run.assert_attempts("a", 1)
        run.assert_compensated()
        assert 1 == log.count("a", "revert")

    def test_faults_apply_to_retry_atoms_too(self, log: Log) -> None:
        """A retry controller's own execute can be failed by name."""
        flow = linear_flow.Flow("f", retry=retry.Times(2, name="again")).add(Step("a", log))
        run = run_flow(flow, plan=FaultPlan(Fault.fail("again")))
        run.assert_failed(InjectedFault, match="'again'")
        run.assert_not_run("a")


class TestFlowShapes:
    def test_graph_flow_runs_producers_before_consumers(self, log: Log) -> None:
        """A graph flow orders tasks by provides/requires, whatever the add() order."""
        flow = graph_flow.Flow("g").add(
            Step("attach", log, requires=["volume", "instance"]),
            Step("create_volume", log, provides="volume"),
            Step("create_instance", log, provides="instance", requires=["volume"]),
        )
        run = run_flow(flow)
        run.assert_order("create_volume", "create_instance", "attach")
        assert ("create_volume", "create_instance", "attach") == run.execution_order()

    def test_nested_unordered_flow_with_store_inject_and_rebind(self, log: Log) -> None:
        """store=, per-task inject= and rebind= reach the real tasks; nesting is seen through."""
        inner = unordered_flow.Flow("inner").add(
            Step("b", log, requires=["size"], inject={"size": 10}),
            Step("c", log, rebind={"name": "instance_name"}, requires=["name"]),
        )
        flow = linear_flow.Flow("outer").add(Step("a", log), inner, Step("d", log))
        run = run_flow(flow, plan=FaultPlan(Fault.fail("d")), store={"instance_name": "web"})
        run.assert_failed(InjectedFault)
        run.assert_order("a", "b")
        run.assert_order("a", "c")
        run.assert_compensated()
        assert [("b", "revert"), ("c", "revert")] == sorted(
            entry for entry in log.entries if entry[1] == "revert" and entry[0] in "bc"
        )

    def test_parallel_engine_runs_independent_tasks_at_once(self) -> None:
        """Two independent tasks overlap on the parallel engine (and cannot be ordered)."""
        both_started = threading.Barrier(2, timeout=60)  # only a broken engine waits

        class Meet(task.Task):
            def execute(self) -> str:
                both_started.wait()
                return threading.current_thread().name

        flow = unordered_flow.Flow("u").add(
            Meet("left", provides="left"), Meet("right", provides="right")
        )
        run = run_flow(flow, engine="parallel")
        run.assert_succeeded()
        assert ["left", "right"] == sorted(run.results)
        assert all(name.startswith("flowfault") for name in run.results.values())
        with pytest.raises(AssertionError, match="expected 'left' to finish before 'right'"):
            run.assert_order("left", "right")

    def test_given_executor_is_used(self, log: Log) -> None:
        """executor= passed by the user replaces the plugin's own pool."""
        with ThreadPoolExecutor(1, thread_name_prefix="mine") as pool:

            class Where(task.Task):
                def execute(self) -> str:
                    return threading.current_thread().name

            flow = linear_flow.Flow("f").add(Where("w", provides="w"))
            run = run_flow(flow, engine="parallel", executor=pool)
        assert run.results["w"].startswith("mine")

    def test_several_failures_surface_as_wrapped_failure(self) -> None:
        """Two tasks failing at once raise WrappedFailure; assert_failed looks inside."""
        flow = unordered_flow.Flow("u").add(Boom("x"), Boom("y"))
        run = run_flow(flow, engine="parallel")
        assert isinstance(run.error, taskflow_exceptions.WrappedFailure)
        run.assert_failed(ValueError, match="y is broken")
        with pytest.raises(AssertionError, match="to fail with KeyError"):
            run.assert_failed(KeyError)


class TestSideEffects:
    def test_returned_value_replaces_the_real_result(self, log: Log) -> None:
        """A plain value in the sequence is the task's result; the real code does not run."""
        flow = linear_flow.Flow("f").add(
            Step("a", log, provides="a_out"), Step("b", log, requires=["a_out"])
        )
        run = run_flow(flow, plan=FaultPlan(Fault.side_effect("a", [{"id": 42}])))
        run.assert_succeeded()
        assert {"id": 42} == run.results["a_out"]
        assert 0 == log.count("a", "execute")

    def test_exception_then_default_runs_real_code_on_retry(self, log: Log) -> None:
        """[exc, DEFAULT] fails the first attempt and runs the real code on the second."""
        import mock

        flow = linear_flow.Flow("f", retry=retry.Times(2)).add(Step("a", log))
        run = run_flow(flow, plan=FaultPlan(Fault.side_effect("a", [OSError, mock.DEFAULT])))
        run.assert_succeeded()
        run.assert_attempts("a", 2)
        assert 1 == log.count("a", "execute")


class TestDefinitionErrors:
    def test_missing_dependencies_propagate_unchanged(self, log: Log) -> None:
        """A misordered linear flow raises MissingDependencies, not a failed run."""
        flow = linear_flow.Flow("f").add(
            Step("consumer", log, requires=["thing"]), Step("producer", log, provides="thing")
        )
        with pytest.raises(taskflow_exceptions.MissingDependencies):
            run_flow(flow)

    def test_duplicate_names_propagate_unchanged(self, log: Log) -> None:
        """Two atoms with one name is a definition error."""
        flow = unordered_flow.Flow("f").add(Step("a", log), Step("a", log))
        with pytest.raises(taskflow_exceptions.Duplicate):
            run_flow(flow)

    def test_unknown_engine_name_is_explained(self, log: Log) -> None:
        """A typo in engine= names the engines TaskFlow has."""
        with pytest.raises(ValueError) as raised:
            run_flow(linear_flow.Flow("f").add(Step("a", log)), engine="paralel")
        assert (
            "run_flow(engine='paralel'): not a TaskFlow engine; use one of default, parallel, serial, "
            "worker-based, workers; did you mean 'parallel'?" == str(raised.value)
        )

    def test_fault_naming_no_atom_is_an_error(self, log: Log) -> None:
        """run_flow refuses to pass silently when a fault matched nothing."""
        flow = linear_flow.Flow("f").add(*steps(log, "create_volume", "create_instance"))
        with pytest.raises(UnmatchedFault) as raised:
            run_flow(flow, plan=FaultPlan(Fault.fail("create_instanse")))
        assert (
            "Fault.fail('create_instanse') (from run_flow(plan=...)) targets 'create_instanse', "
            "which names no atom of any flow run; did you mean 'create_instance'?\n"
            "atoms seen: create_volume, create_instance" == str(raised.value)
        )


class TestFlowRunRecord:
    def test_run_is_immutable(self, log: Log) -> None:
        """A finished run cannot be changed."""
        run = run_flow(linear_flow.Flow("f").add(Step("a", log)))
        with pytest.raises(dataclasses.FrozenInstanceError):
            run.state = "SUCCESS"  # type: ignore[misc]
        with pytest.raises(TypeError):
            run.results["a"] = "b"  # type: ignore[index]

    def test_timeline_marks_injected_faults(self, log: Log) -> None:
        """The timeline shows each attempt, its error and whether it was injected."""
        run = run_flow(linear_flow.Flow("f").add(Step("a", log)), plan=FaultPlan(Fault.fail("a")))
        timeline = run.timeline()
        assert timeline.startswith(
            "flow 'f' on the serial engine ended REVERTED with InjectedFault('a', 'execute', 1)"
        )
        assert "a     execute attempt 1: raised InjectedFault('a', 'execute', 1) [injected]" in (
            timeline
        )

    def test_unknown_atom_in_an_assertion_lists_the_atoms(self, log: Log) -> None:
        """A typo in an assertion is an error naming what exists."""
        from pytest_flowfault import UnknownAtom

        run = run_flow(linear_flow.Flow("boot").add(*steps(log, "create_volume", "attach")))
        with pytest.raises(UnknownAtom) as raised:
            run.assert_attempts("create_volum", 1)
        assert (
            "no atom called 'create_volum' in flow 'boot'; its atoms are: create_volume, "
            "attach; did you mean 'create_volume'?" == str(raised.value)
        )

    def test_short_names_resolve_dotted_atom_names(self) -> None:
        """FunctorTask names are module.function; the function name is enough."""

        def create_volume() -> str:
            return "vol"

        functor = task.FunctorTask(create_volume)
        run = run_flow(linear_flow.Flow("f").add(functor))
        assert functor.name.endswith(".create_volume")
        run.assert_attempts("create_volume", 1)


class TestAssertionMessages:
    def test_attempts_mismatch_says_expected_and_actual(self, log: Log) -> None:
        """The first line says what was expected and what happened."""
        run = run_flow(
            linear_flow.Flow("boot", retry=retry.Times(3)).add(Step("a", log)),
            plan=FaultPlan(Fault.fail("a", times=1)),
        )
        with pytest.raises(AssertionError) as raised:
            run.assert_attempts("a", 3)
        assert (
            "expected 'a' to be attempted 3 times, but it was attempted 2 times (1 injected) "
            "in flow 'boot'" == str(raised.value).splitlines()[0]
        )
        assert "[injected]" in str(raised.value)

    def test_succeeded_on_a_failed_run(self, log: Log) -> None:
        """assert_succeeded names the final state and error."""
        run = run_flow(linear_flow.Flow("f").add(Step("a", log)), plan=FaultPlan(Fault.fail("a")))
        with pytest.raises(AssertionError) as raised:
            run.assert_succeeded()
        assert (
            "expected flow 'f' to succeed, but it ended REVERTED with "
            "InjectedFault('a', 'execute', 1)" == str(raised.value).splitlines()[0]
        )

    def test_failed_on_a_successful_run(self, log: Log) -> None:
        """assert_failed on a run that worked says so."""
        run = run_flow(linear_flow.Flow("f").add(Step("a", log)))
        with pytest.raises(AssertionError, match="^expected flow 'f' to fail with OSError"):
            run.assert_failed(OSError)

    def test_compensated_on_a_successful_run(self, log: Log) -> None:
        """A run that succeeded had nothing to compensate: that is a failed expectation."""
        run = run_flow(linear_flow.Flow("f").add(Step("a", log)))
        with pytest.raises(AssertionError, match="it succeeded: there was nothing to undo"):
            run.assert_compensated()

    def test_not_run(self, log: Log) -> None:
        """assert_not_run counts real and injected attempts."""
        run = run_flow(linear_flow.Flow("f").add(Step("a", log)), plan=FaultPlan(Fault.fail("a")))
        with pytest.raises(AssertionError, match="expected 'a' not to run, but its execute"):
            run.assert_not_run("a")

    def test_order_names_the_atom_that_never_succeeded(self, log: Log) -> None:
        """assert_order needs each atom to have executed successfully."""
        run = run_flow(
            linear_flow.Flow("f").add(*steps(log, "a", "b")), plan=FaultPlan(Fault.fail("b"))
        )
        with pytest.raises(AssertionError) as raised:
            run.assert_order("a", "b")
        assert (
            "expected the order a -> b, but 'b' never executed successfully"
            == str(raised.value).splitlines()[0]
        )

    def test_strict_compensation_catches_the_forgotten_revert(self, log: Log) -> None:
        """strict=True fails for completed tasks whose revert is TaskFlow's no-op."""
        from flowkit import NoRevertStep

        flow = linear_flow.Flow("f").add(
            NoRevertStep("make_disk"),
            task.FunctorTask(lambda: None, name="make_port"),
            Step("boom", log),
        )
        run = run_flow(flow, plan=FaultPlan(Fault.fail("boom")))
        run.assert_compensated()  # TaskFlow did "revert" them...
        with pytest.raises(AssertionError) as raised:
            run.assert_compensated(strict=True)  # ...but nothing was undone
        assert [
            "flow 'f' ended REVERTED and was not compensated:",
            "  - 'make_disk' completed but has no revert of its own (TaskFlow's default "
            "revert does nothing), so whatever it created is left behind",
            "  - 'make_port' completed but has no revert of its own (TaskFlow's default "
            "revert does nothing), so whatever it created is left behind",
        ] == str(raised.value).splitlines()[:3]

    def test_bad_expected_count_is_a_type_error(self, log: Log) -> None:
        """assert_attempts(name, -1) is a mistake in the test, not a failed expectation."""
        run = run_flow(linear_flow.Flow("f").add(Step("a", log)))
        with pytest.raises(TypeError, match="the expected count must be a whole number >= 0"):
            run.assert_attempts("a", -1)


class TestDescribeError:
    def test_wrapped_failure_lists_its_failures(self) -> None:
        """The run's error text names every failure, not an empty WrappedFailure()."""
        run = run_flow(unordered_flow.Flow("u").add(Boom("x"), Boom("y")), engine="parallel")
        # The heading wraps at the timeline's 120 columns: join its lines back.
        header = " ".join(run.timeline().partition("\n   #")[0].split("\n    "))
        assert "ended REVERTED with WrappedFailure('WrappedFailure: [Failure: " in header
        assert "x is broken" in header and "y is broken" in header

    def test_plain_errors_keep_their_repr(self) -> None:
        """Ordinary exceptions are shown as their repr."""
        from pytest_flowfault.errors import describe_error

        assert ["RuntimeError('x')", "ValueError()"] == [
            describe_error(RuntimeError("x")),
            describe_error(ValueError()),
        ]
