"""sweep: every fault point of a flow explored on the real TaskFlow engine, pruned exactly."""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Union

import mock
import pytest
from flowkit import Boom, Log, NoRevertStep, Step
from hypothesis import example, given, settings
from hypothesis import strategies as st
from taskflow import retry
from taskflow.patterns import graph_flow, linear_flow, unordered_flow

from pytest_flowfault import (
    Fault,
    FaultPlan,
    FlowRun,
    InjectedFault,
    SweepError,
    SweepReport,
    points,
    run_flow,
    sweep,
)

KINDS = ("transient", "permanent", "revert")
PATTERNS = {"linear": linear_flow, "graph": graph_flow, "unordered": unordered_flow}
PROPERTY_SETTINGS = settings(max_examples=25, deadline=None)
#: A pair sweep of a three-task flow is up to ~60 engine runs, naive ones included.
PAIR_SETTINGS = settings(max_examples=15, deadline=None)
#: The namespace a plan printed by assert_resilient() is meant to be evaluated in.
PLAN_NAMESPACE = {
    "Fault": Fault,
    "FaultPlan": FaultPlan,
    "InjectedFault": InjectedFault,
    "mock": mock,
}


def load_example(name: str) -> ModuleType:
    """examples/<name>.py under a private module name.

    Importing it as ``boot`` would shadow the ``boot.py`` that pytester tests write.
    """
    path = Path(__file__).parent.parent / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"flowfault_example_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


boot = load_example("boot")


def linear(log: Log, *names: str, attempts: int | None = None) -> linear_flow.Flow:
    """A linear flow of steps, under ``Times(attempts)`` when given."""
    controller = retry.Times(attempts, name="again") if attempts is not None else None
    return linear_flow.Flow("f", retry=controller).add(*(Step(name, log) for name in names))


def skipping_flow(log: Log) -> graph_flow.Flow:
    """a, then c; b would follow a, but its decider always says no, so b never runs."""
    a, b, c = Step("a", log), Step("b", log), Step("c", log)
    flow = graph_flow.Flow("g").add(a, b, c)
    flow.link(a, b, decider=lambda history: False)
    flow.link(a, c)
    return flow


def plans(report: SweepReport) -> list[str]:
    """The variants' plans as code, in the order they ran."""
    return [repr(variant.plan) for variant in report.variants]


def accounted(report: SweepReport) -> int:
    """Every naive run is either a variant or pruned for one reason."""
    return len(report.variants) + sum(report.pruned.values())


Outcome = tuple[str, tuple[tuple[str, tuple[tuple[object, ...], ...]], ...]]


def outcome(run: FlowRun) -> Outcome:
    """What a run did, without times, sequence numbers or error identities.

    Per atom, not interleaved: the serial engine runs every ready atom of a batch, but in
    the order of a set of atoms and futures hashed by id
    (taskflow/engines/action_engine/builder.py), so only the order *across* atoms varies
    from run to run. For the same reason an atom that has not run (or not since it was
    reverted) is sometimes reverted again, as a no-op, and sometimes not; those reverts,
    the IGNORE and PENDING bookkeeping, and the revert numbering they shift are left out.
    """
    per_atom: dict[str, list[tuple[object, ...]]] = {}
    live: set[str] = set()  # atoms that ran since they were last reverted
    for event in run.events:
        if event.kind == "flow" or (event.kind in ("execute", "revert") and not event.is_call_end):
            continue
        if event.kind in ("task", "retry"):
            if event.what in ("IGNORE", "PENDING"):
                continue
            if event.what == "RUNNING":
                live.add(event.name)
            elif event.what in ("REVERTING", "REVERTED", "REVERT_FAILURE"):
                if event.name not in live:
                    continue
                if event.what == "REVERTED":
                    live.discard(event.name)
        elif event.kind == "revert" and event.name not in live and event.what != "raised":
            continue
        seen = per_atom.setdefault(event.name, [])
        attempt = event.attempt
        if event.kind == "revert":
            attempt = 1 + sum(1 for earlier in seen if earlier[0] == "revert")
        error = None if event.error is None else f"{type(event.error).__name__}: {event.error}"
        seen.append((event.kind, event.what, attempt, event.injected, error))
    return run.state, tuple(sorted((name, tuple(events)) for name, events in per_atom.items()))


