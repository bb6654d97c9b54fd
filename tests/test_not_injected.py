"""Faults that cannot reach their atoms are reported, never mistaken for faults survived."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import WARNINGS_INI
from flowkit import Plain
from taskflow.patterns import linear_flow
from workers import worker_engine_options

from pytest_flowfault import Fault, FaultPlan, run_flow
from pytest_flowfault.errors import FaultNotInjected, UnmatchedFault

pytest.importorskip("kombu", reason="the worker-based engine needs kombu")

REASON = (
    "the worker-based engine runs these tasks in workers that build their own task objects "
    "from the class name, so the plugin's wrappers on the engine's copies never run; to test "
    "how the flow handles this fault, run it on engine='serial' or engine='parallel'"
)


def two_plain_steps() -> linear_flow.Flow:
    return linear_flow.Flow("remote").add(Plain("a", provides="a"), Plain("b", provides="b"))


class TestRunFlow:
    def test_a_fault_on_remote_tasks_raises_saying_why_and_what_to_do(self) -> None:
        """The flow ran (and succeeded: nothing was injected), and run_flow says so."""
        with worker_engine_options("flowkit:Plain") as options:
            with pytest.raises(FaultNotInjected) as failed:
                run_flow(two_plain_steps(), plan=FaultPlan(Fault.fail("*")), **options)
        assert (
            f"Fault.fail('*') (from run_flow(plan=...)) cannot be injected into 'a', 'b' of "
            f"flow 'remote': {REASON}"
        ) == str(failed.value)
        assert isinstance(failed.value, UnmatchedFault)

    def test_a_class_target_on_remote_tasks_is_named_by_its_dotted_path(self) -> None:
        """A class target is matched against the engine's copies, and reported the same."""
        with worker_engine_options("flowkit:Plain") as options:
            with pytest.raises(FaultNotInjected) as failed:
                run_flow(two_plain_steps(), plan=Fault.fail_revert(Plain), **options)
        assert (
            f"Fault.fail_revert(flowkit.Plain) (from run_flow(plan=...)) cannot be injected "
            f"into 'a', 'b' of flow 'remote': {REASON}"
        ) == str(failed.value)

    def test_the_run_records_what_was_not_injected(self) -> None:
        """A crash_after fires on the engine's own notification, so it is not listed."""
        from pytest_flowfault.session import Session

        session = Session(FaultPlan(Fault.fail("b", times=1)))
        try:
            with worker_engine_options("flowkit:Plain") as options:
                run = session.run(two_plain_steps(), **options)
        finally:
            session.close()
        assert "SUCCESS" == run.state
        assert [("b", REASON)] == [(miss.atom, miss.reason) for miss in run.not_injected]
        assert Fault.fail("b", times=1) == run.not_injected[0].fault

    def test_the_same_fault_on_a_local_engine_is_injected(self) -> None:
        run = run_flow(two_plain_steps(), plan=FaultPlan(Fault.fail("b")))
        assert () == run.not_injected
        run.assert_failed()


WORKER_TEST = """
    import pytest
    from taskflow.patterns import linear_flow
    from flowkit import Plain
    from workers import worker_engine_options

    @pytest.fixture
    def remote():
        with worker_engine_options("flowkit:Plain") as options:
            yield options

    def test_remote(flowfault, remote):
        {body}
        run = flowfault.run(linear_flow.Flow("remote").add(Plain("a")), **remote)
        run.assert_succeeded()
"""


class TestPlugin:
    @pytest.fixture
    def remote_suite(self, pytester: pytest.Pytester) -> pytest.Pytester:
        here = Path(__file__).parent
        pytester.makepyfile(
            **{name: (here / f"{name}.py").read_text() for name in ("flowkit", "workers")}
        )
        pytester.makeini(WARNINGS_INI)
        return pytester

    def test_the_tests_own_fault_fails_it(self, remote_suite: pytest.Pytester) -> None:
        remote_suite.makepyfile(test_remote=WORKER_TEST.format(body='flowfault.fail("a")'))
        result = remote_suite.runpytest_subprocess("-p", "no:cacheprovider")
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(
            [
                "*Fault.fail('a') (from flowfault.fail() at test_remote.py:*) cannot be injected into "
                "'a' of "
                "flow 'remote': the worker-based engine runs these tasks in workers*",
                "not injected: Fault.fail('a') into 1 atoms in 1 tests, because the "
                "worker-based engine*",
            ]
        )

    def test_a_command_line_fault_is_counted_in_the_summary_only(
        self, remote_suite: pytest.Pytester
    ) -> None:
        remote_suite.makepyfile(test_remote=WORKER_TEST.format(body="pass"))
        result = remote_suite.runpytest_subprocess(
            "-p", "no:cacheprovider", "--flowfault-fail=*:1", "--flowfault-report=r.json"
        )
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(
            ["1 flow runs in 1 tests, 0 faults injected; runs ended: SUCCESS 1",
             "not injected: Fault.fail('*', times=1) into 1 atoms in 1 tests, because the "
             "worker-based engine runs these tasks*"]
        )
        report = json.loads((remote_suite.path / "r.json").read_text())
        assert [{"fault": "Fault.fail('*', times=1)", "reason": REASON, "atoms": 1, "tests": 1}] == (
            report["summary"]["not_injected"]
        )
        run = report["tests"][0]["runs"][0]
        assert [{"fault": "Fault.fail('*', times=1)", "atom": "a", "reason": REASON}] == (
            run["not_injected"]
        )
