"""A TaskFlow task class as a fault target: every instance of it is hit, subclasses too.

The core is tested directly here (values, matching, messages, runs on both engines); the
fixture, the marker, the command line and the reports through pytester, on a production-
shaped flow too (examples/amphora.py).
"""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path
from typing import Any

import pytest
from flowkit import Log, Plain, Step
from hypothesis import given, settings
from taskflow import retry
from taskflow.patterns import linear_flow, unordered_flow

from pytest_flowfault import (
    Fault,
    FaultPlan,
    InvalidFaultPlan,
    UnmatchedFault,
    run_flow,
)
from pytest_flowfault.replay import parse_plan
from pytest_flowfault.strategies import fault_plans
from pytest_flowfault.targets import WIDTH, target_matches, unmatched_message

ROOT = Path(__file__).parent.parent
HERE = __name__  # the dotted path of this module's classes starts with it


class Create(Step):
    """Creates something; logs like every Step."""


class CreateVolume(Create):
    """A subclass: a target naming Create reaches it too."""


class Attach(Step):
    """Not a Create."""


class Atach(Step):
    """A class in no flow below, one letter away from Attach."""


def cloud(log: Log, attempts: int | None = None) -> linear_flow.Flow:
    """network (Create), volume (CreateVolume), attach (Attach), under Times(attempts)."""
    controller = retry.Times(attempts, name="again") if attempts else None
    return linear_flow.Flow("cloud", retry=controller).add(
        Create("network", log), CreateVolume("volume", log), Attach("attach", log)
    )


def side_by_side(log: Log) -> unordered_flow.Flow:
    """The same three tasks at once, under Times(4): any order, on either engine."""
    return unordered_flow.Flow("side", retry=retry.Times(4, name="again")).add(
        Create("network", log), CreateVolume("volume", log), Attach("attach", log)
    )


def injected(run: Any) -> list[str]:
    """The atoms a fault fired on, once per firing, sorted."""
    return sorted(event.name for event in run.events if event.is_injected_fault)


EVERY_KIND = [
    Fault.fail(Create, times=2, exc=ValueError("x")),
    Fault.fail_revert(Create),
    Fault.side_effect(Create, [RuntimeError, "fake"]),
    Fault.chaos(Create, rate=0.5, seed=3),
    Fault.chaos_revert(Create, rate=0.25, seed=4),
    Fault.crash_after(Create),
    Fault.crash_during(Create),
]