class TestSweepAccounting:
    def test_linear_flow_without_retry(self, log: Log) -> None:
        """Without a retry controller a transient fault is a permanent one: pruned."""
        report = sweep(lambda: linear(log, "a", "b", "c"))
        assert 4 == report.runs
        assert 6 == report.naive == accounted(report)
        assert {points.PRUNED_NO_RETRY: 3} == report.pruned
        assert [
            "FaultPlan(Fault.fail('a'))",
            "FaultPlan(Fault.fail('b'))",
            "FaultPlan(Fault.fail('c'))",
        ] == plans(report)

    def test_linear_flow_with_retry(self, log: Log) -> None:
        """Under Times(3) transient faults are retried away, so each one is run."""
        report = sweep(lambda: linear(log, "a", "b", "c", attempts=3))
        assert 7 == report.runs
        assert 6 == report.naive == accounted(report)
        assert {} == report.pruned
        assert [
            "FaultPlan(Fault.fail('a', times=1))",
            "FaultPlan(Fault.fail('a'))",
            "FaultPlan(Fault.fail('b', times=1))",
            "FaultPlan(Fault.fail('b'))",
            "FaultPlan(Fault.fail('c', times=1))",
            "FaultPlan(Fault.fail('c'))",
        ] == plans(report)
        assert ["SUCCESS", "REVERTED"] * 3 == [variant.run.state for variant in report.variants]

    def test_only_transient_is_kept_when_permanent_is_not_swept(self, log: Log) -> None:
        """Transient is pruned as 'permanent' only when permanent is among the kinds."""
        report = sweep(lambda: linear(log, "a", "b"), kinds=("transient",))
        assert {} == report.pruned
        assert ["FaultPlan(Fault.fail('a', times=1))", "FaultPlan(Fault.fail('b', times=1))"] == (
            plans(report)
        )

    def test_revert_kind_fails_the_last_task_and_one_revert(self, log: Log) -> None:
        """A revert point fails the last task for good, and the chosen task's revert."""
        report = sweep(lambda: linear(log, "a", "b", "c"), kinds=KINDS)
        assert 7 == report.runs
        assert 9 == report.naive == accounted(report)
        assert {points.PRUNED_NO_RETRY: 3} == report.pruned
        assert [
            "FaultPlan(Fault.fail('a'))",
            "FaultPlan(Fault.fail('c'), Fault.fail_revert('a'))",
            "FaultPlan(Fault.fail('b'))",
            "FaultPlan(Fault.fail('c'), Fault.fail_revert('b'))",
            "FaultPlan(Fault.fail('c'))",
            "FaultPlan(Fault.fail('c'), Fault.fail_revert('c'))",
        ] == plans(report)

    def test_pairs_without_retry(self, log: Log) -> None:
        """Pairs: same-task, transient and 'the second never ran' pairs are all pruned."""
        report = sweep(lambda: linear(log, "a", "b", "c"), max_faults=2)
        assert 4 == report.runs
        assert 6 + 15 == report.naive == accounted(report)
        assert {
            points.PRUNED_NO_RETRY: 3 + 9,
            points.PRUNED_SAME_TASK: 3,
            points.PRUNED_DID_NOT_RUN: 3,
        } == report.pruned
        assert [
            "FaultPlan(Fault.fail('a'))",
            "FaultPlan(Fault.fail('b'))",
            "FaultPlan(Fault.fail('c'))",
        ] == plans(report)

    def test_pairs_with_retry(self, log: Log) -> None:
        """Under Times(3) a transient fault lets the flow go on, so later faults still strike."""
        report = sweep(lambda: linear(log, "a", "b", "c", attempts=3), max_faults=2)
        assert 13 == report.runs
        assert 21 == report.naive == accounted(report)
        assert {points.PRUNED_SAME_TASK: 3, points.PRUNED_DID_NOT_RUN: 6} == report.pruned
        assert [
            "FaultPlan(Fault.fail('a', times=1), Fault.fail('b', times=1))",
            "FaultPlan(Fault.fail('a', times=1), Fault.fail('b'))",
            "FaultPlan(Fault.fail('a', times=1), Fault.fail('c', times=1))",
            "FaultPlan(Fault.fail('a', times=1), Fault.fail('c'))",
            "FaultPlan(Fault.fail('b', times=1), Fault.fail('c', times=1))",
            "FaultPlan(Fault.fail('b', times=1), Fault.fail('c'))",
        ] == plans(report)[6:]

    def test_pairs_meet_every_pruning_reason(self, log: Log) -> None:
        """A skipped task, no retry and revert points: all five reasons, counted exactly."""
        report = sweep(lambda: skipping_flow(log), kinds=KINDS, max_faults=2)
        assert 6 == report.runs
        assert 9 + 36 == report.naive == accounted(report)
        assert {
            points.PRUNED_NO_RETRY: 2 + 5,
            points.PRUNED_NEVER_RAN: 3 + 18,
            points.PRUNED_SAME_TASK: 9,
            points.PRUNED_DID_NOT_RUN: 2,
            points.PRUNED_SAME_FAULTS: 1,
        } == report.pruned
        assert [
            "FaultPlan(Fault.fail('a'))",
            "FaultPlan(Fault.fail('c'), Fault.fail_revert('a'))",
            "FaultPlan(Fault.fail('c'))",
            "FaultPlan(Fault.fail('c'), Fault.fail_revert('c'))",
            # c's failing revert stops the rollback before a's revert: the same run as the
            # single revert point on c, but the shared Fault.fail('c') counts as striking.
            "FaultPlan(Fault.fail('c'), Fault.fail_revert('a'), Fault.fail_revert('c'))",
        ] == plans(report)
        assert outcome(report.variants[3].run) == outcome(report.variants[4].run)

    def test_make_flow_is_called_once_per_run(self, log: Log) -> None:
        """Every run, the baseline included, gets a fresh flow."""
        made: list[linear_flow.Flow] = []

        def make_flow() -> linear_flow.Flow:
            made.append(linear(log, "a", "b", attempts=2))
            return made[-1]

        report = sweep(make_flow)
        assert 5 == report.runs == len(made) == len({id(flow) for flow in made})

    def test_pair_of_transient_and_revert_faults_is_explored(self, log: Log) -> None:
        """Retried a, then b failing for good with a failing revert, is a run of its own.

        b is not reverted in the run with the transient fault on a alone, but the revert
        point also fails b (the last task), so its revert fault does strike in the pair.
        """
        report = sweep(
            lambda: linear(log, "a", "b", attempts=3), kinds=("transient", "revert"), max_faults=2
        )
        pair = FaultPlan(Fault.fail("a", times=1), Fault.fail("b"), Fault.fail_revert("b"))
        pair_run = run_flow(linear(log, "a", "b", attempts=3), plan=pair)
        # a retried, then b failing and failing to revert: no single fault does that
        assert ["a", "a", "b"] == [
            name for name in pair_run.execution_order() if name != "again"
        ]
        assert pair in [variant.plan for variant in report.variants]
        assert outcome(pair_run) in {outcome(variant.run) for variant in report.variants}


