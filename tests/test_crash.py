"""Crash faults, persistence backends and resume, on the real engine and real storage."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from flowkit import Log, Step
from taskflow import retry
from taskflow.patterns import linear_flow, unordered_flow

from pytest_flowfault import (
    Fault,
    FaultPlan,
    FlowCrash,
    FlowRun,
    MissingExtra,
    run_flow,
)
from pytest_flowfault.engine import intercepting
from pytest_flowfault.session import Session


def boot(log: Log) -> linear_flow.Flow:
    return linear_flow.Flow("boot").add(
        *(Step(name, log, provides=name) for name in ("volume", "instance", "attach"))
    )


@pytest.fixture
def session(tmp_path: Path) -> Session:
    made = Session()
    made.directory = lambda: tmp_path
    return made


@pytest.mark.parametrize("engine", ["serial", "parallel"])
@pytest.mark.parametrize("backend", ["memory", "dir", "sqlite"])
class TestCrashAndResume:
    def test_crash_after_keeps_the_result_and_resume_skips_the_task(
        self, session: Session, log: Log, engine: str, backend: str
    ) -> None:
        """Crashed after 'instance': it is not run again, and the flow completes."""
        session.plan = FaultPlan(Fault.crash_after("instance"))
        crashed = session.run(boot(log), engine=engine, backend=backend)
        assert ("CRASHED", {"volume": "volume", "instance": "instance"}) == (
            crashed.state,
            dict(crashed.atom_results),
        )
        assert isinstance(crashed.error, FlowCrash)
        resumed = session.resume(crashed)
        resumed.assert_resumed()
        for task in ("volume", "instance", "attach"):
            resumed.assert_executed_once(task)
            assert 1 == log.count(task, "execute")
        resumed.assert_no_lost_results()
        assert (crashed,) == resumed.chain()[:1]

    def test_crash_during_reruns_only_that_task(
        self, session: Session, log: Log, engine: str, backend: str
    ) -> None:
        """Crashed inside 'attach': the resumption runs attach, and only attach."""
        session.plan = FaultPlan(Fault.crash_during("attach"))
        crashed = session.run(boot(log), engine=engine, backend=backend)
        assert "CRASHED" == crashed.state
        resumed = session.resume(crashed)
        assert ("attach",) == resumed.execution_order()
        resumed.assert_executed_once("attach")
        resumed.assert_no_lost_results()


class TestResumeAssertions:
    def test_executed_once_fails_for_a_task_that_ran_twice(self, log: Log) -> None:
        """Under a retry a completed task runs again: executed once is then false."""
        flow = linear_flow.Flow("f", retry=retry.Times(2)).add(
            Step("a", log), Step("b", log)
        )
        run = run_flow(flow, plan=FaultPlan(Fault.fail("b", times=1)))
        with pytest.raises(AssertionError) as raised:
            run.assert_executed_once("a")
        assert (
            "expected 'a' to execute successfully once across the crash and the resumption, "
            "but it did 2 times (SUCCESS run: 2)" == str(raised.value).splitlines()[0]
        )

    def test_lost_results_are_named(self, session: Session, log: Log) -> None:
        """A result that differs after resuming is reported with both values."""
        session.plan = FaultPlan(Fault.crash_after("instance"))
        resumed = session.resume(session.run(boot(log), backend="memory"))
        tampered = dataclasses.replace(resumed, atom_results={"volume": "volume"})
        with pytest.raises(AssertionError) as raised:
            tampered.assert_no_lost_results()
        assert [
            "results saved before the crash were lost:",
            "  - 'instance': 'instance' before the crash, gone after",
        ] == str(raised.value).splitlines()[:2]

    def test_resumed_on_a_fresh_run(self, log: Log) -> None:
        """A run that resumed nothing fails assert_resumed."""
        with pytest.raises(AssertionError, match="to be a resumed run, but it started afresh"):
            run_flow(boot(log)).assert_resumed()


class TestBadInput:
    def test_only_crashed_runs_resume(self, session: Session, log: Log) -> None:
        """Resuming a run that finished is refused."""
        done = session.run(boot(log), backend="memory")
        with pytest.raises(ValueError) as raised:
            session.resume(done)
        assert (
            "flow 'boot' ended SUCCESS: only a CRASHED or SUSPENDED run can be resumed"
            == str(raised.value)
        )

    def test_unknown_backend(self, session: Session, log: Log) -> None:
        """A backend spec that names nothing says what is accepted."""
        with pytest.raises(ValueError) as raised:
            session.run(boot(log), backend="sqllite")
        assert str(raised.value).startswith(
            "Session.run(backend='sqllite'): use 'memory', 'dir', 'sqlite', a TaskFlow backend conf"
        )

    def test_missing_sql_packages_name_the_extra(
        self, session: Session, log: Log, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without SQLAlchemy/alembic the error says which extra to install."""
        from taskflow.persistence import backends

        def no_sqlalchemy(conf: object) -> None:
            raise ImportError("No module named 'sqlalchemy'")

        monkeypatch.setattr(backends, "fetch", no_sqlalchemy)
        with pytest.raises(MissingExtra) as raised:
            session.run(boot(log), backend="sqlite")
        assert (
            "backend='sqlite' needs SQLAlchemy and alembic (No module named 'sqlalchemy'); "
            "install them with pip install 'pytest-flowfault[persistence]'" == str(raised.value)
        )

    def test_crash_needs_exactly_one_place(self, boot: pytest.Pytester) -> None:
        """flowfault.crash() with both or neither of after=/during= is a TypeError."""
        boot.makepyfile(
            """
            import pytest

            def test_crash(flowfault):
                with pytest.raises(TypeError, match="exactly one of after= or during="):
                    flowfault.crash(after="a", during="b")
                with pytest.raises(TypeError, match="exactly one of after= or during="):
                    flowfault.crash()
            """
        )
        boot.runpytest().assert_outcomes(passed=1)


