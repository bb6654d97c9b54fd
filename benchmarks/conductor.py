"""Cost of a job run by ``board.run_conductor()`` instead of a bare TaskFlow conductor.

Both sides run against the same real ``redis-server`` and the same SQLite backend. Per
round, one job (a linear flow of N trivial tasks) is posted for each side, outside the
timed region; the timed region is one conductor claiming the job, running its flow and
consuming it:

* bare: TaskFlow's own blocking conductor (``conductors.backends.fetch("blocking")``),
  stopped when it has consumed the job;
* flowfault: ``JobBoard.run_conductor()``: the same conductor class plus the fault
  session (no faults in force) and the recorded run.

Both poll the board every 20 ms. Bare and flowfault alternate (ABAB...) so noise hits both
alike; figures are medians. A takeover is also timed: a conductor crashes after the first
task, its claim ends with it, and the next one claims the job and finishes it.

Run it from the repository root (uses the same redis-server as the ``flowfault_redis``
fixture: on PATH, else the bundled one)::

    python benchmarks/conductor.py [--repeat 21] [--tasks 20] [--backend sqlite|memory]

On SQLite each job's run is bound by commits (TaskFlow saves every state change), whose
time varies a lot from run to run; the minimum is then the steadier figure, and the
memory backend isolates what the plugin itself adds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "eventletutils module is deprecated", DeprecationWarning)
    from taskflow import task
    from taskflow.conductors import backends as conductor_backends
    from taskflow.patterns import linear_flow

from pytest_flowfault.jobboard.board import JobBoard
from pytest_flowfault.jobboard.conductor import POLL_INTERVAL, connect_board
from pytest_flowfault.jobboard.redis_server import start_redis_server
from pytest_flowfault.session import Session

TASKS = 20


class Trivial(task.Task):  # type: ignore[misc]  # taskflow ships no type hints
    def execute(self) -> int:
        return 1


def make_flow() -> Any:
    """The job's flow; conductors import this factory by name."""
    return linear_flow.Flow("job").add(*(Trivial(f"t{i}") for i in range(TASKS)))


def bare_conductor(board: JobBoard) -> float:
    """Seconds for TaskFlow's blocking conductor to claim, run and consume one job."""
    jobboard = connect_board("bare", board.server.jobboard_conf(namespace="flowfault"),
                             board.persistence)
    conductor = conductor_backends.fetch(
        "blocking", "bare", jobboard, persistence=board.persistence, wait_timeout=POLL_INTERVAL
    )
    conductor.notifier.register("job_consumed", lambda *_, **__: conductor.stop())
    started = time.perf_counter()
    conductor.run()
    elapsed = time.perf_counter() - started
    jobboard.close()
    return elapsed


def flowfault_conductor(board: JobBoard) -> float:
    """Seconds for ``run_conductor()`` to claim, run and consume one job."""
    started = time.perf_counter()
    board.run_conductor()
    return time.perf_counter() - started


def takeover(board: JobBoard) -> float:
    """Seconds from posting to completion when the first conductor dies after one task."""
    started = time.perf_counter()
    job = board.post(make_flow)
    board.run_conductor(crash_after="t0")
    board.run_conductor()
    elapsed = time.perf_counter() - started
    job.assert_completed_once()
    job.assert_executed_once()
    return elapsed


def main() -> None:
    global TASKS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--tasks", type=int, default=TASKS)
    parser.add_argument("--backend", default="sqlite", help="memory, dir or sqlite")
    arguments = parser.parse_args()
    TASKS = arguments.tasks

    server = start_redis_server()
    session = Session()
    directory = Path(tempfile.mkdtemp(prefix="flowfault-bench-"))
    session.directory = lambda: directory
    try:
        # No intercepting(session) here: it would fault and record the bare conductor too.
        # run_conductor() puts its engines under the session by itself.
        board = JobBoard(session, server, arguments.backend)
        timings: dict[str, list[float]] = {"bare": [], "flowfault": []}
        for round_number in range(arguments.repeat + 1):  # round 0 warms both up
            for side, run in (("bare", bare_conductor), ("flowfault", flowfault_conductor)):
                board.post(make_flow)
                elapsed = run(board)
                if round_number:
                    timings[side].append(elapsed)
        takeovers = [takeover(board) for _ in range(3)]
    finally:
        session.close()
        server.stop()
    print(f"one job of {TASKS} tasks on {arguments.backend}, claim -> consume, {arguments.repeat} runs:")
    for statistic in (statistics.median, min):
        bare, ours = statistic(timings["bare"]), statistic(timings["flowfault"])
        print(
            f"  {statistic.__name__:>6}: bare TaskFlow conductor {bare * 1000:7.1f} ms, "
            f"board.run_conductor() {ours * 1000:7.1f} ms, ratio {ours / bare:.3f}"
        )
    print(
        f"takeover after a crash (the dead claim ends at once), median of 3: "
        f"{statistics.median(takeovers) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