class TestSweepNeverRan:
    def test_a_task_its_decider_skips_is_pruned(self, log: Log) -> None:
        """Faults on a task that never ran in the baseline would never fire: pruned."""
        report = sweep(lambda: skipping_flow(log))
        assert 0 == report.baseline.attempts("b")
        assert 3 == report.runs
        assert 6 == report.naive == accounted(report)
        assert {points.PRUNED_NO_RETRY: 2, points.PRUNED_NEVER_RAN: 2} == report.pruned
        assert ["FaultPlan(Fault.fail('a'))", "FaultPlan(Fault.fail('c'))"] == plans(report)

    def test_every_kind_on_a_skipped_task_is_pruned(self, log: Log) -> None:
        """Revert points on the skipped task are pruned too; the others are run."""
        report = sweep(lambda: skipping_flow(log), kinds=KINDS)
        assert {points.PRUNED_NO_RETRY: 2, points.PRUNED_NEVER_RAN: 3} == report.pruned
        assert "b" not in {fault.target for variant in report.variants for fault in variant.plan}


class TestSweepVerdicts:
    def test_crashing_revert_fails_and_names_the_unreverted_task(self) -> None:
        """The buggy revert of the example crashes; the volume created before it leaks."""
        report = sweep(lambda: boot.buggy_boot_flow(boot.Cloud()), store=boot.STORE)
        assert report.variants[0].ok  # create_volume failing is undone
        [failure] = report.failures
        assert FaultPlan(Fault.fail("create_instance")) == failure.plan
        assert "FAILURE" == failure.run.state
        assert (
            "the flow ended FAILURE, not REVERTED; 'create_instance' failed to revert: "
            "TypeError(\"'Failure' object is not subscriptable\"); 'create_volume' completed "
            "(execute attempt 1) but was never reverted"
        ) == failure.problem
        assert not failure.ok

    def test_strict_catches_a_task_without_revert(self, log: Log) -> None:
        """strict=True fails a variant that 'reverted' a task whose revert does nothing."""

        def make_flow() -> linear_flow.Flow:
            return linear_flow.Flow("f").add(NoRevertStep("reserve"), Step("b", log))

        assert () == sweep(make_flow).failures
        report = sweep(make_flow, strict=True)
        [failure] = report.failures
        assert FaultPlan(Fault.fail("b")) == failure.plan
        assert "REVERTED" == failure.run.state
        assert (
            "'reserve' completed but has no revert of its own (TaskFlow's default revert does "
            "nothing), so whatever it created is left behind"
        ) == failure.problem

    def test_check_failing_fails_the_variant_with_its_first_line(self, log: Log) -> None:
        """check(run) raising AssertionError is the variant's problem, first line only."""

        def never_reverted(run: FlowRun) -> None:
            assert run.succeeded, "the flow was reverted\nsecond line"

        report = sweep(lambda: linear(log, "a"), check=never_reverted)
        assert ["check failed: the flow was reverted"] == [
            variant.problem for variant in report.variants
        ]

    def test_check_failing_without_a_message(self, log: Log) -> None:
        """An AssertionError without a message still says what failed."""

        def never_reverted(run: FlowRun) -> None:
            if not run.succeeded:
                raise AssertionError

        report = sweep(lambda: linear(log, "a"), check=never_reverted)
        assert ["check failed: AssertionError"] == [variant.problem for variant in report.variants]

    def test_check_sees_every_variant_but_not_the_baseline(self, log: Log) -> None:
        """check() runs once per variant, with that variant's run."""
        seen: list[FlowRun] = []
        report = sweep(lambda: linear(log, "a", "b", attempts=2), check=seen.append)
        assert [variant.run for variant in report.variants] == seen
        assert () == report.failures

    def test_check_problem_adds_to_compensation_problems(self) -> None:
        """A variant can fail compensation and its check: both problems are listed."""

        def always_fails(run: FlowRun) -> None:
            raise AssertionError("leftovers")

        report = sweep(
            lambda: boot.buggy_boot_flow(boot.Cloud()), store=boot.STORE, check=always_fails
        )
        assert report.variants[1].problem is not None
        assert report.variants[1].problem.endswith(
            "'create_volume' completed (execute attempt 1) but was never reverted; "
            "check failed: leftovers"
        )

    def test_a_subflow_retry_giving_up_leaves_the_outer_task_unreverted(self, log: Log) -> None:
        """TaskFlow reverts only the retried subflow by default; defer_reverts=True fixes it."""

        def make_flow() -> linear_flow.Flow:
            inner = linear_flow.Flow("inner", retry=retry.Times(2, name="inner_retry"))
            return linear_flow.Flow("outer").add(Step("a", log), inner.add(Step("b", log)))

        report = sweep(make_flow)
        assert [
            ("FaultPlan(Fault.fail('b', times=1))", None),
            (
                "FaultPlan(Fault.fail('b'))",
                "'a' completed (execute attempt 1) but was never reverted",
            ),
        ] == [(repr(variant.plan), variant.problem) for variant in report.variants[1:]]
        sweep(make_flow, defer_reverts=True).assert_resilient()  # an engine option

    def test_assert_resilient_lists_each_failing_plan_as_code(self) -> None:
        """The message: a summary, then per failure its plan, its problem and its timeline."""
        report = sweep(lambda: boot.buggy_boot_flow(boot.Cloud()), store=boot.STORE)
        with pytest.raises(AssertionError) as raised:
            report.assert_resilient()
        [failure] = report.failures
        assert "\n".join(
            [
                "1 of 2 fault variants of flow 'buggy-boot' were not survived:",
                "",
                "FaultPlan(Fault.fail('create_instance'))",
                f"  {failure.problem}",
                failure.run.timeline(),
            ]
        ) == str(raised.value)

    def test_plans_in_the_message_replay(self, log: Log) -> None:
        """Every plan line of assert_resilient()'s message evaluates to the failing plan."""

        def never_reverted(run: FlowRun) -> None:
            assert run.succeeded

        report = sweep(
            lambda: linear(log, "a", "b", attempts=2),
            kinds=KINDS,
            max_faults=2,
            check=never_reverted,
        )
        with pytest.raises(AssertionError) as raised:
            report.assert_resilient()
        plan_lines = [line for line in str(raised.value).splitlines() if line.startswith("Fault")]
        assert [failure.plan for failure in report.failures] == [
            eval(line, dict(PLAN_NAMESPACE)) for line in plan_lines
        ]
        assert len(plan_lines) > 4

    def test_assert_resilient_passes_when_every_variant_survived(self) -> None:
        """Nothing to report: assert_resilient() returns."""
        report = sweep(lambda: boot.boot_flow(boot.Cloud(), retry=retry.Times(3)), store=boot.STORE)
        assert () == report.failures
        report.assert_resilient()

    def test_str_summarises_runs_pruning_and_verdicts(self, log: Log) -> None:
        """str(report): runs against naive, why runs were pruned, one line per variant."""
        report = sweep(lambda: linear(log, "a", "b"))
        assert "\n".join(
            [
                "sweep of flow 'f' on the serial engine: 3 runs (baseline + 2 variants) "
                "instead of 5; 0 not survived",
                "  pruned 2: transient is permanent: no retry controller above the task",
                "ok   FaultPlan(Fault.fail('a')) -> REVERTED",
                "ok   FaultPlan(Fault.fail('b')) -> REVERTED",
            ]
        ) == str(report)

    def test_str_shows_failing_variants_and_their_problem(self) -> None:
        """A failing variant is marked FAIL with its problem indented under it."""
        report = sweep(lambda: boot.buggy_boot_flow(boot.Cloud()), store=boot.STORE)
        lines = str(report).splitlines()
        assert (
            "sweep of flow 'buggy-boot' on the serial engine: 3 runs (baseline + 2 variants) "
            "instead of 5; 1 not survived"
        ) == lines[0]
        assert [
            "FAIL FaultPlan(Fault.fail('create_instance')) -> FAILURE",
            f"     {report.failures[0].problem}",
        ] == lines[-2:]


