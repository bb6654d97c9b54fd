"""The Redis side of worker processes: how a run's faults reach them and their records
come back, on the same ``redis-server`` their kombu transport uses.

Per engine run (keyed by its flow detail's uuid, which is the ``reply_to`` of every request
the engine sends) the test process writes the plan's ``repr`` and a fresh token; a worker
reads them for each request, numbers each attempt with ``INCR`` (one counter per run, atom
and action, whichever process runs it), and appends one JSON record per event to the run's
list. The test process merges those records into the run when it ends, by time: every
process reads the same ``CLOCK_MONOTONIC`` through ``time.perf_counter`` (Linux, macOS,
Windows alike), and each event a worker records happens after the engine sent the request
and before the engine reads the answer, so the merged order is the causal order.

Imports redis-py (the ``[jobboard]`` extra), not kombu.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from pytest_flowfault.errors import describe_error
from pytest_flowfault.inject import Transparent, call_wrapper
from pytest_flowfault.plan import FaultPlan
from pytest_flowfault.replay import parse_plan
from pytest_flowfault.values import Action


class Channel:
    """The keys of one exchange's worker processes on one Redis server. In the test
    process, ``is_dead(topic)`` says whether it has seen the process of the worker
    ``topic`` (one of ``topics``) die."""

    def __init__(
        self,
        url: str,
        exchange: str,
        is_dead: Callable[[str], bool] | None = None,
        topics: tuple[str, ...] = (),
    ) -> None:
        self.client = redis.Redis.from_url(url, decode_responses=True)
        self.prefix = f"flowfault:{exchange}"
        self._is_dead = is_dead
        self._topics = topics

    def run_key(self, flow_uuid: str) -> str:
        return f"{self.prefix}:run:{flow_uuid}"

    # --- the test process -------------------------------------------------------------

    def reset(self) -> None:
        """Workers (re)starting: none of them is dead."""
        self.client.delete(f"{self.prefix}:dead-requests")

    def open_run(self, flow_uuid: str, plan: FaultPlan, flow_name: str) -> None:
        """Make a run's faults known to the workers, with a fresh token for its counters
        (a resumed run has the same flow detail, and counts afresh)."""
        key = self.run_key(flow_uuid)
        self.client.delete(f"{key}:events")
        self.client.hset(
            key, mapping={"plan": repr(plan), "flow": flow_name, "token": uuid.uuid4().hex}
        )

    def close_run(self, flow_uuid: str) -> list[dict[str, Any]]:
        """Forget a run; return the records its workers wrote, in the order they wrote."""
        key = self.run_key(flow_uuid)
        records = [json.loads(raw) for raw in self.client.lrange(f"{key}:events", 0, -1)]
        self.client.delete(key, f"{key}:events")
        return records

    def dead(self) -> set[str]:
        """The topics of the workers whose death is certain (the test process reaped them;
        a ``waitpid``, no Redis round trip: the engine asks between every two polls)."""
        is_dead = self._is_dead
        return {topic for topic in self._topics if is_dead is not None and is_dead(topic)}

    def dead_requests(self) -> dict[str, str]:
        """Request uuid -> topic, for each request a dead worker had taken and that no
        engine has failed yet (see :meth:`forget_request`)."""
        dead = self.dead()
        if not dead:
            return {}
        taken: dict[str, str] = self.client.hgetall(f"{self.prefix}:dead-requests")  # type: ignore[assignment]
        return {request: topic for topic, request in taken.items() if topic in dead}

    def forget_request(self, topic: str) -> None:
        """The engine has failed the request ``topic`` died with."""
        self.client.hdel(f"{self.prefix}:dead-requests", topic)

    # --- a worker process ---------------------------------------------------------------

    def child_run(self, flow_uuid: str) -> ChildRun | None:
        """The run a request came from, as a worker process sees it (None: no such run)."""
        found: dict[str, str] = self.client.hgetall(self.run_key(flow_uuid))  # type: ignore[assignment]
        if not found:
            return None
        plan = parse_plan(
            found["plan"], origin="the test process's fault plan", importable_from=(Path.cwd(),)
        )
        return ChildRun(self, flow_uuid, plan, found["flow"], found["token"])


class ChildRun:
    """One engine run in a worker process: its plan, attempt counters and record list."""

    def __init__(
        self, channel: Channel, flow_uuid: str, plan: FaultPlan, flow_name: str, token: str
    ) -> None:
        self._channel = channel
        self._key = channel.run_key(flow_uuid)
        self._token = token
        self.plan = plan
        self.flow_name = flow_name

    def next_attempt(self, name: str, action: Action) -> int:
        return int(self._channel.client.incr(f"{self._key}:{self._token}:{action}:{name}"))

    def record(self, worker: str, kind: str, name: str, what: str, **details: Any) -> None:
        error = details.pop("error", None)
        record = {
            "t": time.perf_counter(), "kind": kind, "name": name, "what": what,
            "worker": worker, **details,
        }
        if error is not None:
            record["error"] = describe_error(error)
        self._channel.client.rpush(f"{self._key}:events", json.dumps(record))

    def wrap(self, task: Any, action: Action, worker: str) -> None:
        """Put the run's faults and recording on ``action`` of the worker's own ``task``."""
        name: str = task.name
        original = getattr(task, action)
        faults = tuple(
            fault for fault in self.plan.for_atom(name, action, "task", type(task))
            if fault.kind != "crash_during"
        )
        call = call_wrapper(
            original, name, action, faults,
            lambda: self.next_attempt(name, action),
            lambda kind, atom, what, **details: self.record(worker, kind, atom, what, **details),
            None, self.flow_name, None,
        )
        setattr(task, action, Transparent(original, call))

    def crash_due(self, name: str, action: str) -> bool:
        """Whether a ``crash_during`` of the plan kills the worker that takes this request:
        the first time in the run only (a retry re-sends the task, and another worker
        finishes it)."""
        return (
            action == "execute"
            and any(fault.kind == "crash_during" and fault.matches(name) for fault in self.plan)
            and bool(self._channel.client.set(f"{self._key}:{self._token}:crashed:{name}", 1, nx=True))
        )

    def die(self, name: str, worker: str, request_uuid: str) -> None:
        """Record the attempt this worker dies in, say which request it took, and SIGKILL
        the process."""
        attempt = self.next_attempt(name, "execute")
        self.record(worker, "execute", name, "start", attempt=attempt)
        self.record(worker, "execute", name, "killed", attempt=attempt, injected=True)
        self._channel.client.hset(f"{self._channel.prefix}:dead-requests", worker, request_uuid)
        os.kill(os.getpid(), signal.SIGKILL)
