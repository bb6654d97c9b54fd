"""Exploring the faults a flow can meet: sweeps over fault points, pruning, verdicts.

A *fault point* is a (task, kind) pair. Kinds:

* ``transient``: the task's first ``execute`` attempt fails (later ones run the real code);
* ``permanent``: every attempt fails;
* ``revert``: the task's ``revert`` fails while the flow is rolled back from a permanent
  failure of the last task that ran (a revert fault alone never fires in a flow that
  succeeds, so this is the smallest run in which it matters);
* ``crash``: the engine dies right after the task completed; the run is then resumed from
  its backend, and must succeed without running any completed task again or losing a
  saved result. Crash points are not paired with other faults.

Pruning never loses a distinct outcome: it only skips runs that are provably the same as
one already made (the fault would never fire, or it equals another variant).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_flowfault.arguments import (
    check_bool,
    check_engine_options,
    check_store,
    check_sweep_options,
    flow_problem,
    short_repr,
)
from pytest_flowfault.assertions import lost_results, successful_executions
from pytest_flowfault.catalog import check_engine_name
from pytest_flowfault.errors import SweepError
from pytest_flowfault.persist import check_backend
from pytest_flowfault.plan import Fault, FaultPlan
from pytest_flowfault.run import FlowRun
from pytest_flowfault.session import Session
from pytest_flowfault.verdict import compensation_problems

Check = Callable[[FlowRun], object]

PRUNED_NEVER_RAN = "the task never ran in the baseline"
PRUNED_NO_RETRY = "transient is permanent: no retry controller above the task"
PRUNED_SAME_TASK = "two faults on one task"
PRUNED_DID_NOT_RUN = "the second task never ran once the first fault struck"
PRUNED_SAME_FAULTS = "the same faults as another variant"
PRUNED_CRASH_PAIR = "crash points are not paired"


@dataclass(frozen=True)
class FaultPoint:
    """A task and a kind of fault; :meth:`faults` makes the faults for it."""

    task: str
    kind: str

    def faults(self, last_task: str) -> tuple[Fault, ...]:
        if self.kind == "transient":
            return (Fault.fail(self.task, times=1),)
        if self.kind == "permanent":
            return (Fault.fail(self.task),)
        if self.kind == "crash":
            return (Fault.crash_after(self.task),)
        return (Fault.fail(last_task), Fault.fail_revert(self.task))


@dataclass(frozen=True)
class Variant:
    """One explored run: the plan, the run, and what was wrong with it (None if ok)."""

    plan: FaultPlan
    run: FlowRun
    problem: str | None

    @property
    def ok(self) -> bool:
        """Whether the flow succeeded, or was reverted and fully compensated."""
        return self.problem is None


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

    @property
    def failures(self) -> tuple[Variant, ...]:
        """The variants whose verdict is not ok."""
        return tuple(variant for variant in self.variants if not variant.ok)

    @property
    def runs(self) -> int:
        """Engine runs made, the baseline included (a crash variant is two: crash, resume)."""
        return 1 + sum(len(variant.run.chain()) for variant in self.variants)

    def assert_resilient(self) -> None:
        """Fail, listing every failing plan as code with its problem and timeline."""
        __tracebackhide__ = True
        if not self.failures:
            return
        parts = [
            f"{len(self.failures)} of {len(self.variants)} fault variants of flow "
            f"{self.baseline.flow_name!r} were not survived:"
        ]
        for variant in self.failures:
            parts += ["", f"{variant.plan!r}", f"  {variant.problem}", variant.run.timeline()]
        raise AssertionError("\n".join(parts))

    def __str__(self) -> str:
        lines = [
            f"sweep of flow {self.baseline.flow_name!r} on the {self.baseline.engine} engine: "
            f"{self.runs} runs (baseline + {len(self.variants)} "
            f"variant{'' if len(self.variants) == 1 else 's'}) instead of "
            f"{self.naive + 1}; {len(self.failures)} not survived"
        ]
        lines += [f"  pruned {count}: {reason}" for reason, count in self.pruned.items()]
        for variant in self.variants:
            verdict = "ok  " if variant.ok else "FAIL"
            lines.append(f"{verdict} {variant.plan!r} -> {variant.run.state}")
            if variant.problem:
                lines.append(f"     {variant.problem}")
        return "\n".join(lines)


def verdict(run: FlowRun, *, check: Check | None = None, strict: bool = False) -> str | None:
    """What is wrong with a run under faults, or None: it must succeed, or end REVERTED
    with every completed task compensated; then ``check(run)`` must not raise."""
    problems = []
    if not run.succeeded:
        if run.state != "REVERTED":
            problems.append(f"the flow ended {run.state}, not REVERTED")
        problems += compensation_problems(run, strict=strict)
    if check is not None:
        try:
            check(run)
        except AssertionError as failed:
            first_line = str(failed).splitlines()[0] if str(failed) else "AssertionError"
            problems.append(f"check failed: {first_line}")
    return "; ".join(problems) or None


def crash_verdict(resumed: FlowRun) -> str | None:
    """What is wrong with the resumption of a crashed run, or None."""
    problems = []
    if not resumed.succeeded:
        problems.append(f"the resumed flow ended {resumed.state}")
    for atom in resumed.atoms:
        if atom.kind != "task":
            continue
        done = sum(successful_executions(resumed, atom.name))
        if done > 1:
            problems.append(f"{atom.name!r} ran again after the crash ({done} times in all)")
    problems += [
        f"{name!r}'s result saved before the crash was lost" for name in lost_results(resumed)
    ]
    return "; ".join(problems) or None


def single_points(
    baseline: FlowRun, kinds: Sequence[str]
) -> tuple[list[FaultPoint], dict[str, int], int]:
    """The fault points worth a run, what was pruned and why, and the naive count."""
    tasks = [atom for atom in baseline.atoms if atom.kind == "task"]
    ran = {atom.name for atom in tasks if baseline.attempts(atom.name)}
    pruned: dict[str, int] = {}
    points = []
    for atom in tasks:
        for kind in kinds:
            reason = None
            if atom.name not in ran:
                reason = PRUNED_NEVER_RAN
            elif kind == "transient" and atom.retry is None and "permanent" in kinds:
                reason = PRUNED_NO_RETRY
            if reason is None:
                points.append(FaultPoint(atom.name, kind))
            else:
                pruned[reason] = pruned.get(reason, 0) + 1
    return points, pruned, len(tasks) * len(kinds)


def last_task(run: FlowRun) -> str:
    """The task whose first execute started last: failing it reverts the most work."""
    tasks = {atom.name for atom in run.atoms if atom.kind == "task"}
    order = [name for name in run.execution_order() if name in tasks]
    return order[-1]


def sweep_flow(
    run: Callable[[FaultPlan], FlowRun],
    *,
    resume: Callable[[FlowRun], FlowRun] | None = None,
    kinds: Iterable[str] = ("transient", "permanent"),
    max_faults: int = 1,
    check: Check | None = None,
    strict: bool = False,
) -> SweepReport:
    """Sweep with ``run(plan)`` doing the engine runs (a fresh flow each time)."""
    chosen = check_sweep_options(kinds, max_faults, check, strict, "sweep_flow()")
    baseline = run(FaultPlan())
    if not baseline.succeeded:
        raise SweepError(
            f"the baseline run of flow {baseline.flow_name!r} (no faults) ended "
            f"{baseline.state}: a sweep needs a flow that works without faults\n\n"
            f"{baseline.timeline()}"
        )
    points, pruned, naive = single_points(baseline, chosen)
    last = last_task(baseline)
    variants: list[Variant] = []
    singles: list[tuple[FaultPoint, FlowRun]] = []
    for point in points:
        plan = FaultPlan(*point.faults(last))
        variant_run = run(plan)
        if point.kind == "crash":
            if resume is None:
                raise ValueError("a crash sweep needs a way to resume its runs")
            resumed = resume(variant_run)
            variants.append(Variant(plan, resumed, crash_verdict(resumed)))
            continue
        variants.append(
            Variant(plan, variant_run, verdict(variant_run, check=check, strict=strict))
        )
        singles.append((point, variant_run))
    if max_faults == 2:
        pair_variants, pair_pruned, pair_naive = _pairs(
            baseline, singles, chosen, last, run, check, strict
        )
        variants += pair_variants
        naive += pair_naive
        for reason, count in pair_pruned.items():
            pruned[reason] = pruned.get(reason, 0) + count
    return SweepReport(baseline, tuple(variants), naive, pruned)


def sweep(
    make_flow: Callable[[], Any],
    *,
    store: Mapping[str, Any] | None = None,
    engine: str = "serial",
    kinds: Iterable[str] = ("transient", "permanent"),
    max_faults: int = 1,
    check: Callable[[FlowRun], object] | None = None,
    strict: bool = False,
    backend: Any = None,
    directory: Callable[[], Path] | None = None,
    virtual_time: bool = False,
    api: str = "sweep()",
    **engine_options: Any,
) -> SweepReport:
    """Run a fresh flow from ``make_flow()`` once without faults, then once per fault point.

    Kinds are ``"transient"``, ``"permanent"``, ``"revert"`` and ``"crash"`` (see
    :mod:`pytest_flowfault.explore`); ``max_faults=2`` explores pairs. A variant is ok when
    the flow succeeded, or ended REVERTED and compensated (``strict`` as in
    ``assert_compensated``), and ``check(run)`` did not raise ``AssertionError``.

    >>> sweep(lambda: boot_flow(retry=Times(3)), store=STORE).assert_resilient()  # doctest: +SKIP

    Every argument is checked before the first run; ``api`` is the call that a bad
    argument's error names.
    """
    if not callable(make_flow) or hasattr(make_flow, "iter_nodes"):
        raise TypeError(
            f"{api.removesuffix('()')}() takes a callable that builds a fresh flow for every "
            f"run, e.g. lambda: boot_flow(), got {type(make_flow).__name__}"
        )
    kinds = check_sweep_options(kinds, max_faults, check, strict, api)
    check_store(store, api)
    check_engine_name(engine, api)
    check_engine_options(engine_options, api)
    check_bool(virtual_time, api, "virtual_time", "skip sleeps inside atoms")
    if "crash" in kinds and backend is None:
        backend = "memory"  # resuming needs the crashed run's storage
    if backend is not None:
        check_backend(backend, api)

    def fresh_flow() -> Any:
        flow = make_flow()
        problem = flow_problem(flow)
        if problem is not None:
            raise TypeError(
                f"{api}: make_flow() returned {short_repr(flow)}; it must return {problem}"
            )
        return flow

    session = Session(virtual_time=virtual_time, directory=directory)
    try:
        return sweep_flow(
            lambda plan: session.run(
                fresh_flow(),
                extra=plan,
                store=store,
                engine=engine,
                backend=backend,
                api=api,
                **engine_options,
            ),
            resume=lambda crashed: session.resume(crashed, api=api),
            kinds=kinds,
            max_faults=max_faults,
            check=check,
            strict=strict,
        )
    finally:
        session.close()


def _pairs(
    baseline: FlowRun,
    singles: list[tuple[FaultPoint, FlowRun]],
    kinds: Sequence[str],
    last: str,
    run: Callable[[FaultPlan], FlowRun],
    check: Check | None,
    strict: bool,
) -> tuple[list[Variant], dict[str, int], int]:
    """Two faults at once, where each still fires in the other's single-fault run.

    If none of B's faults fire in the run with A alone (their tasks no longer run, or are
    no longer reverted), the run with both is that same run: nothing new to see.
    """
    tasks = [atom.name for atom in baseline.atoms if atom.kind == "task"]
    single_run = dict(singles)
    already_run = {frozenset(point.faults(last)) for point, _ in singles}
    variants: list[Variant] = []
    pruned: dict[str, int] = {}
    naive = 0
    all_points = [FaultPoint(task, kind) for task in tasks for kind in kinds]
    for first, second in itertools.combinations(all_points, 2):
        naive += 1
        if "crash" in (first.kind, second.kind):
            reason: str | None = PRUNED_CRASH_PAIR
        elif first.task == second.task:
            reason = PRUNED_SAME_TASK
        elif not (baseline.attempts(first.task) and baseline.attempts(second.task)):
            reason = PRUNED_NEVER_RAN
        elif first not in single_run or second not in single_run:
            reason = PRUNED_NO_RETRY
        elif not (
            _fires(second, single_run[first], last) and _fires(first, single_run[second], last)
        ):
            reason = PRUNED_DID_NOT_RUN
        else:
            reason = None
        if reason is not None:
            pruned[reason] = pruned.get(reason, 0) + 1
            continue
        faults = dict.fromkeys([*first.faults(last), *second.faults(last)])
        if frozenset(faults) in already_run:
            pruned[PRUNED_SAME_FAULTS] = pruned.get(PRUNED_SAME_FAULTS, 0) + 1
            continue
        already_run.add(frozenset(faults))
        plan = FaultPlan(*faults)
        variant_run = run(plan)
        variants.append(
            Variant(plan, variant_run, verdict(variant_run, check=check, strict=strict))
        )
    return variants, pruned, naive


def _fires(point: FaultPoint, run: FlowRun, last: str) -> bool:
    """Whether any of a fault point's faults would have fired somewhere in ``run``.

    A revert point is two faults (its task's revert, and the last task failing): either
    one striking makes the run with both points differ from ``run``.
    """
    return any(
        run.reverts(target) > 0 if fault.action == "revert" else run.attempts(target) > 0
        for fault in point.faults(last)
        if isinstance(target := fault.target, str)  # always: a point's faults name tasks
    )


def fault_points_of(runs: Iterable[FlowRun], kinds: Sequence[str]) -> list[FaultPlan]:
    """For ``--flowfault-sweep``: one plan per fault point of a test's own runs."""
    plans: dict[FaultPlan, None] = {}
    for baseline in runs:
        if not any(baseline.attempts(atom.name) for atom in baseline.atoms if atom.kind == "task"):
            continue
        points, _, _ = single_points(baseline, kinds)
        last = last_task(baseline)
        for point in points:
            plans.setdefault(FaultPlan(*point.faults(last)))
    return list(plans)

