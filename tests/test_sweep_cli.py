"""--flowfault-sweep, --flowfault-replay and counterexample files, as a CI run sees them."""

from __future__ import annotations

import json
import re

import pytest

SUITE = """
from taskflow import task
from taskflow.patterns import linear_flow
from taskflow.retry import Times
from boot import STORE, boot_flow


class CreatePort(task.Task):
    def execute(self):
        return {"id": "port-1"}

    def revert(self, result, **kwargs):
        result["id"]  # crashes when its own execute failed: result is a Failure


class Attach(task.Task):
    def execute(self):
        return None


def test_resilient(flowfault):
    flowfault.run(boot_flow(retry=Times(3)), store=STORE).assert_succeeded()


def test_buggy(flowfault):
    flow = linear_flow.Flow("ports").add(CreatePort("create_port"), Attach("attach"))
    flowfault.run(flow).assert_succeeded()


def test_not_using_the_fixture():
    pass
"""


SELECTIVE_SUITE = """
from taskflow import retry, task
from taskflow.patterns import linear_flow


class Timeout(Exception):
    pass


class RetryOnTimeout(retry.Times):
    def on_failure(self, history, *args, **kwargs):
        if any(f.check(Timeout) for f in history[-1][1].values()) and len(history) < 3:
            return retry.RETRY
        return retry.REVERT_ALL


class Create(task.Task):
    def execute(self):
        return 1


def test_create(flowfault):
    flow = linear_flow.Flow("f", retry=RetryOnTimeout(3, name="r")).add(Create("create"))
    flowfault.run(flow).assert_succeeded()
"""


def variant_outcomes(result: pytest.RunResult) -> dict[str, str]:
    """Test id -> PASSED/FAILED, from -v output (sweep variants included).

    Plain pytest prints ``nodeid PASSED``; xdist prints ``[gw0] PASSED nodeid``.
    """
    text = result.stdout.str()
    serial = re.findall(r"^(\S+::\S+.*?) (PASSED|FAILED)", text, re.MULTILINE)
    xdist = re.findall(
        r"^\[gw\d+\]\s+\[[^\]]*\]\s+(PASSED|FAILED) (\S+::.*?)\s*$", text, re.MULTILINE
    )
    return dict(serial) | {nodeid: outcome for outcome, nodeid in xdist}


