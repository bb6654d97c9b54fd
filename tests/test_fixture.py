"""The flowfault fixture as a user's test suite sees it (through pytester)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def test_issue_examples_pass(boot: pytest.Pytester) -> None:
    """The two tests from the issue pass as written, serial and parallel."""
    boot.makepyfile(
        """
        from taskflow.retry import Times
        from boot import STORE, boot_flow, boot_graph_flow

        def test_flaky_api_recovers(flowfault):
            flowfault.fail("create_instance", times=2, exc=RuntimeError("The API is down"))
            run = flowfault.run(boot_flow(retry=Times(3)), store=STORE)
            run.assert_succeeded()
            run.assert_attempts("create_instance", 3)

        def test_attach_failure_cleans_up(flowfault):
            flowfault.fail("attach_volume_to_instance")
            run = flowfault.run(boot_graph_flow(retry=Times(3)), engine="parallel", store=STORE)
            run.assert_failed(RuntimeError)
            run.assert_attempts("attach_volume_to_instance", 3)
            run.assert_compensated()
        """
    )
    boot.runpytest().assert_outcomes(passed=2)


def test_flows_run_by_the_code_under_test_are_faulted_and_recorded(boot: pytest.Pytester) -> None:
    """`from taskflow.engines import run` bound at import time is intercepted too."""
    boot.makepyfile(
        """
        import pytest
        from pytest_flowfault import FlowFault, InjectedFault
        import service

        def test_run_function(flowfault: FlowFault):
            flowfault.fail("create_instance")
            with pytest.raises(InjectedFault):
                service.boot_server()
            (run,) = flowfault.runs
            assert "REVERTED" == run.state
            run.assert_compensated()

        def test_loaded_engine(flowfault):
            flowfault.side_effect("create_instance", ["inst-42"])
            assert "inst-42" == service.boot_server_with_loaded_engine()["instance_id"]
            flowfault.runs[0].assert_succeeded()

        def test_runs_in_start_order(flowfault):
            service.boot_server()
            service.boot_server_with_loaded_engine()
            assert 2 == len(flowfault.runs)
        """
    )
    boot.runpytest().assert_outcomes(passed=3)


def test_load_from_factory_is_intercepted(boot: pytest.Pytester) -> None:
    """Engines built from a flow factory get the faults too."""
    boot.makepyfile(
        """
        import pytest
        import taskflow.engines
        from pytest_flowfault import InjectedFault
        import boot

        def test_factory(flowfault):
            flowfault.fail("attach_volume_to_instance", times=1)
            engine = taskflow.engines.load_from_factory(boot.boot_flow, store=boot.STORE)
            with pytest.raises(InjectedFault):
                engine.run()
            flowfault.runs[-1].assert_compensated()
        """
    )
    boot.runpytest().assert_outcomes(passed=1)


def test_everything_is_restored_after_a_failing_test(boot: pytest.Pytester) -> None:
    """A later test without the fixture is neither faulted nor recorded."""
    boot.makepyfile(
        """
        from taskflow.engines.action_engine.engine import ActionEngine
        import service

        ORIGINAL = ActionEngine.run_iter

        def test_1_fails_with_faults(flowfault):
            flowfault.fail("*")
            service.boot_server()

        def test_2_runs_clean():
            assert ActionEngine.run_iter is ORIGINAL
            results = service.boot_server()
            assert ("vol-1", "inst-1") == (results["volume_id"], results["instance_id"])
        """
    )
    result = boot.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *.InjectedFault: flowfault injected a fault into 'create_volume' (execute attempt 1)",
            "FAILED *::test_1_fails_with_faults*",
        ]
    )
    result.stdout.no_fnmatch_line("*pytest_flowfault/*.py*")


def test_typo_in_a_target_fails_the_test(boot: pytest.Pytester) -> None:
    """A fault naming no atom fails the test, suggesting the closest atom name."""
    boot.makepyfile(
        """
        from boot import STORE, boot_flow

        def test_typo(flowfault):
            flowfault.fail("create_instanse")
            flowfault.run(boot_flow(), store=STORE)
        """
    )
    result = boot.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "Fault.fail('create_instanse') (from flowfault.fail() at "
            "test_typo_in_a_target_fails_the_test.py:4) targets "
            "'create_instanse', which names no atom of any flow run; did you mean "
            "'create_instance'?",
            "atoms seen: create_volume, create_instance, attach_volume_to_instance",
        ]
    )
    result.stdout.no_fnmatch_line("*During handling*")


def test_faults_without_any_flow_run_fail_the_test(boot: pytest.Pytester) -> None:
    """Setting up faults and never running a flow is a broken test, not a passing one."""
    boot.makepyfile(
        """
        def test_forgot_to_run(flowfault):
            flowfault.fail("create_instance")
        """
    )
    result = boot.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*atoms seen: none (no flow ran)"])


def test_a_test_failing_anyway_shows_its_own_error(boot: pytest.Pytester) -> None:
    """The typo check does not hide the test's own failure."""
    boot.makepyfile(
        """
        def test_broken(flowfault):
            flowfault.fail("nothing")
            assert 1 == 2
        """
    )
    result = boot.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*assert 1 == 2"])
    result.stdout.no_fnmatch_line("*names no atom*")


