"""What a CI run tells people: failure sections, the summary, JSON/HTML/JUnit reports, hooks."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest
from flowkit import Boom, Log, Step
from taskflow.patterns import linear_flow

from pytest_flowfault import run_flow
from pytest_flowfault.report import run_record

SUITE = """
import pytest
from taskflow.retry import Times
from boot import STORE, boot_flow, boot_graph_flow
import service

def test_recovers(flowfault):
    flowfault.fail("create_instance", times=1)
    flowfault.run(boot_flow(retry=Times(2)), store=STORE).assert_succeeded()

def test_cleans_up(flowfault):
    flowfault.fail("attach*")
    flowfault.run(boot_graph_flow(), store=STORE, engine="parallel").assert_compensated()

def test_leaks(flowfault):
    flowfault.fail("attach*")
    flowfault.fail_revert("create_instance")
    flowfault.run(boot_flow(), store=STORE).assert_compensated()

def test_without_flows():
    pass
"""


def load_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


class TestFailureSection:
    def test_failing_test_shows_faults_timeline_and_reproduce_line(
        self, boot: pytest.Pytester
    ) -> None:
        """The flowfault section says what was injected, what happened and how to rerun it."""
        boot.makepyfile(test_suite=SUITE)
        result = boot.runpytest("--flowfault-seed=5", "-k", "leaks")
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(
            [
                "*- flowfault -*",
                "faults in force:",
                "  Fault.fail('attach*')  (from flowfault.fail() at test_suite.py:15)",
                "  Fault.fail_revert('create_instance')  (from flowfault.fail_revert() at "
                "test_suite.py:16)",
                "run 1 of 1:",
                "flow 'boot' on the serial engine ended FAILURE with InjectedFault(*",
                # 123 characters in full: the error is cut to fit 120, and spelled out below.
                "*create_instance*revert attempt 1: raised InjectedFault('create_instance', "
                "'rev…[[]2[]] [[]injected[]]",
                "errors in full:",
                "  [[]1[]] InjectedFault('attach_volume_to_instance', 'execute', 1)",
                "  [[]2[]] InjectedFault('create_instance', 'revert', 1)",
                "reproduce: pytest test_suite.py::test_leaks --flowfault-seed=5",
            ]
        )

    def test_reproduce_line_repeats_the_command_line_faults(self, boot: pytest.Pytester) -> None:
        """Faults given on the command line are part of the line that reproduces the test."""
        boot.makepyfile("import service\n\ndef test_boot():\n    service.boot_server()\n")
        result = boot.runpytest("--flowfault-seed=3", "--flowfault-fail=create_*:1")
        result.stdout.fnmatch_lines(
            ["reproduce: pytest test_*.py::test_boot --flowfault-seed=3 '--flowfault-fail=create_[*]:1'"]
        )


class TestTerminalSummary:
    def test_short_summary(self, boot: pytest.Pytester) -> None:
        """Totals, end states and the tests that were not compensated."""
        boot.makepyfile(test_suite=SUITE)
        result = boot.runpytest("--flowfault-fail=nothing_called_this")
        result.stdout.fnmatch_lines(
            [
                "*= flowfault =*",
                "3 flow runs in 4 tests, 4 faults injected; runs ended: FAILURE 1, REVERTED 1, "
                "SUCCESS 1",
                "compensation violations: 1",
                "  test_suite.py::test_leaks (flow 'boot')",
                "never matched an atom: Fault.fail('nothing_called_this') (from the command line)",
            ]
        )
        result.stdout.no_fnmatch_line("test_suite.py::test_recovers [[]passed[]]*")

    def test_verbose_summary_lists_each_test(self, boot: pytest.Pytester) -> None:
        """-v adds the problems and one line per test."""
        boot.makepyfile(test_suite=SUITE)
        result = boot.runpytest("-v")
        result.stdout.fnmatch_lines(
            [
                "    - 'create_instance' failed to revert: InjectedFault(*",
                "test_suite.py::test_cleans_up [[]passed[]]: boot-graph REVERTED (1 injected)",
                "test_suite.py::test_leaks [[]failed[]]: boot FAILURE (2 injected)",
                "test_suite.py::test_recovers [[]passed[]]: boot SUCCESS (1 injected)",
            ]
        )

    def test_a_crash_is_a_fault_not_a_compensation_violation(
        self, boot: pytest.Pytester
    ) -> None:
        """A CRASHED run is to be resumed, not undone; the crash counts as injected."""
        boot.makepyfile(
            """
            from boot import STORE, boot_flow

            def test_resumes(flowfault):
                flowfault.crash(after="create_instance")
                flowfault.resume(flowfault.run(boot_flow(), store=STORE)).assert_resumed()
            """
        )
        result = boot.runpytest("--flowfault-report=r.json")
        result.stdout.fnmatch_lines(
            [
                "2 flow runs in 1 tests, 1 faults injected; runs ended: CRASHED 1, SUCCESS 1",
                "compensation violations: none",
            ]
        )
        crashed, resumed = load_json(boot.path / "r.json")["tests"][0]["runs"]
        assert (None, 1, None) == (
            crashed["compensated"],
            crashed["faults_injected"],
            resumed["compensated"],
        )

    def test_no_section_when_the_plugin_is_not_used(self, boot: pytest.Pytester) -> None:
        """A suite that never touches the plugin sees no flowfault section."""
        boot.makepyfile("def test_plain():\n    pass\n")
        boot.runpytest().stdout.no_fnmatch_line("*= flowfault =*")


class TestFiles:
    def test_json_report(self, boot: pytest.Pytester) -> None:
        """--flowfault-report=x.json writes tests -> runs -> events with stable keys."""
        boot.makepyfile(test_suite=SUITE)
        boot.runpytest("--flowfault-report=out/r.json", "--flowfault-seed=9")
        report = load_json(boot.path / "out" / "r.json")
        assert ("pytest-flowfault-report", 1, 9) == (
            report["schema"],
            report["version"],
            report["seed"],
        )
        tests = {test["nodeid"].split("::")[1]: test for test in report["tests"]}
        assert ["test_cleans_up", "test_leaks", "test_recovers", "test_without_flows"] == sorted(
            tests
        )
        leak = tests["test_leaks"]
        assert "failed" == leak["outcome"]
        assert ["Fault.fail('attach*')", "Fault.fail_revert('create_instance')"] == leak["faults"]
        (run,) = leak["runs"]
        assert ("boot", "serial", "FAILURE", False) == (
            run["flow"],
            run["engine"],
            run["state"],
            run["compensated"],
        )
        injected = [(e["name"], e["kind"], e["what"]) for e in run["events"] if e["injected"]]
        assert [
            ("attach_volume_to_instance", "execute", "raised"),
            ("create_instance", "revert", "raised"),
        ] == injected
        assert None is tests["test_recovers"]["runs"][0]["compensated"]
        assert {"REVERTED": 1, "FAILURE": 1, "SUCCESS": 1} == report["summary"]["states"]

    def test_html_report_is_written_next_to_json(self, boot: pytest.Pytester) -> None:
        """Giving the option twice writes both formats; the summary names the files."""
        boot.makepyfile(test_suite=SUITE)
        result = boot.runpytest("--flowfault-report=r.json", "--flowfault-report=r.html")
        page = (boot.path / "r.html").read_text()
        assert "test_leaks" in page and "<svg" in page
        result.stdout.fnmatch_lines(["report written: */r.json", "report written: */r.html"])

    def test_junit_properties(self, boot: pytest.Pytester) -> None:
        """JUnit XML gets runs, injected faults and the compensation verdict per test."""
        boot.makepyfile(test_suite=SUITE)
        boot.runpytest("--junitxml=junit.xml", "-o", "junit_family=xunit1")
        root = ElementTree.parse(boot.path / "junit.xml").getroot()
        properties = {
            case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
            for case in root.iter("testcase")
        }
        assert {
            "flowfault_runs": "1",
            "flowfault_faults_injected": "2",
            "flowfault_compensated": "no",
        } == properties["test_leaks"]
        assert "yes" == properties["test_cleans_up"]["flowfault_compensated"]
        assert "n/a" == properties["test_recovers"]["flowfault_compensated"]


class TestXdist:
    def test_same_faults_and_one_merged_report_with_two_workers(
        self, boot: pytest.Pytester
    ) -> None:
        """-n 2 injects exactly what a serial run injects, and the report merges both workers."""
        boot.makepyfile(
            test_chaos="""
            import pytest
            from taskflow.patterns import linear_flow
            from boot import STORE, Attach, CreateInstance, CreateVolume

            @pytest.mark.parametrize("n", range(8))
            def test_boot(flowfault, n):
                flow = linear_flow.Flow(f"boot-{n}").add(
                    CreateVolume("create_volume"), CreateInstance("create_instance"), Attach("attach")
                )
                flowfault.run(flow, store=STORE)
            """
        )

        def injected(*arguments: str) -> dict[str, list[tuple[str, int]]]:
            boot.runpytest_subprocess(
                "--flowfault-seed=11", "--flowfault-chaos=0.4", "--flowfault-report=r.json",
                *arguments,
            )
            report = load_json(boot.path / "r.json")
            return {
                test["nodeid"]: [
                    (event["name"], event["attempt"])
                    for run in test["runs"]
                    for event in run["events"]
                    if event["injected"]
                ]
                for test in report["tests"]
            }

        serial = injected()
        parallel = injected("-p", "xdist", "-n", "2", "--junitxml=junit.xml")
        assert 8 == len(serial)
        assert serial == parallel
        assert any(serial.values())
        injected_per_case = [
            [p.get("value") for p in case.iter("property") if p.get("name") == "flowfault_faults_injected"]
            for case in ElementTree.parse(boot.path / "junit.xml").getroot().iter("testcase")
        ]
        assert sorted([str(len(faults))] for faults in serial.values()) == sorted(injected_per_case)


class TestHooks:
    def test_fault_injected_and_run_finished_are_called(self, boot: pytest.Pytester) -> None:
        """A conftest sees each injected fault and each finished run."""
        boot.makeconftest(
            """
            SEEN = []

            def pytest_flowfault_fault_injected(run, fault, atom, attempt, action):
                SEEN.append(("injected", run.flow_name, atom, action, attempt, fault.target))

            def pytest_flowfault_run_finished(run, item):
                SEEN.append(("finished", run.flow_name, run.state, item.name))
            """
        )
        boot.makepyfile(
            """
            from taskflow.retry import Times
            from boot import STORE, boot_flow
            import conftest

            def test_hooks(flowfault):
                flowfault.fail("create_*", times=1)
                flowfault.run(boot_flow(retry=Times(3)), store=STORE)
                assert [
                    ("injected", "boot", "create_volume", "execute", 1, "create_*"),
                    ("injected", "boot", "create_instance", "execute", 1, "create_*"),
                    ("finished", "boot", "SUCCESS", "test_hooks"),
                ] == conftest.SEEN

            def test_crash_hooks(flowfault):
                conftest.SEEN.clear()
                flowfault.crash(after="create_*")
                flowfault.run(boot_flow(), store=STORE)
                assert [
                    ("injected", "boot", "create_volume", "execute", 1, "create_*"),
                    ("finished", "boot", "CRASHED", "test_crash_hooks"),
                ] == conftest.SEEN
            """
        )
        boot.runpytest().assert_outcomes(passed=2)


class TestFastParallel:
    def test_intercepted_parallel_runs_get_a_pool_of_ours(self, boot: pytest.Pytester) -> None:
        """Parallel engines the code under test starts skip TaskFlow's slow pool; ini turns it off."""
        boot.makepyfile(
            """
            import boot, service

            def test_pool(flowfault):
                service.boot_server_in_parallel()
                print("THREAD", boot.THREADS[-1])
            """
        )
        fast = boot.runpytest("-s")
        fast.assert_outcomes(passed=1)
        fast.stdout.fnmatch_lines(["*THREAD flowfault*"])
        boot.makeini("[pytest]\nflowfault_fast_parallel = false\n")
        slow = boot.runpytest("-s", "-W", "ignore::DeprecationWarning")
        slow.assert_outcomes(passed=1)
        slow.stdout.no_fnmatch_line("*THREAD flowfault*")