class TestSweepBadInput:
    def test_baseline_that_fails_is_a_sweep_error(self) -> None:
        """A flow that fails without faults cannot be swept; the error shows its run."""
        with pytest.raises(SweepError) as raised:
            sweep(lambda: linear_flow.Flow("broken").add(Boom("a")))
        message = str(raised.value)
        assert message.startswith(
            "the baseline run of flow 'broken' (no faults) ended REVERTED: a sweep needs a "
            "flow that works without faults\n\nflow 'broken' on the serial engine ended "
            "REVERTED with ValueError('a is broken')\n"
        )
        assert isinstance(raised.value, RuntimeError)

    @pytest.mark.parametrize(
        ("kinds", "shown"),
        [(("sometimes",), "('sometimes',)"), ("transient", "'transient'"), ((), "()")],
    )
    def test_bad_kinds(self, log: Log, kinds: Any, shown: str) -> None:
        """kinds is a non-empty tuple of known kinds, never a bare string."""
        with pytest.raises(ValueError) as raised:
            sweep(lambda: linear(log, "a"), kinds=kinds)
        assert (
            f"sweep(kinds={shown}): use a tuple of transient, permanent, revert, crash, upgrade, e.g. "
            f"('transient', 'permanent')"
        ) == str(raised.value)

    @pytest.mark.parametrize("max_faults", [0, 3])
    def test_max_faults_other_than_one_or_two(self, log: Log, max_faults: int) -> None:
        """Sweeps explore single faults or pairs."""
        with pytest.raises(ValueError) as raised:
            sweep(lambda: linear(log, "a"), max_faults=max_faults)
        assert (
            f"sweep(max_faults={max_faults}): a sweep explores 1 or 2 faults at a time"
        ) == str(raised.value)

    def test_a_flow_instead_of_a_callable(self, log: Log) -> None:
        """A flow object is refused: every run needs a fresh one."""
        with pytest.raises(TypeError) as raised:
            sweep(linear(log, "a"))
        assert (
            "sweep() takes a callable that builds a fresh flow for every run, e.g. "
            "lambda: boot_flow(), got Flow"
        ) == str(raised.value)

    def test_bad_input_is_refused_before_any_run(self, log: Log) -> None:
        """Arguments are checked before the baseline runs."""
        made: list[linear_flow.Flow] = []

        def make_flow() -> linear_flow.Flow:
            made.append(linear(log, "a"))
            return made[-1]

        with pytest.raises(ValueError):
            sweep(make_flow, kinds=("sometimes",))
        assert [] == made


