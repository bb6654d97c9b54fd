"""The one place that drives TaskFlow engines: faults applied, runs recorded, engines intercepted.

Every TaskFlow engine run goes through ``ActionEngine.run_iter`` (``engine.run()``,
``taskflow.engines.run``, ``load_from_factory``, ``load_from_detail``, conductors), so
that method is the single seam: :func:`drive` wraps it for one engine, and while a
:class:`Session` is active the class attribute itself is replaced, which also reaches
code that did ``from taskflow.engines import run`` long before.
"""

from __future__ import annotations

import functools
import itertools
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pytest_flowfault import explore, vtime
from pytest_flowfault.errors import FaultNotInjected, FlowCrash, UnmatchedFault
from pytest_flowfault.explore import SweepReport
from pytest_flowfault.inject import Injector
from pytest_flowfault.plan import Action, Fault, FaultPlan, closest_name, unmatched_message
from pytest_flowfault.persist import open_backend, reload_flow_detail
from pytest_flowfault.recorder import Recorder
from pytest_flowfault.run import (
    AtomInfo,
    FlowRun,
    NotInjected,
    ResumePoint,
    RunInfo,
    not_injected_message,
)

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

_ORIGINAL_RUN_ITER = ActionEngine.run_iter
_ATOM_KINDS = ("task", "retry")
# futurist's get_optimal_thread_count(), which TaskFlow's own parallel pool uses: keeping
# the same width keeps the same concurrency, only without the ~1 s pool join.
_DEFAULT_WORKERS = (os.cpu_count() or 1) * 5


