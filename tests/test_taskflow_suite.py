"""TaskFlow's own unit tests give the same outcomes with the flowfault fixture autouse.

A slice of ``taskflow/tests/unit`` (in site-packages) runs twice in child processes:
once without the plugin, once with every test using the ``flowfault`` fixture, so every
engine run is intercepted, its atoms wrapped and recorded. Each test's outcome must match.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import taskflow

UNIT = Path(taskflow.__file__).parent / "tests" / "unit"

# Engine tests on the serial engine, argument passing on both engines (TaskFlow's parallel
# engine classes cost ~1 s per test bare, joining their futurist pool: one class is enough),
# and the task/functor/progress/helper tests. ~300 tests, ~15 s bare.
SLICE = (
    "test_engines.py::SerialEngineTest",
    "test_retries.py::SerialEngineTest",
    "test_arguments_passing.py::SerialEngineTest",
    "test_arguments_passing.py::ParallelEngineWithThreadsTest",
    "test_suspend.py::SerialEngineTest",
    "test_functor_task.py",
    "test_task.py",
    "test_progress.py",
    "test_engine_helpers.py",
    "test_mapfunctor_task.py",
    "test_reducefunctor_task.py",
    "test_deciders.py",
    "test_flow_dependencies.py",
)
DESELECTED = (
    # Timed on the wall clock (SuccessAfter3Sec compares time.time() with a start time)
    # and 7.5 s long: not deterministic on a loaded machine.
    "test_retries.py::SerialEngineTest::test_restart_reverted_unordered_flows_with_retries",
)
# Measured (taskflow 6.5.0): 286 tests pass, 163 engine runs are recorded under the
# fixture. Fewer means tests went missing or the fixture was not in force.
MIN_TESTS = 250
MIN_RUNS = 120

AUTOUSE = """
import pytest


@pytest.fixture(autouse=True)
def _ff(flowfault):
    yield
"""

# Every phase's outcome of every test, by node id.
OUTCOMES = """
import json

OUTCOMES = {}


def pytest_runtest_logreport(report):
    OUTCOMES.setdefault(report.nodeid, []).append(f"{report.when} {report.outcome}")


def pytest_sessionfinish(session):
    with open("outcomes.json", "w") as file:
        json.dump(OUTCOMES, file)
"""


def run_slice(directory: Path, *plugin_options: str) -> subprocess.Popen[str]:
    """Start pytest on the slice in a child process, writing ``directory/outcomes.json``."""
    directory.mkdir()
    (directory / "pytest.ini").write_text("[pytest]\n")
    (directory / "flowfault_autouse.py").write_text(AUTOUSE)
    (directory / "flowfault_outcomes.py").write_text(OUTCOMES)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(directory), env.get("PYTHONPATH", "")])
    # The rootdir is TaskFlow's test directory (node ids name the file); with the cache
    # off and no bytecode written, nothing is left in site-packages.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    command = [
        sys.executable, "-m", "pytest", "-q", "-c", str(directory / "pytest.ini"),
        "--rootdir", str(UNIT), "-p", "no:cacheprovider", "-p", "no:xdist",
        "-p", "no:randomly", "-p", "flowfault_outcomes",
        *plugin_options,
        *(str(UNIT / node) for node in SLICE),
        *(f"--deselect={UNIT / node}" for node in DESELECTED),
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=directory, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def outcomes(directory: Path) -> dict[str, list[str]]:
    """Each test's phases and their outcomes, e.g. ``["setup passed", "call passed", …]``."""
    found: dict[str, list[str]] = json.loads((directory / "outcomes.json").read_text())
    return found


def finish(child: subprocess.Popen[str]) -> str:
    """The child's output (its end, if it failed), once it ended; killed after 5 minutes."""
    try:
        output, _ = child.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        child.kill()
        output, _ = child.communicate()
    return output if child.returncode == 0 else output[-5000:]


def test_taskflow_unit_tests_have_the_same_outcomes_with_the_fixture(tmp_path: Path) -> None:
    """Bare and with ``flowfault`` autouse, every test of the slice ends the same way."""
    bare = run_slice(tmp_path / "bare", "-p", "no:flowfault")
    faulted = run_slice(tmp_path / "fixture", "-p", "flowfault_autouse")
    bare_output, fixture_output = finish(bare), finish(faulted)
    assert 0 == bare.returncode, bare_output
    assert (tmp_path / "fixture" / "outcomes.json").exists(), fixture_output
    expected = outcomes(tmp_path / "bare")
    actual = outcomes(tmp_path / "fixture")
    assert expected == actual
    assert 0 == faulted.returncode, fixture_output
    ran = sum("call passed" in phases for phases in expected.values())
    assert ran > MIN_TESTS, bare_output
    recorded = re.search(r"(\d+) flow runs in \d+ tests", fixture_output)
    assert recorded is not None, fixture_output
    assert int(recorded.group(1)) > MIN_RUNS, fixture_output
