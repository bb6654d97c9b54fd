"""Jobs on a real TaskFlow Redis jobboard, run by conductors that may die mid-job.

A conductor claims a job, runs its flow from the shared persistence backend and
consumes the job. Deployments claim with an expiry and extend it while they work (as
OpenStack Octavia does), so a dead conductor's claim runs out and the next conductor takes
the job over, resuming the flow from what the dead one saved. Here a live conductor's claim
never expires, and a conductor the plugin kills loses its claim the moment its death is
certain: a takeover is decided by who died, never by the clock.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from taskflow import engines
from taskflow.persistence import models

from pytest_flowfault.arguments import call, check_engine_options, check_store
from pytest_flowfault.catalog import check_engine_name
from pytest_flowfault.errors import (
    FlowCrash,
    MissingExtra,
    UnmatchedFault,
    UpgradeError,
)
from pytest_flowfault.jobboard.conductor import (
    OneJob,
    Outcome,
    Release,
    SessionConductor,
    connect_board,
    release_claim_of_dead,
)
from pytest_flowfault.jobboard.job import ConductorRun, Job
from pytest_flowfault.jobboard.redis_server import RedisServer
from pytest_flowfault.persist import backend_conf, open_backend, reload_flow_detail
from pytest_flowfault.plan import FaultPlan, crash_point
from pytest_flowfault.process import (
    check_shareable,
    crashed_run_from_storage,
    import_factory,
    run_child,
)
from pytest_flowfault.run import FlowRun
from pytest_flowfault.session import Session
from pytest_flowfault.targets import Target, unmatched_message

_NAMESPACE = "flowfault"
_API = "flowfault.jobboard()"


class JobBoard:
    """A TaskFlow Redis jobboard plus the persistence backend its conductors share.

    >>> board = flowfault.jobboard(flowfault_redis)                       # doctest: +SKIP
    >>> job = board.post("myapp.flows:boot_flow", store={"image": "cirros"})  # doctest: +SKIP
    >>> board.run_conductor(crash_after="create_instance")                   # doctest: +SKIP
    >>> board.run_conductor()                                                # doctest: +SKIP
    >>> job.assert_completed_once(); job.assert_executed_once()            # doctest: +SKIP
    """

    def __init__(
        self,
        session: Session,
        server: RedisServer,
        backend: Any = "sqlite",
        *,
        expire_dead_claims: bool = True,
    ) -> None:
        try:
            import redis  # noqa: F401  (TaskFlow imports it only once a board connects)
        except ImportError:
            raise MissingExtra(
                "the Redis jobboard needs redis-py >= 8; install it with "
                "pip install 'pytest-flowfault[jobboard]'"
            ) from None
        # Every check comes before anything is opened: a refused argument leaves no
        # backend or connection behind.
        if not isinstance(server, RedisServer):
            raise TypeError(
                f"{call(_API, 'redis_server', server)}: give the RedisServer that the "
                f"flowfault_redis fixture yields, not {type(server).__name__}"
            )
        if not isinstance(expire_dead_claims, bool):
            raise TypeError(
                f"{call(_API, 'expire_dead_claims', expire_dead_claims)}: give True (a dead "
                f"conductor's claim ends, as with an expiry) or False (it stays, as with "
                f"TaskFlow's default claims, which never expire)"
            )
        self.session = session
        self.server = server
        self.expire_dead_claims = expire_dead_claims
        self._backend_conf = backend_conf(backend, session.directory, _API)
        self.persistence = open_backend(self._backend_conf, session.directory, _API)
        try:
            self.poster = self._connect("flowfault-poster")
        except BaseException:
            self.persistence.close()
            raise
        self.conductor_runs: list[ConductorRun] = []
        self._numbers = itertools.count(1)
        self._jobs: dict[str, Job] = {}
        session.on_close(self.close)

    @property
    def jobs(self) -> tuple[Job, ...]:
        """The jobs posted through this board, oldest first."""
        return tuple(self._jobs.values())

    def post(
        self,
        factory: Callable[..., Any] | str,
        *,
        store: Mapping[str, Any] | None = None,
        name: str | None = None,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Job:
        """Post a job that runs the flow ``factory(*args, **kwargs)`` builds, named after
        the flow unless ``name`` is given; ``store`` goes with the job.

        Conductors rebuild the flow from the factory's import path, so ``factory`` is a
        module-level function or ``"package.module:function"``.
        """
        check_store(store, "board.post()")
        factory_path, make_flow = import_factory(factory)
        name = name or make_flow(*args, **(kwargs or {})).name
        book = models.LogBook(name)
        detail = models.FlowDetail(name, str(uuid.uuid4()))
        book.add(detail)
        with contextlib.closing(self.persistence.get_connection()) as connection:
            connection.save_logbook(book)
        engines.save_factory_details(
            detail, factory_path, list(args), kwargs or {}, backend=self.persistence
        )
        posting = self.poster.post(name, book=book, details={"store": dict(store or {})})
        job = self._jobs[posting.uuid] = Job(name, posting.uuid, detail.uuid, self, posting)
        return job

    def run_conductor(
        self,
        *,
        crash_after: Target | None = None,
        crash_during: Target | None = None,
        engine: str = "serial",
        timeout: float = 10.0,
        factory: Factories | None = None,
        **engine_options: Any,
    ) -> ConductorRun:
        """Start a conductor in this process, let it claim one job and run it, and return
        what it did.

        ``crash_after`` kills the conductor once that task completed (its result saved);
        ``crash_during`` kills it inside the task's execute. A killed conductor neither
        consumes nor abandons the job; its claim ends with it (see ``expire_dead_claims``)
        and the next conductor takes the job over. The fixture's faults apply to every
        conductor. Raises ``TimeoutError`` if no job could be claimed in ``timeout``.

        ``factory`` says this conductor runs the next release: a function (or
        ``"package.module:function"``) that builds every job's flow, with the job's saved
        arguments, instead of the factory saved with the job; or a mapping from the
        factory paths saved with jobs to the new release's factories, where a path that
        is missing no longer imports. Raises :class:`UpgradeError` when the conductor's
        release cannot run the job's flow (TaskFlow trashes or consumes such a job).
        """
        crashes = (
            FaultPlan(crash_point(crash_after, crash_during, "run_conductor()"))
            if crash_after is not None or crash_during is not None
            else FaultPlan()
        )
        check_engine_name(engine, "run_conductor()")
        check_engine_options(engine_options, "run_conductor()")
        _check_timeout(timeout, "run_conductor()")
        release = release_of(factory, "board.run_conductor()")
        name = self._next_name()
        board = self._connect(name)
        conductor = SessionConductor(
            name,
            board,
            persistence=self.persistence,
            engine=engine,
            engine_options=engine_options,
            session=self.session,
            crashes=crashes,
            release=release,
        )
        watch = OneJob(conductor, timeout)
        try:
            with watch:
                conductor.run()
            outcome = watch.outcome
        except FlowCrash:
            outcome = "crashed"
            if self.expire_dead_claims:
                release_claim_of_dead(board, watch.job, name)
        finally:
            board.close()
        if watch.job is None or outcome is None:
            raise TimeoutError(
                f"{name} found no job it could claim within {timeout} s; {self._describe_jobs()}"
            )
        run = conductor.runs[-1] if conductor.runs else None
        if run is not None:
            atoms = {atom.name: atom.kind for atom in run.atoms}
            problem = unmatched_message(
                crashes, atoms, lambda _: "run_conductor()", self.session.classes_seen
            )
            if problem is not None:
                raise UnmatchedFault(problem)
        refused = conductor.problems[-1] if conductor.problems else None
        done = self._done(name, outcome, self._job(watch.job), run, refused)
        if refused is not None:
            raise UpgradeError(refused)
        return done

    def run_conductor_in_subprocess(
        self,
        *,
        crash_after: Target | None = None,
        crash_during: Target | None = None,
        timeout: float = 10.0,
    ) -> ConductorRun:
        """Start a conductor in a child process that is SIGKILLed after (or during) a task
        of the job it claims; return what it left behind, rebuilt from the backend.

        The dead process's claim ends once this process has seen it die (see
        ``expire_dead_claims``); :meth:`run_conductor` then takes the job over. The
        backend must be one both processes reach (not memory).
        """
        check_shareable(self._backend_conf)
        _check_timeout(timeout, "run_conductor_in_subprocess()")
        crash = crash_point(crash_after, crash_during, "run_conductor_in_subprocess()")
        name = self._next_name()
        arguments = [
            name,
            self.server.jobboard_conf(namespace=_NAMESPACE),
            self._backend_conf,
            repr(crash),
            timeout,
        ]
        output = run_child(
            "pytest_flowfault.jobboard.conductor",
            arguments,
            timeout=timeout + 30,
            what=f"the conductor {name}",
            crash=crash,
        )
        job = self._job(self._find_posting(json.loads(output.splitlines()[0])))
        if self.expire_dead_claims:
            release_claim_of_dead(self.poster, job.posting, name)
        detail = reload_flow_detail(self.persistence, job.flow_uuid)
        run = crashed_run_from_storage(engines.flow_from_detail(detail), self.persistence, detail)
        self.session.add_run(run)
        return self._done(name, "killed", job, run)

    def close(self) -> None:
        """Disconnect from Redis and from the backend (their data stays)."""
        try:
            self.poster.close()
        finally:
            self.persistence.close()

    def _next_name(self) -> str:
        return f"flowfault-conductor-{next(self._numbers)}"

    def _done(
        self, name: str, outcome: Outcome, job: Job, run: FlowRun | None, problem: str | None = None
    ) -> ConductorRun:
        done = ConductorRun(name, outcome, job, run, problem)
        self.conductor_runs.append(done)
        return done

    def _find_posting(self, job_uuid: str) -> Any:
        if job_uuid in self._jobs:
            return self._jobs[job_uuid].posting
        return next(job for job in self.poster.iterjobs() if job.uuid == job_uuid)

    def _job(self, posting: Any) -> Job:
        """Ours, or a job somebody else posted to the same board."""
        if posting.uuid not in self._jobs:
            details = posting.details or {}
            flow_uuid = details.get("flow_uuid") or next(iter(posting.book)).uuid
            self._jobs[posting.uuid] = Job(posting.name, posting.uuid, flow_uuid, self, posting)
        return self._jobs[posting.uuid]

    def _connect(self, who: str) -> Any:
        conf = self.server.jobboard_conf(namespace=_NAMESPACE)
        return connect_board(who, conf, self.persistence)

    def _describe_jobs(self) -> str:
        waiting = [
            f"{job.name!r} {job.state}" + (f" by {job.owner}" if job.state == "CLAIMED" else "")
            for job in self._jobs.values()
            if job.state != "COMPLETE"
        ]
        if not waiting:
            return "every job posted is complete (post one with board.post())"
        return "jobs not complete: " + ", ".join(waiting)


#: What ``run_conductor(factory=...)`` takes: the next release's flow factory for every
#: job, or its factories by the path saved with the jobs.
Factories = Callable[..., Any] | str | Mapping[str, Callable[..., Any] | str]


def release_of(factory: Factories | None, api: str) -> Release | None:
    """The release a conductor runs, from ``run_conductor(factory=...)``; None: the one
    that posted the jobs (each job's flow is built from the factory path saved with it)."""
    if factory is None:
        return None
    if isinstance(factory, Mapping):
        by_path = {}
        for path, made_by in factory.items():
            if not isinstance(path, str):
                raise TypeError(
                    f"{call(api, 'factory', factory)}: the keys are the factory paths saved "
                    f"with the jobs ('package.module.function'), not {type(path).__name__}"
                )
            by_path[path.replace(":", ".")] = _release_factory(made_by, api, factory)
        return Release(by_path=by_path)
    return Release(default=_release_factory(factory, api, factory))


def _release_factory(value: object, api: str, given: object) -> Callable[..., Any]:
    if isinstance(value, str):
        try:
            return import_factory(value)[1]
        except ValueError as problem:
            raise ValueError(f"{api}: {problem}") from None
    if callable(value) and not isinstance(value, type):
        return value
    raise TypeError(
        f"{call(api, 'factory', given)}: give the next release's flow factory (a function, "
        f"or 'package.module:function'), or a mapping from the factory paths saved with "
        f"the jobs to such factories, not {type(value).__name__}"
    )


def _check_timeout(timeout: object, api: str) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ValueError(
            f"{api}: timeout={timeout!r}; give the seconds to wait for a job to claim, a "
            f"number > 0"
        )