class Session:
    """The faults in force and the runs recorded for one test or one :func:`run_flow`.

    While :func:`intercepting` is active, every TaskFlow engine run in the process
    (in any thread) is faulted with :attr:`plan` and recorded here.
    """

    def __init__(
        self,
        plan: FaultPlan | None = None,
        *,
        fast_parallel: bool = True,
        virtual_time: bool = False,
    ) -> None:
        self.plan = plan if plan is not None else FaultPlan()
        #: Lend intercepted parallel engines a thread pool instead of TaskFlow's own.
        self.fast_parallel = fast_parallel
        #: Skip the sleeps of atoms, moving each run's virtual clock on instead.
        self.virtual_time = virtual_time
        #: Called for each fault that fires, and for each run that finishes.
        self.on_injected: Callable[[RunInfo, Fault, str, Action, int], None] | None = None
        self.on_finished: Callable[[FlowRun], None] | None = None
        #: Where "dir" and "sqlite" backends live (the fixture points it at tmp_path).
        self.directory: Callable[[], Path] = _temporary_directory
        self._lock = threading.Lock()
        self._runs: list[tuple[int, FlowRun]] = []
        self._started = itertools.count()
        self._atoms_seen: dict[str, str] = {}
        self._pools: dict[int, ThreadPoolExecutor] = {}
        self._closers: list[Callable[[], None]] = []

    @property
    def runs(self) -> tuple[FlowRun, ...]:
        """Every finished run, in the order the runs started."""
        with self._lock:
            return tuple(run for _, run in sorted(self._runs, key=lambda entry: entry[0]))

    @property
    def atoms_seen(self) -> dict[str, str]:
        """Every atom of every flow compiled so far (name -> kind), first seen first."""
        with self._lock:
            return dict(self._atoms_seen)

    def run(
        self,
        flow: Any,
        *,
        extra: FaultPlan | None = None,
        store: dict[str, Any] | None = None,
        engine: str = "serial",
        backend: Any = None,
        **engine_options: Any,
    ) -> FlowRun:
        """Load ``flow`` into a TaskFlow engine, run it under this session, and return the run.

        The flow's own failure (and a crash fault's crash) is captured in the returned run
        instead of raised; errors that stop the flow from starting (``MissingDependencies``,
        duplicate names, …) propagate unchanged. ``backend`` is a persistence backend
        (see :func:`pytest_flowfault.persist.open_backend`).
        """
        check_engine_name(engine)
        if backend is not None:
            engine_options["backend"] = open_backend(backend, self.directory)
        loaded = taskflow.engines.load(
            flow, store=store, engine=engine, **self._with_pool(engine, engine_options)
        )
        return self._drive_to_end(loaded, extra=extra)

    def resume(self, run: FlowRun, **engine_options: Any) -> FlowRun:
        """Continue a crashed or suspended run from what its storage holds.

        Completed atoms are skipped, atoms left RUNNING run again. Crash faults are not
        in force for the resumption (they would only crash it again).
        """
        point = run.resume_point
        if point is None:
            raise ValueError(
                f"{run!r} cannot be resumed: only runs started by flowfault.run() or "
                f"run_flow() keep what resuming needs"
            )
        if run.state not in ("CRASHED", "SUSPENDED", "RUNNING"):
            raise ValueError(
                f"flow {run.flow_name!r} ended {run.state}: only a CRASHED or SUSPENDED run "
                f"can be resumed"
            )
        detail = (
            reload_flow_detail(point.backend, point.flow_detail.uuid)
            if point.backend is not None
            else point.flow_detail
        )
        engine = engine_options.pop("engine", point.engine)
        loaded = taskflow.engines.load(
            point.flow,
            flow_detail=detail,
            backend=point.backend,
            engine=engine,
            **self._with_pool(engine, engine_options),
        )
        return self._drive_to_end(loaded, resumed_from=run, without_crashes=True)

    def _drive_to_end(
        self,
        loaded: Any,
        *,
        extra: FaultPlan | None = None,
        resumed_from: FlowRun | None = None,
        without_crashes: bool = False,
    ) -> FlowRun:
        finished: list[FlowRun] = []
        try:
            for _state in drive(
                loaded,
                self,
                extra=extra,
                finished=finished,
                resumed_from=resumed_from,
                without_crashes=without_crashes,
            ):
                pass
        except (Exception, FlowCrash):
            if not finished:
                raise
        return finished[0]

    def _with_pool(self, engine: str, engine_options: dict[str, Any]) -> dict[str, Any]:
        if engine == "parallel" and "executor" not in engine_options:
            engine_options["executor"] = self._pool(engine_options.pop("max_workers", None))
        return engine_options

    def on_close(self, closer: Callable[[], None]) -> None:
        """Call ``closer`` when the session closes (before its pools shut down)."""
        self._closers.append(closer)

    def close(self) -> None:
        """Close what was handed to :meth:`on_close`, then shut down the worker pools this
        session lent to parallel engines."""
        closers, self._closers = self._closers, []
        try:
            for closer in reversed(closers):
                closer()
        finally:
            with self._lock:
                pools, self._pools = list(self._pools.values()), {}
            for pool in pools:
                pool.shutdown(wait=True)

    def interrupted_run(self, flow_uuid: str) -> FlowRun | None:
        """The run a new run of this flow detail continues: the latest run of it, if that
        one ended CRASHED or SUSPENDED (a conductor taking over a dead one's job)."""
        with self._lock:
            runs = sorted(self._runs, key=lambda entry: entry[0], reverse=True)
        for _, run in runs:
            point = run.resume_point
            if point is not None and point.flow_detail.uuid == flow_uuid:
                return run if run.state in ("CRASHED", "SUSPENDED") else None
        return None

    def _saw(self, atoms: dict[str, str]) -> int:
        """Note the atoms (name -> kind) of a run about to start; return its start number."""
        with self._lock:
            self._atoms_seen.update(atoms)
            return next(self._started)

    def add_run(self, run: FlowRun) -> None:
        """Record a run that happened elsewhere (a child process), as starting now."""
        self._add(self._saw({atom.name: atom.kind for atom in run.atoms}), run)

    def _add(self, started: int, run: FlowRun) -> None:
        with self._lock:
            self._runs.append((started, run))

    def _pool(self, max_workers: int | None) -> ThreadPoolExecutor:
        width = _DEFAULT_WORKERS if max_workers is None else int(max_workers)
        with self._lock:
            if width not in self._pools:
                self._pools[width] = ThreadPoolExecutor(width, thread_name_prefix="flowfault")
            return self._pools[width]


