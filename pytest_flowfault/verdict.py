"""A run's verdict, computed once: was it compensated, what is wrong, what became of each
atom. ``FlowRun.verdict`` keeps it; the checks in :mod:`pytest_flowfault.assertions`, the
reports and the explorer read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pytest_flowfault.errors import UnknownAtom, describe_error
from pytest_flowfault.targets import class_path, names_class, target_matches

if TYPE_CHECKING:
    from pytest_flowfault.run import AtomInfo, Event, FlowRun

SUCCESS = ("ok", "returned")
#: End states after which nothing is due to be undone (a crashed run is resumed, not undone).
NOTHING_TO_UNDO = ("SUCCESS", "CRASHED", "SUSPENDED")

#: What became of one atom (see :class:`AtomVerdict`).
AtomOutcome = Literal["never ran", "executed", "failed", "reverted",
                      "reverted without running", "revert failed", "not undone"]


@dataclass(frozen=True, slots=True)
class AtomVerdict:
    """What became of one atom of a run. ``state`` is the last state the engine gave it (None if it gave none); ``attempts`` and
    ``reverts`` count its calls. ``verdict``: ``never ran``, ``executed`` (its last
    successful execute stands; nothing was due to undo it), ``failed`` (no execute succeeded,
    nothing reverted it), ``reverted`` (a successful revert followed its attempts),
    ``reverted without running``, ``revert failed`` (REVERT_FAILURE), or ``not undone``: a
    task that completed in a run due to be compensated and was never reverted afterwards.
    """

    name: str
    state: str | None
    attempts: int
    reverts: int
    verdict: AtomOutcome


@dataclass(frozen=True, slots=True)
class RunVerdict:
    """A run's verdict, as :func:`verdict_of` computes it once and ``FlowRun.verdict`` keeps it.

    ``compensated`` is None when nothing was due to be undone (the run succeeded, crashed or
    was suspended), else whether every completed task was undone. ``problems`` and
    ``strict_problems`` are what ``assert_compensated()`` and ``assert_compensated(strict=True)``
    list (empty for a run that succeeded).
    """

    compensated: bool | None
    problems: tuple[str, ...]
    strict_problems: tuple[str, ...]
    atoms: tuple[AtomVerdict, ...]
    #: (atom, problem) for the strict problems of completed tasks without a revert.
    without_revert: tuple[tuple[str, str], ...] = ()
    #: (atom, problem) for each REVERT_FAILURE.
    failed_reverts: tuple[tuple[str, str], ...] = ()
    #: Producers reverted before a consumer of theirs had finished reverting.
    order_problems: tuple[str, ...] = ()

    @property
    def not_undone(self) -> tuple[str, ...]:
        """The tasks that completed in a run due to be compensated and were never reverted."""
        return tuple(atom.name for atom in self.atoms if atom.verdict == "not undone")

    def atom(self, name: str) -> AtomVerdict:
        """The verdict on the atom called exactly ``name``."""
        for atom in self.atoms:
            if atom.name == name:
                return atom
        raise UnknownAtom(f"no verdict on an atom called {name!r}")


def verdict_of(run: FlowRun) -> RunVerdict:
    """Judge a run: what ``FlowRun.verdict`` stores (use that; it computes this once)."""
    findings = _Findings() if run.succeeded else _compensation_findings(run)
    to_undo = run.state not in NOTHING_TO_UNDO
    final = {e.name: e.what for e in run.events if e.kind in ("task", "retry")}
    atoms = tuple(
        AtomVerdict(
            atom.name, final.get(atom.name), run.attempts(atom.name), run.reverts(atom.name),
            _atom_outcome(run, atom.name, final.get(atom.name), to_undo and atom.kind == "task"),
        )
        for atom in run.atoms
    )
    return RunVerdict(
        not findings.problems if to_undo else None,
        tuple(findings.problems),
        tuple(findings.strict),
        atoms,
        tuple(findings.without_revert),
        tuple(findings.failed_reverts),
        tuple(findings.order),
    )


def _atom_outcome(run: FlowRun, name: str, state: str | None, due: bool) -> AtomOutcome:
    if state == "REVERT_FAILURE":
        return "revert failed"
    attempted = bool(run.call_spans(name, "execute"))
    executed = last_success(run, name, "execute")
    reverted = first_success(run, name, "revert", after=executed[1].seq if executed else -1)
    if not attempted:
        return "reverted without running" if reverted else "never ran"
    if reverted:
        return "reverted"
    if executed:
        return "not undone" if due else "executed"
    return "failed"



def compensation_problems(
    run: FlowRun, *, strict: bool = False, nothing_to_undo: Iterable[str | type] = ()
) -> list[str]:
    """Why a run that did not succeed left work undone (empty when it was compensated,
    and for a run that succeeded). Read from the run's stored verdict.

    ``nothing_to_undo`` (with ``strict``): targets or task classes (or their dotted paths)
    of tasks that create nothing, whose lack of a revert is no problem; the suite's own
    list (ini key ``flowfault_nothing_to_undo``, kept on the run) is added to it.
    """
    exempt = nothing_to_undo_targets(nothing_to_undo, strict) + run.nothing_to_undo
    verdict = run.verdict
    if not strict:
        return list(verdict.problems)
    atoms = {atom.name: atom for atom in run.atoms}
    excused = {
        problem for name, problem in verdict.without_revert
        if any(names_atom(target, atoms[name]) for target in exempt)
    }
    return [problem for problem in verdict.strict_problems if problem not in excused]


def nothing_to_undo_targets(targets: Iterable[str | type], strict: bool) -> tuple[str, ...]:
    """The checked ``nothing_to_undo`` targets, classes as their dotted paths."""
    if isinstance(targets, (str, type)):
        targets = (targets,)
    checked = []
    for target in targets:
        if isinstance(target, type):
            checked.append(class_path(target))
        elif isinstance(target, str) and target.strip():
            checked.append(target)
        else:
            raise TypeError(
                f"nothing_to_undo: give atom names, patterns or task classes (or their dotted "
                f"paths), got {type(target).__name__} {target!r}"
            )
    if checked and not strict:
        raise TypeError(
            "nothing_to_undo only matters with strict=True: without it, a task with no "
            "revert of its own is not a problem anyway"
        )
    return tuple(checked)


def names_atom(target: str, atom: AtomInfo) -> bool:
    """Whether ``target`` names the atom, or its class by dotted path or class name."""
    return target_matches(target, atom.name) or names_class(target, atom.class_path)


@dataclass
class _Findings:
    """What one pass over a run found wrong with its compensation."""

    problems: list[str] = field(default_factory=list)
    strict: list[str] = field(default_factory=list)
    without_revert: list[tuple[str, str]] = field(default_factory=list)
    failed_reverts: list[tuple[str, str]] = field(default_factory=list)
    order: list[str] = field(default_factory=list)

    def add(self, problem: str) -> None:
        self.problems.append(problem)
        self.strict.append(problem)


def _compensation_findings(run: FlowRun) -> _Findings:
    findings = _Findings()
    failed_reverts = {
        event.name: event
        for event in run.events
        if event.kind == "task" and event.what == "REVERT_FAILURE"
    }
    for name, event in failed_reverts.items():
        problem = f"{name!r} failed to revert: {error_text(event.error)}"
        findings.add(problem)
        findings.failed_reverts.append((name, problem))
    reverted: dict[str, tuple[Event, Event]] = {}
    for atom in run.atoms:
        if atom.kind != "task" or atom.name in failed_reverts:
            continue
        executed = last_success(run, atom.name, "execute")
        if executed is None:
            continue
        revert = first_success(run, atom.name, "revert", after=executed[1].seq)
        if revert is None:
            findings.add(
                f"{atom.name!r} completed (execute attempt {executed[1].attempt}) but was "
                f"never reverted"
            )
            continue
        reverted[atom.name] = revert
        if not atom.has_revert:
            problem = (
                f"{atom.name!r} completed but has no revert of its own (TaskFlow's "
                f"default revert does nothing), so whatever it created is left behind"
            )
            findings.strict.append(problem)
            findings.without_revert.append((atom.name, problem))
    for producer, consumer in _reachable_pairs(run.dependencies):
        if producer in reverted and consumer in reverted:
            if reverted[producer][0].seq < reverted[consumer][1].seq:
                problem = (
                    f"{producer!r} was reverted (from #{reverted[producer][0].seq}) before "
                    f"{consumer!r}, which runs after it, had finished reverting "
                    f"(#{reverted[consumer][1].seq})"
                )
                findings.add(problem)
                findings.order.append(problem)
    return findings


def first_success(
    run: FlowRun, name: str, action: Literal["execute", "revert"] = "execute", after: int = -1
) -> tuple[Event, Event] | None:
    """The (start, end) events of the first successful call after sequence ``after``."""
    for start, end in run.call_spans(name, action):
        if end is not None and end.what in SUCCESS and end.seq > after:
            return start, end
    return None


def last_success(
    run: FlowRun, name: str, action: Literal["execute", "revert"]
) -> tuple[Event, Event] | None:
    successes = [
        (start, end) for start, end in run.call_spans(name, action)
        if end is not None and end.what in SUCCESS
    ]
    return successes[-1] if successes else None


def _reachable_pairs(edges: Sequence[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """Every (before, after) pair connected by a path of ``edges``."""
    successors: dict[str, list[str]] = {}
    for before, after in edges:
        successors.setdefault(before, []).append(after)
    for start in successors:
        seen: set[str] = set()
        stack = list(successors[start])
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(successors.get(node, ()))
        for node in seen:
            yield start, node


def error_text(error: BaseException | None) -> str:
    """How a message spells an error (or its absence)."""
    return describe_error(error) if error is not None else "no error"
