"""Command-line options, ini keys, seeds and the marker, as a user's suite sees them."""

from __future__ import annotations

import re

import pytest

# A suite that does not know about the plugin: the code under test runs flows itself.
UNCHANGED_SUITE = """
import service

def test_boot_with_retry():
    results = service.boot_server_with_retry()
    assert "inst-1" == results["instance_id"]

def test_boot_without_retry():
    service.boot_server()
"""


NO_REVERT_SUITE = """
from taskflow import task
from taskflow.patterns import linear_flow


class Lookup(task.Task):
    def execute(self):
        return "subnet-1"


class Create(task.Task):
    def execute(self):
        raise RuntimeError("quota exceeded")

    def revert(self, **kwargs):
        pass


def test_reverted(flowfault):
    run = flowfault.run(linear_flow.Flow("f").add(Lookup("lookup"), Create("create")))
    run.state
"""


class TestCommandLineFaults:
    def test_every_task_failing_once_is_survived_only_with_retries(
        self, boot: pytest.Pytester
    ) -> None:
        """--flowfault-fail='*:1' reaches tests that never asked for the fixture."""
        boot.makepyfile(test_suite=UNCHANGED_SUITE)
        result = boot.runpytest("--flowfault-fail=*:1")
        result.assert_outcomes(passed=1, failed=1)
        result.stdout.fnmatch_lines(["FAILED test_suite.py::test_boot_without_retry*"])
        assert 2 == boot.runpytest().parseoutcomes()["passed"]  # and nothing sticks

    def test_fail_revert_from_the_command_line(self, boot: pytest.Pytester) -> None:
        """--flowfault-fail-revert makes the clean-up of a failed boot fail."""
        boot.makepyfile(
            """
            import boot, service

            def test_boot(flowfault):
                service.boot_server_quietly()
                (run,) = flowfault.runs
                assert "FAILURE" == run.state
                # The instance's revert failed, so the volume's revert never ran: both leak.
                assert ["v", "i"] == boot.CREATED
            """
        )
        boot.runpytest(
            "--flowfault-fail=attach*", "--flowfault-fail-revert=create_instance"
        ).assert_outcomes(passed=1)

    def test_ini_keys_apply_like_the_options(self, boot: pytest.Pytester) -> None:
        """flowfault_fail in the ini file is the default for --flowfault-fail."""
        boot.makepyfile(test_suite=UNCHANGED_SUITE)
        boot.makeini(
            """
            [pytest]
            filterwarnings =
                error
                ignore:eventletutils module is deprecated:DeprecationWarning
            flowfault_fail = *:1
            """
        )
        boot.runpytest().assert_outcomes(passed=1, failed=1)

    def test_header_names_the_seed_and_the_faults(self, boot: pytest.Pytester) -> None:
        """The header says which seed and which command-line faults are in force."""
        boot.makepyfile(test_suite=UNCHANGED_SUITE)
        result = boot.runpytest("--flowfault-seed=42", "--flowfault-fail=*:1")
        result.stdout.fnmatch_lines(
            ["flowfault: seed=42", "flowfault: faults in every test: '--flowfault-fail=[*]:1'"]
        )

    def test_marker_off_keeps_command_line_faults_out(self, boot: pytest.Pytester) -> None:
        """@pytest.mark.flowfault(off=True) runs the real code even under --flowfault-fail."""
        boot.makepyfile(
            """
            import pytest, service

            @pytest.mark.flowfault(off=True)
            def test_boot():
                service.boot_server()
            """
        )
        boot.runpytest("--flowfault-fail=*").assert_outcomes(passed=1)

    def test_compensation_fails_tests_whose_runs_were_not_compensated(
        self, boot: pytest.Pytester
    ) -> None:
        """--flowfault-compensation catches a leak the test itself never looked for."""
        boot.makepyfile(
            """
            import service

            def test_swallows_the_error():
                assert service.boot_server_quietly() is None
            """
        )
        boot.runpytest(
            "--flowfault-fail=attach*", "--flowfault-fail-revert=create_instance"
        ).assert_outcomes(passed=1)
        result = boot.runpytest(
            "--flowfault-fail=attach*",
            "--flowfault-fail-revert=create_instance",
            "--flowfault-compensation",
        )
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(
            [
                "--flowfault-compensation=basic: run 1 (flow 'boot') ended FAILURE and was "
                "not compensated:",
                "  - 'create_instance' failed to revert: InjectedFault(*)",
                "  - 'create_volume' completed (execute attempt 1) but was never reverted",
            ]
        )

    def test_strict_compensation_is_assert_compensated_strict(
        self, pytester: pytest.Pytester
    ) -> None:
        """=strict fails a reverted run whose completed task has no revert of its own, as
        assert_compensated(strict=True) does; flowfault_nothing_to_undo excuses it."""
        pytester.makepyfile(NO_REVERT_SUITE)
        basic = pytester.runpytest("--flowfault-compensation=basic")
        basic.assert_outcomes(passed=1)
        strict = pytester.runpytest("--flowfault-compensation=strict")
        strict.assert_outcomes(failed=1)
        strict.stdout.fnmatch_lines(
            [
                "--flowfault-compensation=strict: run 1 (flow 'f') ended REVERTED and was not "
                "compensated:",
                "  - 'lookup' completed but has no revert of its own *",
            ]
        )
        pytester.makeini("[pytest]\nflowfault_nothing_to_undo =\n    look*\n")
        pytester.runpytest("--flowfault-compensation=strict").assert_outcomes(passed=1)
        # The same list serves the test's own strict check.
        pytester.makepyfile(
            test_own=NO_REVERT_SUITE.replace("run.state", "run.assert_compensated(strict=True)")
        )
        pytester.runpytest("test_own.py").assert_outcomes(passed=1)

    def test_strict_is_deprecated_and_never_meant_strict(self, boot: pytest.Pytester) -> None:
        """--flowfault-strict still works as =basic, with a warning saying so; a bad
        --flowfault-compensation value is a usage error naming both choices."""
        boot.makepyfile("import service\n\ndef test_boot():\n    service.boot_server_quietly()\n")
        result = boot.runpytest(
            "--flowfault-fail=attach*", "--flowfault-fail-revert=create_instance",
            "--flowfault-strict",
        )
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(
            [
                "flowfault: --flowfault-strict is deprecated: it is "
                "--flowfault-compensation=basic*never applied strict=True*",
                "*--flowfault-compensation=basic: run 1 (flow 'boot')*",
            ]
        )
        bad = boot.runpytest("--flowfault-compensation=strictest")
        assert bad.ret == pytest.ExitCode.USAGE_ERROR
        bad.stderr.fnmatch_lines(
            ["*--flowfault-compensation: 'strictest' is not a compensation check: use basic *"
             "or strict *"]
        )

    def test_fault_kinds_from_a_plugin_hook(self, boot: pytest.Pytester) -> None:
        """pytest_flowfault_parse_fault lets a conftest add a fault kind."""
        boot.makeconftest(
            """
            from pytest_flowfault import Fault

            def pytest_flowfault_parse_fault(kind, value, config):
                if kind == "timeout":
                    return Fault.fail(value, exc=TimeoutError("slow API"))
            """
        )
        boot.makepyfile(
            """
            import pytest, service

            def test_boot():
                with pytest.raises(TimeoutError, match="slow API"):
                    service.boot_server()
            """
        )
        boot.runpytest("--flowfault-fault=timeout:create_instance").assert_outcomes(passed=1)