def drive(
    engine: Any,
    session: Session,
    *,
    extra: FaultPlan | None = None,
    timeout: float | None = None,
    finished: list[FlowRun] | None = None,
    resumed_from: FlowRun | None = None,
    without_crashes: bool = False,
) -> Generator[str, Any, None]:
    """``engine.run_iter()`` with the session's faults applied and the run recorded.

    The finished :class:`FlowRun` is added to the session (and to ``finished``) once
    the engine has started running; errors raised before that, while compiling or
    validating the flow, propagate without a run.
    """
    __tracebackhide__ = True
    engine.compile()
    graph = engine.compilation.execution_graph
    kinds = {
        node: data["kind"] for node, data in graph.nodes(data=True) if data["kind"] in _ATOM_KINDS
    }
    atoms = list(kinds)
    started = session._saw({atom.name: kind for atom, kind in kinds.items()})
    plan = session.plan + extra if extra is not None else session.plan
    if without_crashes:
        plan = FaultPlan(*(fault for fault in plan if not fault.is_crash))
    info = RunInfo(engine.storage.flow_name, _engine_kind(engine))
    if resumed_from is None:
        resumed_from = session.interrupted_run(engine.storage.flow_uuid)
    on_injected = (
        functools.partial(session.on_injected, info) if session.on_injected is not None else None
    )
    recorder = Recorder()
    clock = vtime.VirtualClock(recorder.on_sleep) if session.virtual_time else None
    error: BaseException | None = None
    try:
        with notifier.register_deregister(
            engine.notifier, notifier.Notifier.ANY, recorder.on_flow_state
        ), notifier.register_deregister(
            engine.atom_notifier, notifier.Notifier.ANY, recorder.on_atom_state
        ), _crashing_after(engine, plan, recorder, on_injected), Injector(
            kinds.items(), plan, recorder, on_injected, info.flow_name, clock
        ), _lent_pool(engine, session.fast_parallel), (
            vtime.installed() if clock is not None else nullcontext()
        ):
            yield from _ORIGINAL_RUN_ITER(engine, timeout=timeout)
    except BaseException as raised:
        error = raised
        raise
    finally:
        if recorder.started:
            crashed = isinstance(error, FlowCrash)
            run = recorder.finish(
                flow_name=info.flow_name,
                engine=info.engine,
                state="CRASHED" if crashed else engine.storage.get_flow_state(),
                error=error,
                results=_results(engine),
                plan=plan,
                atoms=tuple(_atom_info(atom, kind, graph) for atom, kind in kinds.items()),
                dependencies=_dependencies(graph, atoms),
                resumed_from=resumed_from,
                resume_point=ResumePoint(
                    engine._flow, engine.storage._flowdetail, engine._backend, info.engine
                ),
                atom_results=(
                    _atom_results(engine, kinds) if crashed or resumed_from is not None else {}
                ),
                not_injected=_out_of_reach(engine, kinds, plan),
            )
            session._add(started, run)
            if finished is not None:
                finished.append(run)
            if session.on_finished is not None:
                session.on_finished(run)


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
    width = task_executor._max_workers or _DEFAULT_WORKERS
    with ThreadPoolExecutor(width, thread_name_prefix="flowfault") as pool:
        task_executor._executor, task_executor._own_executor = pool, False
        try:
            yield
        finally:
            task_executor._executor, task_executor._own_executor = None, True