class TestSweepOption:
    def test_variants_are_run_and_judged_by_their_flows(self, boot: pytest.Pytester) -> None:
        """Each fault point of each passing fixture test becomes a reported variant."""
        boot.makepyfile(test_suite=SUITE)
        result = boot.runpytest("--flowfault-sweep", "-v")
        outcomes = variant_outcomes(result)
        sweep_ids = sorted(nodeid for nodeid in outcomes if "[flowfault-sweep " in nodeid)
        assert [
            "test_suite.py::test_buggy[flowfault-sweep FaultPlan(Fault.fail('attach'))]",
            "test_suite.py::test_buggy[flowfault-sweep FaultPlan(Fault.fail('create_port'))]",
            "test_suite.py::test_resilient[flowfault-sweep FaultPlan(Fault.fail("
            "'attach_volume_to_instance'))]",
            "test_suite.py::test_resilient[flowfault-sweep FaultPlan(Fault.fail("
            "'attach_volume_to_instance', times=1))]",
            "test_suite.py::test_resilient[flowfault-sweep FaultPlan(Fault.fail('create_instance'))]",
            "test_suite.py::test_resilient[flowfault-sweep FaultPlan(Fault.fail("
            "'create_instance', times=1))]",
            "test_suite.py::test_resilient[flowfault-sweep FaultPlan(Fault.fail('create_volume'))]",
            "test_suite.py::test_resilient[flowfault-sweep FaultPlan(Fault.fail("
            "'create_volume', times=1))]",
        ] == sweep_ids
        failed = sorted(nodeid for nodeid, outcome in outcomes.items() if outcome == "FAILED")
        # The permanent faults make test_resilient's own assert_succeeded() fail, yet those
        # variants pass: the flow was reverted and compensated. Only the real leak fails.
        assert [
            "test_suite.py::test_buggy[flowfault-sweep FaultPlan(Fault.fail('create_port'))]"
        ] == failed
        assert result.ret == pytest.ExitCode.TESTS_FAILED

    def test_failing_variant_shows_the_problem_and_how_to_replay_it(
        self, boot: pytest.Pytester
    ) -> None:
        """The failure names the plan, the problem, and a line that replays the variant."""
        boot.makepyfile(test_suite=SUITE)
        result = boot.runpytest("--flowfault-sweep", "-k", "buggy", "--flowfault-seed=4")
        result.stdout.fnmatch_lines(
            [
                "flowfault sweep: not survived under FaultPlan(Fault.fail('create_port'))",
                "run 1 (flow 'ports'): the flow ended FAILURE, not REVERTED; 'create_port' "
                "failed to revert: TypeError(*",
                "*- flowfault -*",
                "  Fault.fail('create_port')  (from --flowfault-sweep)",
                "reproduce: pytest test_suite.py::test_buggy --flowfault-seed=4 "
                "'--flowfault-replay=FaultPlan(Fault.fail('\"'\"'create_port'\"'\"'))'",
            ]
        )

    def test_revert_kind_and_bad_kinds(self, boot: pytest.Pytester) -> None:
        """KINDS picks the fault kinds; an unknown kind is a usage error. A revert variant
        passes when the injected revert failure reaches the caller, as TaskFlow halts the
        rollback there by design. Only tasks with a revert of their own are revert points
        (attach_volume_to_instance has none)."""
        boot.makepyfile(test_suite=SUITE)
        result = boot.runpytest("--flowfault-sweep=revert", "-v", "-k", "resilient")
        variants = {
            nodeid: outcome
            for nodeid, outcome in variant_outcomes(result).items()
            if "flowfault-sweep" in nodeid
        }
        assert 2 == len(variants), variants
        assert {"PASSED"} == set(variants.values())
        bad = boot.runpytest("--flowfault-sweep=sometimes")
        assert bad.ret == pytest.ExitCode.USAGE_ERROR
        bad.stderr.fnmatch_lines(
            ["*argument --flowfault-sweep: 'sometimes': give kinds separated by commas, from "
             "transient, permanent, revert"]
        )

    def test_a_conftest_hook_chooses_the_exception(self, boot: pytest.Pytester) -> None:
        """pytest_flowfault_sweep_exc: the variants raise what the flow's retry retries,
        so --flowfault-sweep exercises it; the plans show it, for replay."""
        boot.makepyfile(test_suite=SELECTIVE_SUITE)
        plain = boot.runpytest("--flowfault-sweep=transient", "-v")
        # Survived, but by reverting: the retry never retried.
        assert (
            "test_create[flowfault-sweep FaultPlan(Fault.fail('create', times=1))] "
            "[passed]: f REVERTED (1 injected)"
        ) in plain.stdout.str()
        boot.makeconftest(
            "from test_suite import Timeout\n\n"
            "def pytest_flowfault_sweep_exc(item):\n"
            "    return {'create': Timeout('still building')}\n"
        )
        chosen = boot.runpytest("--flowfault-sweep=transient", "-v")
        chosen.assert_outcomes(passed=2)
        assert (
            "test_create[flowfault-sweep FaultPlan(Fault.fail('create', times=1, "
            "exc=test_suite.Timeout('still building')))] [passed]: f SUCCESS (1 injected)"
        ) in chosen.stdout.str()

    def test_a_bad_hook_answer_fails_the_test_naming_the_hook(
        self, boot: pytest.Pytester
    ) -> None:
        boot.makepyfile(test_suite=SELECTIVE_SUITE)
        boot.makeconftest("def pytest_flowfault_sweep_exc(item):\n    return 'Timeout'\n")
        result = boot.runpytest("--flowfault-sweep")
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(
            ["*test_suite.py::test_create: pytest_flowfault_sweep_exc(): exc must be an "
             "exception class or instance*got str 'Timeout'*"]
        )

    def test_same_variants_with_two_xdist_workers(self, boot: pytest.Pytester) -> None:
        """-n 2 runs and judges the same variants."""
        boot.makepyfile(test_suite=SUITE)
        serial = variant_outcomes(boot.runpytest_subprocess("--flowfault-sweep", "-v"))
        parallel = variant_outcomes(
            boot.runpytest_subprocess("--flowfault-sweep", "-v", "-p", "xdist", "-n", "2")
        )
        assert 11 == len(serial)
        assert serial == parallel


class TestReplay:
    def test_replay_code_puts_the_plan_in_force(self, boot: pytest.Pytester) -> None:
        """--flowfault-replay=FaultPlan(...) reproduces a variant's failure."""
        boot.makepyfile(test_suite=SUITE)
        result = boot.runpytest(
            "-k", "buggy", "--flowfault-replay=FaultPlan(Fault.fail('create_port'))"
        )
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["  Fault.fail('create_port')  (from --flowfault-replay)"])

    def test_counterexamples_file_round_trip(self, boot: pytest.Pytester) -> None:
        """A report run writes each failure's plan; replaying the file repeats the failure."""
        boot.makepyfile(test_suite=SUITE)
        boot.runpytest("--flowfault-sweep", "--flowfault-report=out/r.json")
        counterexamples = json.loads((boot.path / "out" / "r.counterexamples.json").read_text())
        assert {"test_suite.py::test_buggy": ["FaultPlan(Fault.fail('create_port'))"]} == (
            counterexamples["tests"]
        )
        replayed = boot.runpytest("--flowfault-replay=out/r.counterexamples.json")
        replayed.assert_outcomes(passed=2, failed=1)
        replayed.stdout.fnmatch_lines(["FAILED test_suite.py::test_buggy*"])

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            (
                "FaultPlan(Fault.fail(",
                "ERROR: --flowfault-replay='FaultPlan(Fault.fail(': this is not a fault plan: "
                "'(' was never closed at column 21; paste the plan printed on a failing "
                "test's reproduce: line",
            ),
            (
                "3",
                "ERROR: --flowfault-replay='3': only a fault plan is accepted here "
                "(FaultPlan(...) or Fault.<kind>(...)), and '3' at column 1 is not part of "
                "that grammar; paste the plan printed on a failing test's reproduce: line",
            ),
            (
                "missing.json",
                "ERROR: --flowfault-replay=missing.json: the file cannot be read (No such "
                "file or directory); a counterexamples file looks like *",
            ),
        ],
    )
    def test_bad_replay_values(self, boot: pytest.Pytester, value: str, message: str) -> None:
        """A replay value that is neither plan code nor a readable file is a usage error."""
        result = boot.runpytest(f"--flowfault-replay={value}")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([message])