class TestClassTargetsAreValues:
    def test_equal_hashable_and_frozen(self) -> None:
        """A class target is part of the fault's value: equal faults, equal hashes;
        another class, or the class's name as a string, is another fault."""
        fault = Fault.fail(Create, times=1)
        assert Create is fault.target
        assert (fault, hash(fault)) == (Fault.fail(Create, times=1), hash(Fault.fail(Create, times=1)))
        assert fault not in {Fault.fail(CreateVolume, times=1), Fault.fail("Create", times=1)}
        with pytest.raises(dataclasses.FrozenInstanceError):
            fault.target = Attach  # type: ignore[misc]

    def test_repr_writes_the_dotted_path(self) -> None:
        """The class appears as its dotted path, as exception classes do."""
        assert f"Fault.fail({HERE}.Create, times=2)" == repr(Fault.fail(Create, times=2))
        assert (
            f"FaultPlan(Fault.crash_after({HERE}.CreateVolume), Fault.chaos('net*', rate=0.5, "
            f"seed=1))" == repr(FaultPlan(Fault.crash_after(CreateVolume),
                                          Fault.chaos("net*", rate=0.5, seed=1)))
        )

    @pytest.mark.parametrize("fault", EVERY_KIND, ids=[fault.kind for fault in EVERY_KIND])
    def test_every_constructor_takes_a_class_and_its_repr_replays(self, fault: Fault) -> None:
        """parse_plan(repr(plan)) rebuilds the plan, class targets included."""
        plan = FaultPlan(fault, Fault.fail("attach"))
        parsed = parse_plan(repr(plan), origin="here")
        assert (plan, hash(plan)) == (parsed, hash(parsed))
        assert Create is parsed.faults[0].target

    def test_replay_reads_a_class_target_by_keyword(self) -> None:
        """Fault.fail(target=package.module.Class) is read like the positional form."""
        parsed = parse_plan(f"Fault.fail(target={HERE}.Attach, times=1)", origin="here")
        assert FaultPlan(Fault.fail(Attach, times=1)) == parsed

    @pytest.mark.parametrize(
        ("build", "message"),
        [
            (lambda: Fault.fail(dict),
             "a fault target class must be a TaskFlow atom class (a Task or Retry subclass), "
             "got the class builtins.dict"),
            (lambda: Fault.crash_after(ValueError),
             "a fault target class must be a TaskFlow atom class (a Task or Retry subclass), "
             "got the class builtins.ValueError"),
            (lambda: Fault.fail(Attach("attach", Log())),
             "a fault target must be an atom name, an fnmatch pattern (str) or a TaskFlow atom "
             "class, got Attach <test_class_targets.Attach \"attach==1.0\">; this is the atom "
             "'attach' itself: name it, 'attach', or give its class, Attach"),
        ],
        ids=["not-an-atom-class", "an-exception-class", "an-atom-instance"],
    )
    def test_what_is_not_an_atom_class_is_refused(self, build: Any, message: str) -> None:
        """Only atom classes are targets; an atom object is told how to name it."""
        with pytest.raises(InvalidFaultPlan) as refused:
            build()
        assert message == str(refused.value)

    @pytest.mark.parametrize(
        ("text", "piece", "column", "why"),
        [
            ("Fault.fail(Create)", "Create", 12,
             "is not a fault target; write an atom class by its dotted name, e.g. "
             "package.module.Create, or an atom's name as a string"),
            ("Fault.fail(flowkit.Log)", "flowkit.Log", 12,
             "is not a TaskFlow atom class, a Task or Retry subclass (flowkit.Log is a type)"),
            ("Fault.fail(flowkit.Missing)", "flowkit.Missing", 12,
             "names nothing: flowkit has no attribute 'Missing'"),
            ("Fault.fail('a', exc=flowkit.Plain)", "flowkit.Plain", 21,
             "is not an exception class (flowkit.Plain is a ABCMeta)"),
            ("Fault.fail(flowkit.__dict__)", "flowkit.__dict__", 12,
             "is not part of that grammar"),
        ],
        ids=["bare-name", "not-an-atom", "missing", "atom-as-exception", "dunder"],
    )
    def test_replay_refuses_what_is_no_atom_class(
        self, text: str, piece: str, column: int, why: str
    ) -> None:
        """Where a target stands, a dotted name must end at an atom class."""
        with pytest.raises(InvalidFaultPlan) as refused:
            parse_plan(text, origin="here")
        assert (
            f"here: only a fault plan is accepted here (FaultPlan(...) or Fault.<kind>(...)), "
            f"and {piece!r} at column {column} {why}; paste the plan printed on a failing "
            f"test's reproduce: line"
        ) == str(refused.value)


class TestMatching:
    @pytest.mark.parametrize(
        ("atom_class", "kind", "expected"),
        [
            (Create, "task", True),
            (CreateVolume, "task", True),
            (Attach, "task", False),
            (Step, "task", False),
            (None, "task", False),
            (CreateVolume, "retry", True),
        ],
    )
    def test_instances_of_the_class_and_its_subclasses(
        self, atom_class: type | None, kind: str, expected: bool
    ) -> None:
        """isinstance: the class and its subclasses, whatever the atom is called."""
        assert expected == target_matches(Create, "any-name", kind, atom_class)

    def test_strings_keep_their_meaning(self) -> None:
        """A string is a name or a pattern, never a class name."""
        assert not target_matches("Create", "network", "task", Create)
        assert target_matches("net*", "network", "task", Attach)


