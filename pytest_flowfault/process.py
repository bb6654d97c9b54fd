"""Real process death: a flow run in a child Python process that is SIGKILLed mid-flow.

The in-process crash (``FlowCrash``) leaves storage as a SIGKILL would, but the process
lives on: threads, open connections and caches survive. A child that really dies proves
the flow resumes from nothing but what its backend committed.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_flowfault.persist import open_backend, reload_flow_detail
from pytest_flowfault.plan import FaultPlan
from pytest_flowfault.recorder import Recorder
from pytest_flowfault.run import AtomInfo, FlowRun, ResumePoint

# Runs in the child. It prints the flow detail's uuid, then SIGKILLs itself at the point.
_CHILD = textwrap.dedent(
    """
    import importlib, json, os, signal, sys, warnings
    warnings.simplefilter("ignore")
    from taskflow import engines
    from taskflow.persistence import backends
    from taskflow.types import notifier

    factory, conf, store, after, during = json.loads(sys.argv[1])
    module, _, name = factory.partition(":")
    flow = getattr(importlib.import_module(module), name)()
    backend = backends.fetch(conf)
    engine = engines.load(flow, store=store, backend=backend)
    engine.compile()
    print(json.dumps(engine.storage.flow_uuid), flush=True)

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def on_state(state, details):
        if state == "SUCCESS" and details.get("task_name") == after:
            die()

    engine.atom_notifier.register(notifier.Notifier.ANY, on_state)
    for node, data in engine.compilation.execution_graph.nodes(data=True):
        if data["kind"] == "task" and node.name == during:
            node.execute = lambda *args, **kwargs: die()
    engine.run()
    """
)


def run_in_subprocess(
    factory: str,
    conf: dict[str, Any],
    *,
    crash_after: str | None = None,
    crash_during: str | None = None,
    store: dict[str, Any] | None = None,
    timeout: float = 120.0,
) -> FlowRun:
    """Run ``factory()`` (``"pkg.module:function"``) in a child process killed at the point.

    ``conf`` is a TaskFlow backend conf both processes reach (SQLite file, dir, a database
    URL); the returned CRASHED run is rebuilt from what the backend holds, and resumes here.
    """
    check_shareable(conf)
    if (crash_after is None) == (crash_during is None):
        raise TypeError("run_in_subprocess() takes exactly one of crash_after= or crash_during=")
    _, make_flow = import_factory(factory)
    backend = open_backend(conf, Path.cwd)  # tables exist before the child starts
    output = run_child(
        _CHILD,
        [factory, conf, store or {}, crash_after, crash_during],
        timeout=timeout,
        what=f"the child process running {factory}",
        point=kill_point(crash_after, crash_during),
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


def kill_point(after: str | None, during: str | None) -> str:
    """How a kill point reads in messages: ``crash_after='attach'``."""
    return f"crash_after={after!r}" if after is not None else f"crash_during={during!r}"


def run_child(code: str, arguments: object, *, timeout: float, what: str, point: str) -> str:
    """Run ``code`` in a child Python (``sys.argv[1]``: ``arguments`` as JSON) that must
    SIGKILL itself; return what it printed, or say why it did not die."""
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, sys.path)))
    child = subprocess.run(
        [sys.executable, "-c", code, json.dumps(arguments)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
    )
    if child.returncode != -signal.SIGKILL:
        raise RuntimeError(
            f"{what} was not killed at {point}: it exited with {child.returncode} (does the "
            f"flow have that task, and does it get there?)\n{child.stderr.strip()}"
        )
    return child.stdout


def crashed_run_from_storage(flow: Any, backend: Any, detail: Any) -> FlowRun:
    """A CRASHED run reconstructed from storage: what the child committed, nothing more.

    Each task SUCCESS in storage gets one ``execute`` call that ended ok; a task left
    RUNNING gets a call that started and never ended.
    """
    recorder = Recorder()
    atoms = []
    results = {}
    for atom_detail in detail:
        kind = "retry" if type(atom_detail).__name__ == "RetryDetail" else "task"
        atoms.append(AtomInfo(atom_detail.name, kind, has_revert=True))  # type: ignore[arg-type]
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
