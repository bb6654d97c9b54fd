"""A sweep's variants: how one explored run is judged, how repetitions of a variant differ,
and the report of a whole sweep.

A run under faults is ok when it succeeded, or ended REVERTED with every completed task
compensated. A run in which an injected *revert* fault fired is judged differently,
because TaskFlow stops a rollback at its first ``REVERT_FAILURE`` by design: the flow must
end FAILURE with that error reaching the caller, and whatever was reverted before it must
have been reverted correctly; what the halted rollback left behind is noted, not failed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from pytest_flowfault.assertions import check_failed, lost_results, resumption_problems
from pytest_flowfault.plan import FaultPlan
from pytest_flowfault.run import Event, FlowRun
from pytest_flowfault.upgrade import upgrade_problems
from pytest_flowfault.verdict import compensation_problems, error_text, first_success

Check = Callable[[FlowRun], object]

HALTED = "TaskFlow stops a rollback at its first REVERT_FAILURE"


@dataclass(frozen=True)
class Repetition:
    """One run of a variant (a crash variant: the resumed run), and its verdict."""

    run: FlowRun
    problem: str | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Variant:
    """One explored fault plan, run once per repetition (``sweep(repeat=N)``)."""

    plan: FaultPlan
    repetitions: tuple[Repetition, ...]
    #: Faults of the resumed run only (an upgrade variant with ``upgrade_faults``).
    resumed_plan: FaultPlan = field(default_factory=FaultPlan)

    @property
    def described(self) -> str:
        """The plan as code, and what the resumption of an upgrade variant faced."""
        if not self.resumed_plan:
            return repr(self.plan)
        return f"{self.plan!r}, resumed by the new release under {self.resumed_plan!r}"

    @property
    def ok(self) -> bool:
        """Whether every repetition succeeded, or was reverted and fully compensated."""
        return all(repetition.problem is None for repetition in self.repetitions)

    @property
    def flaky(self) -> bool:
        """Whether repetitions of the same plan were judged differently."""
        return len({repetition.problem for repetition in self.repetitions}) > 1

    @property
    def shown(self) -> Repetition:
        """The first repetition that failed, else the first."""
        return next((r for r in self.repetitions if r.problem), self.repetitions[0])

    @property
    def run(self) -> FlowRun:
        """The run of :attr:`shown`."""
        return self.shown.run

    @property
    def problem(self) -> str | None:
        """What was wrong with :attr:`shown` (None when every repetition was ok)."""
        return self.shown.problem

    @property
    def notes(self) -> tuple[str, ...]:
        """What :attr:`shown` leaves to know that is no failure (e.g. a halted rollback)."""
        return self.shown.notes

    def failed_repetitions(self) -> int:
        """How many repetitions were not ok."""
        return sum(repetition.problem is not None for repetition in self.repetitions)

    def differences(self) -> list[str]:
        """For a flaky variant: how the first repetition and the first judged otherwise differ."""
        if not self.flaky:
            return []
        first = self.repetitions[0]
        number, other = next(
            (number, repetition)
            for number, repetition in enumerate(self.repetitions, start=1)
            if repetition.problem != first.problem
        )
        return run_differences(first.run, other.run, 1, number)


@dataclass(frozen=True)
class SweepReport:
    """The outcome of a sweep: every variant run, and what pruning saved.

    >>> report = flowfault.sweep(lambda: boot_flow(retry=Times(3)), store=STORE)  # doctest: +SKIP
    >>> report.assert_resilient()                                                # doctest: +SKIP
    """

    baseline: FlowRun
    variants: tuple[Variant, ...]
    naive: int
    pruned: Mapping[str, int] = field(default_factory=dict)
    repeat: int = 1

    @property
    def failures(self) -> tuple[Variant, ...]:
        """The variants that were not ok in some repetition (the flaky ones included)."""
        return tuple(variant for variant in self.variants if not variant.ok)

    @property
    def flaky(self) -> tuple[Variant, ...]:
        """The variants whose repetitions were judged differently."""
        return tuple(variant for variant in self.variants if variant.flaky)

    @property
    def runs(self) -> int:
        """Engine runs made, baselines included (a crash variant is two: crash, resume)."""
        return self.repeat + sum(
            len(repetition.run.chain())
            for variant in self.variants
            for repetition in variant.repetitions
        )

    def assert_resilient(self) -> None:
        """Fail, listing every failing plan as code with its problem and timeline."""
        __tracebackhide__ = True
        if not self.failures:
            return
        flaky = f" ({len(self.flaky)} flaky)" if self.flaky else ""
        parts = [
            f"{len(self.failures)} of {len(self.variants)} fault variants of flow "
            f"{self.baseline.flow_name!r} were not survived{flaky}:"
        ]
        for variant in self.failures:
            parts += ["", variant.described]
            if variant.flaky:
                parts.append(f"  {self._flaky_text(variant)}; what differed:")
                parts += [f"    {difference}" for difference in variant.differences()]
            parts.append(f"  {variant.problem}")
            parts += [f"  note: {note}" for note in variant.notes]
            parts.append(variant.run.timeline())
        raise AssertionError("\n".join(parts))

    def _flaky_text(self, variant: Variant) -> str:
        return (
            f"FLAKY: {variant.failed_repetitions()} of {len(variant.repetitions)} "
            f"repetitions failed"
        )

    def __str__(self) -> str:
        repeated = f", each {self.repeat} times" if self.repeat > 1 else ""
        lines = [
            f"sweep of flow {self.baseline.flow_name!r} on the {self.baseline.engine} engine: "
            f"{self.runs} runs (baseline + {len(self.variants)} "
            f"variant{'' if len(self.variants) == 1 else 's'}{repeated}) instead of "
            f"{(self.naive + 1) * self.repeat}; {len(self.failures)} not survived"
            + (f", {len(self.flaky)} of them flaky" if self.flaky else "")
        ]
        lines += [f"  pruned {count}: {reason}" for reason, count in self.pruned.items()]
        for variant in self.variants:
            lines.append(f"{'ok  ' if variant.ok else 'FAIL'} {variant.described} -> {variant.run.state}")
            if variant.flaky:
                lines.append(f"     {self._flaky_text(variant)}")
                lines += [f"       {difference}" for difference in variant.differences()]
            if variant.problem:
                lines.append(f"     {variant.problem}")
            lines += [f"     note: {note}" for note in variant.notes]
        return "\n".join(lines)


def verdict(
    run: FlowRun,
    *,
    check: Check | None = None,
    strict: bool = False,
    nothing_to_undo: Iterable[str | type] = (),
) -> str | None:
    """What is wrong with a run under faults, or None: it must succeed, or end REVERTED
    with every completed task compensated; then ``check(run)`` must not raise."""
    problems = []
    if not run.succeeded:
        if run.state != "REVERTED":
            problems.append(f"the flow ended {run.state}, not REVERTED")
        problems += compensation_problems(run, strict=strict, nothing_to_undo=nothing_to_undo)
    problems += check_problems(run, check)
    return "; ".join(problems) or None


def judge(
    run: FlowRun,
    *,
    check: Check | None = None,
    strict: bool = False,
    nothing_to_undo: Iterable[str | type] = (),
) -> Repetition:
    """Judge a run: by :func:`revert_verdict` if an injected revert fault fired in it,
    else by :func:`verdict`."""
    fired = [event for event in run.events if event.kind == "revert" and event.is_injected_fault]
    if fired:
        return revert_verdict(
            run, fired, check=check, strict=strict, nothing_to_undo=nothing_to_undo
        )
    return Repetition(
        run, verdict(run, check=check, strict=strict, nothing_to_undo=nothing_to_undo)
    )


def revert_verdict(
    run: FlowRun,
    fired: list[Event],
    *,
    check: Check | None = None,
    strict: bool = False,
    nothing_to_undo: Iterable[str | type] = (),
) -> Repetition:
    """A run whose rollback met an injected revert failure (the ``fired`` events).

    It must end FAILURE with that failure reaching the caller; any other revert failure,
    and any producer reverted before its consumer, is a problem; so is, with ``strict``,
    a task reverted before the halt whose revert does nothing. The tasks the halted
    rollback never reached are noted.
    """
    injected = {event.name for event in fired}
    problems = []
    if not any(_reached_caller(run, event) for event in fired):
        names = " or ".join(repr(name) for name in sorted(injected))
        problems.append(
            f"the revert failure of {names} did not reach the caller: the flow ended "
            f"{run.state} with {error_text(run.error)}"
        )
    verdict_ = run.verdict
    problems += [problem for name, problem in verdict_.failed_reverts if name not in injected]
    problems += verdict_.order_problems
    if strict:
        without_revert = {problem for _, problem in verdict_.without_revert}
        problems += [
            problem
            for problem in compensation_problems(run, strict=True, nothing_to_undo=nothing_to_undo)
            if problem in without_revert
        ]
    problems += check_problems(run, check)
    left = verdict_.not_undone
    notes = (
        f"the halted rollback left {', '.join(repr(name) for name in left)} as "
        f"{'it was' if len(left) == 1 else 'they were'} ({HALTED})",
    ) if left else ()
    return Repetition(run, "; ".join(problems) or None, notes)


def crash_verdict(resumed: FlowRun) -> str | None:
    """What is wrong with the resumption of a crashed run, or None."""
    problems = resumption_problems(resumed, "the crash")
    problems += [
        f"{name!r}'s result saved before the crash was lost" for name in lost_results(resumed)
    ]
    return "; ".join(problems) or None


def upgrade_fault_verdict(resumed: FlowRun) -> str | None:
    """An upgrade variant whose resumption met a fault: the new release must revert the
    whole chain, the work the old release completed before the crash included, with the
    upgrade itself safe (:func:`pytest_flowfault.upgrade.upgrade_problems`)."""
    problems = []
    if resumed.state != "REVERTED":
        problems.append(f"the resumed flow ended {resumed.state}, not REVERTED")
    problems += compensation_problems(resumed)
    running = {atom.name for atom in resumed.atoms if atom.kind == "task"}
    saved = resumed.saved.atoms if resumed.saved is not None else ()
    failed = {name for name, _ in resumed.verdict.failed_reverts}
    for atom in saved:
        if (
            atom.state == "SUCCESS" and atom.name in running and atom.name not in failed
            and first_success(resumed, atom.name, "revert") is None
        ):
            problems.append(
                f"{atom.name!r} completed before the crash (release {atom.version}) but the "
                f"new release never reverted it"
            )
    problems += upgrade_problems(resumed)
    return "; ".join(problems) or None


def check_problems(run: FlowRun, check: Check | None) -> list[str]:
    """``check(run)``'s failure, as a problem (none if it did not raise AssertionError)."""
    if check is None:
        return []
    try:
        check(run)
    except AssertionError as failed:
        first_line = str(failed).splitlines()[0] if str(failed) else "AssertionError"
        return [f"check failed: {first_line}"]
    return []


