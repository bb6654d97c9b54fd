"""The checks behind ``FlowRun.assert_*``: pure functions from a run to a problem or None,
and :func:`verdict_of`, a run's verdict and each atom's, which ``FlowRun.verdict`` stores.

Each check returns the whole failure message (with the run's timeline), so assertions
read well under ``--assert=plain`` too.

Imports run one way: :mod:`pytest_flowfault.run` calls these functions; they read the run
only through ``FlowRun``'s public queries and import it for annotations alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NoReturn

from pytest_flowfault.errors import UnknownAtom, describe_error

if TYPE_CHECKING:
    from pytest_flowfault.run import Event, FlowRun

_SUCCESS = ("ok", "returned")
#: End states after which nothing is due to be undone (a crashed run is resumed, not undone).
NOTHING_TO_UNDO = ("SUCCESS", "CRASHED", "SUSPENDED")

#: What became of one atom (see :class:`AtomVerdict`).
AtomOutcome = Literal["never ran", "executed", "failed", "reverted",
                      "reverted without running", "revert failed", "not undone"]

#: Answers "is this error an instance of that type?" (truthy when it is).
_TypeCheck = Callable[[type[BaseException]], object]


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

    def atom(self, name: str) -> AtomVerdict:
        """The verdict on the atom called exactly ``name``."""
        for atom in self.atoms:
            if atom.name == name:
                return atom
        raise UnknownAtom(f"no verdict on an atom called {name!r}")


def verdict_of(run: FlowRun) -> RunVerdict:
    """Judge a run: what ``FlowRun.verdict`` stores (use that; it computes this once)."""
    problems, strict = ([], []) if run.succeeded else _compensation_problems(run)
    to_undo = run.state not in NOTHING_TO_UNDO
    final = {e.name: e.what for e in run.events if e.kind in ("task", "retry")}
    atoms = tuple(
        AtomVerdict(
            atom.name, final.get(atom.name), run.attempts(atom.name), run.reverts(atom.name),
            _atom_outcome(run, atom.name, final.get(atom.name), to_undo and atom.kind == "task"),
        )
        for atom in run.atoms
    )
    return RunVerdict(not problems if to_undo else None, tuple(problems), tuple(strict), atoms)


def _atom_outcome(run: FlowRun, name: str, state: str | None, due: bool) -> AtomOutcome:
    if state == "REVERT_FAILURE":
        return "revert failed"
    attempted = bool(run.call_spans(name, "execute"))
    executed = _last_success(run, name, "execute")
    reverted = _first_success(run, name, "revert", after=executed[1].seq if executed else -1)
    if not attempted:
        return "reverted without running" if reverted else "never ran"
    if reverted:
        return "reverted"
    if executed:
        return "not undone" if due else "executed"
    return "failed"


def fail_if(problem: str | None) -> None:
    """Raise ``AssertionError(problem)`` when a check found one."""
    __tracebackhide__ = True
    if problem is not None:
        _fail(problem)


def _fail(message: str) -> NoReturn:
    __tracebackhide__ = True
    raise AssertionError(message)


def check_succeeded(run: FlowRun) -> str | None:
    if run.succeeded:
        return None
    return _with_timeline(
        run, f"expected flow {run.flow_name!r} to succeed, but it ended {_outcome(run)}"
    )


def check_failed(
    run: FlowRun, exc: type[BaseException] | None, match: str | None
) -> str | None:
    wanted = f" with {exc.__name__}" if exc is not None else ""
    if match is not None:
        wanted += f" matching {match!r}"
    if run.succeeded:
        return _with_timeline(
            run, f"expected flow {run.flow_name!r} to fail{wanted}, but it succeeded"
        )
    messages = [
        message
        for error_type_matches, message in _leaf_errors(run.error)
        if exc is None or error_type_matches(exc)
    ]
    if match is not None:
        messages = [message for message in messages if re.search(match, message)]
    if messages:
        return None
    return _with_timeline(
        run, f"expected flow {run.flow_name!r} to fail{wanted}, but it ended {_outcome(run)}"
    )


def check_attempts(run: FlowRun, name: str, expected: int) -> str | None:
    if isinstance(expected, bool) or not isinstance(expected, int) or expected < 0:
        raise TypeError(
            f"assert_attempts({name!r}, {expected!r}): the expected count must be a "
            f"whole number >= 0"
        )
    calls = run.calls(name, "execute")
    if len(calls) == expected:
        return None
    injected = sum(call.injected for call in calls)
    return _with_timeline(
        run,
        f"expected {run.atom(name).name!r} to be attempted {_times(expected)}, but it was "
        f"attempted {_times(len(calls))} ({injected} injected) in flow {run.flow_name!r}",
    )


def check_not_run(run: FlowRun, name: str) -> str | None:
    attempts = run.attempts(name)
    if attempts == 0:
        return None
    return _with_timeline(
        run,
        f"expected {run.atom(name).name!r} not to run, but its execute was attempted "
        f"{_times(attempts)}",
    )


def check_resumed(run: FlowRun) -> str | None:
    if run.resumed_from is None:
        return _with_timeline(
            run, f"expected flow {run.flow_name!r} to be a resumed run, but it started afresh"
        )
    if not run.succeeded:
        return _with_timeline(
            run, f"expected the resumed flow {run.flow_name!r} to succeed, but it ended "
            f"{_outcome(run)}"
        )
    return None


def successful_executions(run: FlowRun, name: str) -> list[int]:
    """How often the atom's execute succeeded in each run of ``run.chain()``."""
    atom_name = run.atom(name).name
    return [
        sum(event.what in _SUCCESS for event in part.calls(atom_name, "execute"))
        for part in run.chain()
    ]


