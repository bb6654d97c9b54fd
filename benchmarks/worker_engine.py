"""Cost of recording a worker-based engine run, against bare TaskFlow on the same workers.

One set of in-process workers (``pytest_flowfault.workers.InProcessWorkers``: TaskFlow
workers on kombu's memory transport, threads of this process) serves both runners:

* bare: ``taskflow.engines.run(flow, engine="worker-based", **options)``, the workers
  finding no recorded run for its requests;
* recorded: ``pytest_flowfault.run_flow(flow, engine="worker-based", **options)`` with no
  faults, so every remote call is wrapped on the worker and recorded.

The flow is a linear flow of N trivial tasks (each one a request and a reply over the
broker). A fresh flow is built for every run, outside the timed region; both runners are
warmed up once, then alternate (ABAB...) so machine noise hits both alike. Reported
figures are medians.

Run it from the repository root::

    python benchmarks/worker_engine.py [--repeat 15] [--tasks 20]
"""

from __future__ import annotations

import argparse
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

from pytest_flowfault import run_flow
from pytest_flowfault.workers import InProcessWorkers, task_classes

TARGET = 1.1  # recorded/bare ratio at most this


class Trivial(task.Task):  # type: ignore[misc]  # taskflow ships no type hints
    """A task whose ``execute`` only returns a small value."""

    def execute(self) -> int:
        return 1


def linear(tasks: int) -> Any:
    """A linear flow of ``tasks`` trivial tasks."""
    return linear_flow.Flow("linear").add(*(Trivial(f"t{i}") for i in range(tasks)))


def timed(runner: Callable[[Any], object], flow: Any) -> float:
    started = time.perf_counter()
    runner(flow)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--tasks", type=int, default=20)
    args = parser.parse_args(argv)
    with InProcessWorkers(task_classes(linear(1))) as workers:
        options = workers.engine_options

        def bare(flow: Any) -> None:
            taskflow.engines.run(flow, engine="worker-based", **options)

        def recorded(flow: Any) -> None:
            run_flow(flow, engine="worker-based", **options).assert_succeeded()

        for runner in (bare, recorded):
            timed(runner, linear(args.tasks))
        times: dict[str, list[float]] = {"bare": [], "recorded": []}
        for _ in range(args.repeat):
            times["bare"].append(timed(bare, linear(args.tasks)))
            times["recorded"].append(timed(recorded, linear(args.tasks)))
    bare_median = statistics.median(times["bare"])
    recorded_median = statistics.median(times["recorded"])
    ratio = recorded_median / bare_median
    print(
        f"linear flow of {args.tasks} tasks on 1 in-process worker (memory transport), "
        f"median of {args.repeat}:"
    )
    print(f"  bare TaskFlow  {bare_median * 1000:8.1f} ms")
    print(f"  recorded       {recorded_median * 1000:8.1f} ms")
    print(f"  ratio          {ratio:8.3f}  (target <= {TARGET})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