class TestInterceptedCrash:
    def test_code_under_test_sees_the_crash(self, log: Log) -> None:
        """An engine the code under test runs raises FlowCrash, as if the process died."""
        import taskflow.engines

        session = Session(FaultPlan(Fault.crash_after("volume")))
        with intercepting(session), pytest.raises(FlowCrash, match="after 'volume'"):
            taskflow.engines.run(boot(log))
        (run,) = session.runs
        assert ("CRASHED", 0) == (run.state, run.attempts("instance"))

    def test_code_under_test_resuming_is_linked_to_the_crash(
        self, session: Session, log: Log
    ) -> None:
        """A run on the flow detail of a CRASHED run continues it, whoever loaded it."""
        session.plan = FaultPlan(Fault.crash_after("instance"))
        crashed = session.run(boot(log), backend="sqlite")
        resume_as_code_under_test_would(session, crashed, log)
        resumed = session.runs[-1]
        assert crashed is resumed.resumed_from
        resumed.assert_resumed()
        resumed.assert_executed_once("instance")
        resumed.assert_no_lost_results()

    def test_a_finished_run_is_not_resumed_again(self, session: Session, log: Log) -> None:
        """Only the latest run of a flow detail counts, and only if it was interrupted."""
        session.plan = FaultPlan(Fault.crash_after("instance"))
        crashed = session.run(boot(log), backend="sqlite")
        session.resume(crashed)
        resume_as_code_under_test_would(session, crashed, log)
        assert None is session.runs[-1].resumed_from


def resume_as_code_under_test_would(session: Session, crashed: FlowRun, log: Log) -> None:
    """Load the crashed run's flow detail into a plain TaskFlow engine and run it."""
    import taskflow.engines

    assert crashed.resume_point is not None
    with intercepting(session):
        taskflow.engines.load(
            boot(log),
            flow_detail=crashed.resume_point.flow_detail,
            backend=crashed.resume_point.backend,
        ).run()


