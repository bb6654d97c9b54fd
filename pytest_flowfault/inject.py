"""Wrapping the atoms of one engine run so that faults fire and every call is recorded.

An instance attribute shadows the class method, and TaskFlow's executor calls
``atom.execute(**arguments)`` / ``atom.revert(**arguments)`` inside its own ``try``
(``engines/action_engine/executor.py``): an exception raised by the wrapper is handled
exactly like one raised by the atom's own code, on the serial and the parallel engine.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

from pytest_flowfault.plan import Action, Fault, FaultPlan, Injection
from pytest_flowfault.record import Recorder

#: Called for every fault that fires: (fault, atom name, action, attempt).
InjectionListener = Callable[[Fault, str, Action, int], None]

_MARK = "__flowfault_wrapper__"
_MISSING = object()


class AtomInUse(RuntimeError):
    """The same atom object is already being run by another engine under flowfault."""


class Injector:
    """Wraps ``execute``/``revert`` (and retries' ``on_failure``) of (atom, kind) pairs.

    Use as a context manager: leaving it restores every atom exactly as it was.
    """

    def __init__(
        self,
        atoms: Iterable[tuple[Any, str]],
        plan: FaultPlan,
        recorder: Recorder,
        on_injected: InjectionListener | None = None,
        flow_name: str = "",
    ) -> None:
        self._atoms = list(atoms)
        self._flow_name = flow_name
        self._plan = plan
        self._recorder = recorder
        self._on_injected = on_injected
        self._saved: list[tuple[Any, str, object]] = []

    def __enter__(self) -> Injector:
        try:
            actions: tuple[Action, ...] = ("execute", "revert")
            for atom, kind in self._atoms:
                for action in actions:
                    self._wrap(atom, action, self._call_wrapper(atom, kind, action))
                if kind == "retry":
                    self._wrap(atom, "on_failure", self._decision_wrapper(atom))
        except BaseException:
            self.restore()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.restore()

    def restore(self) -> None:
        """Put back every method this injector replaced."""
        while self._saved:
            atom, attribute, previous = self._saved.pop()
            if previous is _MISSING:
                vars(atom).pop(attribute, None)
            else:
                setattr(atom, attribute, previous)

    def _wrap(self, atom: Any, attribute: str, wrapper: Callable[..., Any]) -> None:
        current = getattr(atom, attribute)
        if getattr(current, _MARK, False):
            raise AtomInUse(
                f"atom {atom.name!r} is already being run by another engine under "
                f"flowfault; engines running at the same time cannot share atom objects "
                f"here, so build a fresh flow for each engine"
            )
        setattr(wrapper, _MARK, True)
        self._saved.append((atom, attribute, vars(atom).get(attribute, _MISSING)))
        setattr(atom, attribute, wrapper)

    def _call_wrapper(self, atom: Any, kind: str, action: Action) -> Callable[..., Any]:
        original = getattr(atom, action)
        name: str = atom.name
        faults = self._plan.for_atom(name, action, kind)
        attempts = itertools.count(1)  # next() on a count is atomic under the GIL
        record = self._recorder.add
        on_injected = self._on_injected
        flow_name = self._flow_name

        def call(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            attempt = next(attempts)
            record(action, name, "start", attempt=attempt)
            injection: Injection | None = None
            try:
                injection = _first_injection(faults, name, attempt, flow_name)
                if injection is None:
                    result = original(*args, **kwargs)
                else:
                    if on_injected is not None:
                        on_injected(injection.fault, name, action, attempt)
                    if injection.error is not None:
                        raise injection.error
                    result = injection.value
            except BaseException as error:
                injected = injection is not None and error is injection.error
                record(action, name, "raised", attempt=attempt, injected=injected, error=error)
                raise
            if injection is None:
                record(action, name, "ok", attempt=attempt)
            else:
                record(action, name, "returned", attempt=attempt, injected=True)
            return result

        return call

    def _decision_wrapper(self, retry: Any) -> Callable[..., Any]:
        original = retry.on_failure
        name: str = retry.name
        record = self._recorder.add

        # TaskFlow deletes a reverted retry's history (storage.get_retry_history), so
        # the decision is recorded here, when it is made.
        def on_failure(*args: Any, **kwargs: Any) -> Any:
            decision = original(*args, **kwargs)
            record("decision", name, str(getattr(decision, "value", decision)))
            return decision

        return on_failure


def _first_injection(
    faults: tuple[Fault, ...], name: str, attempt: int, flow_name: str
) -> Injection | None:
    for fault in faults:
        injection = fault.injection(name, attempt, flow_name)
        if injection is not None:
            return injection
    return None
