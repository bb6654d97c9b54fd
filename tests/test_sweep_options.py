"""sweep(exc=, setup=, repeat=, nothing_to_undo=) and the revert kind, on real flows."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from flowkit import Log, NoRevertStep, Step
from taskflow import retry, task
from taskflow.patterns import linear_flow, unordered_flow

from pytest_flowfault import Fault, FaultPlan, InjectedFault, SweepError, sweep
from pytest_flowfault.points import PRUNED_NO_REVERT


class WaitTimeout(Exception):
    """Like Octavia's ComputeWaitTimeoutException: the one error its retry retries."""


class RetryOnTimeout(retry.Times):
    """Like Octavia's ComputeRetry: retries only on WaitTimeout, else reverts all."""

    def on_failure(self, history: Any, *args: Any, **kwargs: Any) -> Any:
        for _, failure in history[-1][1].items():
            if failure.check(WaitTimeout) and len(history) <= self._attempts:
                return retry.RETRY
        return retry.REVERT_ALL


class Lookup(task.Task):
    """Reads something; creates nothing (TaskFlow's no-op revert is right for it)."""

    def execute(self) -> str:
        return "subnet-1"


def compute_flow(log: Log) -> linear_flow.Flow:
    """lookup, then a subflow of create + wait under RetryOnTimeout(3)."""
    waits = linear_flow.Flow("wait-flow", retry=RetryOnTimeout(3, name="compute-retry"))
    waits.add(Step("create", log), Step("wait", log))
    return linear_flow.Flow("compute").add(Lookup("lookup"), waits)


class TestExc:
    def test_default_faults_never_exercise_a_selective_retry(self) -> None:
        """InjectedFault is not WaitTimeout: the retry reverts all, transient or not."""
        report = sweep(lambda: compute_flow(Log()), kinds=("transient",))
        states = {repr(variant.plan): variant.run.state for variant in report.variants}
        assert {"REVERTED"} == set(states.values()), states

    def test_one_exception_for_all_makes_transient_faults_retried(self) -> None:
        """exc=WaitTimeout: the transient faults under the retry now succeed on retry."""
        report = sweep(lambda: compute_flow(Log()), kinds=("transient",), exc=WaitTimeout)
        states = {repr(variant.plan): variant.run.state for variant in report.variants}
        assert {
            "FaultPlan(Fault.fail('lookup', times=1, exc=test_sweep_options.WaitTimeout))":
                "REVERTED",
            "FaultPlan(Fault.fail('create', times=1, exc=test_sweep_options.WaitTimeout))":
                "SUCCESS",
            "FaultPlan(Fault.fail('wait', times=1, exc=test_sweep_options.WaitTimeout))":
                "SUCCESS",
        } == states
        assert 2 == report.variants[1].run.attempts("create")
        report.assert_resilient()

    def test_a_mapping_picks_per_target_first_match_wins(self) -> None:
        """{target: exc}: the first entry naming a task wins; unnamed tasks get
        InjectedFault. Keys may be names, patterns or task classes."""
        exc: dict[str | type, Exception] = {
            "wait": WaitTimeout("still building"), Step: RuntimeError("API down")
        }
        report = sweep(lambda: compute_flow(Log()), kinds=("permanent",), exc=exc)
        raised = {
            variant.plan.faults[0].target: type(variant.run.error) for variant in report.variants
        }
        assert {"lookup": InjectedFault, "create": RuntimeError, "wait": WaitTimeout} == raised

    def test_an_entry_naming_no_task_is_an_error_with_a_hint(self) -> None:
        """A typo in a key fails the sweep after the baseline, naming the closest task."""
        with pytest.raises(SweepError, match=(
            r"sweep\(\): exc= has an entry for 'wiat', which names no task of flow "
            r"'compute'; did you mean 'wait'\?"
        )):
            sweep(lambda: compute_flow(Log()), exc={"wiat": WaitTimeout})


