"""TaskFlow conductors that keep their claims alive, run under a flowfault session, and
die on cue: in this process (``FlowCrash``) or in a child process (SIGKILL).
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import threading
from typing import Any, Literal

from pytest_flowfault.engine import Session, drive
from pytest_flowfault.plan import FaultPlan
from pytest_flowfault.record import FlowRun

from taskflow.conductors.backends import impl_blocking
from taskflow.jobs import backends as job_backends
from taskflow.persistence import backends as persistence_backends
from taskflow.types import notifier

Outcome = Literal["consumed", "abandoned", "trashed", "crashed", "killed"]
_FINISHING_EVENTS: dict[str, Outcome] = {
    "job_consumed": "consumed",
    "job_abandoned": "abandoned",
    "job_trashed": "trashed",
}
#: How often an idle conductor looks for jobs again.
POLL_INTERVAL = 0.02


def connect_board(who: str, conf: dict[str, Any], persistence: Any, claim_expiry: float) -> Any:
    """A connected Redis jobboard whose claims expire after ``claim_expiry`` seconds.

    A claim without expiry outlives a dead owner forever on Redis; OpenStack Octavia
    patches ``claim`` the same way.
    """
    board = job_backends.fetch(who, conf, persistence=persistence)
    board.connect()
    board.claim = functools.partial(board.claim, expiry=claim_expiry)
    return board


class ClaimKeepingConductor(impl_blocking.BlockingConductor):  # type: ignore[misc]
    """A blocking conductor that extends its claim on a job for as long as it runs it."""

    def __init__(self, *args: Any, claim_expiry: float, **kwargs: Any) -> None:
        super().__init__(*args, wait_timeout=POLL_INTERVAL, **kwargs)
        self.claim_expiry = claim_expiry

    def _listeners_from_job(self, job: Any, engine: Any) -> list[Any]:
        listeners: list[Any] = super()._listeners_from_job(job, engine)
        listeners.append(_ClaimKeeper(job, self.claim_expiry))
        return listeners


class SessionConductor(ClaimKeepingConductor):
    """Runs its jobs' engines under a flowfault session: its faults plus ``crashes`` (this
    conductor's own), every run recorded in the session and in :attr:`runs`."""

    def __init__(self, *args: Any, session: Session, crashes: FaultPlan, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session = session
        self.crashes = crashes
        self.runs: list[FlowRun] = []

    def _engine_from_job(self, job: Any) -> Any:
        engine = super()._engine_from_job(job)
        # drive() calls the class's own run_iter, so shadowing it on the instance is safe.
        engine.run_iter = functools.partial(
            drive, engine, self.session, extra=self.crashes, finished=self.runs
        )
        return engine


class _ClaimKeeper:
    """Extends a job's claim every third of its expiry until the job's run ends."""

    def __init__(self, job: Any, expiry: float) -> None:
        self._job = job
        self._expiry = expiry
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="flowfault-claim", daemon=True)

    def __enter__(self) -> _ClaimKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._expiry / 3):
            self._job.extend_expiry(self._expiry)


class OneJob:
    """Stops a conductor after its first job, or after ``timeout`` s without a claim."""

    def __init__(self, conductor: Any, timeout: float) -> None:
        self._conductor = conductor
        self._timer = threading.Timer(timeout, self._give_up)
        self.job: Any = None
        self.outcome: Outcome | None = None

    def __enter__(self) -> OneJob:
        events = self._conductor.notifier
        events.register("compilation_start", self._on_start)
        for event in _FINISHING_EVENTS:
            events.register(event, self._on_finish)
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()

    def _on_start(self, event: str, details: dict[str, Any]) -> None:
        self.job = details["job"]

    def _on_finish(self, event: str, details: dict[str, Any]) -> None:
        self.job = details["job"]  # also when its flow failed to load, before compiling
        self.outcome = _FINISHING_EVENTS[event]
        self._conductor.stop()

    def _give_up(self) -> None:
        if self.job is None:
            self._conductor.stop()


class _DyingConductor(ClaimKeepingConductor):
    """Runs in a child process; SIGKILLs it after (or during) a task, after printing the
    claimed job's uuid so that the parent knows which job was left behind."""

    def __init__(self, *args: Any, after: str | None, during: str | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.after = after
        self.during = during

    def _engine_from_job(self, job: Any) -> Any:
        print(json.dumps(job.uuid), flush=True)
        engine = super()._engine_from_job(job)

        def on_state(state: str, details: Any) -> None:
            if state == "SUCCESS" and details.get("task_name") == self.after:
                _die()

        engine.atom_notifier.register(notifier.Notifier.ANY, on_state)
        engine.compile()
        for node, data in engine.compilation.execution_graph.nodes(data=True):
            if data["kind"] == "task" and node.name == self.during:
                node.execute = lambda *args, **kwargs: _die()
        return engine


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def child_main() -> None:
    """Entry of the child process: one conductor, killed at the point it was given."""
    name, board_conf, backend_conf, claim_expiry, after, during, timeout = json.loads(
        sys.argv[1]
    )
    persistence = persistence_backends.fetch(backend_conf)
    board = connect_board(name, board_conf, persistence, claim_expiry)
    conductor = _DyingConductor(
        name, board, persistence=persistence, claim_expiry=claim_expiry, after=after,
        during=during,
    )
    with OneJob(conductor, timeout):
        conductor.run()
    board.close()