def run_differences(first: FlowRun, other: FlowRun, one: int, two: int) -> list[str]:
    """How two runs of the same plan (repetitions ``one`` and ``two``) differed."""
    differences = []
    if first.state != other.state:
        differences.append(f"repetition {one} ended {first.state}, repetition {two} {other.state}")
    for done, counted, counted_other in (
        ("executed", first.attempts, other.attempts),
        ("reverted", first.reverts, other.reverts),
    ):
        names = [atom.name for atom in first.atoms]
        only_first = [name for name in names if counted(name) and not counted_other(name)]
        only_other = [name for name in names if counted_other(name) and not counted(name)]
        for number, only in ((one, only_first), (two, only_other)):
            if only:
                differences.append(
                    f"{done} in repetition {number} only: "
                    + ", ".join(repr(name) for name in only)
                )
    order, other_order = first.execution_order(), other.execution_order()
    for step, (name, other_name) in enumerate(zip(order, other_order), start=1):
        if name != other_name:
            differences.append(
                f"execution order parts at attempt {step}: repetition {one} started "
                f"{name!r}, repetition {two} {other_name!r}"
            )
            break
    failed = {name for name, _ in first.verdict.failed_reverts}
    failed_other = {name for name, _ in other.verdict.failed_reverts}
    for number, names_only in ((one, failed - failed_other), (two, failed_other - failed)):
        if names_only:
            differences.append(
                f"revert failed in repetition {number} only: "
                + ", ".join(repr(name) for name in sorted(names_only))
            )
    return differences or ["the same atoms ran in the same order; only the verdicts differ"]


def _reached_caller(run: FlowRun, fired: Event) -> bool:
    """Whether the run failed with the error that the ``fired`` fault raised."""
    if run.state != "FAILURE" or fired.error is None:
        return False
    error = fired.error
    return check_failed(run, type(error), re.escape(str(error))) is None


def problem_of_sweep_variant(runs: Iterable[FlowRun], *, strict: bool = False) -> str | None:
    """For ``--flowfault-sweep``: what was wrong with a test's runs under a variant, run by
    run, judged as a sweep judges its variants (None if each survived)."""
    problems = []
    for number, run in enumerate(runs, start=1):
        problem = judge(run, strict=strict).problem
        if problem is not None:
            problems.append(f"run {number} (flow {run.flow_name!r}): {problem}")
    return "\n".join(problems) or None
