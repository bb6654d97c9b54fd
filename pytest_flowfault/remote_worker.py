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

from collections.abc import Iterable
from typing import Any

from taskflow import task as taskflow_task
from taskflow.engines.worker_based import endpoint, worker
from taskflow.utils import misc

from pytest_flowfault import remote
from pytest_flowfault.values import Action


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


class FaultingWorker(worker.Worker):  # type: ignore[misc]
    """TaskFlow's ``Worker``, serving :class:`FaultingEndpoint` s; its topic names it in
    the runs it records."""

    # TaskFlow's Worker.__init__ sets self._topic, then calls self._derive_endpoints(tasks)
    # (a staticmethod there): as a method here it can name the worker in its endpoints.
    def _derive_endpoints(self, tasks: Iterable[Any]) -> list[FaultingEndpoint]:
        found = misc.find_subclasses(tasks, taskflow_task.Task)
        return [FaultingEndpoint(task_cls, self._topic) for task_cls in found]
