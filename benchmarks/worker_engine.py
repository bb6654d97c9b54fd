"""Cost of recording a worker-based engine run, against bare TaskFlow on the same workers.

One set of in-process workers (``pytest_flowfault.workers.InProcessWorkers``: TaskFlow
workers on kombu's memory transport, threads of this process) serves both runners:

* bare: ``taskflow.engines.run(flow, engine="worker-based", **options)``, the workers
  finding no recorded run for its requests;
* recorded: ``pytest_flowfault.run_flow(flow, engine="worker-based", **options)`` with no
  faults, so every remote call is wrapped on the worker and recorded.

The flow is a linear flow of N trivial tasks (each one a request and a reply over the
broker). Then the same on one worker *process* on kombu's Redis transport (a real
``redis-server``, as the ``flowfault_redis`` fixture starts it), and the time a worker-based
run takes to notice a worker SIGKILLed at ``crash_during`` (the killed attempt's record to
the task's FAILURE). A fresh flow is built for every run, outside the timed region; both runners are
warmed up once, then alternate (ABAB...) so machine noise hits both alike. Reported
figures are medians.

Run it from the repository root::

    python benchmarks/worker_engine.py [--repeat 15] [--tasks 20] [--no-processes]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "eventletutils module is deprecated", DeprecationWarning)
    import taskflow.engines
    from taskflow import task
    from taskflow.patterns import linear_flow

from pytest_flowfault import Fault, FaultPlan, run_flow
from pytest_flowfault.workers import (
    POLLING_INTERVAL,
    TRANSITION_TIMEOUT,
    InProcessWorkers,
    WorkerProcesses,
    task_classes,
)

TARGET = 1.1  # recorded/bare ratio at most this


class Trivial(task.Task):  # type: ignore[misc]  # taskflow ships no type hints
    """A task whose ``execute`` only returns a small value."""

    def execute(self) -> int:
        return 1


def linear(tasks: int) -> Any:
    """A linear flow of ``tasks`` trivial tasks."""
    # A worker process imports the class by its module's name, which __main__ is not.
    trivial = importlib.import_module("worker_engine").Trivial
    return linear_flow.Flow("linear").add(*(trivial(f"t{i}") for i in range(tasks)))


def timed(runner: Callable[[Any], object], flow: Any) -> float:
    started = time.perf_counter()
    runner(flow)
    return time.perf_counter() - started


def compare(
    workers: InProcessWorkers | WorkerProcesses, tasks: int, repeat: int, *, drain: bool = False
) -> float:
    """Print the medians of bare and recorded runs on ``workers``; return the ratio.
    ``drain``: bare TaskFlow's engine also polls its broker as often as the workers do
    (TaskFlow waits 1 s for a message on every transport but memory), as the plugin's
    runs do."""
    options = workers.engine_options

    def bare(flow: Any) -> None:
        engine = taskflow.engines.load(flow, engine="worker-based", **options)
        if drain:
            engine._task_executor._proxy._drain_events_timeout = POLLING_INTERVAL
        engine.run()

    def recorded(flow: Any) -> None:
        run_flow(flow, engine="worker-based", **options).assert_succeeded()

    for runner in (bare, recorded):
        timed(runner, linear(tasks))
    times: dict[str, list[float]] = {"bare": [], "recorded": []}
    for _ in range(repeat):
        times["bare"].append(timed(bare, linear(tasks)))
        times["recorded"].append(timed(recorded, linear(tasks)))
    bare_median = statistics.median(times["bare"])
    recorded_median = statistics.median(times["recorded"])
    print(f"  bare TaskFlow  {bare_median * 1000:8.1f} ms")
    print(f"  recorded       {recorded_median * 1000:8.1f} ms")
    print(f"  ratio          {recorded_median / bare_median:8.3f}")
    return recorded_median / bare_median


def detection(tasks: tuple[str, ...], url: str, repeat: int) -> list[float]:
    """Seconds from a SIGKILLed worker's last record to the engine's FAILURE of its task."""
    seconds = []
    for _ in range(repeat):
        with WorkerProcesses(tasks, count=2, url=url) as workers:
            run = run_flow(
                linear(3), plan=FaultPlan(Fault.crash_during("t1")), engine="worker-based",
                **workers.engine_options,
            )
        (died,) = [e for e in run.calls("t1", "execute") if e.what == "killed"]
        (failure,) = [e for e in run.events if e.name == "t1" and e.what == "FAILURE"]
        seconds.append(failure.at - died.at)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--no-processes", action="store_true")
    args = parser.parse_args(argv)
    print(
        f"linear flow of {args.tasks} tasks on 1 in-process worker (memory transport), "
        f"median of {args.repeat}:"
    )
    with InProcessWorkers(task_classes(linear(1))) as workers:
        ratio = compare(workers, args.tasks, args.repeat)
    print(f"  (target <= {TARGET})")
    if not args.no_processes:
        from pytest_flowfault.jobboard.redis_server import start_redis_server

        server = start_redis_server()
        try:
            print(f"the same on 1 worker process (Redis transport, {server.binary}):")
            with WorkerProcesses(task_classes(linear(1)), count=1, url=server.url) as processes:
                print(" bare TaskFlow as it comes (it waits up to 1 s for each message here):")
                compare(processes, args.tasks, args.repeat)
                print(" bare TaskFlow's engine polling as often as the plugin's runs:")
                ratio = max(ratio, compare(processes, args.tasks, args.repeat, drain=True))
            seconds = detection(task_classes(linear(1)), server.url, 3)
            print(
                f"a SIGKILLed worker noticed after {statistics.median(seconds) * 1000:.1f} ms "
                f"(median of 3; its transition_timeout={TRANSITION_TIMEOUT} s is not waited for)"
            )
        finally:
            server.stop()
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
