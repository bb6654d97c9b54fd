"""How much faster a suite full of parallel-engine flows runs under the plugin.

Generates a suite of N tests whose code under test calls
``taskflow.engines.run(flow, engine="parallel")`` itself (no executor given), and times
whole ``pytest`` runs of it, in one process after another, as subprocesses:

* ``bare``: the plugin installed but not used (no test gets a fault session), so each run
  pays for TaskFlow's own thread pool (~1 s to join);
* ``flowfault``: ``--flowfault-strict`` gives every test a session, so each intercepted
  parallel run gets the plugin's pool (and is recorded and checked);
* ``flowfault, fast pools off``: the same with ``-o flowfault_fast_parallel=false``,
  to show where the difference comes from.

Run it from the repository root::

    python benchmarks/parallel_suite.py [--tests 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

SUITE = textwrap.dedent(
    """
    import pytest
    import taskflow.engines
    from taskflow import task
    from taskflow.patterns import unordered_flow


    class Step(task.Task):
        def execute(self):
            return self.name


    def provision(n):  # the code under test
        flow = unordered_flow.Flow(f"provision-{n}").add(*(Step(f"s{i}") for i in range(5)))
        return taskflow.engines.run(flow, engine="parallel")


    @pytest.mark.parametrize("n", range(TESTS))
    def test_provision(n):
        provision(n)
    """
)

CONFIGURATIONS = {
    "bare": [],
    "flowfault": ["--flowfault-strict"],
    "flowfault, fast pools off": ["--flowfault-strict", "-o", "flowfault_fast_parallel=false"],
}


def run_suite(directory: Path, arguments: list[str]) -> float:
    """Seconds one whole pytest run takes (start-up included); fails loudly if tests fail."""
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "-W", "ignore::DeprecationWarning", *arguments,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=directory, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments) or 'bare'} failed:\n{done.stdout}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=20, help="tests in the suite (default 20)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration (default 3)")
    args = parser.parse_args(argv)
    if args.tests < 1 or args.repeat < 1:
        parser.error("--tests and --repeat must be at least 1")

    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        (directory / "test_suite.py").write_text(SUITE.replace("TESTS", str(args.tests)))
        times: dict[str, list[float]] = {name: [] for name in CONFIGURATIONS}
        for _ in range(args.repeat):  # interleaved, so that noise hits every configuration
            for name, arguments in CONFIGURATIONS.items():
                times[name].append(run_suite(directory, arguments))

    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"| suite of {args.tests} tests, each running a 5-task parallel flow | median wall time "
          f"| vs bare |")
    print("|---|---:|---:|")
    for name, median in medians.items():
        print(f"| {name} | {median:.2f} s | {medians['bare'] / median:.1f}x faster |")
    print(f"\n{args.repeat} whole pytest runs per configuration, pytest start-up included.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