def test_run_plan_argument_applies_to_that_run_only(boot: pytest.Pytester) -> None:
    """flowfault.run(plan=...) faults that run; a later run is clean."""
    boot.makepyfile(
        """
        import pytest
        from pytest_flowfault import Fault, FaultPlan, UnmatchedFault
        from boot import STORE, boot_flow

        def test_plan(flowfault):
            first = flowfault.run(boot_flow(), store=STORE, plan=FaultPlan(Fault.fail("attach*")))
            second = flowfault.run(boot_flow(), store=STORE)
            first.assert_compensated()
            second.assert_succeeded()
            assert (first, second) == flowfault.runs

        def test_plan_typo(flowfault):
            with pytest.raises(UnmatchedFault, match="targets 'atach'"):
                flowfault.run(boot_flow(), store=STORE, plan=FaultPlan(Fault.fail("atach")))

        def test_plan_of_one_fault(flowfault):
            run = flowfault.run(boot_flow(), store=STORE, plan=Fault.fail("attach*"))
            run.assert_compensated()
        """
    )
    boot.runpytest().assert_outcomes(passed=3)


def test_definition_errors_propagate_from_flowfault_run(boot: pytest.Pytester) -> None:
    """A misordered linear flow raises MissingDependencies from flowfault.run()."""
    boot.makepyfile(
        """
        import pytest
        from taskflow import exceptions
        from taskflow.patterns import linear_flow
        from boot import Attach, CreateVolume

        def test_misordered(flowfault):
            flow = linear_flow.Flow("f").add(Attach("attach"), CreateVolume("create_volume"))
            with pytest.raises(exceptions.MissingDependencies):
                flowfault.run(flow, store={"volume_name": "v"})
            assert () == flowfault.runs
        """
    )
    boot.runpytest().assert_outcomes(passed=1)


def test_parallel_runs_use_the_fixture_pool(boot: pytest.Pytester) -> None:
    """Parallel runs started by flowfault.run do not create TaskFlow's slow pool."""
    boot.makepyfile(
        """
        import threading
        from taskflow import task
        from taskflow.patterns import unordered_flow

        class Where(task.Task):
            def execute(self):
                return threading.current_thread().name

        def test_pool(flowfault):
            flow = unordered_flow.Flow("u").add(*(Where(f"t{i}", provides=f"t{i}") for i in range(4)))
            run = flowfault.run(flow, engine="parallel")
            assert 4 == len(run.results)
            assert all(name.startswith("flowfault") for name in run.results.values())
        """
    )
    boot.runpytest().assert_outcomes(passed=1)


def test_plugin_import_does_not_import_taskflow_or_hypothesis() -> None:
    """Having the plugin installed costs a suite that does not use it nothing."""
    code = textwrap.dedent(
        """
        import sys
        import pytest_flowfault.plugin
        print(sorted(m for m in ("taskflow", "hypothesis") if m in sys.modules))
        """
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "[]" == output.strip()


def test_public_names_are_importable() -> None:
    """__all__ lists exactly what the package exports, and each name resolves."""
    import pytest_flowfault

    assert sorted(pytest_flowfault.__all__) == sorted(pytest_flowfault._EXPORTS)
    for name in pytest_flowfault.__all__:
        assert getattr(pytest_flowfault, name).__name__ == name
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        pytest_flowfault.Nope  # noqa: B018


def test_runs_are_listed_in_start_order(boot: pytest.Pytester) -> None:
    """A flow started inside another flow's task finishes first but is listed second."""
    boot.makepyfile(
        """
        import taskflow.engines
        from taskflow import task
        from taskflow.patterns import linear_flow

        class Leaf(task.Task):
            def execute(self):
                return None

        class RunsInner(task.Task):
            def execute(self):
                taskflow.engines.run(linear_flow.Flow("inner").add(Leaf("leaf")))

        def test_order(flowfault):
            flowfault.run(linear_flow.Flow("outer").add(RunsInner("runs_inner")))
            assert ["outer", "inner"] == [run.flow_name for run in flowfault.runs]
        """
    )
    boot.runpytest().assert_outcomes(passed=1)
