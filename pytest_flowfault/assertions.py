"""The checks behind ``FlowRun.assert_*``: pure functions from a run to a problem or None,
and :func:`verdict_of`, a run's verdict and each atom's, which ``FlowRun.verdict`` stores.

Each check returns the whole failure message (with the run's timeline), so assertions
read well under ``--assert=plain`` too.

Imports run one way: :mod:`pytest_flowfault.run` calls these functions; they read the run
only through ``FlowRun``'s public queries and import it for annotations alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, NoReturn

from pytest_flowfault.verdict import (
    SUCCESS,
    compensation_problems,
    error_text,
    first_success,
)

if TYPE_CHECKING:
    from pytest_flowfault.run import FlowRun

#: Answers "is this error an instance of that type?" (truthy when it is).
_TypeCheck = Callable[[type[BaseException]], object]


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
    """How often the atom's execute succeeded in each run of ``run.chain()`` (0 in a run
    of an earlier release that did not have the atom)."""
    atom_name = run.atom(name).name
    return [
        sum(event.what in SUCCESS for event in part.calls(atom_name, "execute"))
        if any(atom.name == atom_name for atom in part.atoms)
        else 0
        for part in run.chain()
    ]


def resumption_problems(resumed: FlowRun, since: str) -> list[str]:
    """Why a resumed run went wrong: it did not succeed, or a task that had completed ran
    again ``since`` (``"the crash"``, ``"the upgrade"``)."""
    problems = []
    if not resumed.succeeded:
        problems.append(f"the resumed flow ended {resumed.state}")
    for atom in resumed.atoms:
        if atom.kind != "task":
            continue
        done = sum(successful_executions(resumed, atom.name))
        if done > 1:
            problems.append(f"{atom.name!r} ran again after {since} ({done} times in all)")
    return problems


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
    spans = [(run.atom(name).name, first_success(run, name)) for name in names]
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


def check_compensated(
    run: FlowRun, *, strict: bool, nothing_to_undo: Iterable[str | type] = ()
) -> str | None:
    if run.succeeded:
        return _with_timeline(
            run,
            f"expected flow {run.flow_name!r} to be compensated, but it succeeded: "
            f"there was nothing to undo",
        )
    problems = compensation_problems(run, strict=strict, nothing_to_undo=nothing_to_undo)
    if not problems:
        return None
    listed = "\n".join(f"  - {problem}" for problem in problems)
    return _with_timeline(
        run, f"flow {run.flow_name!r} ended {run.state} and was not compensated:\n{listed}"
    )


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
    return run.state + (f" with {error_text(run.error)}" if run.error is not None else "")


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _with_timeline(run: FlowRun, message: str) -> str:
    return f"{message}\n\n{run.timeline()}"
