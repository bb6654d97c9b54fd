"""Exploring the faults a flow can meet: sweeps over fault points, pruning.

A *fault point* is a (task, kind) pair. Kinds:

* ``transient``: the task's first ``execute`` attempt fails (later ones run the real code);
* ``permanent``: every attempt fails;
* ``revert``: the task's own ``revert`` fails while the flow is rolled back from a
  permanent failure of the last task that ran (a revert fault alone never fires in a flow
  that succeeds, so this is the smallest run in which it matters). Only tasks with a
  revert of their own are fault points: TaskFlow's default revert does nothing, and
  cannot fail in production;
* ``crash``: the engine dies right after the task completed; the run is then resumed from
  its backend, and must succeed without running any completed task again or losing a
  saved result. Crash points are not paired with other faults;
* ``upgrade``: the same crash, resumed by the next release of the flow (``upgrade_to``);
  the resumption must succeed with no completed atom run again, and the upgrade must be
  safe (``FlowRun.assert_upgrade_safe``). With ``upgrade_faults``, each task of the new
  release that still had to run is also failed after the resumption, and the whole chain
  must be compensated: release N+1's reverts must undo release N's work.

How each run is judged is :mod:`pytest_flowfault.variants`. Pruning never loses a
distinct outcome: it only skips runs that are provably the same as one already made (the
fault would never fire, or it equals another variant).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_flowfault.arguments import (
    built_flow,
    check_bool,
    check_engine_options,
    check_repeat,
    check_store,
    check_sweep_options,
    check_upgrade_options,
    short_repr,
)
from pytest_flowfault.assertions import successful_executions
from pytest_flowfault.catalog import check_engine_name
from pytest_flowfault.errors import SweepError, UpgradeError
from pytest_flowfault.persist import check_backend
from pytest_flowfault.plan import Fault, FaultPlan
from pytest_flowfault.points import (
    PRUNED_CRASH_PAIR,
    PRUNED_DID_NOT_RUN,
    PRUNED_DONE_BEFORE,
    PRUNED_NEVER_RAN,
    PRUNED_NO_RETRY,
    PRUNED_NO_REVERT,
    PRUNED_SAME_FAULTS,
    PRUNED_SAME_TASK,
    ExceptionChoice,
    Exceptions,
    FaultPoint,
    last_task,
    single_points,
)
from pytest_flowfault.run import FlowRun
from pytest_flowfault.session import Session
from pytest_flowfault.upgrade import upgrade_verdict
from pytest_flowfault.variants import (
    Check,
    Repetition,
    SweepReport,
    Variant,
    crash_verdict,
    judge,
    upgrade_fault_verdict,
)
from pytest_flowfault.verdict import nothing_to_undo_targets


@dataclass(frozen=True)
class _Judge:
    """Runs a plan ``repeat`` times and judges each run."""

    run: Callable[[FaultPlan], FlowRun]
    resume: Callable[[FlowRun], FlowRun] | None
    check: Check | None
    strict: bool
    nothing_to_undo: tuple[str, ...]
    repeat: int
    upgrade: Callable[[FlowRun, FaultPlan], FlowRun] | None = None

    def variant(
        self, plan: FaultPlan, kind: str = "", resumed_plan: FaultPlan | None = None
    ) -> Variant:
        repetitions = tuple(self._once(plan, kind, resumed_plan) for _ in range(self.repeat))
        return Variant(plan, repetitions, resumed_plan or FaultPlan())

    def _once(self, plan: FaultPlan, kind: str, resumed_plan: FaultPlan | None) -> Repetition:
        run = self.run(plan)
        if kind == "crash":
            if self.resume is None:
                raise ValueError("a crash sweep needs a way to resume its runs")
            resumed = self.resume(run)
            return Repetition(resumed, crash_verdict(resumed))
        if kind == "upgrade":
            if self.upgrade is None:
                raise ValueError("an upgrade sweep needs upgrade_to=, the next release")
            try:
                resumed = self.upgrade(run, resumed_plan or FaultPlan())
            except UpgradeError as refused:
                return Repetition(run, str(refused))
            verdict_ = upgrade_fault_verdict if resumed_plan else upgrade_verdict
            return Repetition(resumed, verdict_(resumed))
        return judge(
            run, check=self.check, strict=self.strict, nothing_to_undo=self.nothing_to_undo
        )


def sweep_flow(
    run: Callable[[FaultPlan], FlowRun],
    *,
    resume: Callable[[FlowRun], FlowRun] | None = None,
    kinds: Iterable[str] = ("transient", "permanent"),
    max_faults: int = 1,
    check: Check | None = None,
    strict: bool = False,
    nothing_to_undo: Iterable[str | type] = (),
    exc: ExceptionChoice = None,
    repeat: int = 1,
    upgrade: Callable[[FlowRun, FaultPlan], FlowRun] | None = None,
    upgrade_faults: bool = False,
    api: str = "sweep_flow()",
) -> SweepReport:
    """Sweep with ``run(plan)`` doing the engine runs (a fresh flow each time); the
    arguments are :func:`sweep`'s."""
    chosen = check_sweep_options(kinds, max_faults, check, strict, api)
    exempt = nothing_to_undo_targets(nothing_to_undo, strict)
    exceptions = Exceptions(exc, api)
    check_repeat(repeat, api)
    baselines = [run(FaultPlan()) for _ in range(repeat)]
    for number, baseline in enumerate(baselines, start=1):
        if not baseline.succeeded:
            which = f" (repetition {number} of {repeat})" if repeat > 1 else ""
            raise SweepError(
                f"the baseline run of flow {baseline.flow_name!r} (no faults){which} ended "
                f"{baseline.state}: a sweep needs a flow that works without faults\n\n"
                f"{baseline.timeline()}"
            )
    baseline = baselines[0]
    exceptions.check_matched(baseline)
    points, pruned, naive = single_points(baselines, chosen, exceptions)
    last = last_task(baseline)
    judge_ = _Judge(run, resume, check, strict, exempt, repeat, upgrade)
    variants: list[Variant] = []
    singles: dict[FaultPoint, Variant] = {}
    for point in points:
        variant = judge_.variant(FaultPlan(*point.faults(last)), point.kind)
        variants.append(variant)
        if point.kind == "upgrade" and upgrade_faults:
            faulted, skipped = _faults_after_upgrade(variant, judge_)
            variants += faulted
            naive += len(faulted) + skipped
            if skipped:
                pruned[PRUNED_DONE_BEFORE] = pruned.get(PRUNED_DONE_BEFORE, 0) + skipped
        if point.kind not in ("crash", "upgrade"):
            singles[point] = variant
    if max_faults == 2:
        pair_variants, pair_pruned, pair_naive = _pairs(
            baselines, singles, points, chosen, last, judge_
        )
        variants += pair_variants
        naive += pair_naive
        for reason, count in pair_pruned.items():
            pruned[reason] = pruned.get(reason, 0) + count
    return SweepReport(baseline, tuple(variants), naive, pruned, repeat)


