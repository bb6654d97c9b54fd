"""Workers the plugin starts for TaskFlow's worker-based engine: in-process TaskFlow
workers (threads of this process) on kombu's memory transport, or worker processes (child
Pythons running TaskFlow's ``Worker``) on kombu's Redis transport.

Each set of workers has an exchange of its own, registered with
:mod:`pytest_flowfault.remote`, so the engine runs sent there get the faults in force and
are recorded, on the task objects the workers build. kombu is imported only when workers
start; without it the error names the ``[workers]`` extra.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

from pytest_flowfault import remote
from pytest_flowfault.engine import DEFAULT_WORKERS
from pytest_flowfault.errors import MissingExtra, WorkerTaskError

#: Seconds between two polls of kombu's memory transport by each worker and engine (the
#: transport's default, 1 s, would be paid on every message hop).
POLLING_INTERVAL = 0.01
#: The ``transition_timeout`` of the runs the plugin sends to its own workers: how long
#: a request may wait for a worker to take it before it fails (TaskFlow's default: 60 s).
TRANSITION_TIMEOUT = 10.0
#: Engine options that say the caller brought workers of its own.
WORKER_OPTIONS = ("exchange", "topics", "url", "transport", "executor")
THREAD_PREFIX = "flowfault-worker"


def worker_module() -> ModuleType:
    """:mod:`pytest_flowfault.remote_worker`, or :class:`MissingExtra` without kombu."""
    try:
        return importlib.import_module("pytest_flowfault.remote_worker")
    except ImportError as error:
        if error.name is None or not error.name.startswith("kombu"):
            raise
        raise MissingExtra(
            "the worker-based engine needs kombu; install it with "
            "pip install 'pytest-flowfault[workers]'"
        ) from None


def task_classes(flow: Any) -> tuple[str, ...]:
    """The ``"module:Class"`` of every task in ``flow`` (nested flows included), as a
    worker's ``tasks=`` takes them; :class:`WorkerTaskError` for a task no worker can build.
    """
    found: dict[str, None] = {}
    for task in _tasks_of(flow):
        found.setdefault(_class_path(task), None)
    return tuple(found)


def _tasks_of(flow: Any) -> Iterator[Any]:
    from taskflow import flow as taskflow_flow
    from taskflow import task as taskflow_task

    if isinstance(flow, taskflow_task.Task):
        yield flow
    elif isinstance(flow, taskflow_flow.Flow):
        for node, _ in flow.iter_nodes():
            yield from _tasks_of(node)


def _class_path(task: Any) -> str:
    cls = type(task)
    sent = f"{cls.__module__}.{cls.__name__}"  # what the engine sends (oslo's get_class_name)
    how = (
        f"a worker builds each task from the class name the engine sends ({sent!r}) as "
        f"{cls.__name__}(name={task.name!r}) (taskflow/engines/worker_based/endpoint.py)"
    )
    try:
        module = importlib.import_module(cls.__module__)
    except ImportError:
        module = None
    if getattr(module, cls.__name__, None) is not cls:
        where = (
            f"it is defined inside {cls.__qualname__.partition('.<locals>')[0]}()"
            if "<locals>" in cls.__qualname__
            else f"{sent} is not that class"
        )
        raise WorkerTaskError(
            f"task {task.name!r} cannot run on TaskFlow's workers: {how}, and {where}; "
            f"define {cls.__name__} at the top level of an importable module"
        )
    try:
        inspect.signature(cls).bind(name=task.name)
    except TypeError as problem:
        raise WorkerTaskError(
            f"task {task.name!r} cannot run on TaskFlow's workers: {how}, which fails: "
            f"{problem}; give {cls.__name__} a constructor that works with name= alone "
            f"(a worker's task reaches its resources through its arguments or clients of "
            f"its own process)"
        ) from None
    return f"{cls.__module__}:{cls.__name__}"


class InProcessWorkers:
    """``count`` TaskFlow workers, each a thread of this process, on kombu's memory
    transport and an exchange of their own, able to run ``tasks`` (``"module:Class"``).

    Engine runs sent to them get the faults in force and are recorded, each call with the
    worker that ran it. ``flowfault.run(engine="worker-based")`` starts and stops them
    itself; started by hand, pass :attr:`engine_options` to the engine:

    >>> with InProcessWorkers(["boot:CreateVolume"]) as workers:                # doctest: +SKIP
    ...     run = run_flow(flow, engine="worker-based", **workers.engine_options)
    """

    def __init__(self, tasks: Iterable[str], *, count: int = 1) -> None:
        self.tasks = tuple(tasks)
        self.exchange = f"flowfault-{uuid.uuid4().hex}"
        self.topics = tuple(f"worker-{number}" for number in range(1, count + 1))
        self._running: list[tuple[Any, threading.Thread, ThreadPoolExecutor]] = []

    @property
    def engine_options(self) -> dict[str, Any]:
        """What a ``worker-based`` engine needs to reach these workers."""
        return {
            "exchange": self.exchange,
            "transport": "memory",
            "transport_options": {"polling_interval": POLLING_INTERVAL},
            "topics": list(self.topics),
            "transition_timeout": TRANSITION_TIMEOUT,
        }

    def start(self) -> InProcessWorkers:
        """Start the workers and wait until each one consumes its queue."""
        module = worker_module()
        remote.serve_exchange(self.exchange)
        try:
            for topic in self.topics:
                pool = ThreadPoolExecutor(DEFAULT_WORKERS, thread_name_prefix=THREAD_PREFIX)
                started = module.FaultingWorker(
                    self.exchange,
                    topic,
                    list(self.tasks),
                    executor=pool,
                    transport="memory",
                    transport_options={"polling_interval": POLLING_INTERVAL},
                )
                thread = threading.Thread(
                    target=started.run,
                    kwargs={"display_banner": False},  # its banner resolves the host name
                    name=f"{THREAD_PREFIX}-{topic}",
                    daemon=True,
                )
                self._running.append((started, thread, pool))
                thread.start()
                started.wait()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every worker and join its threads (safe to call twice)."""
        running, self._running = self._running, []
        try:
            for started, thread, pool in running:
                started.stop()  # the proxy leaves its polling loop within POLLING_INTERVAL
                if thread.is_alive():
                    thread.join()
                pool.shutdown(wait=True)
        finally:
            remote.release_exchange(self.exchange)

    def __enter__(self) -> InProcessWorkers:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class WorkerProcesses:
    """``count`` worker processes (child Pythons running TaskFlow's ``Worker``) on kombu's
    Redis transport at ``url``, on an exchange of their own, able to run ``tasks``.

    Faults reach them, and their records come back, through the same Redis server (see
    :mod:`pytest_flowfault.worker_records`); a ``crash_during`` kills the one that takes
    the task. ``flowfault.workers(count, redis=flowfault_redis)`` starts them.
    """

    def __init__(self, tasks: Iterable[str], *, count: int, url: str) -> None:
        self.tasks = tuple(tasks)
        self.url = url
        self.exchange = f"flowfault-{uuid.uuid4().hex}"
        self.topics = tuple(f"worker-{number}" for number in range(1, count + 1))
        self._children: list[subprocess.Popen[str]] = []

    @property
    def engine_options(self) -> dict[str, Any]:
        """What a ``worker-based`` engine needs to reach these workers."""
        return {
            "exchange": self.exchange,
            "url": self.url,
            "transport_options": {"polling_interval": POLLING_INTERVAL},
            "topics": list(self.topics),
            "transition_timeout": TRANSITION_TIMEOUT,
        }

    def start(self) -> WorkerProcesses:
        """Start the processes and wait until each one consumes its queue."""
        worker_module()  # kombu, or the error naming the extra
        in_main = [path.partition(":")[2] for path in self.tasks if path.startswith("__main__:")]
        if in_main:
            raise WorkerTaskError(
                f"{', '.join(in_main)} cannot run on worker processes: defined in __main__ "
                f"(the script being run), which another Python cannot import by name; "
                f"move {'it' if len(in_main) == 1 else 'them'} to a module"
            )
        from pytest_flowfault.worker_records import Channel

        channel = Channel(self.url, self.exchange, self._has_died, self.topics)
        channel.reset()
        remote.serve_exchange(self.exchange, channel)
        environment = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, sys.path)))
        try:
            for topic in self.topics:
                arguments = [
                    self.url, self.exchange, topic, list(self.tasks), POLLING_INTERVAL,
                    DEFAULT_WORKERS,
                ]
                child = subprocess.Popen(
                    [sys.executable, "-m", "pytest_flowfault.remote_worker", json.dumps(arguments)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment,
                )
                self._children.append(child)
            for topic, child in zip(self.topics, self._children):
                assert child.stdout is not None
                if child.stdout.readline().strip() != "ready":
                    raise RuntimeError(
                        f"worker process {topic} exited with {child.wait()} before it was ready"
                    )
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def pids(self) -> dict[str, int]:
        """Each worker's topic -> its process id."""
        return {topic: child.pid for topic, child in zip(self.topics, self._children)}

    def _has_died(self, topic: str) -> bool:
        """Whether the worker ``topic``'s process is dead (``poll`` reaps it)."""
        for name, child in zip(self.topics, self._children):
            if name == topic:
                return child.poll() is not None
        return False

    def exit_codes(self) -> dict[str, int | None]:
        """Each worker's topic -> its exit code (``-9``: SIGKILLed), None while it runs."""
        return {topic: child.poll() for topic, child in zip(self.topics, self._children)}

    def stop(self) -> None:
        """End every worker process (closing its standard input), killing any that does
        not stop at once; safe to call twice."""
        children, self._children = self._children, []
        try:
            for child in children:
                if child.stdin is not None:
                    child.stdin.close()
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
                if child.stdout is not None:
                    child.stdout.close()
        finally:
            remote.release_exchange(self.exchange)

    def __enter__(self) -> WorkerProcesses:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class WorkerPool:
    """The workers of one session, started on first need: one set per set of task
    classes, in process unless :meth:`use_processes` said otherwise; stopped by
    :meth:`close`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: dict[tuple[object, ...], InProcessWorkers | WorkerProcesses] = {}
        self._processes: tuple[int, str] | None = None

    def use_processes(self, count: int, url: str) -> None:
        """From now on, start ``count`` worker processes on the Redis server at ``url``."""
        with self._lock:
            self._processes = (count, url)

    def options_for(self, flow: Any, engine_options: Mapping[str, Any]) -> dict[str, Any]:
        """``engine_options`` with workers that can run ``flow``'s tasks, unless the
        caller brought workers of its own (``exchange=``, ``topics=``, ``url=``, …)."""
        if any(option in engine_options for option in WORKER_OPTIONS):
            return dict(engine_options)
        tasks = tuple(sorted(task_classes(flow)))
        with self._lock:
            key = (self._processes, tasks)
            workers = self._started.get(key)
            if workers is None:
                if self._processes is None:
                    workers = InProcessWorkers(tasks).start()
                else:
                    count, url = self._processes
                    workers = WorkerProcesses(tasks, count=count, url=url).start()
                self._started[key] = workers
        return {**workers.engine_options, **engine_options}

    @property
    def processes(self) -> tuple[WorkerProcesses, ...]:
        """The sets of worker processes this pool has started and not stopped."""
        with self._lock:
            return tuple(w for w in self._started.values() if isinstance(w, WorkerProcesses))

    def stop_on(self, url: str) -> None:
        """Stop the worker processes on the Redis server at ``url`` (before it stops)."""
        with self._lock:
            found = [
                key for key, workers in self._started.items()
                if isinstance(workers, WorkerProcesses) and workers.url == url
            ]
            stopping = [self._started.pop(key) for key in found]
        for workers in stopping:
            workers.stop()

    def close(self) -> None:
        """Stop every worker this pool started."""
        with self._lock:
            started, self._started = list(self._started.values()), {}
        for workers in started:
            workers.stop()
