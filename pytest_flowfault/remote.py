"""The bridge between a worker-based engine run and the workers the plugin started.

TaskFlow's worker-based engine sends each atom's class name to a worker, which builds its
*own* task object (``taskflow/engines/worker_based/endpoint.py``): wrappers on the
engine's copies never run. Workers the plugin started (:mod:`pytest_flowfault.workers`)
serve exchanges registered here; an engine run on such an exchange registers a
:class:`RemoteRun`, and the workers put its faults and its recording on the task objects
they build, by the atom's name and its uuid in the engine's storage (the request's
correlation id).

Imports neither kombu nor TaskFlow's worker modules.
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from pytest_flowfault.inject import InjectionListener, Transparent, call_wrapper
from pytest_flowfault.plan import FaultPlan
from pytest_flowfault.recorder import Recorder
from pytest_flowfault.run import NotInjected
from pytest_flowfault.values import Action
from pytest_flowfault.vtime import VirtualClock

#: TaskFlow's two entry-point names for the worker-based engine.
WORKER_ENGINES = ("worker-based", "workers")

FOREIGN_WORKERS = (
    "the worker-based engine runs these tasks in workers that build their own task objects "
    "from the class name, so the plugin's wrappers on the engine's copies never run; to test "
    "how the flow handles this fault, run it on engine='serial' or engine='parallel'"
)
CRASH_IN_THREADS = (
    "a crash during a task of the worker-based engine is the death of the worker that runs "
    "it, and the workers flowfault.run(engine='worker-based') starts are threads of this "
    "process, which cannot die alone; run it on engine='serial' or engine='parallel', or "
    "crash after the task instead"
)



class Channel(Protocol):
    """How the test process reaches worker *processes* of the plugin's (see
    :class:`pytest_flowfault.worker_records.Channel`)."""

    def open_run(self, flow_uuid: str, plan: FaultPlan, flow_name: str) -> None: ...

    def close_run(self, flow_uuid: str) -> list[dict[str, Any]]: ...

    def dead(self) -> set[str]: ...

    def dead_requests(self) -> dict[str, str]: ...

    def forget_request(self, topic: str) -> None: ...


class RemoteException(Exception):
    """An exception a worker process raised, as its record described it (``repr``)."""

    def __repr__(self) -> str:
        return str(self.args[0])


_lock = threading.Lock()
#: Exchanges the plugin's workers serve -> the channel to its worker processes (None for
#: in-process workers, which share the runs' objects).
_exchanges: dict[str, Channel | None] = {}
_runs: list[RemoteRun] = []


class RemoteRun:
    """One engine run as the plugin's workers see it: its faults, its recorder, and one
    attempt counter per atom and action, shared by every worker that runs its atoms.

    Counting here rather than in each worker keeps "attempts are counted per run, per
    atom" true when an atom's attempts land on different workers.
    """

    def __init__(
        self,
        storage: Any,
        plan: FaultPlan,
        recorder: Recorder,
        on_injected: InjectionListener | None,
        flow_name: str,
        clock: VirtualClock | None,
    ) -> None:
        self._storage = storage
        self._plan = FaultPlan(*(fault for fault in plan if fault.kind != "crash_during"))
        self._recorder = recorder
        self._on_injected = on_injected
        self._flow_name = flow_name
        self._clock = clock
        self._lock = threading.Lock()
        self._attempts: dict[tuple[str, Action], Callable[[], int]] = {}

    def owns(self, atom_name: str, atom_uuid: str) -> bool:
        """Whether the atom called ``atom_name`` with ``atom_uuid`` belongs to this run."""
        try:
            return bool(self._storage.get_atom_uuid(atom_name) == atom_uuid)
        except Exception:  # taskflow.exceptions.NotFound: an atom of another flow
            return False

    def wrap(self, task: Any, action: Action, worker: str) -> None:
        """Put this run's faults and recording on ``action`` of the worker's own ``task``
        object (a fresh one per request, so nothing needs restoring)."""
        name: str = task.name
        with self._lock:
            # __next__ of a count is atomic under the GIL
            next_attempt = self._attempts.setdefault((name, action), itertools.count(1).__next__)

        def record(kind: Any, atom: str, what: str, **details: Any) -> None:
            self._recorder.add(kind, atom, what, worker=worker, **details)

        original = getattr(task, action)
        call = call_wrapper(
            original,
            name,
            action,
            self._plan.for_atom(name, action, "task", type(task)),
            next_attempt,
            record,
            self._on_injected,
            self._flow_name,
            self._clock,
        )
        setattr(task, action, Transparent(original, call))


def serve_exchange(exchange: str, channel: Channel | None = None) -> None:
    """Note that workers of the plugin serve ``exchange`` (processes reached through
    ``channel``, or threads of this process): its engine runs are reachable."""
    with _lock:
        _exchanges[exchange] = channel


def release_exchange(exchange: str) -> None:
    """The plugin's workers on ``exchange`` have stopped."""
    with _lock:
        _exchanges.pop(exchange, None)