class TestRuns:
    @pytest.mark.parametrize("engine", ["serial", "parallel"])
    def test_every_instance_is_hit_in_a_linear_flow(self, engine: str) -> None:
        """network and volume (a subclass) each fail once and are retried; attach is
        never faulted."""
        log = Log()
        run = run_flow(cloud(log, attempts=3), plan=Fault.fail(Create, times=1), engine=engine)
        run.assert_succeeded()
        assert ["network", "volume"] == injected(run)
        # network: fails, runs, runs again after volume's failure reverted it.
        assert (3, 2, 1) == (run.attempts("network"), run.attempts("volume"),
                             run.attempts("attach"))
        assert ("RETRY", "RETRY") == run.decisions("again")

    @pytest.mark.parametrize("engine", ["serial", "parallel"])
    def test_every_instance_is_hit_side_by_side(self, engine: str) -> None:
        """Tasks running at once (parallel workers) are matched the same way."""
        run = run_flow(side_by_side(Log()), plan=Fault.fail(Create, times=1), engine=engine)
        run.assert_succeeded()
        assert ["network", "volume"] == injected(run)

    def test_revert_side_effect_and_chaos_by_class(self) -> None:
        """fail_revert, side_effect and chaos reach a class's instances too."""
        log = Log()
        plan = FaultPlan(
            Fault.side_effect(CreateVolume, ["vol-fake"]),
            Fault.chaos(Attach, rate=1.0, seed=0),
            Fault.fail_revert(CreateVolume),
        )
        run = run_flow(cloud(log), plan=plan)
        assert ["returned"] == [event.what for event in run.calls("volume", "execute")]
        assert 0 == log.count("volume", "execute")  # the fake result replaced the real code
        assert "FAILURE" == run.state  # attach failed, and volume's revert failed after it
        assert ["attach", "volume", "volume"] == injected(run)

    def test_crash_after_the_first_instance(self) -> None:
        """crash_after a class: the engine dies after the first instance completed."""
        run = run_flow(cloud(Log()), plan=Fault.crash_after(Create))
        assert "CRASHED" == run.state
        assert ("network",) == run.execution_order()


class TestFaultPlansOverClasses:
    @settings(max_examples=25, deadline=None)
    @given(plan=fault_plans([Create, Attach], max_faults=3))
    def test_drawn_plans_hit_every_instance_and_replay(self, plan: FaultPlan) -> None:
        """fault_plans over task classes: each plan replays from its repr, matches atoms
        (no UnmatchedFault), and a failed run is compensated."""
        assert plan == parse_plan(repr(plan), origin="here")
        assert {fault.target for fault in plan} <= {Create, Attach}
        run = run_flow(cloud(Log(), attempts=2), plan=plan)
        if not run.succeeded and run.state != "FAILURE":  # a failed revert: nothing to check
            run.assert_compensated()


SEEN_FLOW = ["network", "volume", "attach"]


