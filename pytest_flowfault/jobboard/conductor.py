"""TaskFlow conductors that run under a flowfault session and die on cue: in this
process (``FlowCrash``) or in a child process (SIGKILL).
"""

from __future__ import annotations

import functools
import json
import sys
import threading
from typing import Any, Literal

from taskflow.conductors.backends import impl_blocking
from taskflow.jobs import backends as job_backends
from taskflow.persistence import backends as persistence_backends

from pytest_flowfault.engine import drive
from pytest_flowfault.plan import FaultPlan
from pytest_flowfault.process import dying_session, report_survival
from pytest_flowfault.run import FlowRun
from pytest_flowfault.session import Session

Outcome = Literal["consumed", "abandoned", "trashed", "crashed", "killed"]
_FINISHING_EVENTS: dict[str, Outcome] = {
    "job_consumed": "consumed",
    "job_abandoned": "abandoned",
    "job_trashed": "trashed",
}
#: How often an idle conductor looks for jobs again.
POLL_INTERVAL = 0.02


def connect_board(who: str, conf: dict[str, Any], persistence: Any) -> Any:
    """A connected Redis jobboard. Its claims never expire: a live conductor keeps its job
    however long (or however loaded the machine) its work takes."""
    board = job_backends.fetch(who, conf, persistence=persistence)
    board.connect()
    return board


def release_claim_of_dead(board: Any, job: Any, who: str) -> None:
    """End the claim of the conductor ``who``, which has died, on ``job``.

    In production a dead owner's claim ends when its expiry runs out; here it ends the
    moment the death is certain, so a takeover never depends on the clock. TaskFlow's
    ``abandon`` is that same change on Redis: the owner key goes, the job stays posted.
    """
    board.abandon(job, who)


class PollingConductor(impl_blocking.BlockingConductor):  # type: ignore[misc]
    """A blocking conductor that looks for jobs every :data:`POLL_INTERVAL` seconds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, wait_timeout=POLL_INTERVAL, **kwargs)


class SessionConductor(PollingConductor):
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
            drive, engine, self.session, extra=self.crashes, on_finished=self.runs.append
        )
        return engine


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


class _AnnouncingConductor(SessionConductor):
    """Prints the uuid of the job it claims, so that a parent process knows which job a
    SIGKILLed child left behind."""

    def _engine_from_job(self, job: Any) -> Any:
        print(json.dumps(job.uuid), flush=True)
        return super()._engine_from_job(job)


def _main() -> None:
    """The child (``python -m pytest_flowfault.jobboard.conductor``): one conductor that claims one
    job and is SIGKILLed at the kill point it was given."""
    name, board_conf, backend_conf, crash_text, timeout = json.loads(sys.argv[1])
    persistence = persistence_backends.fetch(backend_conf)
    board = connect_board(name, board_conf, persistence)
    session = dying_session(crash_text)
    conductor = _AnnouncingConductor(
        name, board, persistence=persistence, session=session, crashes=FaultPlan()
    )
    try:
        with OneJob(conductor, timeout):
            conductor.run()
    finally:
        board.close()
        session.close()
    report_survival(session)


if __name__ == "__main__":
    _main()
