"""The checks behind FlowRun.assert_*: exact messages on real runs, verdicts stored once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from flowkit import Boom, Log, NoRevertStep, Step
from taskflow import retry
from taskflow.patterns import linear_flow

from pytest_flowfault import Fault, FaultPlan, FlowRun, assertions, run_flow, verdict
from pytest_flowfault.session import Session


def steps(*names: str, boom: bool = False) -> linear_flow.Flow:
    """A linear flow of Steps (each providing its name), then Boom("boom") if ``boom``."""
    flow = linear_flow.Flow("f").add(*(Step(name, Log(), provides=name) for name in names))
    return flow.add(Boom("boom")) if boom else flow


def message(problem: str | None, run: FlowRun) -> str:
    """The check's message without the timeline, after checking the timeline is appended."""
    assert problem is not None
    text, _, timeline = problem.partition("\n\n")
    assert run.timeline() == timeline
    return text


@pytest.fixture(scope="module")
def reverted() -> FlowRun:
    return run_flow(steps("a", "b", boom=True))


@pytest.fixture(scope="module")
def succeeded() -> FlowRun:
    return run_flow(steps("a", "b"))


@pytest.fixture
def crashed(tmp_path: Path) -> FlowRun:
    session = Session(FaultPlan(Fault.crash_after("b")))
    session.directory = lambda: tmp_path
    return session.run(steps("a", "b", "c"), backend="memory")


class TestCheckSucceeded:
    def test_a_failed_run(self, reverted: FlowRun) -> None:
        """Names the flow and how it ended, error included."""
        assert (
            "expected flow 'f' to succeed, but it ended REVERTED with ValueError('boom is broken')"
        ) == message(assertions.check_succeeded(reverted), reverted)

    def test_a_successful_run(self, succeeded: FlowRun) -> None:
        """No problem, and the method does not raise."""
        succeeded.assert_succeeded()
        assert None is assertions.check_succeeded(succeeded)


class TestCheckFailed:
    def test_a_successful_run(self, succeeded: FlowRun) -> None:
        """Says what failure was wanted."""
        assert "expected flow 'f' to fail with KeyError matching 'x', but it succeeded" == (
            message(assertions.check_failed(succeeded, KeyError, "x"), succeeded)
        )

    def test_the_wrong_error(self, reverted: FlowRun) -> None:
        """A different error type is reported with the error the run raised."""
        assert (
            "expected flow 'f' to fail with KeyError, but it ended REVERTED with "
            "ValueError('boom is broken')"
        ) == message(assertions.check_failed(reverted, KeyError, None), reverted)

    def test_type_and_match(self, reverted: FlowRun) -> None:
        """The right type whose message matches is no problem."""
        assert None is assertions.check_failed(reverted, ValueError, "broken$")


class TestCheckAttempts:
    def test_too_few(self, reverted: FlowRun) -> None:
        """Says how often, with the injected count."""
        assert (
            "expected 'a' to be attempted 2 times, but it was attempted once (0 injected) in "
            "flow 'f'"
        ) == message(assertions.check_attempts(reverted, "a", 2), reverted)

    def test_not_a_count(self, reverted: FlowRun) -> None:
        """A bool or negative count is a TypeError, not a failed assertion."""
        with pytest.raises(TypeError) as raised:
            assertions.check_attempts(reverted, "a", True)
        assert (
            "assert_attempts('a', True): the expected count must be a whole number >= 0"
        ) == str(raised.value)


class TestCheckNotRun:
    def test_an_atom_that_ran(self, reverted: FlowRun) -> None:
        """Says how often it was attempted."""
        assert "expected 'b' not to run, but its execute was attempted once" == message(
            assertions.check_not_run(reverted, "b"), reverted
        )


class TestCheckOrder:
    def test_the_wrong_order(self, succeeded: FlowRun) -> None:
        """Names the sequence numbers where the order broke."""
        problem = message(assertions.check_order(succeeded, ("b", "a")), succeeded)
        start = succeeded.call_spans("a", "execute")[0][0].seq
        end = succeeded.calls("b", "execute")[0].seq
        assert (
            f"expected 'b' to finish before 'a' started, but 'a' started at #{start} and 'b' "
            f"finished at #{end}"
        ) == problem

    def test_an_atom_that_never_succeeded(self, reverted: FlowRun) -> None:
        """An atom without a successful execute is named."""
        assert "expected the order a -> boom, but 'boom' never executed successfully" == (
            message(assertions.check_order(reverted, ("a", "boom")), reverted)
        )

    def test_no_names(self, reverted: FlowRun) -> None:
        """assert_order() with no atoms is a TypeError."""
        with pytest.raises(TypeError, match=r"^assert_order\(\) needs at least one atom name$"):
            assertions.check_order(reverted, ())


