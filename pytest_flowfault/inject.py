"""Wrapping the atoms of one engine run so that faults fire and every call is recorded.

An instance attribute shadows the class method, and TaskFlow's executor calls
``atom.execute(**arguments)`` / ``atom.revert(**arguments)`` inside its own ``try``
(``engines/action_engine/executor.py``): an exception raised by the wrapper is handled
exactly like one raised by the atom's own code, on the serial and the parallel engine.

The wrapper is a :class:`Transparent` stand-in for the method it replaces: every attribute
read or write goes to that method, so code that inspects its own methods (tenacity's
``self.execute.statistics``, ``inspect.signature``, ``__wrapped__``) sees what it would
see without the plugin.
"""

from __future__ import annotations

import inspect
import itertools
import types
from collections.abc import Callable, Iterable
from typing import Any

from taskflow.types.notifier import Notifier

from pytest_flowfault.errors import AtomInUse, FlowCrash
from pytest_flowfault.plan import Fault, FaultPlan, Injection
from pytest_flowfault.recorder import Recorder
from pytest_flowfault.values import Action
from pytest_flowfault.vtime import VirtualClock, in_atom

#: Called for every fault that fires: (fault, atom name, action, attempt).
InjectionListener = Callable[[Fault, str, Action, int], None]

_MISSING = object()


class Transparent:
    """A callable that stands in for ``original``: calls go to ``call``, everything else
    (attribute reads and writes, ``__class__``, ``repr``, ``==``) goes to ``original``.

    >>> wrapper = Transparent(task.execute, lambda **kw: task.execute(**kw))  # doctest: +SKIP
    >>> wrapper.__name__, wrapper.statistics is task.execute.statistics      # doctest: +SKIP
    ('execute', True)
    """

    __slots__ = ("_call", "_original", "__weakref__")

    def __init__(self, original: Callable[..., Any], call: Callable[..., Any]) -> None:
        object.__setattr__(self, "_original", original)
        object.__setattr__(self, "_call", call)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        return object.__getattribute__(self, "_call")(*args, **kwargs)

    # Forwarding reads instead of copying them (functools.update_wrapper) is what keeps
    # them live: tenacity 8.5-9.1 rebinds ``wrapped_f.statistics`` on every call
    # (tenacity/__init__.py, ``BaseRetrying.wraps``), so a copied dict goes stale.
    # ``__class__`` is forwarded too, so ``inspect.ismethod``/``inspect.signature`` and
    # oslo.utils' ``reflection.get_callable_name`` treat the wrapper as the bound method.
    def __getattribute__(self, name: str) -> Any:
        original = object.__getattribute__(self, "_original")
        if name == "__call__":
            return object.__getattribute__(self, name)
        if name == "__signature__":
            return _signature(original)
        return getattr(original, name)

    # Writes go where they would go without the plugin: a bound method refuses them with
    # the same AttributeError, a callable object or function stored on the atom takes them.
    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_original"), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(object.__getattribute__(self, "_original"), name)

    def __repr__(self) -> str:
        return repr(object.__getattribute__(self, "_original"))

    def __eq__(self, other: object) -> bool:
        if type(other) is Transparent:
            other = object.__getattribute__(other, "_original")
        return bool(object.__getattribute__(self, "_original") == other)

    def __hash__(self) -> int:
        return hash(object.__getattribute__(self, "_original"))

    def __dir__(self) -> Iterable[str]:
        return dir(object.__getattribute__(self, "_original"))


def _signature(original: Any) -> inspect.Signature:
    try:
        signature: inspect.Signature = original.__signature__
        return signature
    except AttributeError:
        # inspect.signature finds methods' and functions' signatures through the
        # forwarded __class__, but a callable object's through type(obj).__call__, which
        # would be ours: answer for it.
        if isinstance(original, (types.MethodType, types.FunctionType)):
            raise
    try:
        return inspect.signature(original)
    except (TypeError, ValueError) as error:
        raise AttributeError("__signature__") from error