class TestSetup:
    def test_called_before_every_run_the_baseline_included(self) -> None:
        """setup() runs once per engine run: state the previous variant left is reset."""
        calls = itertools.count()
        cloud: dict[str, int] = {}

        class Create(task.Task):
            def execute(self) -> None:
                assert not cloud, f"left over from the previous run: {cloud}"
                cloud["volume"] = 1

        def setup() -> None:
            next(calls)
            cloud.clear()

        report = sweep(lambda: linear_flow.Flow("f").add(Create("create")), setup=setup)
        report.assert_resilient()
        assert report.runs == next(calls)

    def test_not_called_between_a_crash_and_its_resumption(self) -> None:
        """A crash variant is one world: crashed, then resumed, with one setup before."""
        log = Log()
        calls = itertools.count()
        report = sweep(
            lambda: linear_flow.Flow("f").add(Step("a", log), Step("b", log)),
            kinds=("crash",),
            setup=lambda: next(calls),
        )
        report.assert_resilient()
        assert 1 + 2 == next(calls)
        assert 1 + 2 * 2 == report.runs


class FailingRevert(Step):
    """A revert with a bug of its own (it indexes a result it may not have)."""

    def revert(self, **kwargs: Any) -> None:
        super().revert(**kwargs)
        raise KeyError("id")


class TestRevertKind:
    def test_only_tasks_with_their_own_revert_are_points(self) -> None:
        """A no-op revert cannot fail in production: no revert point for it."""
        log = Log()
        flow = lambda: linear_flow.Flow("f").add(  # noqa: E731
            Step("a", log), NoRevertStep("n"), Step("b", log)
        )
        report = sweep(flow, kinds=("revert",))
        assert ["a", "b"] == [variant.plan.faults[-1].target for variant in report.variants]
        assert {PRUNED_NO_REVERT: 1} == report.pruned

    def test_a_halted_rollback_is_survived_and_its_leftovers_noted(self) -> None:
        """The injected revert failure reaches the caller (FAILURE): ok, and what the
        halt left behind is a note, not a problem."""
        log = Log()
        report = sweep(
            lambda: linear_flow.Flow("f").add(Step("a", log), Step("b", log), Step("c", log)),
            kinds=("revert",),
        )
        report.assert_resilient()
        by_task = {variant.plan.faults[-1].target: variant for variant in report.variants}
        assert "FAILURE" == by_task["b"].run.state
        assert (
            "the halted rollback left 'a' as it was (TaskFlow stops a rollback at its first "
            "REVERT_FAILURE)",
        ) == by_task["b"].notes
        assert () == by_task["a"].notes
        assert "note: the halted rollback left 'a' as it was" in str(report)

    def test_another_revert_failing_is_a_problem(self) -> None:
        """A sibling's revert that fails on its own is a real bug, not the halt."""
        log = Log()
        report = sweep(
            lambda: linear_flow.Flow("f").add(
                unordered_flow.Flow("u").add(Step("a", log), FailingRevert("buggy", log)),
                Step("last", log),
            ),
            kinds=("revert",),
        )
        by_task = {variant.plan.faults[-1].target: variant for variant in report.variants}
        assert "'buggy' failed to revert: KeyError('id')" in (by_task["a"].problem or "")
        with pytest.raises(AssertionError, match="fault variants of flow 'f' were not survived"):
            report.assert_resilient()

    def test_strict_asks_for_reverts_before_the_halt(self) -> None:
        """strict=True: a task reverted before the halt whose revert does nothing is a
        problem, unless nothing_to_undo names it."""
        log = Log()

        def flow() -> linear_flow.Flow:
            return linear_flow.Flow("f").add(Step("a", log), Lookup("lookup"), Step("b", log))

        strict = sweep(flow, kinds=("revert",), strict=True)
        assert [
            "'lookup' completed but has no revert of its own (TaskFlow's default revert does "
            "nothing), so whatever it created is left behind"
        ] == [variant.problem for variant in strict.failures]
        sweep(
            flow, kinds=("revert",), strict=True, nothing_to_undo=[Lookup]
        ).assert_resilient()


class TestNothingToUndo:
    def test_excuses_lookups_in_a_strict_sweep(self) -> None:
        """Production flows read a lot: strict sweeps need a way to say so."""
        strict = sweep(lambda: compute_flow(Log()), kinds=("permanent",), strict=True)
        assert 2 == len(strict.failures)  # 'create' and 'wait' fail after 'lookup' ran
        assert all("'lookup' completed but has no revert" in (variant.problem or "")
                   for variant in strict.failures)
        for excuse in (["lookup"], ["look*"], [Lookup], ["test_sweep_options.Lookup"]):
            sweep(
                lambda: compute_flow(Log()), kinds=("permanent",), strict=True,
                nothing_to_undo=excuse,
            ).assert_resilient()

    def test_without_strict_it_is_an_error(self) -> None:
        with pytest.raises(TypeError, match="nothing_to_undo only matters with strict=True"):
            sweep(lambda: compute_flow(Log()), nothing_to_undo=["lookup"])