class TestPostgreSQL:
    """``backend=`` takes a URL; PostgreSQL is what production TaskFlow deployments use."""

    def test_crash_and_resume(self, session: Session, log: Log, postgres_url: str) -> None:
        session.plan = FaultPlan(Fault.crash_after("instance"))
        crashed = session.run(boot(log), backend=postgres_url)
        assert "postgresql" == crashed.resume_point.backend.engine.dialect.name  # type: ignore[union-attr]
        resumed = session.resume(crashed)
        resumed.assert_resumed()
        resumed.assert_executed_once("instance")
        resumed.assert_no_lost_results()
        assert 1 == log.count("instance", "execute")

    def test_sigkilled_child_resumes_here(
        self, boot: pytest.Pytester, postgres_url: str
    ) -> None:
        boot.makepyfile(
            f"""
            def test_sigkill(flowfault):
                crashed = flowfault.run_in_subprocess(
                    "flowkit:five_steps", crash_after="s2", backend={postgres_url!r}
                )
                assert {{"s0", "s1", "s2"}} == set(crashed.atom_results)
                resumed = flowfault.resume(crashed)
                resumed.assert_resumed()
                for step in ("s0", "s1", "s2", "s3", "s4"):
                    resumed.assert_executed_once(step)
            """
        )
        boot.syspathinsert(Path(__file__).parent)
        boot.runpytest().assert_outcomes(passed=1)


class TestReliability:
    TASKS = [f"t{i:02d}" for i in range(20)]

    def flow(self, log: Log) -> unordered_flow.Flow:
        return linear_flow.Flow("twenty").add(
            *(Step(name, log, provides=name) for name in self.TASKS)
        )

    @pytest.mark.parametrize("kind", ["crash_after", "crash_during"])
    def test_every_crash_point_on_sqlite(self, tmp_path: Path, kind: str) -> None:
        """20 tasks, crashed at each one in turn on SQLite: resumed, nothing lost or redone.

        All variants share one database (each run is its own flow detail in it); a
        20-task run costs ~1 s there, nearly all of it SQLite committing each state change.
        """
        for position, task in enumerate(self.TASKS):
            log = Log()
            session = Session(FaultPlan(Fault(kind, task)))  # type: ignore[arg-type]
            session.directory = lambda: tmp_path
            crashed = session.run(self.flow(log), backend="sqlite")
            done = position + 1 if kind == "crash_after" else position
            done_before = self.TASKS[:done]
            assert ("CRASHED", done_before) == (crashed.state, sorted(crashed.atom_results))
            resumed = session.resume(crashed)
            resumed.assert_resumed()
            resumed.assert_no_lost_results()
            for name in self.TASKS:
                resumed.assert_executed_once(name)
                assert 1 == log.count(name, "execute"), name
            session.close()


class TestCrashSweep:
    def test_crash_after_each_task_then_resume(self, log: Log) -> None:
        """kinds=("crash",): each task in turn crashes the engine; every resumption is ok."""
        from pytest_flowfault import sweep

        report = sweep(lambda: boot(log), kinds=("crash",))
        report.assert_resilient()
        assert [
            "FaultPlan(Fault.crash_after('volume'))",
            "FaultPlan(Fault.crash_after('instance'))",
            "FaultPlan(Fault.crash_after('attach'))",
        ] == [repr(variant.plan) for variant in report.variants]
        assert 7 == report.runs  # baseline + 3 x (crash, resume)
        assert all(variant.run.resumed_from is not None for variant in report.variants)

    def test_crash_points_are_not_paired(self, log: Log) -> None:
        """With max_faults=2 pairs involving a crash are pruned, with their reason."""
        from pytest_flowfault import sweep

        report = sweep(lambda: boot(log), kinds=("crash", "permanent"), max_faults=2)
        assert 12 == report.pruned["crash and upgrade points are not paired"]