def is_worker_based(engine: Any) -> bool:
    """Whether ``engine`` is TaskFlow's worker-based engine."""
    # The module is imported only when kombu is: an engine of its class implies it is.
    module = sys.modules.get("taskflow.engines.worker_based.engine")
    return module is not None and isinstance(engine, module.WorkerBasedActionEngine)


def reachable(engine: Any) -> bool:
    """Whether ``engine`` sends its tasks to workers the plugin started."""
    return _served(engine) is not None


def _served(engine: Any) -> tuple[Channel | None] | None:
    """``(channel,)`` of the plugin's workers ``engine`` sends to, or None."""
    if not is_worker_based(engine):
        return None
    options = engine._options  # TaskFlow's ActionEngine keeps its options there
    if "executor" in options:  # an executor of the caller's, on exchanges of its own
        return None
    with _lock:
        exchange = options.get("exchange", "default")
        return (_exchanges[exchange],) if exchange in _exchanges else None


@contextmanager
def serving(
    engine: Any,
    plan: FaultPlan,
    recorder: Recorder,
    on_injected: InjectionListener | None,
    flow_name: str,
    clock: VirtualClock | None,
) -> Iterator[None]:
    """While the block runs, the plugin's workers fault and record ``engine``'s tasks
    (nothing happens for an engine they do not serve)."""
    served = _served(engine)
    if served is None:
        yield
        return
    if served[0] is not None:
        with _processes_serving(engine, served[0], plan, recorder, on_injected, flow_name):
            yield
        return
    run = RemoteRun(engine.storage, plan, recorder, on_injected, flow_name, clock)
    with _lock:
        _runs.append(run)
    try:
        yield
    finally:
        with _lock:
            _runs.remove(run)


@contextmanager
def _processes_serving(
    engine: Any,
    channel: Channel,
    plan: FaultPlan,
    recorder: Recorder,
    on_injected: InjectionListener | None,
    flow_name: str,
) -> Iterator[None]:
    flow_uuid = engine.storage.flow_uuid
    executor = engine._task_executor
    finder = executor._finder
    # TaskFlow's proxy waits 1 s for a message on every transport but memory before it
    # looks at its requests again; the workers' polling interval is this engine's too.
    executor._proxy._drain_events_timeout = engine._options.get(
        "transport_options", {}
    ).get("polling_interval", executor._proxy._drain_events_timeout)
    find = finder.get_worker_for_task

    # Never send a dead worker another request, so a retry goes to a live worker (TaskFlow
    # would forget the dead one only after worker_expiry, 60 s, and pick at random until then).
    def live_worker(task: Any) -> Any:
        dead = channel.dead()
        if dead:
            with finder._cond:
                for topic in dead:
                    finder._workers.pop(topic, None)
        return find(task)

    proxy = executor._proxy
    on_wait = proxy._on_wait  # the engine's message loop calls it between two polls

    # TaskFlow would fail the dead worker's request only after transition_timeout: fail it
    # the moment the death is certain instead, with the error the timeout would give.
    def failing_dead_requests() -> None:
        if executor._ongoing_requests:
            for request_uuid, topic in channel.dead_requests().items():
                if _fail_request(executor, request_uuid, topic):
                    channel.forget_request(topic)
        on_wait()

    finder.get_worker_for_task = live_worker
    proxy._on_wait = failing_dead_requests
    channel.open_run(flow_uuid, plan, flow_name)
    try:
        yield
    finally:
        proxy._on_wait = on_wait
        del finder.get_worker_for_task
        records = channel.close_run(flow_uuid)
        recorder.merge([_event_of(record) for record in records])
        if on_injected is not None:
            for record in records:
                _report_injected(record, plan, flow_name, on_injected)