class TestSweepParallel:
    def test_boot_graph_flow_with_retry_survives_on_the_parallel_engine(self) -> None:
        """Every single fault of the graph flow is retried away or undone, in parallel."""
        clouds: list[Any] = []

        def make_flow() -> graph_flow.Flow:
            clouds.append(boot.Cloud())
            return boot.boot_graph_flow(clouds[-1], retry=retry.Times(3))

        def nothing_left_behind(run: FlowRun) -> None:
            if not run.succeeded:
                assert [] == clouds[-1].leftovers()

        report = sweep(make_flow, store=boot.STORE, engine="parallel", check=nothing_left_behind)
        report.assert_resilient()
        assert 7 == report.runs
        assert {"parallel"} == {report.baseline.engine} | {
            variant.run.engine for variant in report.variants
        }
        assert ["SUCCESS", "REVERTED"] * 3 == [variant.run.state for variant in report.variants]


# --- pruning never loses a distinct outcome ------------------------------------------


@dataclass(frozen=True)
class Shape:
    """A flow to build: a pattern, its members (task names or one nested shape), a retry."""

    name: str
    pattern: str
    members: tuple[Union[str, Shape], ...]
    attempts: int | None = None
    links: tuple[tuple[int, int], ...] = ()

    def build(self, log: Log) -> Any:
        """A fresh TaskFlow flow of this shape."""
        controller = (
            retry.Times(self.attempts, name=f"{self.name}_retry")
            if self.attempts is not None
            else None
        )
        members = [
            member.build(log) if isinstance(member, Shape) else Step(member, log)
            for member in self.members
        ]
        flow = PATTERNS[self.pattern].Flow(self.name, retry=controller).add(*members)
        for before, after in self.links:
            flow.link(members[before], members[after])
        return flow