class TestRealProcessDeath:
    STEPS = [f"s{i}" for i in range(5)]

    @pytest.mark.parametrize("position", range(5))
    def test_sigkill_after_each_step_then_resume_here(
        self, boot: pytest.Pytester, position: int
    ) -> None:
        """The child is SIGKILLed after step N; this process resumes from SQLite."""
        boot.makepyfile(
            f"""
            def test_sigkill(flowfault):
                crashed = flowfault.run_in_subprocess("flowkit:five_steps", crash_after="s{position}")
                assert "CRASHED" == crashed.state
                assert {self.STEPS[: position + 1]!r} == sorted(crashed.atom_results)
                resumed = flowfault.resume(crashed)
                resumed.assert_resumed()
                resumed.assert_no_lost_results()
                for step in {self.STEPS!r}:
                    resumed.assert_executed_once(step)
                assert {tuple(self.STEPS[position + 1:])!r} == resumed.execution_order()
            """
        )
        boot.syspathinsert(Path(__file__).parent)
        boot.runpytest().assert_outcomes(passed=1)

    def test_functor_tasks_are_killed_by_their_short_name(self, boot: pytest.Pytester) -> None:
        """FunctorTask names are dotted paths: the child matches as the in-process crash does."""
        boot.makepyfile(
            """
            def test_sigkill(flowfault):
                crashed = flowfault.run_in_subprocess("flowkit:functor_steps",
                                                      crash_after="create_volume")
                assert ["flowkit.create_volume"] == sorted(crashed.atom_results)
                resumed = flowfault.resume(crashed)
                assert ("flowkit.create_instance",) == resumed.execution_order()
            """
        )
        boot.syspathinsert(Path(__file__).parent)
        boot.runpytest().assert_outcomes(passed=1)

    def test_sigkill_during_a_step(self, boot: pytest.Pytester) -> None:
        """Killed inside s2's execute: s2 is RUNNING in storage and runs again here."""
        boot.makepyfile(
            """
            def test_sigkill(flowfault):
                crashed = flowfault.run_in_subprocess("flowkit:five_steps", crash_during="s2")
                assert ["s0", "s1"] == sorted(crashed.atom_results)
                resumed = flowfault.resume(crashed, engine="parallel")
                assert ("s2", "s3", "s4") == resumed.execution_order()
                resumed.assert_resumed()
            """
        )
        boot.syspathinsert(Path(__file__).parent)
        boot.runpytest().assert_outcomes(passed=1)

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            ("'flowkit.five_steps', crash_after='s1'", "factory='flowkit.five_steps': write "
             "'package.module:function'*"),
            ("'flowkit:five_steps', crash_after='s9'", "*UnmatchedFault: "
             "Fault.crash_after('s9') (from run_in_subprocess()) targets 's9', which names no "
             "atom of any flow run"),
            ("'flowkit:functor_steps', crash_during='create_volum'", "*UnmatchedFault: "
             "Fault.crash_during('create_volum') (from run_in_subprocess()) targets "
             "'create_volum', which names no atom of any flow run; did you mean "
             "'flowkit.create_volume'?"),
            ("'flowkit:five_steps', crash_after='s1', crash_during='s2'", "*TypeError: "
             "run_in_subprocess() takes exactly one of crash_after= or crash_during="),
            ("'flowkit:five_steps', crash_after='s1', backend='memory'", "a child process "
             "cannot share a memory backend: use 'sqlite' or 'dir'"),
        ],
    )
    def test_bad_input(self, boot: pytest.Pytester, arguments: str, message: str) -> None:
        """Each misuse says what was wrong."""
        boot.makepyfile(
            f"""
            def test_bad(flowfault):
                flowfault.run_in_subprocess({arguments})
            """
        )
        boot.syspathinsert(Path(__file__).parent)
        result = boot.runpytest()
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([f"E * {message}"])