class TestRunRecord:
    def test_atoms_carry_their_verdicts(self) -> None:
        """Each atom entry has the state, call counts and verdict FlowRun.verdict holds."""
        record = run_record(run_flow(linear_flow.Flow("f").add(Step("a", Log()), Boom("boom"))))
        assert (True, [
            {"name": "a", "kind": "task", "has_revert": True, "state": "REVERTED",
             "attempts": 1, "reverts": 1, "verdict": "reverted"},
            {"name": "boom", "kind": "task", "has_revert": False, "state": "REVERTED",
             "attempts": 1, "reverts": 1, "verdict": "reverted"},
        ]) == (record["compensated"], record["atoms"])

    def test_calls_pair_start_and_end_events(self) -> None:
        """``calls`` holds each call's start and end ``seq``, as FlowRun.call_spans() pairs them."""
        run = run_flow(linear_flow.Flow("f").add(Step("a", Log()), Step("b", Log())))
        record = run_record(run)
        expected = [
            [start.seq, end.seq if end is not None else None] for start, end in run.call_spans()
        ]
        assert (expected, 2) == (record["calls"], len(record["calls"]))
        assert [("start", "ok")] * 2 == [
            (record["events"][s]["what"], record["events"][e]["what"])  # type: ignore[index]
            for s, e in record["calls"] if e is not None
        ]