class Injector:
    """Fires every fault kind of ``plan`` on one engine's atoms: wraps ``execute``/``revert``
    (and retries' ``on_failure``) of (atom, kind) pairs, and listens for the task
    completions a ``crash_after`` waits for.

    Use as a context manager: leaving it restores every atom exactly as it was.
    """

    def __init__(
        self,
        engine: Any,
        atoms: Iterable[tuple[Any, str]],
        plan: FaultPlan,
        recorder: Recorder,
        on_injected: InjectionListener | None = None,
        flow_name: str = "",
        clock: VirtualClock | None = None,
    ) -> None:
        self._engine = engine
        self._atoms = list(atoms)
        self._flow_name = flow_name
        #: The run's virtual clock: calls of the atoms' own code skip their sleeps.
        self._clock = clock
        self._plan = plan
        self._recorder = recorder
        self._on_injected = on_injected
        self._saved: list[tuple[Any, str, object]] = []
        self._crash_targets = [fault for fault in plan if fault.kind == "crash_after"]
        self._classes = {atom.name: type(atom) for atom, _ in self._atoms}

    def __enter__(self) -> Injector:
        try:
            actions: tuple[Action, ...] = ("execute", "revert")
            for atom, kind in self._atoms:
                for action in actions:
                    self._wrap(atom, action, self._call_wrapper(atom, kind, action))
                if kind == "retry":
                    self._wrap(atom, "on_failure", self._decision_wrapper(atom))
            if self._crash_targets:  # a listener only where one is needed
                self._engine.atom_notifier.register(Notifier.ANY, self._crash_after)
        except BaseException:
            self.restore()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.restore()

    def restore(self) -> None:
        """Put back every method this injector replaced, and stop listening."""
        if self._crash_targets:
            self._engine.atom_notifier.deregister(Notifier.ANY, self._crash_after)
        while self._saved:
            atom, attribute, previous = self._saved.pop()
            if previous is _MISSING:
                vars(atom).pop(attribute, None)
            else:
                setattr(atom, attribute, previous)

    def _crash_after(self, state: str, details: Any) -> None:
        """Kill the engine once a ``crash_after`` task succeeded.

        TaskFlow saves the result before it notifies (``actions/task.py``), and its notifier
        only swallows ``Exception``: the ``FlowCrash`` leaves storage as a SIGKILL would.
        """
        name = details.get("task_name")
        if state != "SUCCESS" or not name:
            return
        for fault in self._crash_targets:
            if fault.matches(name, "task", self._classes.get(name)):
                recorder = self._recorder
                attempt = recorder.count("execute", name, "start")
                recorder.add("task", name, "CRASH", old_state=state, attempt=attempt, injected=True)
                if self._on_injected is not None:
                    self._on_injected(fault, name, "execute", attempt)
                raise FlowCrash(name, "after")

    def _wrap(self, atom: Any, attribute: str, call: Callable[..., Any]) -> None:
        current = getattr(atom, attribute)
        if type(current) is Transparent:  # type(): the wrapper's __class__ is the method's
            raise AtomInUse(
                f"atom {atom.name!r} is already being run by another engine under "
                f"flowfault; engines running at the same time cannot share atom objects "
                f"here, so build a fresh flow for each engine"
            )
        self._saved.append((atom, attribute, vars(atom).get(attribute, _MISSING)))
        setattr(atom, attribute, Transparent(current, call))

    def _call_wrapper(self, atom: Any, kind: str, action: Action) -> Callable[..., Any]:
        return call_wrapper(
            getattr(atom, action),
            atom.name,
            action,
            self._plan.for_atom(atom.name, action, kind, type(atom)),
            itertools.count(1).__next__,  # atomic under the GIL
            self._recorder.add,
            self._on_injected,
            self._flow_name,
            self._clock,
        )

    def _decision_wrapper(self, retry: Any) -> Callable[..., Any]:
        original = retry.on_failure
        name: str = retry.name
        record = self._recorder.add
        clock = self._clock

        # TaskFlow deletes a reverted retry's history (storage.get_retry_history), so
        # the decision is recorded here, when it is made.
        def on_failure(*args: Any, **kwargs: Any) -> Any:
            with in_atom(clock, name):
                decision = original(*args, **kwargs)
            record("decision", name, str(getattr(decision, "value", decision)))
            return decision

        return on_failure


def call_wrapper(
    original: Callable[..., Any],
    name: str,
    action: Action,
    faults: tuple[Fault, ...],
    next_attempt: Callable[[], int],
    record: Callable[..., None],
    on_injected: InjectionListener | None,
    flow_name: str,
    clock: VirtualClock | None,
) -> Callable[..., Any]:
    """The call that stands in for ``original`` (atom ``name``'s ``action``): it numbers
    the attempt with ``next_attempt()``, fires the first of ``faults`` that acts on it or
    runs the real code, and records the call's start and end with ``record`` (a
    :meth:`Recorder.add`, perhaps with details bound, e.g. the worker that ran it)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        attempt = next_attempt()
        record(action, name, "start", attempt=attempt)
        injection: Injection | None = None
        try:
            injection = _first_injection(faults, name, attempt, flow_name)
            if injection is None:
                with in_atom(clock, name):
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


def _first_injection(
    faults: tuple[Fault, ...], name: str, attempt: int, flow_name: str
) -> Injection | None:
    for fault in faults:
        injection = fault.injection(name, attempt, flow_name)
        if injection is not None:
            return injection
    return None
