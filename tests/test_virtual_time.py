"""Virtual time in real runs: tenacity waits, sleeping retry controllers, deadlines, any engine."""

from __future__ import annotations

import textwrap
import time
from typing import Any

import pytest
import tenacity
from taskflow import retry, task
from taskflow.patterns import linear_flow, unordered_flow

from pytest_flowfault import Fault, FaultPlan, FlowFault, run_flow, vtime

HOUR = 3600.0


class NotReady(Exception):
    """The fake compute API's answer while an instance is still building."""


class Compute:
    """Becomes ACTIVE after ``build_polls`` polls (never, if None)."""

    def __init__(self, build_polls: int | None) -> None:
        self.build_polls = build_polls
        self.polls = 0

    def status(self) -> str:
        self.polls += 1
        return "BUILD" if self.build_polls is None or self.polls <= self.build_polls else "ACTIVE"


class ComputeWait(task.Task):
    """Octavia's ComputeWait shape: tenacity polls, waiting 5 s between, 3 attempts."""

    def __init__(self, compute: Compute, **kwargs: Any) -> None:
        super().__init__(name="compute-wait", provides="attempts", **kwargs)
        self.compute = compute

    @tenacity.retry(
        retry=tenacity.retry_if_exception_type(NotReady),
        wait=tenacity.wait_fixed(5),
        stop=tenacity.stop_after_attempt(3),
        reraise=True,
    )
    def execute(self) -> int:
        if self.compute.status() != "ACTIVE":
            raise NotReady()
        attempts: int = self.execute.statistics["attempt_number"]
        return attempts


