"""The record of one engine run, as users read it: its events, atoms, queries and timeline.

Written by :mod:`pytest_flowfault.recorder`; judged by :mod:`pytest_flowfault.assertions`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_flowfault import assertions, upgrade, verdict
from pytest_flowfault.errors import UnknownAtom, describe_error
from pytest_flowfault.plan import Fault, FaultPlan
from pytest_flowfault.saved import SavedState
from pytest_flowfault.targets import closest_name
from pytest_flowfault.timeline import event_text, format_timeline

EventKind = Literal["flow", "task", "retry", "execute", "revert", "decision", "sleep"]
AtomKind = Literal["task", "retry"]


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened during a run, in the order the recorder saw it.

    ``kind`` is ``flow``/``task``/``retry`` for state notifications (``what`` is the new
    state), ``execute``/``revert`` for calls of an atom's method (``what`` is ``start``,
    ``ok``, ``raised`` or ``returned`` for an injected return value), and ``decision``
    for a retry controller's answer to a failure (``what`` is ``RETRY``, ``REVERT`` …),
    and ``sleep`` for a ``time.sleep`` that virtual time skipped (``seconds``).
    ``worker`` names the worker (its topic) that ran a call of the worker-based engine.
    """

    seq: int
    at: float
    kind: EventKind
    name: str
    what: str
    old_state: str | None = None
    attempt: int | None = None
    injected: bool = False
    error: BaseException | None = None
    seconds: float | None = None
    worker: str | None = None

    @property
    def is_call_end(self) -> bool:
        """Whether this event ends an ``execute`` or ``revert`` call."""
        return self.kind in ("execute", "revert") and self.what != "start"

    @property
    def is_injected_fault(self) -> bool:
        """Whether a fault fired here: an injected call outcome, or a crash."""
        return self.injected and (self.is_call_end or self.what == "CRASH")

    @property
    def text(self) -> str:
        """What happened, in words (see :func:`pytest_flowfault.timeline.event_text`)."""
        error = describe_error(self.error) if self.error is not None else None
        return event_text(
            self.kind, self.what, attempt=self.attempt, old_state=self.old_state, error=error,
            seconds=self.seconds, worker=self.worker,
        )


