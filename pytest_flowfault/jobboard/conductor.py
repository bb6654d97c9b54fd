"""TaskFlow conductors that run under a flowfault session and die on cue: in this
process (``FlowCrash``) or in a child process (SIGKILL).
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from taskflow import engines
from taskflow.conductors.backends import impl_blocking
from taskflow.exceptions import MissingDependencies
from taskflow.jobs import backends as job_backends
from taskflow.persistence import backends as persistence_backends

from pytest_flowfault.engine import atom_infos, drive
from pytest_flowfault.plan import FaultPlan
from pytest_flowfault.process import dying_session, report_survival
from pytest_flowfault.run import FlowRun
from pytest_flowfault.saved import SavedState, saved_state
from pytest_flowfault.session import Session
from pytest_flowfault.upgrade import missing_requirements

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


@dataclass(frozen=True)
class Release:
    """The flow factories of the release a conductor runs: ``default`` builds every job's
    flow; otherwise ``by_path`` maps the factory paths saved with jobs to the factories of
    this release (a path it lacks does not import here)."""

    default: Callable[..., Any] | None = None
    by_path: Mapping[str, Callable[..., Any]] = field(default_factory=dict)

    def factory_for(self, path: str) -> Callable[..., Any] | None:
        """The factory that builds a job's flow saved with ``path``, or None."""
        return self.default if self.default is not None else self.by_path.get(path)


class SessionConductor(PollingConductor):
    """Runs its jobs' engines under a flowfault session: its faults plus ``crashes`` (this
    conductor's own), every run recorded in the session and in :attr:`runs`.

    ``release`` (None: the release that posted the jobs) builds the jobs' flows. Why a job
    could not be run by this release is in :attr:`problems`; TaskFlow itself only logs it
    (and trashes or consumes the job).
    """

    def __init__(
        self,
        *args: Any,
        session: Session,
        crashes: FaultPlan,
        release: Release | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.session = session
        self.crashes = crashes
        self.release = release
        self.runs: list[FlowRun] = []
        self.problems: list[str] = []

    def _engine_from_job(self, job: Any) -> Any:
        flow_detail = self._flow_detail_from_job(job)
        engine = self._load(job, flow_detail)
        # Read before the conductor prepares the engine, which adds the atoms it lacks.
        saved = saved_state(flow_detail)
        self._explain_refusal(job, engine, saved)
        # drive() calls the class's own run_iter, so shadowing it on the instance is safe.
        engine.run_iter = functools.partial(
            drive,
            engine,
            self.session,
            extra=self.crashes,
            on_finished=self.runs.append,
            saved=saved,
        )
        return engine

    def _load(self, job: Any, flow_detail: Any) -> Any:
        """The job's engine, its flow built by this conductor's release (as TaskFlow's
        ``Conductor._engine_from_job`` does, in ``taskflow/conductors/base.py``)."""
        factory = (flow_detail.meta or {}).get("factory", {})
        path = factory.get("name", "")
        made_by = None if self.release is None else self.release.factory_for(path)
        if self.release is None:
            reason = import_problem(path) if path else None
        elif made_by is None:
            reason = f"this release's factories are {', '.join(self.release.by_path) or 'none'}"
        else:
            reason = None
        if reason is not None:
            self.problems.append(
                f"job {job.name!r} ({job.uuid}) cannot be run by {self._name}: the factory "
                f"saved with it, {path!r}, does not import in the release this conductor "
                f"runs ({reason}); TaskFlow's conductor trashes such a job, logging only a "
                f"warning. Keep the old path importable in the new release (an alias of "
                f"the moved factory), or re-post the jobs with the new path before upgrading"
            )
            raise ImportError(self.problems[-1])
        if made_by is None:
            return super()._engine_from_job(job)
        store = dict((flow_detail.meta or {}).get("store", {}))
        store.update((job.details or {}).get("store", {}))
        flow = made_by(*factory.get("args", ()), **factory.get("kwargs", {}))
        return engines.load(
            flow,
            flow_detail=flow_detail,
            store=store,
            engine=self._engine,
            backend=self._persistence,
            **self._engine_options,
        )

    def _explain_refusal(self, job: Any, engine: Any, saved: SavedState) -> None:
        """Say why TaskFlow refuses to validate a resumed flow when its saved state explains
        it: the conductor then consumes the job without running it, logging a warning."""
        validate = engine.validate
        old = self.session.interrupted_run(engine.storage.flow_uuid)

        def validate_and_explain() -> None:
            try:
                validate()
            except MissingDependencies:
                if saved.atoms:
                    old_atoms = old.atoms if old is not None else ()
                    problems = missing_requirements(saved, old_atoms, atom_infos(engine))
                    if problems:
                        self.problems.append(
                            f"job {job.name!r} ({job.uuid}): the release {self._name} runs "
                            f"cannot resume the saved state of flow "
                            f"{engine.storage.flow_name!r}; TaskFlow refuses to start it "
                            f"(MissingDependencies) and its conductor consumes the job "
                            f"without running it: {'; '.join(problems)}"
                        )
                raise

        engine.validate = validate_and_explain


def import_problem(path: str) -> str | None:
    """Why the dotted path ``package.module.function`` does not import, or None."""
    module_name, _, attribute = path.rpartition(".")
    if not module_name:
        return f"{path!r} is not a dotted path"
    try:
        module = importlib.import_module(module_name)
    except ImportError as missing:
        return f"{type(missing).__name__}: {missing}"
    if not hasattr(module, attribute):
        return f"module {module_name!r} has no attribute {attribute!r}"
    return None


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
