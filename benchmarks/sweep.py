"""What a sweep costs: runs made versus the naive count, and time versus bare TaskFlow.

For a 30-task graph flow (a binary tree of data dependencies, no retry) and a 30-task
linear flow under ``Times(3)``, in one process:

* ``sweep(make_flow)`` with kinds transient and permanent: runs made, the naive count,
  and its wall time;
* bound A, as the issue states it: runs x the median of bare ``taskflow.engines.run`` of
  the unfaulted flow (building the fresh flow included on both sides: a sweep builds one
  per run);
* bound B, the same work without the plugin: every variant the sweep ran, run again on
  bare TaskFlow with tasks that fail by their own code on the same attempts (and a
  fresh flow each), plus the baseline. A faulted run under retries does more engine work
  than the baseline (it executes and reverts up to three times), so B is the fair bound.

Run it from the repository root::

    python benchmarks/sweep.py [--tasks 30] [--repeat 5]
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
    from taskflow.patterns import graph_flow, linear_flow
    from taskflow.retry import Times

from pytest_flowfault import FaultPlan, sweep

TARGET = 1.15


class Step(task.Task):  # type: ignore[misc]  # taskflow ships no type hints
    """A trivial task that fails by its own code on the attempts it is told to."""

    def __init__(
        self, name: str, fail_times: int | None = 0, revert_fails: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.fail_times = fail_times  # None: every attempt
        self.revert_fails = revert_fails
        self.attempts = 0

    def execute(self, **inputs: Any) -> str:
        self.attempts += 1
        if self.fail_times is None or self.attempts <= self.fail_times:
            raise RuntimeError(f"{self.name} attempt {self.attempts}")
        return str(self.name)

    def revert(self, **kwargs: Any) -> None:
        if self.revert_fails:
            raise RuntimeError(f"{self.name} revert")


Behaviour = dict[str, dict[str, Any]]


def graph(tasks: int, behaviour: Behaviour) -> Any:
    """Task i needs what task (i - 1) // 2 provides: a binary tree of dependencies."""
    return graph_flow.Flow("graph").add(
        *(
            Step(
                f"t{i}",
                provides=f"v{i}",
                requires=[f"v{(i - 1) // 2}"] if i else [],
                **behaviour.get(f"t{i}", {}),
            )
            for i in range(tasks)
        )
    )


def linear(tasks: int, behaviour: Behaviour) -> Any:
    return linear_flow.Flow("linear", retry=Times(3, name="again")).add(
        *(Step(f"t{i}", **behaviour.get(f"t{i}", {})) for i in range(tasks))
    )


def native(plan: FaultPlan) -> Behaviour:
    """The task settings that make bare TaskFlow do what ``plan`` injects."""
    behaviour: Behaviour = {}
    for fault in plan:
        if not isinstance(fault.target, str):  # a task class
            raise ValueError(f"no native equivalent for {fault!r}")
        settings = behaviour.setdefault(fault.target, {})
        if fault.kind == "fail":
            settings["fail_times"] = fault.times
        elif fault.kind == "fail_revert":
            settings["revert_fails"] = True
        else:
            raise ValueError(f"no native equivalent for {fault!r}")
    return behaviour


def bare_run(build: Callable[[int, Behaviour], Any], tasks: int, behaviour: Behaviour) -> float:
    """Seconds to build a fresh flow and run it on bare TaskFlow, as a sweep does per run."""
    started = time.perf_counter()
    flow = build(tasks, behaviour)
    try:
        taskflow.engines.run(flow)
    except Exception:  # the faulted variants are meant to fail
        pass
    return time.perf_counter() - started


def measure(name: str, build: Callable[[int, Behaviour], Any], tasks: int, repeat: int) -> str:
    bare_run(build, tasks, {})  # warm up
    sweep_seconds = []
    report = None
    for _ in range(repeat):
        started = time.perf_counter()
        report = sweep(lambda: build(tasks, {}))
        sweep_seconds.append(time.perf_counter() - started)
    assert report is not None
    baseline = statistics.median(bare_run(build, tasks, {}) for _ in range(repeat))
    same_work = []
    for _ in range(repeat):
        total = bare_run(build, tasks, {})
        total += sum(bare_run(build, tasks, native(v.plan)) for v in report.variants)
        same_work.append(total)
    swept = statistics.median(sweep_seconds)
    bound_a = report.runs * baseline
    bound_b = statistics.median(same_work)
    pruned = ", ".join(f"{count} {reason}" for reason, count in report.pruned.items())
    return (
        f"| {name} | {report.runs} | {report.naive + 1} | {swept * 1000:.0f} ms "
        f"| {bound_a * 1000:.0f} ms | {swept / bound_a:.2f} | {bound_b * 1000:.0f} ms "
        f"| {swept / bound_b:.2f} |\n\n  pruned: {pruned or 'nothing'}; "
        f"{len(report.failures)} variants not survived"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=30, help="tasks per flow (default 30)")
    parser.add_argument("--repeat", type=int, default=5, help="timed sweeps per flow (default 5)")
    args = parser.parse_args(argv)
    if args.tasks < 2 or args.repeat < 1:
        parser.error("--tasks must be at least 2 and --repeat at least 1")
    print(
        "| flow | runs | naive runs | sweep | A: runs x bare baseline | sweep / A "
        "| B: bare TaskFlow, same variants | sweep / B |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(measure(f"graph, {args.tasks} tasks, no retry", graph, args.tasks, args.repeat))
    print(measure(f"linear, {args.tasks} tasks, Times(3)", linear, args.tasks, args.repeat))
    print(f"\nmedians of {args.repeat}; target sweep / bound <= {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