@st.composite
def shapes(
    draw: st.DrawFn, max_tasks: int = 5, patterns: tuple[str, ...] = tuple(PATTERNS)
) -> Shape:
    """1 to max_tasks uniquely named tasks, maybe some in one nested subflow, maybe retried."""
    names = [f"t{index}" for index in range(draw(st.integers(1, max_tasks)))]
    pattern = draw(st.sampled_from(patterns))
    attempts = draw(st.none() | st.integers(1, 3))
    members: list[Union[str, Shape]] = list(names)
    if len(names) >= 2 and draw(st.booleans()):
        size = draw(st.integers(1, len(names) - 1))
        start = draw(st.integers(0, len(names) - size))
        # A retried subflow beside a failing task, in a retried graph or unordered flow,
        # makes TaskFlow itself crash now and then (InvalidState: RUNNING -> SUSPENDED).
        may_retry = pattern == "linear" or attempts is None
        inner = Shape(
            "inner",
            draw(st.sampled_from(patterns)),
            tuple(names[start : start + size]),
            draw(st.none() | st.integers(1, 3)) if may_retry else None,
        )
        members = [*names[:start], inner, *names[start + size :]]
    links: list[tuple[int, int]] = []
    if pattern == "graph" and len(members) >= 2:
        pairs = list(itertools.combinations(range(len(members)), 2))
        links = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=3))
    return Shape("outer", pattern, tuple(members), attempts, tuple(links))