class TestBadValues:
    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            (
                ["--flowfault-fail=x:-1"],
                "*argument --flowfault-fail: 'x:-1': TIMES must be at least 1, got -1; leave "
                "it out to fail every attempt",
            ),
            (
                ["--flowfault-fail=x:often"],
                "*argument --flowfault-fail: 'x:often': 'often' is not a number of attempts*",
            ),
            (
                ["--flowfault-fail-revert=:2"],
                "*argument --flowfault-fail-revert: ':2' names no atom; write TARGET or "
                "TARGET:TIMES*",
            ),
            (
                ["--flowfault-chaos=1.5"],
                "*argument --flowfault-chaos: '1.5' is outside [[]0, 1]; give a probability*",
            ),
            (
                ["--flowfault-chaos=lots"],
                "*argument --flowfault-chaos: 'lots' is not a number; give a probability*",
            ),
            (
                ["--flowfault-seed=first"],
                "*argument --flowfault-seed: 'first' is not an integer or 'last'",
            ),
            (
                ["--flowfault-report=out.txt"],
                "*argument --flowfault-report: 'out.txt' must end in .json or .html*",
            ),
            (
                ["--flowfault-fault=explode:x"],
                "*--flowfault-fault='explode:x': unknown fault kind 'explode'; built in are "
                "fail and fail_revert, and plugins add kinds with the "
                "pytest_flowfault_parse_fault hook",
            ),
            (
                ["--flowfault-fault=create_instance"],
                "*--flowfault-fault='create_instance': write KIND:VALUE, e.g. "
                "fail:create_instance:2",
            ),
            (
                ["--flowfault-fault=fail:x:0"],
                "*--flowfault-fault='fail:x:0': 'x:0': TIMES must be at least 1, got 0*",
            ),
        ],
    )
    def test_usage_errors_say_what_was_wrong(
        self, boot: pytest.Pytester, arguments: list[str], message: str
    ) -> None:
        """Each invalid option value stops pytest with a message naming the option."""
        result = boot.runpytest(*arguments)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([message])

    @pytest.mark.parametrize(
        ("ini", "message"),
        [
            ("flowfault_chaos = 2", "*ini key flowfault_chaos: '2' is outside [[]0, 1]*"),
            ("flowfault_seed = soon", "*ini key flowfault_seed: 'soon' is not an integer*"),
            ("flowfault_fail = x:0", "*ini key flowfault_fail='x:0': 'x:0': TIMES must be*"),
            ("flowfault_report = r.xml", "*ini key flowfault_report: 'r.xml' must end in*"),
        ],
    )
    def test_bad_ini_values_are_usage_errors(
        self, boot: pytest.Pytester, ini: str, message: str
    ) -> None:
        """Invalid ini values are reported with the key they came from."""
        boot.makeini(f"[pytest]\n{ini}\n")
        result = boot.runpytest()
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([message])