@contextmanager
def _crashing_after(
    engine: Any,
    plan: FaultPlan,
    recorder: Recorder,
    on_injected: Callable[[Fault, str, Action, int], None] | None,
) -> Iterator[None]:
    """Kill the engine once a ``crash_after`` task succeeded (a listener only if needed).

    TaskFlow saves the result before it notifies (``actions/task.py``), and its notifier
    only swallows ``Exception``: the ``FlowCrash`` leaves storage as a SIGKILL would.
    """
    targets = [fault for fault in plan if fault.kind == "crash_after"]
    if not targets:
        yield
        return

    def on_state(state: str, details: Any) -> None:
        name = details.get("task_name")
        if state != "SUCCESS" or not name:
            return
        for fault in targets:
            if fault.matches(name):
                attempt = recorder.count("execute", name, "start")
                recorder.add("task", name, "CRASH", old_state=state, attempt=attempt, injected=True)
                if on_injected is not None:
                    on_injected(fault, name, "execute", attempt)
                raise FlowCrash(name, "after")

    with notifier.register_deregister(engine.atom_notifier, notifier.Notifier.ANY, on_state):
        yield


_REMOTE_TASKS = (
    "the worker-based engine runs these tasks in workers that build their own task objects "
    "from the class name, so the plugin's wrappers on the engine's copies never run; to test "
    "how the flow handles this fault, run it on engine='serial' or engine='parallel'"
)


def _out_of_reach(engine: Any, kinds: dict[Any, str], plan: FaultPlan) -> tuple[NotInjected, ...]:
    """The faults that match atoms of this engine but can never fire on them.

    Only a ``crash_after`` fires outside the atom (on the engine's own notification).
    """
    if not _is_worker_based(engine):
        return ()
    return tuple(
        NotInjected(fault, atom.name, _REMOTE_TASKS)
        for atom, kind in kinds.items()
        if kind == "task"
        for fault in plan
        if fault.kind != "crash_after" and fault.matches(atom.name, kind)
    )


def _atom_results(engine: Any, kinds: dict[Any, str]) -> dict[str, Any]:
    """The saved result of every task that is SUCCESS in storage."""
    storage = engine.storage
    return {
        atom.name: storage.get(atom.name)
        for atom, kind in kinds.items()
        if kind == "task" and storage.get_atom_state(atom.name) == "SUCCESS"
    }


def _temporary_directory() -> Path:
    return Path(tempfile.mkdtemp(prefix="flowfault-"))


_active_sessions: list[Session] = []
_active_lock = threading.Lock()


@contextmanager
def intercepting(session: Session) -> Iterator[Session]:
    """Fault and record every TaskFlow engine run in the process with ``session``.

    Nested sessions stack: the innermost one gets the runs. The engine class is
    restored when the last session ends, also on errors and interrupts.
    """
    with _active_lock:
        if not _active_sessions:
            ActionEngine.run_iter = _intercepted_run_iter
        _active_sessions.append(session)
    try:
        yield session
    finally:
        with _active_lock:
            _active_sessions.remove(session)
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


def run_flow(
    flow: Any,
    *,
    plan: FaultPlan | None = None,
    store: dict[str, Any] | None = None,
    engine: str = "serial",
    virtual_time: bool = False,
    **engine_options: Any,
) -> FlowRun:
    """Run ``flow`` on the real TaskFlow engine with ``plan``'s faults; no pytest needed.

    ``virtual_time=True`` skips the sleeps of its atoms (see :mod:`pytest_flowfault.vtime`).

    >>> run = run_flow(boot_flow(), plan=FaultPlan(Fault.fail("attach")))  # doctest: +SKIP
    >>> run.assert_compensated()                                          # doctest: +SKIP

    Raises :class:`UnmatchedFault` if a fault targets no atom of the flow.
    """
    session = Session(plan, virtual_time=virtual_time)
    try:
        run = session.run(flow, store=store, engine=engine, **engine_options)
    finally:
        session.close()
    origin = lambda _: "run_flow(plan=...)"  # noqa: E731
    problem = unmatched_message(session.plan, session.atoms_seen, origin)
    if problem is not None:
        raise UnmatchedFault(problem)
    problem = not_injected_message(session.plan, session.runs, origin)
    if problem is not None:
        raise FaultNotInjected(problem)
    return run


