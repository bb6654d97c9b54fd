"""A test's (or one :func:`run_flow`'s) faults in force and the runs recorded under them."""

from __future__ import annotations

import itertools
import tempfile
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pytest_flowfault.arguments import (
    call,
    check_bool,
    check_engine_options,
    check_flow,
    check_plan,
    check_store,
    release_flow,
)
from pytest_flowfault.catalog import check_engine_name
from pytest_flowfault.engine import DEFAULT_WORKERS, atom_infos, load_engine, run_to_end
from pytest_flowfault.errors import FaultNotInjected, UnmatchedFault, UpgradeError
from pytest_flowfault.persist import open_backend, reload_flow_detail
from pytest_flowfault.plan import Fault, FaultPlan
from pytest_flowfault.remote import WORKER_ENGINES
from pytest_flowfault.run import FlowRun, RunInfo
from pytest_flowfault.saved import SavedState, saved_state
from pytest_flowfault.targets import not_injected_message, unmatched_message
from pytest_flowfault.upgrade import missing_requirements
from pytest_flowfault.values import Action
from pytest_flowfault.workers import WorkerPool


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
        on_injected: Callable[[RunInfo, Fault, str, Action, int], None] | None = None,
        on_finished: Callable[[FlowRun], None] | None = None,
        directory: Callable[[], Path] | None = None,
        nothing_to_undo: tuple[str, ...] = (),
    ) -> None:
        self.plan = plan if plan is not None else FaultPlan()
        #: Lend intercepted parallel engines a thread pool instead of TaskFlow's own.
        self.fast_parallel = fast_parallel
        #: Skip the sleeps of atoms, moving each run's virtual clock on instead.
        self.virtual_time = virtual_time
        #: Called for each fault that fires, and for each run that finishes.
        self.on_injected = on_injected
        self.on_finished = on_finished
        #: Where "dir" and "sqlite" backends live (the fixture points it at tmp_path).
        self.directory: Callable[[], Path] = directory or _temporary_directory
        #: The suite's tasks with nothing to undo, which every run recorded here keeps.
        self.nothing_to_undo = nothing_to_undo
        self._lock = threading.Lock()
        self._runs: list[tuple[int, FlowRun]] = []
        self._started = itertools.count()
        self._atoms_seen: dict[str, str] = {}
        self._classes_seen: dict[str, type] = {}
        self._pools: dict[int, ThreadPoolExecutor] = {}
        self._closers: list[Callable[[], None]] = []
        self._workers: WorkerPool | None = None

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

    @property
    def classes_seen(self) -> dict[str, type]:
        """The class of every atom in :attr:`atoms_seen` run in this process (name -> class;
        the latest, if two flows had atoms of the same name)."""
        with self._lock:
            return dict(self._classes_seen)

    def run(
        self,
        flow: Any,
        *,
        extra: FaultPlan | None = None,
        store: Mapping[str, Any] | None = None,
        engine: str = "serial",
        backend: Any = None,
        api: str = "Session.run()",
        **engine_options: Any,
    ) -> FlowRun:
        """Load ``flow`` into a TaskFlow engine, run it under this session, and return the run.

        The flow's own failure (and a crash fault's crash) is captured in the returned run
        instead of raised; errors that stop the flow from starting (``MissingDependencies``,
        duplicate names, …) propagate unchanged. ``backend`` is a persistence backend
        (see :func:`pytest_flowfault.persist.open_backend`). ``api`` is the call a bad
        argument's error names.
        """
        self.check_run_arguments(flow, store=store, engine=engine, api=api, **engine_options)
        if backend is not None:
            engine_options["backend"] = open_backend(backend, self.directory, api)
        engine_options = self._with_workers(flow, engine, engine_options)
        loaded = load_engine(
            flow, store=store, engine=engine, **self._with_pool(engine, engine_options)
        )
        return run_to_end(loaded, self, extra=extra)

    @staticmethod
    def check_run_arguments(
        flow: Any, *, store: Any, engine: Any, api: str, **engine_options: Any
    ) -> None:
        """Raise ``TypeError``/``ValueError`` naming ``api`` for an argument :meth:`run`
        cannot use (the backend is checked where it is opened)."""
        check_flow(flow, api)
        check_store(store, api)
        check_engine_name(engine, api)
        check_engine_options(engine_options, api)

    def resume(
        self,
        run: FlowRun,
        *,
        flow: Any = None,
        extra: FaultPlan | None = None,
        api: str = "Session.resume()",
        **engine_options: Any,
    ) -> FlowRun:
        """Continue a crashed or suspended run from what its storage holds.

        Completed atoms are skipped, atoms left RUNNING run again. Crash faults are not
        in force for the resumption (they would only crash it again). ``flow`` (a flow,
        or a function that builds one with no arguments) is the new release that resumes
        the saved state; by default the run's own flow does. Raises :class:`UpgradeError`
        when TaskFlow refuses the new flow because it requires what only a removed atom
        provided. ``extra``: faults for the resumed run only, on top of the session's.
        """
        if not isinstance(run, FlowRun):
            raise TypeError(
                f"{call(api, 'run', run)}: give the FlowRun that flowfault.run() or "
                f"run_flow() returned (a CRASHED or SUSPENDED one), not {type(run).__name__}"
            )
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
        check_engine_name(engine, api)
        check_engine_options(engine_options, api)
        new_flow = point.flow if flow is None else release_flow(flow, api)
        saved = saved_state(detail)  # before the new engine adds the atoms it lacks
        engine_options = self._with_workers(new_flow, engine, engine_options)
        loaded = load_engine(
            new_flow,
            flow_detail=detail,
            backend=point.backend,
            engine=engine,
            **self._with_pool(engine, engine_options),
        )
        try:
            return run_to_end(
                loaded, self, resumed_from=run, without_crashes=True, saved=saved, extra=extra
            )
        except Exception as refused:
            problems = _upgrade_refusal(refused, saved, run, loaded)
            if problems is None:
                raise
            raise UpgradeError(
                f"the new release of flow {run.flow_name!r} cannot resume its saved state; "
                f"TaskFlow refuses to start it ({type(refused).__name__}): {problems}"
            ) from refused

    def _with_pool(self, engine: str, engine_options: dict[str, Any]) -> dict[str, Any]:
        if engine == "parallel" and "executor" not in engine_options:
            engine_options["executor"] = self._pool(engine_options.pop("max_workers", None))
        return engine_options

    @property
    def workers(self) -> WorkerPool:
        """The workers this session's worker-based runs get, unless the caller brought
        its own: in process, or processes after ``workers.use_processes(...)``."""
        if self._workers is None:
            self._workers = WorkerPool()
            self.on_close(self._workers.close)
        return self._workers

    def _with_workers(self, flow: Any, engine: str, engine_options: dict[str, Any]) -> dict[str, Any]:
        if engine not in WORKER_ENGINES:
            return engine_options
        return self.workers.options_for(flow, engine_options)

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

    def begin_run(self, atoms: dict[str, str], classes: Mapping[str, type] | None = None) -> int:
        """Note the atoms (name -> kind, and name -> class when known) of a run about to
        start; return its start number."""
        with self._lock:
            self._atoms_seen.update(atoms)
            self._classes_seen.update(classes or {})
            return next(self._started)

    def end_run(self, started: int, run: FlowRun) -> None:
        """Record the finished ``run`` that :meth:`begin_run` numbered ``started``."""
        with self._lock:
            self._runs.append((started, run))
        if self.on_finished is not None:
            self.on_finished(run)

    def add_run(self, run: FlowRun) -> None:
        """Record a run that happened elsewhere (a child process), as starting now."""
        self.end_run(self.begin_run({atom.name: atom.kind for atom in run.atoms}), run)

    def _pool(self, max_workers: int | None) -> ThreadPoolExecutor:
        width = DEFAULT_WORKERS if max_workers is None else int(max_workers)
        with self._lock:
            if width not in self._pools:
                self._pools[width] = ThreadPoolExecutor(width, thread_name_prefix="flowfault")
            return self._pools[width]

