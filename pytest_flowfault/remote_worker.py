"""The TaskFlow worker the plugin runs: TaskFlow's own ``Worker``, whose endpoints put the
faults and the recording of the engine run a request came from on the task object the
worker builds for that request.

The endpoint is the seam: ``Server._process_request`` (``worker_based/server.py``) builds
the task with ``endpoint.generate(name)`` and then calls ``endpoint.execute(task, ...)`` or
``endpoint.revert(task, ...)`` with the request's ``task_uuid``, on one thread, before
anything runs; the server, the protocol and the executor stay TaskFlow's.

Imports kombu (through TaskFlow's worker modules): import it only where kombu is wanted.
"""

from __future__ import annotations

import json
import sys
import threading
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from taskflow import task as taskflow_task
from taskflow.engines.worker_based import endpoint, server, worker
from taskflow.utils import misc

from pytest_flowfault import remote
from pytest_flowfault.values import Action

#: The request being processed on this thread: its ``reply_to``, the engine's flow uuid.
_request = threading.local()
#: In a worker process: the Redis channel its runs' faults and records travel on.
_channel: Any = None


class FaultingEndpoint(endpoint.Endpoint):  # type: ignore[misc]
    """TaskFlow's endpoint for one task class, which hands each task object it is asked
    to run to the engine run the request came from (if the plugin records that run)."""

    def __init__(self, task_cls: type, worker_name: str) -> None:
        super().__init__(task_cls)
        self._worker_name = worker_name

    def execute(self, task: Any, **kwargs: Any) -> Any:
        self._reach(task, "execute", kwargs.get("task_uuid"))
        return super().execute(task, **kwargs)

    def revert(self, task: Any, **kwargs: Any) -> Any:
        self._reach(task, "revert", kwargs.get("task_uuid"))
        return super().revert(task, **kwargs)

    def _reach(self, task: Any, action: Action, task_uuid: str | None) -> None:
        run = remote.run_for(task.name, task_uuid) if task_uuid is not None else None
        if run is not None:
            run.wrap(task, action, self._worker_name)
            return
        reply_to = getattr(_request, "reply_to", None)
        child_run = _channel.child_run(reply_to) if _channel is not None and reply_to else None
        if child_run is not None:
            child_run.wrap(task, action, self._worker_name)


class FaultingServer(server.Server):  # type: ignore[misc]
    """TaskFlow's ``Server``, which notes each request's ``reply_to`` for the endpoints, and
    in a worker process dies at a ``crash_during`` point when it takes the request.

    Dying here, before the server answers ``RUNNING``, leaves the request as TaskFlow can
    fail it: it expires a request only while it is ``WAITING``/``PENDING``
    (``worker_based/protocol.py``); one a dead worker had answered ``RUNNING`` to would be
    waited for for ever.
    """

    def _process_request(self, request: Any, message: Any) -> None:
        _request.reply_to = message.properties.get("reply_to")
        try:
            if _channel is not None and _request.reply_to and isinstance(request, dict):
                child_run = _channel.child_run(_request.reply_to)
                name, action = request.get("task_name"), request.get("action")
                if child_run is not None and child_run.crash_due(name, action):
                    child_run.die(name, self._topic, message.properties.get("correlation_id"))
            super()._process_request(request, message)
        finally:
            _request.reply_to = None


class FaultingWorker(worker.Worker):  # type: ignore[misc]
    """TaskFlow's ``Worker``, serving :class:`FaultingEndpoint` s through a
    :class:`FaultingServer`; its topic names it in the runs it records. ``drain_timeout``
    is how long its consumer waits for a message before it looks again (TaskFlow's is 1 s
    on every transport but memory)."""

    def __init__(
        self,
        exchange: str,
        topic: str,
        tasks: Iterable[Any],
        *,
        drain_timeout: float | None = None,
        **options: Any,
    ) -> None:
        super().__init__(exchange, topic, list(tasks), **options)
        options.pop("executor", None)
        options.pop("threads_count", None)
        # TaskFlow's Worker builds its Server inline: build ours the same way instead.
        self._server = FaultingServer(
            topic, exchange, self._executor, self._endpoints, **options
        )
        if drain_timeout is not None:
            self._server._proxy._drain_events_timeout = drain_timeout

    # TaskFlow's Worker.__init__ sets self._topic, then calls self._derive_endpoints(tasks)
    # (a staticmethod there): as a method here it can name the worker in its endpoints.
    def _derive_endpoints(self, tasks: Iterable[Any]) -> list[FaultingEndpoint]:
        found = misc.find_subclasses(tasks, taskflow_task.Task)
        return [FaultingEndpoint(task_cls, self._topic) for task_cls in found]


def _main() -> None:
    """A worker process: ``sys.argv[1]`` is JSON (url, exchange, topic, tasks, polling
    interval). Prints ``ready`` once it consumes its queue, and stops when its standard
    input closes (the test process ended it, or died)."""
    global _channel
    from pytest_flowfault.worker_records import Channel

    url, exchange, topic, tasks, polling, threads = json.loads(sys.argv[1])
    _channel = Channel(url, exchange)
    # A pool of ours: TaskFlow's own (futurist) takes ~1 s to shut down.
    pool = ThreadPoolExecutor(threads, thread_name_prefix="flowfault-worker")
    running = FaultingWorker(
        exchange, topic, tasks, drain_timeout=polling, url=url,
        transport_options={"polling_interval": polling}, executor=pool,
    )
    thread = threading.Thread(target=running.run, kwargs={"display_banner": False}, daemon=True)
    thread.start()
    running.wait()
    print("ready", flush=True)
    sys.stdin.read()
    running.stop()
    thread.join()
    pool.shutdown(wait=True)


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "eventletutils module is deprecated", DeprecationWarning)
        _main()