#: One ``execute`` or ``revert`` call: the event that started it and the one that ended it
#: (None while it never ended). A call whose start was not recorded starts at its end.
CallSpan = tuple[Event, Event | None]


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What is known about a run while it is still going: its flow and its engine."""

    flow_name: str
    engine: str


@dataclass(frozen=True)
class ResumePoint:
    """What resuming a run needs: its flow, its flow detail, backend and engine kind."""

    flow: Any
    flow_detail: Any
    backend: Any
    engine: str


@dataclass(frozen=True, slots=True)
class AtomInfo:
    """An atom of the run's flow: its name, kind, whether its revert does anything, the
    retry controller nearest above it (None when no retry controller covers it), its
    class's dotted path (empty when unknown, as for a run rebuilt from storage), and its
    code's contract: ``version`` as TaskFlow saves it (``'1.0'``), the names it
    ``requires`` and ``provides``, for each provided name the ``result_keys`` entry TaskFlow
    reads it from (None: the whole result; an index or key), and ``class_version``, a
    version its class declares that TaskFlow ignores (None when there is none)."""

    name: str
    kind: AtomKind
    has_revert: bool
    retry: str | None = None
    class_path: str = ""
    version: str | None = None
    requires: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    result_keys: tuple[Any, ...] = ()
    class_version: str | None = None


@dataclass(frozen=True)
class NotInjected:
    """A fault in force that the plugin knew could not fire on an atom of the run."""

    fault: Fault
    atom: str
    reason: str


@dataclass(frozen=True, repr=False)
class FlowRun:
    """The record of one engine run; immutable once the run has ended.

    >>> run = flowfault.run(flow)             # doctest: +SKIP
    >>> run.assert_attempts("create_instance", 3)   # doctest: +SKIP
    """

    flow_name: str
    engine: str
    state: str
    error: BaseException | None
    results: Mapping[str, Any]
    events: tuple[Event, ...]
    plan: FaultPlan
    atoms: tuple[AtomInfo, ...]
    #: ``(before, after)`` atom pairs: ``after`` only runs once ``before`` has finished.
    dependencies: tuple[tuple[str, str], ...] = ()
    recorder_errors: tuple[str, ...] = ()
    #: The crashed (or suspended) run this one resumed.
    resumed_from: FlowRun | None = field(default=None, compare=False)
    resume_point: ResumePoint | None = field(default=None, compare=False)
    #: Saved results of the tasks that were SUCCESS at the end (crashed and resumed runs).
    atom_results: Mapping[str, Any] = field(default_factory=dict, compare=False)
    #: Faults in force that could not reach atoms of this run, and why.
    not_injected: tuple[NotInjected, ...] = ()
    #: The suite's tasks with nothing to undo (ini ``flowfault_nothing_to_undo``).
    nothing_to_undo: tuple[str, ...] = ()
    #: What the flow detail held before this run's engine touched it (None: not known).
    saved: SavedState | None = field(default=None, compare=False)
    _by_name: Mapping[str, AtomInfo] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {atom.name: atom for atom in self.atoms})

    @property
    def succeeded(self) -> bool:
        """Whether the flow ended in SUCCESS."""
        return self.state == "SUCCESS"

    def atom(self, name: str) -> AtomInfo:
        """The atom called ``name`` (or whose last dotted component is ``name``)."""
        found = self._by_name.get(name)
        if found is not None:
            return found
        by_short_name = [atom for atom in self.atoms if atom.name.rpartition(".")[2] == name]
        if len(by_short_name) == 1:
            return by_short_name[0]
        known = ", ".join(atom.name for atom in self.atoms)
        if by_short_name:
            raise UnknownAtom(
                f"{name!r} is ambiguous in flow {self.flow_name!r}: it could be "
                f"{', '.join(atom.name for atom in by_short_name)}; use the full name"
            )
        suggestion = closest_name(name, self._by_name)
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        raise UnknownAtom(
            f"no atom called {name!r} in flow {self.flow_name!r}; its atoms are: {known}{hint}"
        )

    @functools.cached_property
    def _call_events(self) -> dict[tuple[str, str], tuple[Event, ...]]:
        """(atom, action) -> that atom's call start and end events, built on first use."""
        index: dict[tuple[str, str], list[Event]] = {}
        for event in self.events:
            if event.kind in ("execute", "revert"):
                index.setdefault((event.name, event.kind), []).append(event)
        return {key: tuple(events) for key, events in index.items()}

    @functools.cached_property
    def _spans(self) -> dict[tuple[str, str] | None, tuple[CallSpan, ...]]:
        """None -> every call of the run; (atom, action) -> that atom's calls."""
        started: dict[tuple[str, str, int | None], Event] = {}
        ended: list[CallSpan] = []
        for event in self.events:
            if event.kind in ("execute", "revert"):
                key = (event.name, event.kind, event.attempt)
                if event.what == "start":
                    started[key] = event
                else:
                    ended.append((started.pop(key, event), event))
        spans = (*ended, *((start, None) for start in started.values()))
        index: dict[tuple[str, str] | None, list[CallSpan]] = {None: list(spans)}
        for span in spans:
            index.setdefault((span[0].name, span[0].kind), []).append(span)
        return {key: tuple(found) for key, found in index.items()}

    def call_events(self, name: str, action: str) -> tuple[Event, ...]:
        """The start and end events of every ``execute`` or ``revert`` call of an atom."""
        return self._call_events.get((self.atom(name).name, action), ())

    def call_spans(
        self, name: str | None = None, action: Literal["execute", "revert"] = "execute"
    ) -> tuple[CallSpan, ...]:
        """Each ``action`` call of atom ``name`` as ``(start, end)``, in the order the calls
        ended, then those that never ended (``end`` None); without ``name``, every call."""
        if name is None:
            return self._spans[None]
        return self._spans.get((self.atom(name).name, action), ())

    @functools.cached_property
    def verdict(self) -> verdict.RunVerdict:
        """The run's verdict and each atom's, computed by the checks once, on first use.

        >>> run.verdict.compensated, run.verdict.atom("make").verdict  # doctest: +SKIP
        (False, 'not undone')
        """
        return verdict.verdict_of(self)

    def calls(self, name: str, action: Literal["execute", "revert"]) -> tuple[Event, ...]:
        """The events that ended each ``execute`` or ``revert`` call of an atom."""
        return tuple(event for event in self.call_events(name, action) if event.is_call_end)

    def attempts(self, name: str) -> int:
        """How many times the atom's ``execute`` was attempted (real or injected)."""
        return len(self.calls(name, "execute"))

    def sleeps(self, name: str) -> tuple[float, ...]:
        """The seconds of each ``time.sleep`` by atom ``name`` that virtual time skipped,
        in order (its ``execute``, ``revert`` or, for a retry, ``on_failure``)."""
        atom_name = self.atom(name).name
        return tuple(
            event.seconds
            for event in self.events
            if event.name == atom_name and event.seconds is not None
        )

    @property
    def slept(self) -> float:
        """Seconds of sleep that virtual time skipped in this run, all atoms together."""
        return sum(event.seconds for event in self.events if event.seconds is not None)

    def reverts(self, name: str) -> int:
        """How many times the atom's ``revert`` was called (real or injected)."""
        return len(self.calls(name, "revert"))

    def decisions(self, retry_name: str) -> tuple[str, ...]:
        """What a retry controller decided on each failure (``RETRY``, ``REVERT``, …)."""
        atom_name = self.atom(retry_name).name
        return tuple(
            event.what
            for event in self.events
            if event.kind == "decision" and event.name == atom_name
        )

    def execution_order(self) -> tuple[str, ...]:
        """Every ``execute`` attempt's atom, in the order the attempts really started."""
        return tuple(
            event.name for event in self.events if event.kind == "execute" and event.what == "start"
        )

    def timeline(self) -> str:
        """A readable table of the run: sequence, time, atom, transition, attempt, errors."""
        return format_timeline(self)

    def assert_succeeded(self) -> None:
        """Fail unless the flow ended in SUCCESS."""
        __tracebackhide__ = True
        assertions.fail_if(assertions.check_succeeded(self))

    def assert_failed(
        self, exc: type[BaseException] | None = None, match: str | None = None
    ) -> None:
        """Fail unless the flow did not succeed and raised ``exc`` matching ``match``.

        ``exc`` is also found inside a ``WrappedFailure``; ``match`` is a regular
        expression searched for in the error's message.
        """
        __tracebackhide__ = True
        assertions.fail_if(assertions.check_failed(self, exc, match))

    def assert_attempts(self, name: str, expected: int) -> None:
        """Fail unless the atom's ``execute`` was attempted exactly ``expected`` times."""
        __tracebackhide__ = True
        assertions.fail_if(assertions.check_attempts(self, name, expected))

    def assert_order(self, *names: str) -> None:
        """Fail unless each atom's first successful execute ended before the next began."""
        __tracebackhide__ = True
        assertions.fail_if(assertions.check_order(self, names))

    def assert_compensated(
        self, strict: bool = False, nothing_to_undo: Iterable[str | type] = ()
    ) -> None:
        """Fail unless the run failed and every task that had completed was reverted.

        Reverts must succeed (no REVERT_FAILURE) and run consumers before producers.
        With ``strict=True`` a completed task whose revert is TaskFlow's no-op default
        fails too: whatever it created is still there, unless ``nothing_to_undo`` names
        it (targets, or task classes or their dotted paths): a task that creates nothing.
        """
        __tracebackhide__ = True
        assertions.fail_if(
            assertions.check_compensated(self, strict=strict, nothing_to_undo=nothing_to_undo)
        )

    def assert_resumed(self) -> None:
        """Fail unless this run resumed a crashed or suspended run and then succeeded."""
        __tracebackhide__ = True
        assertions.fail_if(assertions.check_resumed(self))

    def assert_executed_once(self, name: str) -> None:
        """Fail unless the task's execute succeeded exactly once across the crashed run(s)
        and this resumption: a task that completed before the crash must not run again."""
        __tracebackhide__ = True
        assertions.fail_if(assertions.check_executed_once(self, name))

    def assert_no_lost_results(self) -> None:
        """Fail if a result saved before the crash is missing or changed after resuming."""
        __tracebackhide__ = True
        assertions.fail_if(assertions.check_no_lost_results(self))

    def upgrade_changes(self) -> tuple[upgrade.UpgradeChange, ...]:
        """What changed between the release that saved the state this run resumed and the
        release it ran: atoms added and removed, versions, requires and provides."""
        return upgrade.upgrade_changes(self)

    def versions(self) -> dict[str, tuple[str | None, str | None]]:
        """Each atom's (version that wrote its saved state, version now running)."""
        return upgrade.atom_versions(self)

    def assert_upgrade_safe(self) -> None:
        """Fail, naming atoms and why, if resuming the saved state with this release is
        unsafe (see :func:`pytest_flowfault.upgrade.upgrade_problems`)."""
        __tracebackhide__ = True
        assertions.fail_if(upgrade.check_upgrade_safe(self))

    def chain(self) -> tuple[FlowRun, ...]:
        """This run and the runs it resumed, first run first."""
        runs: list[FlowRun] = []
        run: FlowRun | None = self
        while run is not None:
            runs.append(run)
            run = run.resumed_from
        return tuple(reversed(runs))

    def assert_not_run(self, name: str) -> None:
        """Fail if the atom's ``execute`` was attempted at all."""
        __tracebackhide__ = True
        assertions.fail_if(assertions.check_not_run(self, name))

    def __repr__(self) -> str:
        error = f" error={describe_error(self.error)}" if self.error is not None else ""
        return (
            f"<FlowRun {self.flow_name!r} {self.engine} {self.state}{error} "
            f"events={len(self.events)}>"
        )
