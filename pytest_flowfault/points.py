"""Fault points: the (task, kind) pairs a sweep explores, the exceptions they raise, and
the pruning of points that provably cannot show anything new (see
:mod:`pytest_flowfault.explore` for the kinds)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pytest_flowfault.arguments import check_sweep_exc
from pytest_flowfault.errors import SweepError
from pytest_flowfault.plan import Fault
from pytest_flowfault.run import AtomInfo, FlowRun
from pytest_flowfault.targets import class_path, closest_name
from pytest_flowfault.values import ExceptionSpec
from pytest_flowfault.verdict import names_atom

PRUNED_NEVER_RAN = "the task never ran in the baseline"
PRUNED_NO_RETRY = "transient is permanent: no retry controller above the task"
PRUNED_NO_REVERT = "revert: the task has no revert of its own (TaskFlow's default does nothing)"
PRUNED_SAME_TASK = "two faults on one task"
PRUNED_DID_NOT_RUN = "the second task never ran once the first fault struck"
PRUNED_SAME_FAULTS = "the same faults as another variant"
PRUNED_CRASH_PAIR = "crash and upgrade points are not paired"
PRUNED_DONE_BEFORE = "upgrade: the task completed before the crash, so the new release skips it"

#: What ``sweep(exc=...)`` takes: one exception for all, or ``{target: exception}``.
ExceptionChoice = (
    ExceptionSpec
    | Mapping[str, ExceptionSpec]
    | Mapping[type, ExceptionSpec]
    | Mapping[str | type, ExceptionSpec]
    | None
)


@dataclass(frozen=True)
class FaultPoint:
    """A task and a kind of fault; :meth:`faults` makes the faults for it. ``exc`` is what
    its transient or permanent fault raises (None: ``InjectedFault``)."""

    task: str
    kind: str
    exc: ExceptionSpec | None = None

    def faults(self, last_task: str) -> tuple[Fault, ...]:
        if self.kind == "transient":
            return (Fault.fail(self.task, times=1, exc=self.exc),)
        if self.kind == "permanent":
            return (Fault.fail(self.task, exc=self.exc),)
        if self.kind in ("crash", "upgrade"):
            return (Fault.crash_after(self.task),)
        return (Fault.fail(last_task), Fault.fail_revert(self.task))


class Exceptions:
    """What transient and permanent faults raise, from ``sweep(exc=...)``: one exception
    for every task, or the first ``{target: exception}`` entry that names the task (by
    name, pattern or task class); tasks no entry names get ``InjectedFault``."""

    def __init__(self, exc: object = None, api: str = "sweep()") -> None:
        self._entries = check_sweep_exc(exc, api)
        self._api = api

    def for_atom(self, atom: AtomInfo) -> ExceptionSpec | None:
        for target, spec in self._entries:
            if _names_atom(target, atom):
                return spec
        return None

    def check_matched(self, baseline: FlowRun) -> None:
        """A ``{target: exception}`` entry that names no task of the flow is a typo."""
        tasks = [atom for atom in baseline.atoms if atom.kind == "task"]
        for target, _ in self._entries:
            if target is None or any(_names_atom(target, atom) for atom in tasks):
                continue
            shown = target if isinstance(target, str) else target.__qualname__
            near = closest_name(shown, [atom.name for atom in tasks])
            hint = f"; did you mean {near!r}?" if near else ""
            raise SweepError(
                f"{self._api}: exc= has an entry for {shown!r}, which names no task of flow "
                f"{baseline.flow_name!r}{hint} (entries name tasks by name, pattern or task "
                f"class)"
            )


def single_points(
    baselines: Sequence[FlowRun], kinds: Sequence[str], exceptions: Exceptions | None = None
) -> tuple[list[FaultPoint], dict[str, int], int]:
    """The fault points worth a run, what was pruned and why, and the naive count.
    A task counts as run if it ran in any of the (repeated) baselines."""
    tasks = [atom for atom in baselines[0].atoms if atom.kind == "task"]
    ran = {atom.name for atom in tasks if any(run.attempts(atom.name) for run in baselines)}
    pruned: dict[str, int] = {}
    points = []
    for atom in tasks:
        for kind in kinds:
            reason = None
            if atom.name not in ran:
                reason = PRUNED_NEVER_RAN
            elif kind == "transient" and atom.retry is None and "permanent" in kinds:
                reason = PRUNED_NO_RETRY
            elif kind == "revert" and not atom.has_revert:
                reason = PRUNED_NO_REVERT
            if reason is None:
                exc = exceptions.for_atom(atom) if exceptions is not None else None
                points.append(FaultPoint(atom.name, kind, exc))
            else:
                pruned[reason] = pruned.get(reason, 0) + 1
    return points, pruned, len(tasks) * len(kinds)


def last_task(run: FlowRun) -> str:
    """The task whose first execute started last: failing it reverts the most work."""
    tasks = {atom.name for atom in run.atoms if atom.kind == "task"}
    order = [name for name in run.execution_order() if name in tasks]
    return order[-1]


def _names_atom(target: str | type | None, atom: AtomInfo) -> bool:
    if target is None:
        return True
    if isinstance(target, type):
        return atom.class_path == class_path(target)
    return names_atom(target, atom)