class Sometimes(Step):
    """A revert that fails on every third call in the process: a bug that shows by chance
    in production, here on a fixed schedule so that the test is repeatable."""

    calls = itertools.count()

    def revert(self, **kwargs: Any) -> None:
        super().revert(**kwargs)
        if next(self.calls) % 3 == 2:
            raise KeyError("result")


class TestRepeat:
    def test_every_variant_and_the_baseline_run_n_times(self) -> None:
        log = Log()
        report = sweep(
            lambda: linear_flow.Flow("f").add(Step("a", log), Step("b", log)), repeat=3
        )
        assert [3, 3] == [len(variant.repetitions) for variant in report.variants]
        assert 3 * (1 + 2) == report.runs
        assert 3 + 3 == log.count("a", "execute")  # the baselines, and fail('b') 3 times
        assert "each 3 times" in str(report)

    def test_a_variant_judged_differently_is_flaky_with_what_differed(self) -> None:
        """Any failing repetition fails the variant; it is reported as flaky, saying which
        repetitions failed and how they differed from the first."""
        Sometimes.calls = itertools.count()
        log = Log()
        report = sweep(
            lambda: linear_flow.Flow("f").add(Sometimes("s", log), Step("b", log)),
            kinds=("permanent",),
            repeat=3,
        )
        fail_b = next(v for v in report.variants if v.plan == FaultPlan(Fault.fail("b")))
        assert fail_b.flaky and not fail_b.ok
        assert 1 == fail_b.failed_repetitions()
        assert 2 == len(report.flaky)  # s's own revert runs in both variants
        assert [
            "repetition 1 ended REVERTED, repetition 3 FAILURE",
            "revert failed in repetition 3 only: 's'",
        ] == fail_b.differences()
        with pytest.raises(AssertionError) as raised:
            report.assert_resilient()
        message = str(raised.value)
        assert "2 of 2 fault variants of flow 'f' were not survived (2 flaky):" in message
        assert "  FLAKY: 1 of 3 repetitions failed; what differed:" in message
        assert "    revert failed in repetition 3 only: 's'" in message
        assert "FAIL FaultPlan(Fault.fail('b')) -> FAILURE" in str(report)

    def test_a_flaky_baseline_stops_the_sweep(self) -> None:
        runs = itertools.count()

        class SecondRunFails(task.Task):
            def execute(self) -> None:
                if next(runs) == 1:
                    raise RuntimeError("only on the second run")

        with pytest.raises(SweepError, match=r"\(no faults\) \(repetition 2 of 3\) ended"):
            sweep(lambda: linear_flow.Flow("f").add(SecondRunFails("t")), repeat=3)

    def test_parallel_repetitions_of_a_sound_flow_agree(self) -> None:
        """On the parallel engine a correct flow is judged the same every time."""
        log = Log()
        report = sweep(
            lambda: linear_flow.Flow("f").add(
                unordered_flow.Flow("u").add(*(Step(f"s{n}", log) for n in range(4))),
                Step("last", log),
            ),
            engine="parallel",
            kinds=("permanent", "revert"),
            repeat=4,
        )
        assert () == report.flaky
        report.assert_resilient()


def test_a_plan_with_a_project_exception_instance_replays() -> None:
    """A variant's plan names the project's exception by its dotted path, so that
    --flowfault-replay can rebuild it (an instance too, not only a class)."""
    from pathlib import Path

    from pytest_flowfault.replay import parse_plan

    plan = FaultPlan(Fault.fail("create", times=1, exc=WaitTimeout("still building")))
    text = repr(plan)
    assert (
        "FaultPlan(Fault.fail('create', times=1, "
        "exc=test_sweep_options.WaitTimeout('still building')))"
    ) == text
    assert plan == parse_plan(text, origin="test", importable_from=[Path(__file__).parent])


class BrittleRevert(task.Task):
    """Release 2 of ``server``: its revert expects its own result shape, a dict."""

    version = (2, 0)

    def execute(self, **kwargs: Any) -> dict[str, str]:
        return {"id": "server-1"}

    def revert(self, result: Any, **kwargs: Any) -> None:
        result["id"]  # release 1 saved a str: TypeError