class DeadlineWait(task.Task):
    """A hand-written deadline loop: poll every 5 s for at most 30 s."""

    def __init__(self, compute: Compute) -> None:
        super().__init__(name="deadline-wait")
        self.compute = compute

    def execute(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.compute.status() == "ACTIVE":
                return
            time.sleep(5)
        raise TimeoutError("still building after 30 s")


class SleepingTimes(retry.Times):
    """Octavia's SleepingRetryTimesController shape: sleep between attempts."""

    def __init__(self, attempts: int, interval: float, **kwargs: Any) -> None:
        super().__init__(attempts=attempts, **kwargs)
        self.interval = interval

    def on_failure(self, history: Any, *args: Any, **kwargs: Any) -> Any:
        if len(history) < self._attempts:
            time.sleep(self.interval)
        return super().on_failure(history, *args, **kwargs)


class Sleeper(task.Task):
    def execute(self) -> float:
        time.sleep(HOUR)
        return time.monotonic()


class TestTenacity:
    def test_waits_are_skipped_and_the_task_sees_them_pass(self) -> None:
        compute = Compute(build_polls=2)
        run = run_flow(linear_flow.Flow("boot").add(ComputeWait(compute)), virtual_time=True)
        run.assert_succeeded()
        assert 3 == run.results["attempts"] == compute.polls
        assert (5.0, 5.0) == run.sleeps("compute-wait")
        assert 10.0 == run.slept

    def test_giving_up_under_a_sleeping_retry_makes_the_same_decisions(self) -> None:
        """Three polls (two waits) per attempt, three attempts, 5 s between them: 40 s."""
        compute = Compute(build_polls=None)
        flow = linear_flow.Flow("boot", retry=SleepingTimes(3, 5, name="amp-retry")).add(
            ComputeWait(compute)
        )
        run = run_flow(flow, virtual_time=True)
        run.assert_failed(NotReady)
        assert ("RETRY", "RETRY", "REVERT") == run.decisions("amp-retry")
        assert 9 == compute.polls
        assert (5.0,) * 6 == run.sleeps("compute-wait")
        assert (5.0, 5.0) == run.sleeps("amp-retry")
        assert 40.0 == run.slept

    def test_without_virtual_time_nothing_is_skipped(self) -> None:
        compute = Compute(build_polls=0)
        run = run_flow(linear_flow.Flow("boot").add(ComputeWait(compute)))
        assert ((), 0) == (run.sleeps("compute-wait"), run.slept)


class TestDeadlines:
    def test_a_deadline_loop_ends_after_the_same_number_of_polls(self) -> None:
        """Polls at 0, 5, … 25 s; at 30 s the deadline has passed, as in real time."""
        compute = Compute(build_polls=None)
        run = run_flow(linear_flow.Flow("wait").add(DeadlineWait(compute)), virtual_time=True)
        run.assert_failed(TimeoutError)
        assert 6 == compute.polls
        assert (5.0,) * 6 == run.sleeps("deadline-wait")


class TestEngines:
    @pytest.mark.parametrize("engine", ["serial", "parallel"])
    def test_hour_long_sleeps_in_every_thread_are_skipped(self, engine: str) -> None:
        flow = unordered_flow.Flow("sleepy").add(
            *(Sleeper(f"sleeper-{i}", provides=f"woke-{i}") for i in range(4))
        )
        run = run_flow(flow, engine=engine, virtual_time=True)
        run.assert_succeeded()
        assert 4 * HOUR == run.slept
        assert all((HOUR,) == run.sleeps(f"sleeper-{i}") for i in range(4))

    def test_each_run_has_its_own_clock(self) -> None:
        first = run_flow(linear_flow.Flow("a").add(Sleeper("s")), virtual_time=True)
        second = run_flow(linear_flow.Flow("b").add(Sleeper("s")), virtual_time=True)
        assert (HOUR, HOUR) == (first.slept, second.slept)

    def test_time_is_real_again_after_the_run(self) -> None:
        run_flow(linear_flow.Flow("a").add(Sleeper("s")), virtual_time=True)
        assert (vtime.real_sleep, vtime.real_monotonic) == (time.sleep, time.monotonic)

    def test_an_injected_fault_takes_no_virtual_time(self) -> None:
        compute = Compute(build_polls=1)
        flow = linear_flow.Flow("boot", retry=SleepingTimes(3, 5, name="amp-retry")).add(
            ComputeWait(compute)
        )
        run = run_flow(flow, plan=FaultPlan(Fault.fail("compute-wait", times=1)),
                       virtual_time=True)
        run.assert_succeeded()
        assert ((5.0,), (5.0,)) == (run.sleeps("compute-wait"), run.sleeps("amp-retry"))


class TestTimeline:
    def test_sleeps_and_the_virtual_total_are_in_the_timeline(self) -> None:
        compute = Compute(build_polls=2)
        run = run_flow(linear_flow.Flow("boot").add(ComputeWait(compute)), virtual_time=True)
        text = run.timeline()
        assert 2 == text.count("compute-wait  slept 5 s (virtual time: skipped)")
        assert text.endswith("virtual time: 10 s skipped in 2 sleeps")


class TestFixture:
    def test_virtual_time_for_the_rest_of_the_test(self, flowfault: FlowFault) -> None:
        flowfault.virtual_time()
        run = flowfault.run(linear_flow.Flow("a").add(Sleeper("s")))
        assert HOUR == run.slept

    def test_a_sweep_under_virtual_time(self, flowfault: FlowFault) -> None:
        flowfault.virtual_time()
        compute = Compute(build_polls=1)
        report = flowfault.sweep(
            lambda: linear_flow.Flow("boot", retry=SleepingTimes(3, 5, name="amp-retry")).add(
                ComputeWait(compute)
            ),
            kinds=("transient",),
        )
        report.assert_resilient()

    @pytest.mark.parametrize("value", [1, "yes", None])
    def test_enabled_must_be_a_bool(self, flowfault: FlowFault, value: object) -> None:
        with pytest.raises(TypeError) as failed:
            flowfault.virtual_time(value)  # type: ignore[arg-type]
        assert f"flowfault.virtual_time(enabled={value!r}): give True or False" == str(
            failed.value
        )


SLEEPY_SUITE = """
    import time

    import pytest
    from taskflow import task
    from taskflow.engines import run
    from taskflow.patterns import linear_flow


    class Nap(task.Task):
        def execute(self):
            time.sleep(3600)


    def service():
        # code under test that runs its own flow
        run(linear_flow.Flow("nap").add(Nap("nap")))


    def test_service(flowfault):
        service()
        assert (3600.0,) == flowfault.runs[0].sleeps("nap")
"""


class TestSwitches:
    """Each switch is proven by a test that would sleep for an hour without it."""

    def test_the_marker(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(
            "import pytest\npytestmark = pytest.mark.flowfault(virtual_time=True)\n"
            + textwrap.dedent(SLEEPY_SUITE)
        )
        pytester.runpytest().assert_outcomes(passed=1)

    def test_the_option_and_its_reproduce_line(self, pytester: pytest.Pytester) -> None:
        failing = "\n\ndef test_fails(flowfault):\n    service()\n    assert False\n"
        pytester.makepyfile(textwrap.dedent(SLEEPY_SUITE) + failing)
        result = pytester.runpytest("--flowfault-virtual-time", "--flowfault-report=r.json")
        result.assert_outcomes(passed=1, failed=1)
        result.stdout.fnmatch_lines(
            [
                "*virtual time: 3600 s skipped in 1 sleeps*",
                "reproduce: pytest *--flowfault-virtual-time*",
            ]
        )

    def test_the_ini_key(self, pytester: pytest.Pytester) -> None:
        pytester.makeini("[pytest]\nflowfault_virtual_time = true\n")
        pytester.makepyfile(textwrap.dedent(SLEEPY_SUITE))
        pytester.runpytest().assert_outcomes(passed=1)

    def test_the_marker_turns_it_off_for_one_test(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(
            """
            import time

            import pytest
            from taskflow import task
            from taskflow.engines import run
            from taskflow.patterns import linear_flow


            class Short(task.Task):
                def execute(self):
                    time.sleep(0.001)


            @pytest.mark.flowfault(virtual_time=False)
            def test_real(flowfault):
                run(linear_flow.Flow("short").add(Short("short")))
                assert () == flowfault.runs[0].sleeps("short")
            """
        )
        pytester.runpytest("--flowfault-virtual-time").assert_outcomes(passed=1)

    def test_a_marker_value_that_is_not_a_bool(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(
            """
            import pytest

            @pytest.mark.flowfault(virtual_time="yes")
            def test_x(flowfault):
                pass
            """
        )
        result = pytester.runpytest()
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(
            ["*@pytest.mark.flowfault(virtual_time=...) takes True or False, got 'yes'*"]
        )


class TestReports:
    def test_json_and_html_show_what_was_skipped(self, pytester: pytest.Pytester) -> None:
        import json

        pytester.makepyfile(textwrap.dedent(SLEEPY_SUITE))
        pytester.runpytest(
            "--flowfault-virtual-time", "--flowfault-report=r.json", "--flowfault-report=r.html"
        ).assert_outcomes(passed=1)
        run = json.loads((pytester.path / "r.json").read_text())["tests"][0]["runs"][0]
        assert 3600.0 == run["virtual_seconds_skipped"]
        assert [3600.0] == [e["seconds"] for e in run["events"] if e["kind"] == "sleep"]
        page = (pytester.path / "r.html").read_text()
        assert "virtual time skipped <b>3600 s</b>" in page
        assert "nap slept 3600 s at" in page