@functools.cache
def _engine_names() -> tuple[str, ...]:
    # Reading entry points scans every installed distribution (~5 ms): once is enough.
    return tuple(sorted(entry.name for entry in entry_points(group="taskflow.engines")))


def sweep(
    make_flow: Callable[[], Any],
    *,
    store: dict[str, Any] | None = None,
    engine: str = "serial",
    kinds: Iterable[str] = ("transient", "permanent"),
    max_faults: int = 1,
    check: Callable[[FlowRun], object] | None = None,
    strict: bool = False,
    backend: Any = None,
    directory: Callable[[], Path] | None = None,
    virtual_time: bool = False,
    **engine_options: Any,
) -> SweepReport:
    """Run a fresh flow from ``make_flow()`` once without faults, then once per fault point.

    Kinds are ``"transient"``, ``"permanent"``, ``"revert"`` and ``"crash"`` (see
    :mod:`pytest_flowfault.explore`); ``max_faults=2`` explores pairs. A variant is ok when
    the flow succeeded, or ended REVERTED and compensated (``strict`` as in
    ``assert_compensated``), and ``check(run)`` did not raise ``AssertionError``.

    >>> sweep(lambda: boot_flow(retry=Times(3)), store=STORE).assert_resilient()  # doctest: +SKIP
    """
    if not callable(make_flow) or hasattr(make_flow, "iter_nodes"):
        raise TypeError(
            f"sweep() takes a callable that builds a fresh flow for every run, e.g. "
            f"lambda: boot_flow(), got {type(make_flow).__name__}"
        )
    kinds = explore.check_kinds(kinds)
    if "crash" in kinds and backend is None:
        backend = "memory"  # resuming needs the crashed run's storage
    session = Session(virtual_time=virtual_time)
    if directory is not None:
        session.directory = directory
    try:
        return explore.sweep_flow(
            lambda plan: session.run(
                make_flow(),
                extra=plan,
                store=store,
                engine=engine,
                backend=backend,
                **engine_options,
            ),
            resume=session.resume,
            kinds=kinds,
            max_faults=max_faults,
            check=check,
            strict=strict,
        )
    finally:
        session.close()


def task_names(flow: Any) -> list[str]:
    """The names of the tasks in ``flow`` (nested flows included), in compilation order."""
    loaded = taskflow.engines.load(flow)
    loaded.compile()
    graph = loaded.compilation.execution_graph
    return [node.name for node, data in graph.nodes(data=True) if data["kind"] == "task"]


def check_engine_name(engine: object) -> None:
    """Raise ``ValueError`` naming the engines there are, unless ``engine`` is one."""
    known = _engine_names()
    if not isinstance(engine, str) or engine not in known:
        suggestion = closest_name(engine, known) if isinstance(engine, str) else None
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        raise ValueError(
            f"engine={engine!r} is not a TaskFlow engine; use one of {', '.join(known)}{hint}"
        )


def _engine_kind(engine: Any) -> str:
    if isinstance(engine, ParallelActionEngine):
        return "parallel"
    if isinstance(engine, SerialActionEngine):
        return "serial"
    if _is_worker_based(engine):
        return "worker-based"
    return type(engine).__name__


def _is_worker_based(engine: Any) -> bool:
    # The module is imported only when kombu is: an engine of its class implies it is.
    remote = sys.modules.get("taskflow.engines.worker_based.engine")
    return remote is not None and isinstance(engine, remote.WorkerBasedActionEngine)


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
    return AtomInfo(atom.name, kind, has_revert, retry.name if retry is not None else None)  # type: ignore[arg-type]


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