def _fail_request(executor: Any, request_uuid: str, topic: str) -> bool:
    """Fail the engine's request ``request_uuid``, taken by the dead worker ``topic``, with
    TaskFlow's ``RequestTimeout``, as ``WorkerTaskExecutor._handle_expired_request`` does."""
    from taskflow.exceptions import RequestTimeout
    from taskflow.types.failure import Failure

    with executor._ongoing_requests_lock:
        request = executor._ongoing_requests.get(request_uuid)
        if request is None or not request.transition_and_log_error("FAILURE"):
            return False
        del executor._ongoing_requests[request_uuid]
    try:
        raise RequestTimeout(
            f"Request '{request}' failed: {topic}, the worker that took it, died (flowfault "
            f"SIGKILLed it at a crash point); TaskFlow would have expired the request after "
            f"transition_timeout"
        )
    except RequestTimeout:
        request.set_result(Failure())
    return True


def _event_of(record: dict[str, Any]) -> tuple[float, Any, str, str, dict[str, Any]]:
    details: dict[str, Any] = {
        key: record[key] for key in ("attempt", "injected", "worker") if key in record
    }
    if "error" in record:
        details["error"] = RemoteException(record["error"])
    return record["t"], record["kind"], record["name"], record["what"], details


def _report_injected(
    record: dict[str, Any], plan: FaultPlan, flow_name: str, on_injected: InjectionListener
) -> None:
    """Tell ``on_injected`` about a fault a worker process fired (found again from the
    plan: a fault is a pure function of the atom and the attempt)."""
    if not record.get("injected") or record["what"] == "start":
        return
    name, action, attempt = record["name"], record["kind"], record["attempt"]
    if record["what"] == "killed":
        fired = [fault for fault in plan if fault.kind == "crash_during" and fault.matches(name)]
    else:
        fired = [
            fault for fault in plan.for_atom(name, action, "task")
            if fault.kind != "crash_during" and fault.injection(name, attempt, flow_name)
        ]
    if fired:
        on_injected(fired[0], name, action, attempt)


def run_for(atom_name: str, atom_uuid: str) -> RemoteRun | None:
    """The engine run a request for the atom ``atom_name`` with ``atom_uuid`` came from."""
    with _lock:
        runs = list(_runs)
    for run in runs:
        if run.owns(atom_name, atom_uuid):
            return run
    return None


def out_of_reach(engine: Any, kinds: dict[Any, str], plan: FaultPlan) -> tuple[NotInjected, ...]:
    """The faults that match tasks of this engine but can never fire on them.

    Only a ``crash_after`` fires outside the atom (on the engine's own notification);
    the plugin's workers reach every other kind but ``crash_during``.
    """
    if not is_worker_based(engine):
        return ()
    served = _served(engine)
    if served is not None and served[0] is not None:
        return ()  # worker processes: crash_during kills the one that takes the task
    ours = served is not None
    return tuple(
        NotInjected(fault, atom.name, CRASH_IN_THREADS if ours else FOREIGN_WORKERS)
        for atom, kind in kinds.items()
        if kind == "task"
        for fault in plan
        if fault.kind != "crash_after"
        and (not ours or fault.kind == "crash_during")
        and fault.matches(atom.name, kind, type(atom))
    )
