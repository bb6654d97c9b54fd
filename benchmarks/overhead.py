"""Overhead of running a flow through ``pytest_flowfault.run_flow`` instead of bare TaskFlow.

Measures, in one process, the wall time of ``taskflow.engines.run(flow)`` ("bare") and of
``pytest_flowfault.run_flow(flow)`` (no faults, run recorded) for three cases:

* a linear flow of N trivial tasks on the serial engine;
* a graph flow of N independent trivial tasks (no requires/provides between them, so
  there are no edges) on the serial engine;
* the same graph flow on the parallel engine: bare uses TaskFlow's default executor
  (a futurist pool the engine owns and joins, ~1 s), ``run_flow`` lends its own pool;
* that graph flow on the parallel engine with bare TaskFlow *also* given a thread pool of
  the same width (created and shut down per run, as ``run_flow`` does): the like-for-like
  cost of recording a parallel run;
* a 10-task graph flow on the parallel engine with TaskFlow's default pool: the size of
  flow most tests run, where the pool join dominates.

A fresh flow is built for every run, outside the timed region. Each case is warmed up
once (bare and flowfault) before timing, and bare and flowfault runs alternate
(ABAB...) so machine noise hits both alike. Reported figures are medians.

Run it from the repository root::

    python benchmarks/overhead.py [--repeat 7] [--tasks 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "eventletutils module is deprecated", DeprecationWarning)
    import taskflow.engines
    from taskflow import task
    from taskflow.patterns import graph_flow, linear_flow

from pytest_flowfault import run_flow

SERIAL_TARGET = 1.05  # flowfault/bare ratio at most this on the serial engine
PARALLEL_TARGET = 10.0  # bare/flowfault speed-up at least this on the parallel engine


class Trivial(task.Task):  # type: ignore[misc]  # taskflow ships no type hints
    """A task whose ``execute`` only returns a small value."""

    def execute(self) -> int:
        return 1


def linear(tasks: int) -> Any:
    """A linear flow of ``tasks`` trivial tasks."""
    return linear_flow.Flow("linear").add(*(Trivial(f"t{i}") for i in range(tasks)))


def graph(tasks: int) -> Any:
    """A graph flow of ``tasks`` independent trivial tasks (no edges between them)."""
    return graph_flow.Flow("graph").add(*(Trivial(f"t{i}") for i in range(tasks)))


@dataclass(frozen=True)
class Case:
    """One row of the table: a flow factory and the engine both runners use."""

    name: str
    build: Callable[[int], Any]
    engine: str
    tasks: int
    #: Give bare TaskFlow a thread pool too, instead of its default one.
    bare_own_pool: bool = False

    @property
    def speed_up_case(self) -> bool:
        """Parallel against TaskFlow's default pool: reported as a speed-up."""
        return self.engine == "parallel" and not self.bare_own_pool


@dataclass(frozen=True)
class Result:
    """Median wall times, in milliseconds, of one case."""

    case: Case
    bare_ms: float
    flowfault_ms: float

    @property
    def ratio(self) -> float:
        return self.flowfault_ms / self.bare_ms


def run_bare(flow: Any, case: Case) -> None:
    if case.bare_own_pool:
        # The width TaskFlow's default pool and run_flow's pool both use.
        with ThreadPoolExecutor((os.cpu_count() or 1) * 5) as pool:
            taskflow.engines.run(flow, engine=case.engine, executor=pool)
    else:
        taskflow.engines.run(flow, engine=case.engine)


def run_flowfault(flow: Any, case: Case) -> None:
    run = run_flow(flow, engine=case.engine)
    if not run.succeeded:
        raise RuntimeError(f"flow {run.flow_name!r} ended in {run.state}")


def timed(runner: Callable[[Any, Case], None], case: Case) -> float:
    """Milliseconds taken by one run of a freshly built flow (build time excluded)."""
    flow = case.build(case.tasks)
    start = time.perf_counter()
    runner(flow, case)
    return (time.perf_counter() - start) * 1000.0


def measure(case: Case, repeat: int) -> Result:
    """Warm up once, then time ``repeat`` interleaved bare/flowfault pairs."""
    timed(run_bare, case)
    timed(run_flowfault, case)
    bare: list[float] = []
    flowfault: list[float] = []
    for _ in range(repeat):
        bare.append(timed(run_bare, case))
        flowfault.append(timed(run_flowfault, case))
    return Result(case, statistics.median(bare), statistics.median(flowfault))


def table(results: list[Result]) -> str:
    lines = [
        "| case | bare median (ms) | flowfault median (ms) | ratio (flowfault/bare) |",
        "|---|---:|---:|---:|",
    ]
    for result in results:
        lines.append(
            f"| {result.case.name} | {result.bare_ms:.1f} | {result.flowfault_ms:.1f} "
            f"| {result.ratio:.3f} |"
        )
    return "\n".join(lines)


def verdicts(results: list[Result]) -> list[str]:
    lines = []
    for result in results:
        if result.case.engine == "serial":
            ok = result.ratio <= SERIAL_TARGET
            lines.append(
                f"- {result.case.name}: ratio {result.ratio:.3f} "
                f"(target <= {SERIAL_TARGET}) {'OK' if ok else 'MISSED'}"
            )
        elif not result.case.speed_up_case:
            lines.append(f"- {result.case.name}: ratio {result.ratio:.3f} (no target)")
        else:
            speed_up = 1.0 / result.ratio
            ok = speed_up >= PARALLEL_TARGET
            lines.append(
                f"- {result.case.name}: speed-up bare/flowfault {speed_up:.1f}x "
                f"(target >= {PARALLEL_TARGET:g}x) {'OK' if ok else 'MISSED'}"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per side (default 7)")
    parser.add_argument("--tasks", type=int, default=100, help="tasks per flow (default 100)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.tasks < 1:
        parser.error("--repeat and --tasks must be at least 1")

    tasks = args.tasks
    cases = [
        Case(f"linear flow, {tasks} tasks, serial", linear, "serial", tasks),
        Case(f"graph flow, {tasks} independent tasks, serial", graph, "serial", tasks),
        Case(f"graph flow, {tasks} independent tasks, parallel", graph, "parallel", tasks),
        Case(
            f"graph flow, {tasks} independent tasks, parallel, bare given a pool too",
            graph,
            "parallel",
            tasks,
            bare_own_pool=True,
        ),
        Case("graph flow, 10 independent tasks, parallel", graph, "parallel", 10),
    ]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    results = []
    for case in cases:
        results.append(measure(case, args.repeat))
        print(f"measured: {case.name} ({args.repeat} runs each)", file=sys.stderr)
    elapsed = time.perf_counter() - started

    print(table(results))
    print()
    print("\n".join(verdicts(results)))
    print()
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.repeat} runs per side, "
        f"total {elapsed:.1f} s, 1-min load average {load_before:.2f} before and "
        f"{os.getloadavg()[0]:.2f} after (this script alone adds about 1)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
