"""Real process death: a flow run in a child Python process that is SIGKILLed mid-flow.

The in-process crash (``FlowCrash``) leaves storage as a SIGKILL would, but the process
lives on: threads, open connections and caches survive. A child that really dies proves
the flow resumes from nothing but what its backend committed.

The child is this module run with ``python -m``. Its kill point crosses the process
boundary as the ``repr`` of one crash :class:`~pytest_flowfault.plan.Fault`, read back by
the plan grammar (never evaluated) and fired by the same injector as in process, with the
same target rules: it dies where the in-process crash would raise ``FlowCrash``.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_flowfault.engine import atom_infos, load_engine, run_to_end, task_classes
from pytest_flowfault.errors import UnmatchedFault
from pytest_flowfault.persist import open_backend, reload_flow_detail
from pytest_flowfault.plan import Fault, FaultPlan
from pytest_flowfault.recorder import Recorder
from pytest_flowfault.replay import parse_plan
from pytest_flowfault.run import AtomInfo, FlowRun, ResumePoint
from pytest_flowfault.session import Session
from pytest_flowfault.targets import unmatched_message


def run_in_subprocess(
    factory: str,
    conf: dict[str, Any],
    crash: Fault,
    *,
    store: dict[str, Any] | None = None,
    timeout: float = 120.0,
) -> FlowRun:
    """Run ``factory()`` (``"pkg.module:function"``) in a child process killed at ``crash``.

    ``conf`` is a TaskFlow backend conf both processes reach (SQLite file, dir, a database
    URL); the returned CRASHED run is rebuilt from what the backend holds, and resumes here.
    Raises :class:`UnmatchedFault` (with the closest task name) if ``crash`` names no task.
    """
    __tracebackhide__ = True
    check_shareable(conf)
    _, make_flow = import_factory(factory)
    classes = task_classes(make_flow())
    atoms = {name: "task" for name in classes}
    problem = unmatched_message(FaultPlan(crash), atoms, lambda _: "run_in_subprocess()", classes)
    if problem is not None:
        raise UnmatchedFault(problem)
    backend = open_backend(conf, Path.cwd)  # tables exist before the child starts
    output = run_child(
        "pytest_flowfault.process",
        [factory, conf, store or {}, repr(crash)],
        timeout=timeout,
        what=f"the child process running {factory}",
        crash=crash,
    )
    flow_uuid = json.loads(output.splitlines()[0])
    return crashed_run_from_storage(make_flow(), backend, reload_flow_detail(backend, flow_uuid))


def check_shareable(conf: dict[str, Any]) -> None:
    """Refuse a backend that a child process cannot reach."""
    if conf.get("connection") == "memory":
        raise ValueError("a child process cannot share a memory backend: use 'sqlite' or 'dir'")


def import_factory(factory: str | Callable[..., Any]) -> tuple[str, Callable[..., Any]]:
    """The dotted import path of a flow factory and the factory, checked to lead back to
    each other: another process (or a conductor) rebuilds the flow from the path alone.

    ``factory`` is ``"package.module:function"`` or a module-level function.
    """
    if isinstance(factory, str):
        module_name, colon, attribute = factory.partition(":")
        if not (module_name and colon and attribute):
            raise ValueError(
                f"factory={factory!r}: write 'package.module:function', a module-level "
                f"function that returns a fresh flow"
            )
        try:
            found = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as problem:
            raise ValueError(f"factory={factory!r} cannot be imported: {problem}") from None
        if not callable(found):
            raise ValueError(f"factory={factory!r} is a {type(found).__name__}, not a function")
        return f"{module_name}.{attribute}", found
    if not callable(factory):
        raise TypeError(
            f"factory must be a function that builds the flow, or 'package.module:function', "
            f"not {type(factory).__name__}"
        )
    path = f"{factory.__module__}.{factory.__qualname__}"
    module = importlib.import_module(factory.__module__)
    if getattr(module, factory.__qualname__, None) is not factory:
        raise ValueError(
            f"factory {path} cannot be imported by that name from another process; define "
            f"it at the top level of a module"
        )
    return path, factory


def run_child(module: str, arguments: object, *, timeout: float, what: str, crash: Fault) -> str:
    """Run ``python -m module`` (``sys.argv[1]``: ``arguments`` as JSON), which must die at
    ``crash``; return what it printed, or say why it did not die.

    A child that lived prints the atoms it saw last, and whether ``crash`` named any of
    them (a class target needs the child's own classes): one that named none is an
    :class:`UnmatchedFault` with the closest name, as in process.
    """
    __tracebackhide__ = True
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, sys.path)))
    child = subprocess.run(
        [sys.executable, "-m", module, json.dumps(arguments)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
    )
    if child.returncode == -signal.SIGKILL:
        return child.stdout
    lines = child.stdout.strip().splitlines()
    survival = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    seen = survival.get("atoms_seen")
    if child.returncode == 0 and seen is not None and survival.get("unmatched"):
        problem = unmatched_message(FaultPlan(crash), seen, lambda _: what)
        if problem is not None:
            raise UnmatchedFault(problem)
    raise RuntimeError(
        f"{what} was not killed at {crash!r}: it exited with {child.returncode} (does the "
        f"flow get there?)\n{child.stderr.strip()}"
    )


def dying_session(crash_text: str) -> Session:
    """In a child: a session whose one crash fault SIGKILLs the process where it fires."""
    # The text is the parent's own repr of a fault it was given: a class target's module
    # may be imported from anywhere on the path the parent handed down.
    path = [Path(entry or ".") for entry in sys.path]
    return Session(
        parse_plan(crash_text, origin="the parent process's kill point", importable_from=path),
        on_injected=lambda *fired: os.kill(os.getpid(), signal.SIGKILL),
    )


def report_survival(session: Session) -> None:
    """In a child that was not killed: say which atoms it saw and whether its kill point
    named none of them, for the parent's message."""
    unmatched = bool(session.plan.unmatched(session.atoms_seen, session.classes_seen))
    print(json.dumps({"atoms_seen": session.atoms_seen, "unmatched": unmatched}), flush=True)


def crashed_run_from_storage(flow: Any, backend: Any, detail: Any) -> FlowRun:
    """A CRASHED run reconstructed from storage: what the child committed, nothing more.

    Each task SUCCESS in storage gets one ``execute`` call that ended ok; a task left
    RUNNING gets a call that started and never ended. The atoms are described from
    ``flow``, the code that ran there.
    """
    from taskflow.storage import Storage

    code = {atom.name: atom for atom in atom_infos(load_engine(flow))}
    recorder = Recorder()
    atoms = []
    results = {}
    for atom_detail in detail:
        if atom_detail.name == Storage.injector_name:  # the store, not an atom
            continue
        kind = "retry" if type(atom_detail).__name__ == "RetryDetail" else "task"
        atoms.append(
            code.get(atom_detail.name)
            or AtomInfo(atom_detail.name, kind, has_revert=True)  # type: ignore[arg-type]
        )
        if kind != "task":
            continue
        if atom_detail.state in ("SUCCESS", "RUNNING"):
            recorder.add("execute", atom_detail.name, "start", attempt=1)
        if atom_detail.state == "SUCCESS":
            recorder.add("execute", atom_detail.name, "ok", attempt=1)
            results[atom_detail.name] = atom_detail.results
    return recorder.finish(
        flow_name=detail.name,
        engine="serial",
        state="CRASHED",
        error=None,
        results={},
        plan=FaultPlan(),
        atoms=tuple(atoms),
        dependencies=(),
        resume_point=ResumePoint(flow, detail, backend, "serial"),
        atom_results=results,
    )


def _main() -> None:
    """The child: run the factory's flow on the backend until the kill point kills it."""
    from taskflow.persistence import backends

    factory, conf, store, crash_text = json.loads(sys.argv[1])
    session = dying_session(crash_text)
    _, make_flow = import_factory(factory)
    engine = load_engine(make_flow(), store=store, backend=backends.fetch(conf))
    engine.compile()
    print(json.dumps(engine.storage.flow_uuid), flush=True)
    try:
        run_to_end(engine, session)
    finally:
        session.close()
    report_survival(session)


if __name__ == "__main__":
    _main()