class TestUpgradeKind:
    def test_a_careful_release_resumes_every_crash_point(self) -> None:
        """Kind "upgrade": release 1 crashes after each task, release 2 resumes."""
        import releases

        report = sweep(
            releases.release_1, kinds=("upgrade",), upgrade_to=releases.careful_release_2
        )
        report.assert_resilient()
        assert [
            "FaultPlan(Fault.crash_after('network'))",
            "FaultPlan(Fault.crash_after('server'))",
            "FaultPlan(Fault.crash_after('dns'))",
        ] == [repr(variant.plan) for variant in report.variants]
        assert {"SUCCESS"} == {variant.run.state for variant in report.variants}
        assert all(variant.run.resumed_from is not None for variant in report.variants)

    def test_each_hazard_of_a_careless_release_is_named(self) -> None:
        import releases

        report = sweep(
            releases.release_1, kinds=("upgrade",), upgrade_to=releases.careless_release_2
        )
        problems = {repr(variant.plan): variant.problem or "" for variant in report.variants}
        after_server = problems["FaultPlan(Fault.crash_after('server'))"]
        assert "'server' completed under version 1.0 and the new release runs 2.0" in after_server
        assert "'network' had completed" in after_server
        assert "'net', new in this release, executed again the work" in after_server
        assert "'dns' had completed" in problems["FaultPlan(Fault.crash_after('dns'))"]

    def test_a_refused_release_is_a_failing_variant(self) -> None:
        """TaskFlow refuses a release that requires what only a removed atom provided:
        the variant fails with that UpgradeError's message, the sweep goes on."""
        import releases

        report = sweep(
            releases.release_1, kinds=("upgrade",),
            upgrade_to=releases.dropped_producer_release_2,
        )
        assert len(report.variants) == len(report.failures)
        assert all("cannot resume its saved state" in (variant.problem or "")
                   for variant in report.variants)

    def test_upgrade_faults_prove_release_2_can_undo_release_1(self) -> None:
        """upgrade_faults=True: every task release 2 still runs fails after the resumption,
        and the whole chain must be reverted, by release 2's reverts. A revert that cannot
        read release 1's result is caught."""
        import releases

        careful = sweep(
            releases.release_1, kinds=("upgrade",), upgrade_to=releases.careful_release_2,
            upgrade_faults=True,
        )
        careful.assert_resilient()
        faulted = [variant for variant in careful.variants if variant.resumed_plan]
        assert [
            "FaultPlan(Fault.crash_after('network')), resumed by the new release under "
            "FaultPlan(Fault.fail('server'))",
            "FaultPlan(Fault.crash_after('network')), resumed by the new release under "
            "FaultPlan(Fault.fail('dns'))",
            "FaultPlan(Fault.crash_after('server')), resumed by the new release under "
            "FaultPlan(Fault.fail('dns'))",
        ] == [variant.described for variant in faulted]
        assert {"REVERTED"} == {variant.run.state for variant in faulted}
        assert {"upgrade: the task completed before the crash, so the new release skips it": 6} == {
            reason: count for reason, count in careful.pruned.items() if "upgrade" in reason
        }

        def brittle() -> linear_flow.Flow:
            return linear_flow.Flow("deploy").add(
                releases.Create("network", provides="network"),
                BrittleRevert("server", requires=["network"], provides="server"),
                releases.Create("dns", requires=["server"]),
            )

        caught = sweep(
            releases.release_1, kinds=("upgrade",), upgrade_to=brittle, upgrade_faults=True
        )
        after_server = next(
            variant for variant in caught.variants
            if variant.described.startswith("FaultPlan(Fault.crash_after('server')), resumed")
        )
        assert "'server' failed to revert: TypeError" in (after_server.problem or "")

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            ({"kinds": ("upgrade",)}, "sweep(upgrade_to=None): the upgrade kind resumes"),
            ({"upgrade_to": list}, "sweep(): upgrade_to= and upgrade_faults= only matter"),
            ({"kinds": ("upgrade",), "upgrade_to": list, "upgrade_faults": "yes"},
             "sweep(upgrade_faults='yes'): give True"),
        ],
    )
    def test_bad_upgrade_arguments(self, arguments: dict[str, Any], message: str) -> None:
        import releases

        with pytest.raises((TypeError, ValueError)) as raised:
            sweep(releases.release_1, **arguments)
        assert str(raised.value).startswith(message)