def naive_plans(report: SweepReport, kinds: Iterable[str], max_faults: int) -> list[FaultPlan]:
    """Every plan a sweep without pruning would run (pairs on two different tasks), but
    for revert faults on tasks whose revert is TaskFlow's no-op: those cannot fail in
    production, so the sweep leaves them out by design, not as runs equal to others."""
    last = points.last_task(report.baseline)
    tasks = [atom for atom in report.baseline.atoms if atom.kind == "task"]
    every_point = [
        points.FaultPoint(atom.name, kind)
        for atom in tasks
        for kind in kinds
        if kind != "revert" or atom.has_revert
    ]
    result = [FaultPlan(*point.faults(last)) for point in every_point]
    if max_faults == 2:
        for first, second in itertools.combinations(every_point, 2):
            if first.task != second.task:
                faults = dict.fromkeys([*first.faults(last), *second.faults(last)])
                result.append(FaultPlan(*faults))
    return result


def lost_outcomes(
    make_flow: Callable[[], Any], kinds: tuple[str, ...], max_faults: int
) -> dict[FaultPlan, Outcome]:
    """The naive plans whose outcome no run of the pruned sweep had.

    Also checks the other way round: every run the sweep made is one a naive sweep makes.
    """
    report = sweep(make_flow, kinds=kinds, max_faults=max_faults)
    assert report.naive == accounted(report)
    swept = {outcome(report.baseline)} | {outcome(variant.run) for variant in report.variants}
    naive = {
        plan: outcome(run_flow(make_flow(), plan=plan))
        for plan in naive_plans(report, kinds, max_faults)
    }
    assert set() == swept - set(naive.values()) - {outcome(report.baseline)}
    return {plan: found for plan, found in naive.items() if found not in swept}


def struck(run: FlowRun, fault: Fault) -> bool:
    """Whether ``fault`` made at least one call of its atom fail in ``run``."""
    return any(
        event.injected and event.kind == fault.action and event.name == fault.target
        for event in run.events
    )