def _upgrade_refusal(
    refused: Exception, saved: SavedState, run: FlowRun, engine: Any
) -> str | None:
    """Why TaskFlow refused a resumed flow, if the saved state explains it (None if not)."""
    from taskflow.exceptions import MissingDependencies

    if not isinstance(refused, MissingDependencies) or not saved.atoms:
        return None
    return "; ".join(missing_requirements(saved, run.atoms, atom_infos(engine))) or None


def _temporary_directory() -> Path:
    return Path(tempfile.mkdtemp(prefix="flowfault-"))


def run_flow(
    flow: Any,
    *,
    plan: FaultPlan | Fault | None = None,
    store: Mapping[str, Any] | None = None,
    engine: str = "serial",
    virtual_time: bool = False,
    **engine_options: Any,
) -> FlowRun:
    """Run ``flow`` on the real TaskFlow engine with ``plan``'s faults; no pytest needed.

    ``virtual_time=True`` skips the sleeps of its atoms (see :mod:`pytest_flowfault.vtime`).

    >>> run = run_flow(boot_flow(), plan=FaultPlan(Fault.fail("attach")))  # doctest: +SKIP
    >>> run.assert_compensated()                                          # doctest: +SKIP

    Raises :class:`UnmatchedFault` if a fault targets no atom of the flow; ``plan`` may
    also be a single :class:`Fault`.
    """
    plan = check_plan(plan, "run_flow()")
    check_bool(virtual_time, "run_flow()", "virtual_time", "skip sleeps inside atoms")
    session = Session(plan, virtual_time=virtual_time)
    try:
        run = session.run(flow, store=store, engine=engine, api="run_flow()", **engine_options)
    finally:
        session.close()
    origin = lambda _: "run_flow(plan=...)"  # noqa: E731
    problem = unmatched_message(session.plan, session.atoms_seen, origin, session.classes_seen)
    if problem is not None:
        raise UnmatchedFault(problem)
    problem = not_injected_message(session.plan, session.runs, origin)
    if problem is not None:
        raise FaultNotInjected(problem)
    return run