class TestSeeds:
    def test_last_reuses_the_previous_seed(self, boot: pytest.Pytester) -> None:
        """--flowfault-seed=last picks up the seed of the run before (from the cache)."""
        boot.makepyfile(test_suite=UNCHANGED_SUITE)
        first = boot.runpytest("-p", "cacheprovider")
        seed = re.search(r"flowfault: seed=(\d+)", first.stdout.str())
        assert seed is not None
        again = boot.runpytest("-p", "cacheprovider", "--flowfault-seed=last")
        again.stdout.fnmatch_lines([f"flowfault: seed={seed.group(1)} (last)"])

    def test_each_test_gets_base_plus_crc32_of_its_node_id(self, boot: pytest.Pytester) -> None:
        """flowfault.seed is derived from the node id, so xdist workers agree on it."""
        boot.makepyfile(
            """
            import zlib

            def test_seed(flowfault, request):
                assert 7 + zlib.crc32(request.node.nodeid.encode()) == flowfault.seed
            """
        )
        boot.runpytest("--flowfault-seed=7").assert_outcomes(passed=1)

    def test_chaos_is_reproducible_from_the_seed(self, boot: pytest.Pytester) -> None:
        """The same seed fails the same attempts; another seed fails others."""
        boot.makepyfile(
            """
            from taskflow.patterns import linear_flow
            from boot import STORE, Attach, CreateInstance, CreateVolume

            def test_many_boots(flowfault):
                for n in range(20):
                    flow = linear_flow.Flow(f"boot-{n}").add(
                        CreateVolume("create_volume"),
                        CreateInstance("create_instance"),
                        Attach("attach"),
                    )
                    flowfault.run(flow, store=STORE, engine="parallel")
                print("STATES", [run.state for run in flowfault.runs])
            """
        )

        def states(seed: int) -> str:
            result = boot.runpytest("-s", f"--flowfault-seed={seed}", "--flowfault-chaos=0.3")
            found = re.search(r"STATES (\[.*\])", result.stdout.str())
            assert found is not None, result.stdout.str()
            return found.group(1)

        first = states(1)
        assert "SUCCESS" in first and "REVERTED" in first
        assert first == states(1)
        assert first != states(2)


