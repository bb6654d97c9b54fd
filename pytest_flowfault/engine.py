"""The one place that drives TaskFlow engines: faults applied, runs recorded, engines intercepted.

Every TaskFlow engine run goes through ``ActionEngine.run_iter`` (``engine.run()``,
``taskflow.engines.run``, ``load_from_factory``, ``load_from_detail``, conductors), so
that method is the single seam: :func:`drive` wraps it for one engine, and while a
:class:`Session` is active the class attribute itself is replaced, which also reaches
code that did ``from taskflow.engines import run`` long before.
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from pytest_flowfault import remote, vtime
from pytest_flowfault.errors import FlowCrash
from pytest_flowfault.inject import Injector
from pytest_flowfault.plan import FaultPlan
from pytest_flowfault.recorder import Recorder
from pytest_flowfault.run import AtomInfo, FlowRun, ResumePoint, RunInfo
from pytest_flowfault.saved import SavedState, saved_state
from pytest_flowfault.targets import class_path

if TYPE_CHECKING:
    from pytest_flowfault.session import Session

with warnings.catch_warnings():
    # oslo.utils warns about eventlet on every import of taskflow.engines; it is not
    # something a test suite using this plugin can act on.
    warnings.filterwarnings("ignore", "eventletutils module is deprecated", DeprecationWarning)
    import taskflow.engines
    from taskflow import task as taskflow_task
    from taskflow.atom import Atom
    from taskflow.engines.action_engine import executor
    from taskflow.engines.action_engine.engine import (
        ActionEngine,
        ParallelActionEngine,
        SerialActionEngine,
    )
    from taskflow.types import notifier
    from taskflow.utils import misc

_ORIGINAL_RUN_ITER = ActionEngine.run_iter
_ATOM_KINDS = ("task", "retry")
# futurist's get_optimal_thread_count(), which TaskFlow's own parallel pool uses: keeping
# the same width keeps the same concurrency, only without the ~1 s pool join.
DEFAULT_WORKERS = (os.cpu_count() or 1) * 5


class Recording:
    """One engine run under a session: its faults in force inside the block, its
    :class:`FlowRun` in :attr:`run` (and in the session) once the block ends.

    Entering compiles the flow: errors that stop it from starting (``MissingDependencies``,
    duplicate names, …) propagate from there, and no run is recorded. ``saved`` is what
    the flow detail held before the engine touched it; by default it is read on entering
    (a conductor prepares the engine's storage before it runs, so it reads it earlier).
    """

    def __init__(
        self,
        engine: Any,
        session: Session,
        *,
        extra: FaultPlan | None = None,
        resumed_from: FlowRun | None = None,
        without_crashes: bool = False,
        on_finished: Callable[[FlowRun], None] | None = None,
        saved: SavedState | None = None,
    ) -> None:
        self.engine = engine
        self.session = session
        self.run: FlowRun | None = None
        self._extra = extra
        self._resumed_from = resumed_from
        self._without_crashes = without_crashes
        self._on_finished = on_finished
        self._saved = saved
        self._recorder = Recorder()
        self._stack = ExitStack()

    def __enter__(self) -> Recording:
        engine, session, recorder = self.engine, self.session, self._recorder
        if self._saved is None:
            self._saved = saved_state(engine.storage._flowdetail)
        engine.compile()
        self._graph = engine.compilation.execution_graph
        self._kinds = {
            node: data["kind"]
            for node, data in self._graph.nodes(data=True)
            if data["kind"] in _ATOM_KINDS
        }
        self._started = session.begin_run(
            {atom.name: kind for atom, kind in self._kinds.items()},
            {atom.name: type(atom) for atom in self._kinds},
        )
        plan = session.plan + self._extra if self._extra is not None else session.plan
        if self._without_crashes:
            plan = FaultPlan(*(fault for fault in plan if not fault.is_crash))
        self._plan = plan
        self._info = RunInfo(engine.storage.flow_name, _engine_kind(engine))
        if self._resumed_from is None:
            self._resumed_from = session.interrupted_run(engine.storage.flow_uuid)
        on_injected = (
            functools.partial(session.on_injected, self._info)
            if session.on_injected is not None
            else None
        )
        clock = vtime.VirtualClock(recorder.on_sleep) if session.virtual_time else None
        stack = self._stack
        try:
            stack.enter_context(notifier.register_deregister(
                engine.notifier, notifier.Notifier.ANY, recorder.on_flow_state
            ))
            stack.enter_context(notifier.register_deregister(
                engine.atom_notifier, notifier.Notifier.ANY, recorder.on_atom_state
            ))
            stack.enter_context(Injector(
                engine, self._kinds.items(), plan, recorder, on_injected, self._info.flow_name,
                clock,
            ))
            stack.enter_context(remote.serving(
                engine, plan, recorder, on_injected, self._info.flow_name, clock
            ))
            stack.enter_context(_lent_pool(engine, session.fast_parallel))
            if clock is not None:
                stack.enter_context(vtime.installed())
        except BaseException:
            stack.close()
            raise
        return self

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        self._stack.close()
        if self._recorder.started:
            self.run = self._finish(error)
            if self._on_finished is not None:
                self._on_finished(self.run)
            self.session.end_run(self._started, self.run)

    def _finish(self, error: BaseException | None) -> FlowRun:
        engine, kinds, graph = self.engine, self._kinds, self._graph
        crashed = isinstance(error, FlowCrash)
        resumed_from = self._resumed_from
        return self._recorder.finish(
            flow_name=self._info.flow_name,
            engine=self._info.engine,
            state="CRASHED" if crashed else engine.storage.get_flow_state(),
            error=error,
            results=_results(engine),
            plan=self._plan,
            atoms=tuple(_atom_info(atom, kind, graph) for atom, kind in kinds.items()),
            dependencies=_dependencies(graph, list(kinds)),
            resumed_from=resumed_from,
            resume_point=ResumePoint(
                engine._flow, engine.storage._flowdetail, engine._backend, self._info.engine
            ),
            atom_results=(
                _atom_results(engine, kinds) if crashed or resumed_from is not None else {}
            ),
            not_injected=remote.out_of_reach(engine, kinds, self._plan),
            nothing_to_undo=self.session.nothing_to_undo,
            saved=self._saved,
        )


def drive(
    engine: Any,
    session: Session,
    *,
    extra: FaultPlan | None = None,
    timeout: float | None = None,
    on_finished: Callable[[FlowRun], None] | None = None,
    saved: SavedState | None = None,
) -> Generator[str, Any, None]:
    """``engine.run_iter()`` with the session's faults applied and the run recorded."""
    __tracebackhide__ = True
    with Recording(engine, session, extra=extra, on_finished=on_finished, saved=saved):
        yield from _ORIGINAL_RUN_ITER(engine, timeout=timeout)


def run_to_end(engine: Any, session: Session, **recording: Any) -> FlowRun:
    """Run ``engine`` under ``session`` and return its run; the flow's own failure (and a
    crash fault's crash) is in the run, not raised. ``recording``: see :class:`Recording`."""
    __tracebackhide__ = True
    run = Recording(engine, session, **recording)
    try:
        with run:
            for _state in _ORIGINAL_RUN_ITER(engine):
                pass
    except (Exception, FlowCrash):
        if run.run is None:
            raise
    assert run.run is not None  # the engine ran: the recorder saw it start
    return run.run


@contextmanager
def _lent_pool(engine: Any, enabled: bool) -> Iterator[None]:
    """Run a parallel engine that made its own thread pool on a pool of ours instead.

    TaskFlow's default (futurist) pool takes ~1 s to join when the run ends; a
    ``concurrent.futures`` pool of the same width shuts down at once. Each run gets its
    own pool, so engines nested inside tasks cannot starve each other of workers.
    """
    task_executor = getattr(engine, "_task_executor", None)
    if not (
        enabled
        and isinstance(task_executor, executor.ParallelThreadTaskExecutor)
        and not isinstance(task_executor, executor.ParallelGreenThreadTaskExecutor)
        and task_executor._own_executor
    ):
        yield
        return
    width = task_executor._max_workers or DEFAULT_WORKERS
    with ThreadPoolExecutor(width, thread_name_prefix="flowfault") as pool:
        task_executor._executor, task_executor._own_executor = pool, False
        try:
            yield
        finally:
            task_executor._executor, task_executor._own_executor = None, True


def _atom_results(engine: Any, kinds: dict[Any, str]) -> dict[str, Any]:
    """The saved result of every task that is SUCCESS in storage."""
    storage = engine.storage
    return {
        atom.name: storage.get(atom.name)
        for atom, kind in kinds.items()
        if kind == "task" and storage.get_atom_state(atom.name) == "SUCCESS"
    }


_active_sessions: list[Session] = []
_active_lock = threading.Lock()


@contextmanager
def intercepting(session: Session) -> Iterator[Session]:
    """Fault and record every TaskFlow engine run in the process with ``session``.

    Nested sessions stack: the innermost one gets the runs. The engine class is
    restored when the last session ends, also on errors and interrupts, and when the
    context manager is dropped without being exited (its generator is closed when it is
    garbage-collected, which runs the ``finally``).
    """
    with _active_lock:
        if not _active_sessions:
            ActionEngine.run_iter = _intercepted_run_iter
        _active_sessions.append(session)
    try:
        yield session
    finally:
        with _active_lock:
            # The latest entry of this very session; one already gone is no reason to
            # leave the engine class patched.
            found = [n for n, active in enumerate(_active_sessions) if active is session]
            if found:
                del _active_sessions[found[-1]]
            if not _active_sessions:
                ActionEngine.run_iter = _ORIGINAL_RUN_ITER


@functools.wraps(_ORIGINAL_RUN_ITER)
def _intercepted_run_iter(self: Any, timeout: float | None = None) -> Generator[str, Any, None]:
    __tracebackhide__ = True
    with _active_lock:
        session = _active_sessions[-1] if _active_sessions else None
    if session is None:
        yield from _ORIGINAL_RUN_ITER(self, timeout=timeout)
    else:
        yield from drive(self, session, timeout=timeout)


def load_engine(flow: Any, **options: Any) -> Any:
    """``taskflow.engines.load`` (imported here, where its import warning is filtered)."""
    return taskflow.engines.load(flow, **options)


def atom_infos(engine: Any) -> tuple[AtomInfo, ...]:
    """The atoms of a loaded engine's flow (compiled here if need be), in compilation order."""
    engine.compile()
    graph = engine.compilation.execution_graph
    return tuple(
        _atom_info(node, data["kind"], graph)
        for node, data in graph.nodes(data=True)
        if data["kind"] in _ATOM_KINDS
    )


def task_names(flow: Any) -> list[str]:
    """The names of the tasks in ``flow`` (nested flows included), in compilation order."""
    return list(task_classes(flow))


def task_classes(flow: Any) -> dict[str, type]:
    """The tasks of ``flow`` (nested flows included), name -> class, in compilation order."""
    loaded = taskflow.engines.load(flow)
    loaded.compile()
    graph = loaded.compilation.execution_graph
    return {
        node.name: type(node) for node, data in graph.nodes(data=True) if data["kind"] == "task"
    }


def _engine_kind(engine: Any) -> str:
    if isinstance(engine, ParallelActionEngine):
        return "parallel"
    if isinstance(engine, SerialActionEngine):
        return "serial"
    if remote.is_worker_based(engine):
        return "worker-based"
    return type(engine).__name__


def _results(engine: Any) -> dict[str, Any]:
    try:
        return dict(engine.storage.fetch_all())
    except Exception:  # storage of a flow that died half-way may be unreadable
        return {}


def _atom_info(atom: Any, kind: str, graph: Any) -> AtomInfo:
    if isinstance(atom, taskflow_task.FunctorTask):
        has_revert = atom._revert is not None
    else:
        has_revert = type(atom).revert is not Atom.revert
    # The compiler marks every node under a retry controller with the nearest one.
    retry = graph.nodes[atom].get("retry")
    injected = set(atom.inject or ())
    return AtomInfo(
        atom.name,
        kind,  # type: ignore[arg-type]
        has_revert,
        retry.name if retry is not None else None,
        class_path(type(atom)),
        version=misc.get_version_string(atom),
        requires=tuple(name for name in atom.requires if name not in injected),
        provides=tuple(atom.save_as),
        result_keys=tuple(atom.save_as.values()),
        class_version=_ignored_class_version(atom),
    )


def _ignored_class_version(atom: Any) -> str | None:
    """A ``version`` set on the atom's class, which TaskFlow ignores: ``Atom.__init__``
    sets ``self.version = (1, 0)`` on every instance (``taskflow/atom.py``), and the
    instance still has that default."""
    if misc.get_version_string(atom) != "1.0":
        return None
    for klass in type(atom).__mro__:
        if klass is Atom:
            return None
        declared = vars(klass).get("version")
        if isinstance(declared, (tuple, list, str)):
            as_text = misc.get_version_string(klass)
            return as_text if as_text != "1.0" else None
    return None


def _dependencies(graph: Any, atoms: list[Any]) -> tuple[tuple[str, str], ...]:
    """Atom-to-atom edges of the execution graph, looking through flow marker nodes."""
    atom_set = set(atoms)
    edges = []
    for atom in atoms:
        seen: set[Any] = set()
        stack = list(graph.successors(atom))
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if node in atom_set:
                edges.append((atom.name, node.name))
            else:
                stack.extend(graph.successors(node))
    return tuple(edges)

