"""A run's verdict, computed once: was it compensated, what is wrong, what became of each
atom. ``FlowRun.verdict`` keeps it; the checks in :mod:`pytest_flowfault.assertions`, the
reports and the explorer read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
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

    def atom(self, name: str) -> AtomVerdict:
        """The verdict on the atom called exactly ``name``."""
        for atom in self.atoms:
            if atom.name == name:
                return atom
        raise UnknownAtom(f"no verdict on an atom called {name!r}")


def verdict_of(run: FlowRun) -> RunVerdict:
    """Judge a run: what ``FlowRun.verdict`` stores (use that; it computes this once)."""
    problems, strict, without_revert = (
        ([], [], []) if run.succeeded else _compensation_problems(run)
    )
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
        not problems if to_undo else None, tuple(problems), tuple(strict), atoms,
        tuple(without_revert),
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
    of tasks that create nothing, whose lack of a revert is no problem.
    """
    exempt = _nothing_to_undo(nothing_to_undo, strict)
    verdict = run.verdict
    if not strict:
        return list(verdict.problems)
    atoms = {atom.name: atom for atom in run.atoms}
    excused = {
        problem for name, problem in verdict.without_revert
        if any(_names(target, atoms[name]) for target in exempt)
    }
    return [problem for problem in verdict.strict_problems if problem not in excused]


def _nothing_to_undo(targets: Iterable[str | type], strict: bool) -> tuple[str, ...]:
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


def _names(target: str, atom: AtomInfo) -> bool:
    """Whether ``target`` names the atom, or its class by dotted path or class name."""
    return target_matches(target, atom.name) or names_class(target, atom.class_path)


def _compensation_problems(
    run: FlowRun,
) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """(problems, strict problems, (atom, strict problem) of tasks without a revert), in
    one pass over the run."""
    without_revert: list[tuple[str, str]] = []
    failed_reverts = {
        event.name: event
        for event in run.events
        if event.kind == "task" and event.what == "REVERT_FAILURE"
    }
    problems = [
        f"{name!r} failed to revert: {error_text(event.error)}"
        for name, event in failed_reverts.items()
    ]
    strict = list(problems)
    reverted: dict[str, tuple[Event, Event]] = {}
    for atom in run.atoms:
        if atom.kind != "task" or atom.name in failed_reverts:
            continue
        executed = last_success(run, atom.name, "execute")
        if executed is None:
            continue
        revert = first_success(run, atom.name, "revert", after=executed[1].seq)
        if revert is None:
            problem = (
                f"{atom.name!r} completed (execute attempt {executed[1].attempt}) but was "
                f"never reverted"
            )
            problems.append(problem)
            strict.append(problem)
            continue
        reverted[atom.name] = revert
        if not atom.has_revert:
            problem = (
                f"{atom.name!r} completed but has no revert of its own (TaskFlow's "
                f"default revert does nothing), so whatever it created is left behind"
            )
            strict.append(problem)
            without_revert.append((atom.name, problem))
    for producer, consumer in _reachable_pairs(run.dependencies):
        if producer in reverted and consumer in reverted:
            if reverted[producer][0].seq < reverted[consumer][1].seq:
                problem = (
                    f"{producer!r} was reverted (from #{reverted[producer][0].seq}) before "
                    f"{consumer!r}, which runs after it, had finished reverting "
                    f"(#{reverted[consumer][1].seq})"
                )
                problems.append(problem)
                strict.append(problem)
    return problems, strict, without_revert


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