class TestMarker:
    def test_fail_forms(self, boot: pytest.Pytester) -> None:
        """fail= takes a target, a list of targets or {target: times}."""
        boot.makepyfile(
            """
            import pytest
            from taskflow.retry import Times
            from boot import STORE, boot_flow

            @pytest.mark.flowfault(fail={"create_instance": 2, "attach*": None})
            def test_dict(flowfault):
                run = flowfault.run(boot_flow(retry=Times(3)), store=STORE)
                run.assert_attempts("create_instance", 3)
                run.assert_failed()

            @pytest.mark.flowfault(fail=["create_volume"], fail_revert="create_volume")
            def test_list_and_revert(flowfault):
                run = flowfault.run(boot_flow(), store=STORE)
                assert "FAILURE" == run.state

            @pytest.mark.flowfault(fail="create_instance")
            class TestClass:
                def test_inherited(self, flowfault):
                    flowfault.run(boot_flow(), store=STORE).assert_failed()
            """
        )
        boot.runpytest().assert_outcomes(passed=3)

    def test_engines_parametrize_the_test(self, boot: pytest.Pytester) -> None:
        """engines= runs the test once per engine, with the engine in the test id."""
        boot.makepyfile(
            """
            import pytest
            from boot import STORE, boot_graph_flow

            @pytest.mark.flowfault(engines=["serial", "parallel"], fail="attach*")
            def test_both(flowfault):
                run = flowfault.run(boot_graph_flow(), store=STORE)
                assert flowfault.engine == run.engine
                run.assert_compensated()
            """
        )
        result = boot.runpytest("-v")
        result.assert_outcomes(passed=2)
        result.stdout.fnmatch_lines(["*test_both[[]serial[]] PASSED*", "*test_both[[]parallel[]] PASSED*"])

    def test_chaos_marker(self, boot: pytest.Pytester) -> None:
        """chaos=1 fails every execute attempt of the marked test."""
        boot.makepyfile(
            """
            import pytest
            from boot import STORE, boot_flow

            @pytest.mark.flowfault(chaos=1)
            def test_chaos(flowfault):
                flowfault.run(boot_flow(), store=STORE).assert_attempts("create_volume", 1)
                flowfault.runs[0].assert_not_run("create_instance")
            """
        )
        boot.runpytest().assert_outcomes(passed=1)

    @pytest.mark.parametrize(
        ("marker", "message"),
        [
            (
                "flowfault('create_instance')",
                "*@pytest.mark.flowfault takes keyword arguments only, got positional "
                "'create_instance'; e.g. @pytest.mark.flowfault(fail='create_instance')",
            ),
            (
                "flowfault(fial='x')",
                "*@pytest.mark.flowfault got unknown argument(s) fial; it takes fail, "
                "fail_revert, chaos, engines, off, virtual_time",
            ),
            (
                "flowfault(fail={'x': 0})",
                "*@pytest.mark.flowfault(fail=...): times must be at least 1*",
            ),
            (
                "flowfault(fail=3)",
                "*@pytest.mark.flowfault(fail=...) takes a target, a list of targets or "
                "{target: times or None}, got int 3",
            ),
            ("flowfault(chaos=2)", "*(chaos=...) takes a probability from 0 to 1, e.g. 0.2, got 2"),
            (
                "flowfault(engines=['fast'])",
                "*(engines=...) takes a list of default, parallel, serial, worker-based, workers, "
                "got*",
            ),
            ("flowfault(off='yes')", "*(off=...) takes True or False, got 'yes'"),
        ],
    )
    def test_malformed_marker_fails_only_that_test(
        self, boot: pytest.Pytester, marker: str, message: str
    ) -> None:
        """A bad marker is that test's error, with a clear message; the session goes on."""
        boot.makepyfile(
            f"""
            import pytest

            @pytest.mark.{marker}
            def test_bad(flowfault):
                pass

            def test_good():
                pass
            """
        )
        result = boot.runpytest()
        result.assert_outcomes(passed=1, errors=1)
        result.stdout.fnmatch_lines([message])

    def test_engines_without_the_fixture_is_explained(self, boot: pytest.Pytester) -> None:
        """engines= only makes sense with flowfault.run, which the test does not use."""
        boot.makepyfile(
            """
            import pytest

            @pytest.mark.flowfault(engines=["parallel"])
            def test_no_fixture():
                pass
            """
        )
        result = boot.runpytest()
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(["*(engines=...) needs the test to use the flowfault fixture*"])

    def test_marker_typo_fails_the_test(self, boot: pytest.Pytester) -> None:
        """Marker faults, like fixture faults, must name an atom of some run."""
        boot.makepyfile(
            """
            import pytest
            from boot import STORE, boot_flow

            @pytest.mark.flowfault(fail="create_instanse")
            def test_typo(flowfault):
                flowfault.run(boot_flow(), store=STORE)
            """
        )
        result = boot.runpytest()
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(
            ["Fault.fail('create_instanse') (from @pytest.mark.flowfault) targets*did you mean "
             "'create_instance'?"]
        )


