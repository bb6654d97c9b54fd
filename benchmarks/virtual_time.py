"""Cost of virtual time: a faulted run whose waits are skipped, vs the same run with no waits.

The flow has Octavia's shape: a tenacity-decorated task polls a fake compute API
(``stop_after_attempt(3)``, ``wait_fixed(WAIT)``) that answers BUILD to its first 4 polls,
under a retry controller that sleeps ``WAIT`` seconds between its 3 attempts, before an
attach task that the plugin fails once (``Fault.fail("attach", times=1)``). Attempt 1:
three polls, two waits, the task gives up; attempt 2: the instance is ACTIVE on the second
poll, the attach fails; attempt 3 succeeds. In real time the waits add up to 25 s.

* virtual: every wait is 5 s, and ``run_flow(..., virtual_time=True)`` skips them;
* zero waits: the same flow with every wait set to 0 and no virtual time (the fastest the
  faulted run can be; it still calls ``time.sleep(0)`` where the waits are).

A fresh flow is built for every run, outside the timed region; both sides alternate (ABAB)
and the figures are medians. Run it from the repository root::

    python benchmarks/virtual_time.py [--repeat 41]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from typing import Any

import tenacity

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "eventletutils module is deprecated", DeprecationWarning)
    from taskflow import retry, task
    from taskflow.patterns import linear_flow

from pytest_flowfault import Fault, FaultPlan, run_flow

TARGET = 1.1  # virtual / zero-waits ratio at most this
WAIT = 5.0


class Building(Exception):
    """The fake compute API's answer while an instance is still building."""


class ComputeWait(task.Task):  # type: ignore[misc]  # taskflow ships no type hints
    def __init__(self, wait: float) -> None:
        super().__init__(name="compute-wait")
        self.polls = 0
        polling = tenacity.retry(
            retry=tenacity.retry_if_exception_type(Building),
            wait=tenacity.wait_fixed(wait),
            stop=tenacity.stop_after_attempt(3),
            reraise=True,
        )
        self._poll_until_active = polling(self._poll)

    def _poll(self) -> None:
        self.polls += 1
        if self.polls <= 4:
            raise Building()

    def execute(self) -> None:
        self._poll_until_active()

    def revert(self, **kwargs: Any) -> None:
        pass


class Attach(task.Task):  # type: ignore[misc]
    def execute(self) -> None:
        pass


class SleepingTimes(retry.Times):  # type: ignore[misc]
    def __init__(self, interval: float) -> None:
        super().__init__(attempts=3, name="amp-retry")
        self.interval = interval

    def on_failure(self, history: Any, *args: Any, **kwargs: Any) -> Any:
        if len(history) < self._attempts:
            time.sleep(self.interval)
        return super().on_failure(history, *args, **kwargs)


def flow(wait: float) -> Any:
    return linear_flow.Flow("boot", retry=SleepingTimes(wait)).add(
        ComputeWait(wait), Attach("attach")
    )


PLAN = FaultPlan(Fault.fail("attach", times=1))


def timed(wait: float, virtual: bool) -> float:
    built = flow(wait)
    started = time.perf_counter()
    run = run_flow(built, plan=PLAN, virtual_time=virtual)
    elapsed = time.perf_counter() - started
    assert run.state == "SUCCESS", run.timeline()
    assert run.slept == (25.0 if virtual else 0.0), run.timeline()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=41)
    arguments = parser.parse_args()
    timed(WAIT, True), timed(0.0, False)  # warm both up
    virtual, zero = [], []
    for _ in range(arguments.repeat):
        virtual.append(timed(WAIT, True))
        zero.append(timed(0.0, False))
    ratio = statistics.median(virtual) / statistics.median(zero)
    print(f"faulted run, 25 s of waits in real time, median of {arguments.repeat}:")
    print(f"  zero waits, no virtual time: {statistics.median(zero) * 1000:7.2f} ms")
    print(f"  5 s waits, virtual time:     {statistics.median(virtual) * 1000:7.2f} ms")
    print(f"  ratio {ratio:.3f} (target <= {TARGET})")


if __name__ == "__main__":
    main()
