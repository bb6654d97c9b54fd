"""The thread-safe event recorder: the engine's private write side of a run.

The engine hangs a :class:`Recorder` on TaskFlow's notifiers and inside the atoms'
wrappers, then freezes what it collected into a :class:`~pytest_flowfault.run.FlowRun`.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pytest_flowfault.plan import FaultPlan
from pytest_flowfault.run import (
    AtomInfo,
    Event,
    EventKind,
    FlowRun,
    NotInjected,
    ResumePoint,
)
from pytest_flowfault.saved import SavedState
from pytest_flowfault.vtime import real_perf_counter


class Recorder:
    """Collects the events of one run from notifier callbacks and atom wrappers.

    Safe to call from the engine thread and from worker threads at once: one lock
    orders every event, so sequence numbers are a total order of what happened.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._errors: list[str] = []
        self._started_at = real_perf_counter()
        self.started = False

    def add(self, kind: EventKind, name: str, what: str, **details: Any) -> None:
        """Record one event now."""
        with self._lock:
            self._events.append(
                Event(
                    len(self._events),
                    real_perf_counter() - self._started_at,
                    kind,
                    name,
                    what,
                    **details,
                )
            )

    def merge(self, events: list[tuple[float, EventKind, str, str, dict[str, Any]]]) -> None:
        """Add events recorded elsewhere (worker processes), each at its ``perf_counter``
        time, then put every event in time order (the order of one machine's monotonic
        clock, which every process shares) and number them again."""
        with self._lock:
            for at, kind, name, what, details in events:
                self._events.append(
                    Event(len(self._events), at - self._started_at, kind, name, what, **details)
                )
            self._events.sort(key=lambda event: event.at)  # stable: ties keep their order
            self._events = [
                dataclasses.replace(event, seq=seq) for seq, event in enumerate(self._events)
            ]

    def count(self, kind: EventKind, name: str, what: str) -> int:
        """How many events of this kind, atom and ``what`` were recorded so far."""
        with self._lock:
            return sum(
                (event.kind, event.name, event.what) == (kind, name, what) for event in self._events
            )

    def on_sleep(self, atom: str, seconds: float) -> None:
        """A ``time.sleep`` of ``atom`` that virtual time skipped."""
        self.add("sleep", atom, "skipped", seconds=seconds)

    def on_flow_state(self, state: str, details: Mapping[str, Any]) -> None:
        """Notifier callback for flow state changes."""
        try:
            if state == "RUNNING":
                self.started = True
            self.add("flow", details["flow_name"], state, old_state=details.get("old_state"))
        except Exception as error:  # TaskFlow's notifier would only log it
            self._errors.append(f"flow state {state}: {error!r}")

    def on_atom_state(self, state: str, details: Mapping[str, Any]) -> None:
        """Notifier callback for task and retry state changes."""
        try:
            if "retry_name" in details:
                kind: EventKind = "retry"
                name = details["retry_name"]
            else:
                kind = "task"
                name = details["task_name"]
            result = details.get("result")
            error = getattr(result, "exception", None) if state.endswith("FAILURE") else None
            self.add(kind, name, state, old_state=details.get("old_state"), error=error)
        except Exception as error:
            self._errors.append(f"atom state {state}: {error!r}")

    def finish(
        self,
        *,
        flow_name: str,
        engine: str,
        state: str,
        error: BaseException | None,
        results: Mapping[str, Any],
        plan: FaultPlan,
        atoms: tuple[AtomInfo, ...],
        dependencies: tuple[tuple[str, str], ...],
        resumed_from: FlowRun | None = None,
        resume_point: ResumePoint | None = None,
        atom_results: Mapping[str, Any] | None = None,
        not_injected: tuple[NotInjected, ...] = (),
        nothing_to_undo: tuple[str, ...] = (),
        saved: SavedState | None = None,
    ) -> FlowRun:
        """Freeze what was recorded into a :class:`FlowRun`."""
        with self._lock:
            events = tuple(self._events)
        return FlowRun(
            flow_name=flow_name,
            engine=engine,
            state=state,
            error=error,
            results=MappingProxyType(dict(results)),
            events=events,
            plan=plan,
            atoms=atoms,
            dependencies=dependencies,
            recorder_errors=tuple(self._errors),
            resumed_from=resumed_from,
            resume_point=resume_point,
            atom_results=MappingProxyType(dict(atom_results or {})),
            not_injected=not_injected,
            nothing_to_undo=nothing_to_undo,
            saved=saved,
        )