class TestIniKeys:
    @pytest.mark.parametrize(
        ("ini", "expected"),
        [
            ("flowfault_fail_revert = create_instance", "FAILURE"),
            ("flowfault_fault = fail_revert:create_instance:1", "FAILURE"),
            ("flowfault_chaos = 1", "REVERTED"),
        ],
    )
    def test_each_ini_key_takes_effect(
        self, boot: pytest.Pytester, ini: str, expected: str
    ) -> None:
        """Every fault-making ini key does what its option does."""
        boot.makepyfile(
            """
            import service

            def test_boot(flowfault):
                service.boot_server_quietly()
                print("STATE", flowfault.runs[0].state)
            """
        )
        boot.makeini(f"[pytest]\nflowfault_fail = attach*\n{ini}\n")
        result = boot.runpytest("-s")
        result.stdout.fnmatch_lines([f"*STATE {expected}*"])
        result.assert_outcomes(passed=1)

    def test_compensation_key(self, boot: pytest.Pytester) -> None:
        """flowfault_compensation = basic fails a test whose run leaked; a bad value names
        the key."""
        boot.makepyfile("import service\n\ndef test_boot():\n    service.boot_server_quietly()\n")
        boot.makeini(
            "[pytest]\nflowfault_fail = attach*\nflowfault_fail_revert = create_instance\n"
            "flowfault_compensation = basic\n"
        )
        boot.runpytest().stdout.fnmatch_lines(
            ["--flowfault-compensation=basic: run 1 (flow 'boot')*"]
        )
        boot.makeini("[pytest]\nflowfault_compensation = yes\n")
        bad = boot.runpytest()
        assert bad.ret == pytest.ExitCode.USAGE_ERROR
        bad.stderr.fnmatch_lines(["*ini key flowfault_compensation: 'yes' is not a compensation*"])

    def test_seed_and_report_keys(self, boot: pytest.Pytester) -> None:
        """flowfault_seed fixes the seed, flowfault_report writes the report."""
        boot.makepyfile(test_suite=UNCHANGED_SUITE)
        boot.makeini("[pytest]\nflowfault_seed = 77\nflowfault_report = out/r.json\n")
        result = boot.runpytest()
        result.stdout.fnmatch_lines(["flowfault: seed=77"])
        assert (boot.path / "out" / "r.json").exists()


class TestFixtureChaos:
    def test_chaos_with_revert_rate(self, boot: pytest.Pytester) -> None:
        """flowfault.chaos(1, revert_rate=1) fails every execute and every revert."""
        boot.makepyfile(
            """
            from boot import STORE, boot_flow

            def test_chaos(flowfault):
                flowfault.chaos(1.0, tasks="attach*", revert_rate=1.0)
                run = flowfault.run(boot_flow(), store=STORE)
                run.assert_attempts("attach_volume_to_instance", 1)
                assert "FAILURE" == run.state  # attach's own revert failed too
                assert [f.kind for f in flowfault.plan] == ["chaos", "chaos_revert"]
            """
        )
        boot.runpytest().assert_outcomes(passed=1)