class TestSweepPruningIsExact:
    @PROPERTY_SETTINGS
    @given(shape=shapes(max_tasks=4))
    def test_single_faults_lose_no_outcome(self, shape: Shape) -> None:
        """Every single-fault run a naive sweep makes has the outcome of a run made."""
        log = Log()
        assert {} == lost_outcomes(
            lambda: shape.build(log), ("transient", "permanent"), max_faults=1
        )

    @PROPERTY_SETTINGS
    @given(shape=shapes(max_tasks=4, patterns=("linear",)))
    def test_single_faults_of_every_kind_lose_no_outcome(self, shape: Shape) -> None:
        """Revert faults too, on linear flows: in a graph or unordered flow TaskFlow
        sometimes reverts a task that never ran, so whether a revert fault on it fires is
        chance (see test_pairs_of_all_kinds_lose_no_outcome)."""
        log = Log()
        assert {} == lost_outcomes(lambda: shape.build(log), KINDS, max_faults=1)

    @PROPERTY_SETTINGS
    @given(shape=shapes())
    def test_a_variant_whose_fault_never_struck_is_not_ok(self, shape: Shape) -> None:
        """No variant is silently wasted: a fault that never failed a call is reported.

        The one fault that may miss is a revert fault on a task TaskFlow never reverts (a
        subflow's retry controller gave up, and without ``defer_reverts`` TaskFlow only
        reverts that subflow): then the task's missing revert is the variant's problem.
        """
        log = Log()
        report = sweep(lambda: shape.build(log), kinds=KINDS)
        for variant in report.variants:
            for fault in variant.plan:
                if not struck(variant.run, fault):
                    assert "fail_revert" == fault.kind
                    assert variant.problem is not None
                    assert f"{fault.target!r} completed (execute attempt" in variant.problem

    @PAIR_SETTINGS
    @given(shape=shapes(max_tasks=3))
    def test_pairs_of_execute_faults_lose_no_outcome(self, shape: Shape) -> None:
        """Pairs of transient/permanent faults: pruning only skips runs already made."""
        log = Log()
        assert {} == lost_outcomes(
            lambda: shape.build(log), ("transient", "permanent"), max_faults=2
        )

    @PAIR_SETTINGS
    @given(shape=shapes(max_tasks=3, patterns=("linear",)))
    @example(shape=Shape("outer", "linear", ("t0", "t1"), attempts=3))
    def test_pairs_of_all_kinds_lose_no_outcome(self, shape: Shape) -> None:
        """Pairs of every kind on linear flows, (transient, revert) pairs included.

        Linear only: in a graph or unordered flow TaskFlow sometimes reverts a task that
        never ran (see outcome()), and a revert fault on it then fails the flow or not by
        chance, so neither the sweep nor the naive runs are reproducible.
        """
        log = Log()
        assert {} == lost_outcomes(lambda: shape.build(log), KINDS, max_faults=2)


class TestSweepArgumentsFromReview:
    def test_a_kind_named_twice_runs_once(self, log: Log) -> None:
        """kinds=("permanent", "permanent") is one kind, not every run twice."""
        report = sweep(lambda: linear(log, "a", "b"), kinds=("permanent", "permanent"))
        assert (3, 2) == (report.runs, report.naive)

    @pytest.mark.parametrize("max_faults", [True, 2.0])
    def test_max_faults_must_be_an_int(self, log: Log, max_faults: object) -> None:
        """True and 2.0 are refused like any other non-count."""
        with pytest.raises(ValueError, match="a sweep explores 1 or 2 faults at a time"):
            sweep(lambda: linear(log, "a"), max_faults=max_faults)  # type: ignore[arg-type]

    def test_one_variant_is_singular(self, log: Log) -> None:
        """The report's text says 'variant' for one."""
        report = sweep(lambda: linear(log, "a"), kinds=("permanent",))
        assert "runs (baseline + 1 variant) instead of" in str(report)