def sweep(
    make_flow: Callable[[], Any],
    *,
    store: Mapping[str, Any] | None = None,
    engine: str = "serial",
    kinds: Iterable[str] = ("transient", "permanent"),
    max_faults: int = 1,
    check: Callable[[FlowRun], object] | None = None,
    strict: bool = False,
    nothing_to_undo: Iterable[str | type] = (),
    exc: ExceptionChoice = None,
    setup: Callable[[], object] | None = None,
    repeat: int = 1,
    upgrade_to: Callable[[], Any] | None = None,
    upgrade_faults: bool = False,
    backend: Any = None,
    directory: Callable[[], Path] | None = None,
    virtual_time: bool = False,
    api: str = "sweep()",
    **engine_options: Any,
) -> SweepReport:
    """Run a fresh flow from ``make_flow()`` once without faults, then once per fault point.

    Kinds are ``"transient"``, ``"permanent"``, ``"revert"`` and ``"crash"`` (see
    :mod:`pytest_flowfault.explore`); ``max_faults=2`` explores pairs. A variant is ok when
    the flow succeeded, or ended REVERTED and compensated (``strict`` and
    ``nothing_to_undo`` as in ``assert_compensated``), and ``check(run)`` did not raise
    ``AssertionError``. ``exc`` is what transient and permanent faults raise: an exception
    class or instance, or ``{target: exception}`` (the first entry naming a task wins; the
    others get ``InjectedFault``). ``setup()`` is called before every run, the baseline
    included (a crashed run's resumption is the same variant: no setup between). With
    ``repeat=N`` every variant, and the baseline, runs N times: any failing repetition
    fails the variant, and variants judged differently across repetitions are flaky.
    Kind ``"upgrade"`` resumes each crash with ``upgrade_to()``, the next release of the
    flow; ``upgrade_faults=True`` also fails each of its tasks after the resumption.

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
    nothing_to_undo = nothing_to_undo_targets(nothing_to_undo, strict)
    Exceptions(exc, api)
    check_repeat(repeat, api)
    if setup is not None and not callable(setup):
        raise TypeError(
            f"{api}: setup= takes a function of no arguments, called before every run, "
            f"got {short_repr(setup)}"
        )
    check_store(store, api)
    check_engine_name(engine, api)
    check_engine_options(engine_options, api)
    check_bool(virtual_time, api, "virtual_time", "skip sleeps inside atoms")
    check_upgrade_options(kinds, upgrade_to, upgrade_faults, api)
    if {"crash", "upgrade"} & set(kinds) and backend is None:
        backend = "memory"  # resuming needs the crashed run's storage
    if backend is not None:
        check_backend(backend, api)

    def one_run(plan: FaultPlan) -> FlowRun:
        if setup is not None:
            setup()
        return session.run(
            built_flow(make_flow, api),
            extra=plan,
            store=store,
            engine=engine,
            backend=backend,
            api=api,
            **engine_options,
        )

    session = Session(virtual_time=virtual_time, directory=directory)
    try:
        return sweep_flow(
            one_run,
            resume=lambda crashed: session.resume(crashed, api=api),
            kinds=kinds,
            max_faults=max_faults,
            check=check,
            strict=strict,
            nothing_to_undo=nothing_to_undo,
            exc=exc,
            repeat=repeat,
            upgrade=lambda crashed, plan: session.resume(
                crashed, flow=upgrade_to, extra=plan, api=api
            ),
            upgrade_faults=upgrade_faults,
            api=api,
        )
    finally:
        session.close()


def _pairs(
    baselines: Sequence[FlowRun],
    singles: Mapping[FaultPoint, Variant],
    points: Sequence[FaultPoint],
    kinds: Sequence[str],
    last: str,
    judge_: _Judge,
) -> tuple[list[Variant], dict[str, int], int]:
    """Two faults at once, where each still fires in the other's single-fault runs.

    If none of B's faults fire in the runs with A alone (their tasks no longer run, or are
    no longer reverted), the run with both is that same run: nothing new to see.
    """
    baseline = baselines[0]
    tasks = [atom.name for atom in baseline.atoms if atom.kind == "task"]
    exc = {(point.task, point.kind): point.exc for point in points}
    already_run = {frozenset(point.faults(last)) for point in singles}
    variants: list[Variant] = []
    pruned: dict[str, int] = {}
    naive = 0
    ran = {task for task in tasks if any(run.attempts(task) for run in baselines)}
    all_points = [
        FaultPoint(task, kind, exc.get((task, kind))) for task in tasks for kind in kinds
    ]
    for first, second in itertools.combinations(all_points, 2):
        naive += 1
        if {"crash", "upgrade"} & {first.kind, second.kind}:
            reason: str | None = PRUNED_CRASH_PAIR
        elif first.task == second.task:
            reason = PRUNED_SAME_TASK
        elif not (first.task in ran and second.task in ran):
            reason = PRUNED_NEVER_RAN
        elif first not in singles or second not in singles:
            missing = first if first not in singles else second
            reason = PRUNED_NO_REVERT if missing.kind == "revert" else PRUNED_NO_RETRY
        elif not (
            _fires(second, singles[first], last) and _fires(first, singles[second], last)
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
        variants.append(judge_.variant(FaultPlan(*faults)))
    return variants, pruned, naive


def _faults_after_upgrade(variant: Variant, judge_: _Judge) -> tuple[list[Variant], int]:
    """For an upgrade variant: one variant per task of the new release that still had to
    run after the crash, failed there; and how many tasks were skipped as done."""
    resumed = variant.repetitions[0].run
    if resumed.resumed_from is None:  # TaskFlow refused the new release: nothing ran
        return [], 0
    done = {
        atom.name for atom in resumed.resumed_from.atoms
        if successful_executions(resumed.resumed_from, atom.name)[-1]
    }
    tasks = [atom.name for atom in resumed.atoms if atom.kind == "task"]
    faulted = [
        judge_.variant(variant.plan, "upgrade", FaultPlan(Fault.fail(task)))
        for task in tasks
        if task not in done
    ]
    return faulted, len(tasks) - len(faulted)


def _fires(point: FaultPoint, variant: Variant, last: str) -> bool:
    """Whether any of a fault point's faults would have fired somewhere in a repetition
    of ``variant``.

    A revert point is two faults (its task's revert, and the last task failing): either
    one striking makes the run with both points differ from ``run``.
    """
    return any(
        run.reverts(target) > 0 if fault.action == "revert" else run.attempts(target) > 0
        for run in (repetition.run for repetition in variant.repetitions)
        for fault in point.faults(last)
        if isinstance(target := fault.target, str)  # always: a point's faults name tasks
    )


def fault_points_of(
    runs: Iterable[FlowRun], kinds: Sequence[str], exc: object = None
) -> list[FaultPlan]:
    """For ``--flowfault-sweep``: one plan per fault point of a test's own runs."""
    exceptions = Exceptions(exc, "--flowfault-sweep")
    plans: dict[FaultPlan, None] = {}
    for baseline in runs:
        if not any(baseline.attempts(atom.name) for atom in baseline.atoms if atom.kind == "task"):
            continue
        points, _, _ = single_points([baseline], kinds, exceptions)
        last = last_task(baseline)
        for point in points:
            plans.setdefault(FaultPlan(*point.faults(last)))
    return list(plans)
