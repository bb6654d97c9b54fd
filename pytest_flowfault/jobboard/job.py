"""A job posted to the board and what each conductor did with it, read live from the board."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_flowfault import assertions
from pytest_flowfault.jobboard.conductor import Outcome
from pytest_flowfault.run import FlowRun

if TYPE_CHECKING:
    from pytest_flowfault.jobboard.board import JobBoard


@dataclass(frozen=True)
class ConductorRun:
    """What one conductor did: which job it took, how that ended, and the engine run.

    ``outcome`` is ``"consumed"`` (the job is done: TaskFlow consumes a job also when its
    flow reverted), ``"abandoned"`` or ``"trashed"``, or ``"crashed"``/``"killed"`` when
    the conductor died mid-job (its claim ends with it unless the board keeps dead
    conductors' claims). ``problem`` says why the conductor's release could not run the
    job's flow at all (its factory path no longer imports, or it requires what only a
    removed atom provided), or is None.
    """

    name: str
    outcome: Outcome
    job: Job
    run: FlowRun | None
    problem: str | None = None

    def __repr__(self) -> str:
        return f"<ConductorRun {self.name} {self.outcome} job {self.job.name!r}>"


@dataclass(eq=False)
class Job:
    """A job posted to the board; its runs and conductors are looked up live."""

    name: str
    uuid: str
    flow_uuid: str
    _board: JobBoard = field(repr=False)
    posting: Any = field(repr=False)  # TaskFlow's RedisJob

    @property
    def state(self) -> str:
        """``"UNCLAIMED"``, ``"CLAIMED"`` or ``"COMPLETE"`` (consumed), read from Redis."""
        return str(self.posting.state)

    @property
    def owner(self) -> str | None:
        """The conductor whose claim the job is under, or None."""
        if self.state != "CLAIMED":  # TaskFlow's find_owner raises TypeError on no owner
            return None
        owner: str | None = self._board.poster.find_owner(self.posting)
        return owner

    @property
    def conductors(self) -> tuple[ConductorRun, ...]:
        """The conductors that took this job, in order."""
        return tuple(done for done in self._board.conductor_runs if done.job is self)

    @property
    def runs(self) -> tuple[FlowRun, ...]:
        """Every engine run of the job's flow, across conductors, in the order they ran."""
        return tuple(
            run
            for run in self._board.session.runs
            if run.resume_point is not None
            and run.resume_point.flow_detail.uuid == self.flow_uuid
        )

    def assert_completed_once(self) -> None:
        """Fail unless exactly one conductor consumed the job, it is gone from the board,
        and its flow's last run succeeded."""
        __tracebackhide__ = True
        assertions.fail_if(self._completion_problem())

    def assert_executed_once(self, *names: str) -> None:
        """Fail unless each task (every task by default) executed successfully exactly
        once across all conductors: none that completed before a conductor died ran again."""
        __tracebackhide__ = True
        last = self._last_run()
        for name in names or [atom.name for atom in last.atoms if atom.kind == "task"]:
            assertions.fail_if(assertions.check_executed_once(last, name))

    def assert_no_lost_results(self) -> None:
        """Fail if a result saved before a conductor died was missing or changed at the end."""
        __tracebackhide__ = True
        assertions.fail_if(assertions.check_no_lost_results(self._last_run()))

    def _last_run(self) -> FlowRun:
        runs = self.runs
        if not runs:
            raise AssertionError(f"job {self.name!r} was never run by a conductor")
        return runs[-1]

    def _completion_problem(self) -> str | None:
        history = "; ".join(f"{done.name} {done.outcome}" for done in self.conductors)
        history = f" (conductors: {history or 'none'})"
        consumed = [done for done in self.conductors if done.outcome == "consumed"]
        if len(consumed) != 1:
            return (
                f"expected job {self.name!r} to be consumed once, but it was consumed "
                f"{len(consumed)} times{history}"
            )
        if self.state != "COMPLETE":
            return f"job {self.name!r} was consumed but is still {self.state} on the board{history}"
        run = consumed[0].run
        if run is None or not run.succeeded:
            ended = run.state if run is not None else "without running"
            return f"job {self.name!r} was consumed, but its flow ended {ended}{history}"
        return None