class TestCheckCompensated:
    def test_a_successful_run(self, succeeded: FlowRun) -> None:
        """There was nothing to undo."""
        assert (
            "expected flow 'f' to be compensated, but it succeeded: there was nothing to undo"
        ) == message(assertions.check_compensated(succeeded, strict=False), succeeded)

    def test_a_failed_revert(self) -> None:
        """Each problem is listed under the run's end state."""
        run = run_flow(steps("a", boom=True), plan=FaultPlan(Fault.fail_revert("a")))
        assert (
            "flow 'f' ended FAILURE and was not compensated:\n"
            "  - 'a' failed to revert: InjectedFault('a', 'revert', 1)"
        ) == message(assertions.check_compensated(run, strict=False), run)

    def test_strict_names_a_task_without_a_revert(self) -> None:
        """strict=True adds the completed task whose revert is TaskFlow's no-op."""
        run = run_flow(linear_flow.Flow("f").add(NoRevertStep("keep"), Boom("boom")))
        assert (None, (
            "flow 'f' ended REVERTED and was not compensated:\n"
            "  - 'keep' completed but has no revert of its own (TaskFlow's default revert "
            "does nothing), so whatever it created is left behind"
        )) == (
            assertions.check_compensated(run, strict=False),
            message(assertions.check_compensated(run, strict=True), run),
        )

    def test_a_crashed_run_lists_what_it_has_not_undone(self, crashed: FlowRun) -> None:
        """assert_compensated() on a crash still says what was left (it is to be resumed)."""
        assert (
            "flow 'f' ended CRASHED and was not compensated:\n"
            "  - 'a' completed (execute attempt 1) but was never reverted\n"
            "  - 'b' completed (execute attempt 1) but was never reverted"
        ) == message(assertions.check_compensated(crashed, strict=False), crashed)


class TestCheckResumed:
    def test_a_fresh_run(self, reverted: FlowRun) -> None:
        """A run that resumed nothing started afresh."""
        assert "expected flow 'f' to be a resumed run, but it started afresh" == message(
            assertions.check_resumed(reverted), reverted
        )


class TestCheckExecutedOnce:
    def test_a_task_run_again_by_a_retry(self) -> None:
        """Counts per run of the chain."""
        flow = linear_flow.Flow("f", retry=retry.Times(2)).add(Step("a", Log()), Step("b", Log()))
        run = run_flow(flow, plan=FaultPlan(Fault.fail("b", times=1)))
        assert (
            "expected 'a' to execute successfully once across the crash and the resumption, "
            "but it did 2 times (SUCCESS run: 2)"
        ) == message(assertions.check_executed_once(run, "a"), run)


class TestCheckNoLostResults:
    def test_a_changed_result(self, tmp_path: Path) -> None:
        """Both values of a result that changed are shown."""
        session = Session(FaultPlan(Fault.crash_after("b")))
        session.directory = lambda: tmp_path
        resumed = session.resume(session.run(steps("a", "b", "c"), backend="memory"))
        tampered = dataclasses.replace(resumed, atom_results={**resumed.atom_results, "a": 9})
        assert (
            "results saved before the crash were lost:\n  - 'a': 'a' before the crash, 9 after"
        ) == message(assertions.check_no_lost_results(tampered), tampered)