class TestUnmatched:
    def test_a_class_no_atom_is_an_instance_of_is_reported(self) -> None:
        """Typos never pass silently, class targets included: the class is named."""
        with pytest.raises(UnmatchedFault) as raised:
            run_flow(cloud(Log()), plan=Fault.fail(Plain))
        assert (
            "Fault.fail(flowkit.Plain) (from run_flow(plan=...)) targets the class "
            "flowkit.Plain, of which no atom of any flow run is an instance\n"
            "atoms seen: network, volume, attach" == str(raised.value)
        )

    def test_the_closest_class_seen_is_suggested(self) -> None:
        """A class one letter away from a class that ran."""
        with pytest.raises(UnmatchedFault) as raised:
            run_flow(cloud(Log()), plan=Fault.fail_revert(Atach))
        assert (
            f"Fault.fail_revert({HERE}.Atach) (from run_flow(plan=...)) targets the class "
            f"{HERE}.Atach, of which no atom of any flow run is an instance; did you mean the "
            f"class {HERE}.Attach?\natoms seen: network, volume, attach" == str(raised.value)
        )

    @pytest.mark.parametrize(
        "target", ["CreateVolume", f"{HERE}.CreateVolume", f"class:{HERE}.CreateVolume"]
    )
    def test_a_string_naming_a_class_that_ran_gets_a_hint(self, target: str) -> None:
        """The class's name (or dotted path) as a string: use the class itself."""
        with pytest.raises(UnmatchedFault) as raised:
            run_flow(cloud(Log()), plan=Fault.fail(target))
        assert (
            f"Fault.fail({target!r}) (from run_flow(plan=...)) targets {target!r}, which names "
            f"no atom of any flow run; did you mean the class CreateVolume "
            f"(flowfault.fail(CreateVolume), or 'class:{HERE}.CreateVolume' on the command "
            f"line)?\natoms seen: network, volume, attach" == str(raised.value)
        )

    def test_the_hint_writes_each_kind_s_own_call(self) -> None:
        """crash_after has no command-line form: the hint gives the Python one only."""
        message = unmatched_message(
            FaultPlan(Fault.crash_after("Attach")), SEEN_FLOW, lambda _: None,
            {"network": Create, "attach": Attach},
        )
        assert (
            "Fault.crash_after('Attach') targets 'Attach', which names no atom of any flow "
            "run; did you mean the class Attach (flowfault.crash(after=Attach))?\n"
            "atoms seen: network, volume, attach" == message
        )

    def test_atoms_seen_wrap_at_100_columns(self) -> None:
        """59 atoms of 70 characters: one per line, indented, never broken at a hyphen."""
        names = [f"MASTER-octavia-create-amp-for-lb-subflow-octavia-step-{n:03d}-x".ljust(70, "x")
                 for n in range(59)]
        message = unmatched_message(FaultPlan(Fault.fail("nope")), names, lambda _: None)
        assert message is not None
        listed = message.split("\n")[1:]
        assert listed[0] == f"atoms seen: {names[0]},"
        assert [f"  {name}," for name in names[1:-1]] + [f"  {names[-1]}"] == listed[1:]
        assert all(len(line) <= WIDTH for line in listed)

    def test_short_names_share_lines(self) -> None:
        """Names fill each line up to 100 columns, the rest indented below."""
        names = [f"task_{n:02d}" for n in range(30)]
        message = unmatched_message(FaultPlan(Fault.fail("nope")), names, lambda _: None)
        assert message is not None
        listed = message.split("\n")[1:]
        assert textwrap.fill(
            ", ".join(names), WIDTH, initial_indent="atoms seen: ", subsequent_indent="  "
        ).split("\n") == listed
        assert 2 <= len(listed) and all(len(line) <= WIDTH for line in listed)
        assert all(line.startswith("  task_") for line in listed[1:])


# --- through pytest: the fixture, the marker, the command line, the reports -------------

FLOWS = '''
from taskflow import retry, task
from taskflow.patterns import linear_flow


class Create(task.Task):
    def execute(self):
        return self.name


class CreateVolume(Create):
    pass


class Attach(task.Task):
    def execute(self):
        return self.name


class Log:
    """Not a task."""


def cloud():
    return linear_flow.Flow("cloud", retry=retry.Times(3, name="again")).add(
        Create("network"), CreateVolume("volume"), Attach("attach")
    )


def cloud_factory():
    return linear_flow.Flow("cloud").add(
        Create("network", provides="network"), CreateVolume("volume", provides="volume"),
        Attach("attach", provides="attach"),
    )
'''


