"""What a sweep of a production-shaped flow costs, against the same faulted runs on bare TaskFlow.

The flow is ``examples/amphora.py``'s ACTIVE_STANDBY create-load-balancer flow: 59 atoms,
MASTER and BACKUP amphorae in nested unordered subflows, Octavia's retry controllers,
names up to 125 characters. Its retry controllers sleep between attempts; both sides
run with those waits at zero, so the figures are the engine's and the plugin's work. One
fake cloud serves every run on both sides (the sweep's verdicts are not the point here).

* sweep: ``pytest_flowfault.sweep(make_flow, kinds=("transient", "permanent"))``, wall time;
* bare, the same work without the plugin: the baseline and every variant the sweep ran,
  run again with ``taskflow.engines.run`` on a fresh flow whose faulted task fails by a
  plain instance attribute on the same attempts (what a hand-written test would do).

Runs alternate (sweep, bare, sweep, bare, ...); figures are medians. From the repository
root::

    python benchmarks/sweep_octavia.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "eventletutils module is deprecated", DeprecationWarning)
    import taskflow.engines

sys.path.insert(0, str(Path(__file__).parent.parent / "examples"))
import amphora  # noqa: E402  (the example flow, beside the benchmarks)

from pytest_flowfault import FaultPlan, SweepReport, sweep  # noqa: E402

TARGET = 1.3
TOPOLOGY = "ACTIVE_STANDBY"


amphora.CLOUD = amphora.Cloud()
STORE: dict[str, Any] = amphora.CLOUD.new_load_balancer(TOPOLOGY)


def make_flow() -> Any:
    return amphora.create_load_balancer_flow(TOPOLOGY)


def failing(original: Callable[..., Any], times: int | None) -> Callable[..., Any]:
    attempts = [0]

    def execute(*args: Any, **kwargs: Any) -> Any:
        attempts[0] += 1
        if times is None or attempts[0] <= times:
            raise RuntimeError("injected by hand")
        return original(*args, **kwargs)

    return execute


def bare_run(plan: FaultPlan) -> float:
    """Seconds to build the flow, fault it by hand as ``plan`` says, and run it bare."""
    started = time.perf_counter()
    flow = make_flow()
    engine = taskflow.engines.load(flow, store=STORE)
    engine.compile()
    for node, data in engine.compilation.execution_graph.nodes(data=True):
        for fault in plan:
            if data["kind"] == "task" and fault.matches(node.name):
                node.execute = failing(node.execute, fault.times)
    try:
        engine.run()
    except Exception:  # the faulted variants are meant to fail
        pass
    return time.perf_counter() - started


def swept() -> tuple[float, SweepReport]:
    started = time.perf_counter()
    report = sweep(make_flow, store=STORE, kinds=("transient", "permanent"))
    return time.perf_counter() - started, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    for conf in (amphora.CONF.controller_worker, amphora.CONF.haproxy_amphora):
        for key in ("amp_active_wait_sec", "connection_retry_interval"):
            if hasattr(conf, key):
                setattr(conf, key, 0)
    bare_run(FaultPlan())  # warm up both sides
    sweep_times, bare_times = [], []
    report = None
    for _ in range(arguments.repeat):
        seconds, report = swept()
        sweep_times.append(seconds)
        bare_times.append(bare_run(FaultPlan()) + sum(bare_run(v.plan) for v in report.variants))
    assert report is not None
    ratio = statistics.median(sweep_times) / statistics.median(bare_times)
    print(f"{TOPOLOGY} create-load-balancer flow, {len(report.baseline.atoms)} atoms, "
          f"{report.runs} runs (naive {report.naive + 1}), median of {arguments.repeat}:")
    print(f"  sweep():          {statistics.median(sweep_times) * 1000:8.0f} ms")
    print(f"  bare, same runs:  {statistics.median(bare_times) * 1000:8.0f} ms")
    print(f"  ratio {ratio:.2f} (target <= {TARGET}); {len(report.failures)} variants not survived")


if __name__ == "__main__":
    main()