class TestVerdictOf:
    def test_a_compensated_run(self, reverted: FlowRun) -> None:
        """Every atom reverted; nothing to report."""
        verdict = reverted.verdict
        assert (True, (), [("a", "REVERTED", 1, 1, "reverted"), ("b", "REVERTED", 1, 1,
                                                                  "reverted"),
                           ("boom", "REVERTED", 1, 1, "reverted")]) == (
            verdict.compensated, verdict.problems,
            [(a.name, a.state, a.attempts, a.reverts, a.verdict) for a in verdict.atoms],
        )

    def test_a_crashed_run_marks_nothing_not_undone(self, crashed: FlowRun) -> None:
        """Nothing was due: compensated is None and completed atoms are just executed."""
        verdict = crashed.verdict
        assert (None, ["executed", "executed", "never ran"]) == (
            verdict.compensated, [atom.verdict for atom in verdict.atoms]
        )

    def test_a_failed_revert(self) -> None:
        """The atom whose revert raised is 'revert failed'; the run is not compensated."""
        run = run_flow(steps("a", boom=True), plan=FaultPlan(Fault.fail_revert("a")))
        assert (False, "revert failed", "reverted") == (
            run.verdict.compensated, run.verdict.atom("a").verdict,
            run.verdict.atom("boom").verdict,
        )

    def test_a_successful_run(self, succeeded: FlowRun) -> None:
        """Nothing to undo, nothing reverted."""
        assert (None, ["executed", "executed"]) == (
            succeeded.verdict.compensated, [atom.verdict for atom in succeeded.verdict.atoms]
        )

    def test_computed_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The verdict is stored: asking again, or through the checks, judges no more."""
        calls = []
        judge = verdict.verdict_of

        def counting(run: FlowRun) -> verdict.RunVerdict:
            calls.append(run)
            return judge(run)

        monkeypatch.setattr(verdict, "verdict_of", counting)
        run = run_flow(steps("a", boom=True))
        first = run.verdict
        run.assert_compensated()
        run.assert_compensated(strict=True)
        verdict.compensation_problems(run)
        assert ([run], first) == (calls, run.verdict)
        assert first is run.verdict


class TestCompensationProblems:
    def test_read_from_the_verdict(self) -> None:
        """compensation_problems() gives the verdict's problems, strict or not."""
        run = run_flow(linear_flow.Flow("f").add(NoRevertStep("keep"), Boom("boom")))
        assert ([], list(run.verdict.strict_problems)) == (
            verdict.compensation_problems(run),
            verdict.compensation_problems(run, strict=True),
        )
        assert 1 == len(run.verdict.strict_problems)


class TestFailIf:
    def test_raises_the_problem(self) -> None:
        """A problem becomes an AssertionError with exactly that message; None passes."""
        assertions.fail_if(None)
        with pytest.raises(AssertionError) as raised:
            assertions.fail_if("wrong")
        assert "wrong" == str(raised.value)


class TestNothingToUndo:
    """A task that creates nothing needs no revert: say so, by name, pattern or class."""

    def run(self) -> FlowRun:
        return run_flow(
            linear_flow.Flow("f").add(NoRevertStep("lookup-subnet"), NoRevertStep("keep"),
                                      Boom("boom"))
        )

    def test_named_tasks_are_excused_others_are_not(self) -> None:
        run = self.run()
        with pytest.raises(AssertionError) as failed:
            run.assert_compensated(strict=True, nothing_to_undo=["lookup-*"])
        text = str(failed.value)
        assert "'keep' completed but has no revert of its own" in text
        assert "'lookup-subnet'" not in text.split("\n\n")[0]
        run.assert_compensated(strict=True, nothing_to_undo=["lookup-*", "keep"])

    def test_a_task_class_or_its_dotted_path(self) -> None:
        run = self.run()
        run.assert_compensated(strict=True, nothing_to_undo=[NoRevertStep])
        run.assert_compensated(strict=True, nothing_to_undo=["flowkit.NoRevertStep"])
        run.assert_compensated(strict=True, nothing_to_undo=["NoRevertStep"])

    def test_without_strict_it_is_refused(self) -> None:
        with pytest.raises(TypeError) as refused:
            self.run().assert_compensated(nothing_to_undo=["keep"])
        assert (
            "nothing_to_undo only matters with strict=True: without it, a task with no revert "
            "of its own is not a problem anyway"
        ) == str(refused.value)

    @pytest.mark.parametrize("bad", [[3], [""], [None]])
    def test_bad_targets_are_named(self, bad: list[object]) -> None:
        with pytest.raises(TypeError, match=r"^nothing_to_undo: give atom names, patterns or "
                           r"task classes \(or their dotted paths\), got "):
            self.run().assert_compensated(strict=True, nothing_to_undo=bad)  # type: ignore[arg-type]