@pytest.fixture
def flows(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory with flows.py importable (as the project's own code is)."""
    pytester.makepyfile(flows=FLOWS)
    pytester.makeini(
        "[pytest]\nfilterwarnings =\n    error\n"
        "    ignore:eventletutils module is deprecated:DeprecationWarning\n"
    )
    pytester.syspathinsert()
    return pytester


def usage_error(result: pytest.RunResult, line: str) -> None:
    """pytest stopped with a usage error (no traceback) with the line ``line``."""
    assert pytest.ExitCode.USAGE_ERROR == result.ret
    result.stderr.fnmatch_lines([line])
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output


class TestTheFixture:
    def test_every_method_that_takes_a_target_takes_a_class(self, flows: pytest.Pytester) -> None:
        """fail, fail_revert, side_effect, chaos(tasks=), crash(after=/during=), add, the
        marker: each reaches every instance of the class."""
        flows.makepyfile(test_suite='''
            import pytest
            from taskflow.patterns import linear_flow
            from pytest_flowfault import Fault, FaultPlan
            from flows import Attach, Create, CreateVolume, cloud, cloud_factory


            def fired(run):
                return sorted(event.name for event in run.events if event.is_injected_fault)


            def test_fail(flowfault):
                flowfault.fail(Create, times=1)
                run = flowfault.run(cloud(), engine="parallel")
                run.assert_succeeded()
                assert ["network", "volume"] == fired(run)


            def test_fail_revert_and_chaos(flowfault):
                flowfault.chaos(1.0, tasks=Attach)
                flowfault.fail_revert(CreateVolume)
                run = flowfault.run(cloud())
                assert "FAILURE" == run.state
                assert ["attach", "volume"] == fired(run)  # a failed revert ends it all


            def test_side_effect(flowfault):
                flowfault.side_effect(Create, ["fake"])
                run = flowfault.run(cloud_factory())
                assert {"network": "fake", "volume": "fake", "attach": "attach"} == run.results


            def test_crash_during(flowfault):
                flowfault.crash(during=CreateVolume)
                run = flowfault.run(cloud_factory(), backend="sqlite")
                assert "CRASHED" == run.state
                assert ("volume", "attach") == flowfault.resume(run).execution_order()


            def test_add_a_plan(flowfault):
                flowfault.add(FaultPlan(Fault.crash_after(Create)))
                assert ("network",) == flowfault.run(cloud_factory()).execution_order()


            @pytest.mark.flowfault(fail={CreateVolume: 1})
            def test_marker(flowfault):
                assert ["volume"] == fired(flowfault.run(cloud()))


            def test_in_a_child_process(flowfault):
                crashed = flowfault.run_in_subprocess("flows:cloud_factory",
                                                      crash_after=CreateVolume)
                assert ["network", "volume"] == sorted(crashed.atom_results)
                assert ("attach",) == flowfault.resume(crashed).execution_order()


            def test_typo_class(flowfault):
                flowfault.fail(Attach)
                flowfault.run(linear_flow.Flow("small").add(Create("only")))


            def test_class_name_as_a_string(flowfault):
                flowfault.fail("CreateVolume", times=1)
                flowfault.run(cloud())
        ''')
        result = flows.runpytest()
        result.assert_outcomes(passed=7, failed=2)
        result.stdout.fnmatch_lines([
            "*Fault.fail(flows.Attach) (from flowfault.fail() at test_suite.py:*) targets the "
            "class flows.Attach, of which no atom of any flow run is an instance",
            "*atoms seen: only",
        ])
        result.stdout.fnmatch_lines([
            "*Fault.fail('CreateVolume', times=1) (from flowfault.fail() at test_suite.py:*) "
            "targets 'CreateVolume', which names no atom of any flow run; did you mean the "
            "class CreateVolume (flowfault.fail(CreateVolume), or "
            "'class:flows.CreateVolume' on the command line)?",
        ])


class TestTheCommandLine:
    SUITE = '''
        from flows import cloud


        def test_cloud(flowfault):
            run = flowfault.run(cloud())
            run.assert_succeeded()
            print("FIRED", *sorted(e.name for e in run.events if e.is_injected_fault))
    '''

    @pytest.mark.parametrize(
        "arguments",
        [
            ["--flowfault-fail=class:flows.Create:1"],
            ["--flowfault-fault=fail:class:flows.Create:1"],
            ["-o", "flowfault_fail=class:flows.Create:1"],
        ],
        ids=["option", "fault-option", "ini"],
    )
    def test_a_class_fails_every_instance(
        self, flows: pytest.Pytester, arguments: list[str]
    ) -> None:
        """class:package.module.TaskClass:TIMES, from an option or the ini file."""
        flows.makepyfile(test_suite=self.SUITE)
        result = flows.runpytest("-s", *arguments)
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["*FIRED network volume*"])

    def test_the_header_shows_how_to_reproduce_it(self, flows: pytest.Pytester) -> None:
        """The option is printed as written; the fault as code that replays it."""
        flows.makepyfile(test_suite="def test_nothing(flowfault):\n    pass\n")
        result = flows.runpytest(
            "--flowfault-fail-revert=class:flows.Attach", "--flowfault-report=r.json"
        )
        result.stdout.fnmatch_lines([
            "flowfault: faults in every test: --flowfault-fail-revert=class:flows.Attach",
            "never matched an atom: Fault.fail_revert(flows.Attach) (from the command line)",
        ])

    @pytest.mark.parametrize(
        ("arguments", "line"),
        [
            (["--flowfault-fail=class:flows"],
             "*argument --flowfault-fail: 'class:flows': 'flows' is not the dotted path of a "
             "class; write class:package.module.TaskClass, or "
             "class:package.module.TaskClass:TIMES"),
            (["--flowfault-fail-revert=class:flows.__class__:2"],
             "*argument --flowfault-fail-revert: 'class:flows.__class__:2': 'flows.__class__' "
             "is not the dotted path of a class*"),
            (["--flowfault-fail=class:flows.Create:0"],
             "*argument --flowfault-fail: 'class:flows.Create:0': TIMES must be at least 1, "
             "got 0*"),
            (["--flowfault-fail=class:nosuch.Create"],
             "ERROR: --flowfault-fail='class:nosuch.Create': class:nosuch.Create names "
             "nothing: there is no module 'nosuch'; write class:package.module.TaskClass[[]:"
             "TIMES] naming a TaskFlow Task (or Retry) subclass"),
            (["--flowfault-fail=class:flows.Missing:2"],
             "ERROR: --flowfault-fail='class:flows.Missing:2': class:flows.Missing names "
             "nothing: flows has no attribute 'Missing'; write*"),
            (["--flowfault-fault=fail_revert:class:flows.Log"],
             "ERROR: --flowfault-fault='fail_revert:class:flows.Log': class:flows.Log is not "
             "a TaskFlow atom class, a Task or Retry subclass (flows.Log is a type); write*"),
            (["-o", "flowfault_fail=class:flows.Log:1"],
             "ERROR: ini key flowfault_fail='class:flows.Log:1': class:flows.Log is not a "
             "TaskFlow atom class*"),
            (["--flowfault-fail=class:antigravity.Fly"],
             "ERROR: --flowfault-fail='class:antigravity.Fly': class:antigravity.Fly names "
             "module 'antigravity', which is not imported yet and is not the project's own*"),
        ],
        ids=["no-class", "dunder", "times", "no-module", "no-class-there", "not-an-atom",
             "ini", "not-the-projects"],
    )
    def test_bad_class_targets_are_usage_errors(
        self, flows: pytest.Pytester, arguments: list[str], line: str
    ) -> None:
        """Each says which option and value, and what is wrong; nothing is imported from
        outside the project."""
        flows.makepyfile(test_suite="def test_one():\n    pass\n")
        usage_error(flows.runpytest(*arguments), line)


class TestReports:
    def test_class_targets_read_well_in_every_report(self, flows: pytest.Pytester) -> None:
        """The failure section, JSON, HTML and JUnit show the class's dotted path, and the
        reproduce line replays it."""
        flows.makepyfile(test_suite='''
            from flows import CreateVolume, cloud_factory


            def test_cloud(flowfault):
                flowfault.fail(CreateVolume)
                flowfault.run(cloud_factory()).assert_succeeded()
        ''')
        result = flows.runpytest(
            "--flowfault-fail=class:flows.Attach:1", "--flowfault-report=r.json",
            "--flowfault-report=r.html", "--junitxml=junit.xml",
        )
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([
            "*faults in force:*",
            "*Fault.fail(flows.Attach, times=1)  (from --flowfault-fail=class:flows.Attach:1)",
            "*Fault.fail(flows.CreateVolume)  (from flowfault.fail() at test_suite.py:*)",
        ])
        report = (flows.path / "r.json").read_text()
        assert "Fault.fail(flows.CreateVolume)" in report
        assert "Fault.fail(flows.Attach, times=1)" in report
        assert "Fault.fail(flows.CreateVolume)" in (flows.path / "r.html").read_text()
        assert "flowfault_faults_injected" in (flows.path / "junit.xml").read_text()
        counterexamples = (flows.path / "r.counterexamples.json").read_text()
        assert "Fault.fail(flows.CreateVolume)" in counterexamples
        replayed = flows.runpytest("--flowfault-replay=r.counterexamples.json")
        replayed.assert_outcomes(failed=1)
        replayed.stdout.fnmatch_lines(["*Fault.fail(flows.CreateVolume)  (from --flowfault-replay*"])


# --- a production-shaped flow ------------------------------------------------------------

AMPHORA_SUITE = '''
import pytest

import amphora
from amphora import ComputeWait, ComputeWaitTimeoutException, create_load_balancer_flow

pytestmark = pytest.mark.flowfault(virtual_time=True)


@pytest.mark.parametrize("engine", ["serial", "parallel"])
def test_every_compute_wait_times_out_once(flowfault, monkeypatch, engine):
    cloud = amphora.Cloud()
    monkeypatch.setattr(amphora, "CLOUD", cloud)
    flowfault.fail(ComputeWait, times=1, exc=ComputeWaitTimeoutException)
    run = flowfault.run(create_load_balancer_flow("ACTIVE_STANDBY"),
                        store=cloud.new_load_balancer("ACTIVE_STANDBY"), engine=engine)
    run.assert_succeeded()
    waits = [atom.name for atom in run.atoms if atom.class_path == "amphora.ComputeWait"]
    assert 2 == len(waits)  # MASTER's and BACKUP's
    for name in waits:
        run.assert_attempts(name, 2)
    assert sorted(waits) == sorted(e.name for e in run.events if e.is_injected_fault)
    assert 59 == len(run.atoms)


def test_the_class_name_as_a_string(flowfault, monkeypatch):
    cloud = amphora.Cloud()
    monkeypatch.setattr(amphora, "CLOUD", cloud)
    flowfault.fail("CertComputeCreate")
    flowfault.run(create_load_balancer_flow("ACTIVE_STANDBY"),
                  store=cloud.new_load_balancer("ACTIVE_STANDBY"))
'''


def test_octavia_shaped_flow(pytester: pytest.Pytester) -> None:
    """ComputeWait appears twice in the 59-atom ACTIVE_STANDBY flow: both are hit, on both
    engines. A string naming a class gets the hint, and the 59 atoms seen wrap."""
    pytester.makepyfile(amphora=(ROOT / "examples" / "amphora.py").read_text(),
                        test_amphora=AMPHORA_SUITE)
    pytester.syspathinsert()
    result = pytester.runpytest("-W", "ignore:eventletutils module is deprecated")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*targets 'CertComputeCreate', which names no atom of any flow run; did you mean the "
        "class CertComputeCreate (flowfault.fail(CertComputeCreate), or "
        "'class:amphora.CertComputeCreate' on the command line)?",
        "atoms seen: amphora.LoadBalancerIDToErrorOnRevertTask, reload-lb-before-allocate-vip,",
        "  amphora.AllocateVIP, *",
    ])
    lines = result.stdout.str().splitlines()
    start = lines.index(next(line for line in lines if line.startswith("atoms seen: ")))
    end = next(n for n in range(start, len(lines)) if not lines[n].endswith(","))
    listed = lines[start:end + 1]
    names = [name.strip() for name in " ".join(listed).removeprefix("atoms seen: ").split(",")]
    assert 59 == len(names)
    assert all(line.startswith("  ") for line in listed[1:])
    # Only a name longer than the width itself overflows it, alone on its line.
    assert all(len(line) <= WIDTH or line.count(",") <= 1 for line in listed)