def lost_results(run: FlowRun) -> dict[str, tuple[object, object]]:
    """Results saved before the crash that the resumed ``run`` lost or changed:
    name -> (before, after), ``after`` being :data:`MISSING` when the result is gone."""
    if run.resumed_from is None:
        raise TypeError("assert_no_lost_results() needs a resumed run (flowfault.resume(...))")
    return {
        name: (value, run.atom_results.get(name, MISSING))
        for name, value in run.resumed_from.atom_results.items()
        if run.atom_results.get(name, MISSING) != value
    }


#: Stands for a result that is no longer in storage.
MISSING = object()


def check_executed_once(run: FlowRun, name: str) -> str | None:
    atom_name = run.atom(name).name
    counts = successful_executions(run, name)
    if sum(counts) == 1:
        return None
    per_run = ", ".join(
        f"{part.state} run: {count}" for part, count in zip(run.chain(), counts)
    )
    return _with_timeline(
        run,
        f"expected {atom_name!r} to execute successfully once across the crash and the "
        f"resumption, but it did {_times(sum(counts))} ({per_run})",
    )


def check_no_lost_results(run: FlowRun) -> str | None:
    lost = [
        f"{name!r}: {before!r} before the crash, "
        + ("gone after" if after is MISSING else f"{after!r} after")
        for name, (before, after) in lost_results(run).items()
    ]
    if not lost:
        return None
    listed = "\n".join(f"  - {line}" for line in lost)
    return _with_timeline(run, f"results saved before the crash were lost:\n{listed}")


def check_order(run: FlowRun, names: Sequence[str]) -> str | None:
    if not names:
        raise TypeError("assert_order() needs at least one atom name")
    spans = [(run.atom(name).name, _first_success(run, name)) for name in names]
    for atom_name, span in spans:
        if span is None:
            return _with_timeline(
                run,
                f"expected the order {' -> '.join(n for n, _ in spans)}, but "
                f"{atom_name!r} never executed successfully",
            )
    for (earlier, earlier_span), (later, later_span) in zip(spans, spans[1:]):
        assert earlier_span is not None and later_span is not None
        if earlier_span[1].seq > later_span[0].seq:
            return _with_timeline(
                run,
                f"expected {earlier!r} to finish before {later!r} started, but {later!r} "
                f"started at #{later_span[0].seq} and {earlier!r} finished at "
                f"#{earlier_span[1].seq}",
            )
    return None


def check_compensated(run: FlowRun, *, strict: bool) -> str | None:
    if run.succeeded:
        return _with_timeline(
            run,
            f"expected flow {run.flow_name!r} to be compensated, but it succeeded: "
            f"there was nothing to undo",
        )
    problems = compensation_problems(run, strict=strict)
    if not problems:
        return None
    listed = "\n".join(f"  - {problem}" for problem in problems)
    return _with_timeline(
        run, f"flow {run.flow_name!r} ended {run.state} and was not compensated:\n{listed}"
    )


def compensation_problems(run: FlowRun, *, strict: bool = False) -> list[str]:
    """Why a run that did not succeed left work undone (empty when it was compensated,
    and for a run that succeeded). Read from the run's stored verdict."""
    verdict = run.verdict
    return list(verdict.strict_problems if strict else verdict.problems)


def _compensation_problems(run: FlowRun) -> tuple[list[str], list[str]]:
    """(problems, strict problems), in one pass over the run."""
    failed_reverts = {
        event.name: event
        for event in run.events
        if event.kind == "task" and event.what == "REVERT_FAILURE"
    }
    problems = [
        f"{name!r} failed to revert: {_error(event.error)}"
        for name, event in failed_reverts.items()
    ]
    strict = list(problems)
    reverted: dict[str, tuple[Event, Event]] = {}
    for atom in run.atoms:
        if atom.kind != "task" or atom.name in failed_reverts:
            continue
        executed = _last_success(run, atom.name, "execute")
        if executed is None:
            continue
        revert = _first_success(run, atom.name, "revert", after=executed[1].seq)
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
            strict.append(
                f"{atom.name!r} completed but has no revert of its own (TaskFlow's "
                f"default revert does nothing), so whatever it created is left behind"
            )
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
    return problems, strict


def _first_success(
    run: FlowRun, name: str, action: Literal["execute", "revert"] = "execute", after: int = -1
) -> tuple[Event, Event] | None:
    """The (start, end) events of the first successful call after sequence ``after``."""
    for start, end in run.call_spans(name, action):
        if end is not None and end.what in _SUCCESS and end.seq > after:
            return start, end
    return None


def _last_success(
    run: FlowRun, name: str, action: Literal["execute", "revert"]
) -> tuple[Event, Event] | None:
    successes = [
        (start, end) for start, end in run.call_spans(name, action)
        if end is not None and end.what in _SUCCESS
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


def _leaf_errors(error: BaseException | None) -> Iterator[tuple[_TypeCheck, str]]:
    """Each error the run raised, unpacking TaskFlow's ``WrappedFailure``."""
    if error is None:
        return
    from taskflow.exceptions import WrappedFailure

    if isinstance(error, WrappedFailure):
        # A Failure may have lost its exception (loaded from persistence); check() works
        # from the recorded type names either way.
        for failure in error:
            yield failure.check, str(failure.exception_str)
    else:
        yield (lambda exc: isinstance(error, exc)), str(error)


def _outcome(run: FlowRun) -> str:
    return run.state + (f" with {_error(run.error)}" if run.error is not None else "")


def _error(error: BaseException | None) -> str:
    return describe_error(error) if error is not None else "no error"


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _with_timeline(run: FlowRun, message: str) -> str:
    return f"{message}\n\n{run.timeline()}"
