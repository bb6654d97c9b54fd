"""A test interrupted inside a flow leaves no trace: TaskFlow and ``time`` are as they were
for the rest of the process, whether or not pytest reached the test's teardown."""

from __future__ import annotations

import gc
import time

import pytest
import taskflow.engines
from flowkit import Log, Step
from taskflow.engines.action_engine.engine import ActionEngine
from taskflow.patterns import linear_flow

from pytest_flowfault import vtime
from pytest_flowfault.engine import intercepting
from pytest_flowfault.session import Session

ORIGINAL_RUN_ITER = ActionEngine.run_iter
REAL_TIME = {name: getattr(time, name) for name in ("sleep", "monotonic", "time", "perf_counter")}

CONFTEST = """
def pytest_flowfault_run_finished(run, item):
    with open("recorded.txt", "a") as recorded:
        recorded.write(run.flow_name + "\\n")
"""

INTERRUPTED = """
import time

import taskflow.engines
from taskflow import task
from taskflow.patterns import linear_flow


class Step(task.Task):
    def execute(self):
        pass


class Interrupt(task.Task):
    def execute(self):
        time.sleep(0)
        raise KeyboardInterrupt


def test_interrupted(flowfault):
    flowfault.fail("step")
    taskflow.engines.run(linear_flow.Flow("inner").add(Interrupt("stop")))


def test_never_reached(flowfault):
    pass
"""


def assert_taskflow_untouched() -> None:
    assert ActionEngine.run_iter is ORIGINAL_RUN_ITER
    assert REAL_TIME == {name: getattr(time, name) for name in REAL_TIME}


class TestKeyboardInterruptInAFlow:
    @pytest.mark.parametrize("options", [[], ["--flowfault-virtual-time"]], ids=["real", "virtual"])
    def test_nothing_stays_patched(
        self, pytester: pytest.Pytester, log: Log, options: list[str]
    ) -> None:
        """After the interrupted session, a bare taskflow.engines.run() is neither faulted
        by the interrupted test's faults nor recorded against it."""
        pytester.makeconftest(CONFTEST)
        pytester.makepyfile(test_interrupted=INTERRUPTED)
        result = pytester.runpytest_inprocess(*options, no_reraise_ctrlc=True)
        assert result.ret == pytest.ExitCode.INTERRUPTED
        assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
        assert_taskflow_untouched()
        engine = taskflow.engines.load(linear_flow.Flow("outer").add(Step("step", log)))
        engine.run()  # Fault.fail('step') was in force in the interrupted test
        assert "SUCCESS" == engine.storage.get_flow_state()
        assert [("step", "execute")] == log.entries
        assert ["inner"] == (pytester.path / "recorded.txt").read_text().split()

    def test_an_interrupted_sweep_leaves_nothing_either(self, pytester: pytest.Pytester) -> None:
        """The same under --flowfault-sweep, whose variants run inside the protocol hook."""
        pytester.makepyfile(test_interrupted=INTERRUPTED)
        result = pytester.runpytest_inprocess(
            "--flowfault-sweep", "--flowfault-strict", no_reraise_ctrlc=True
        )
        assert result.ret == pytest.ExitCode.INTERRUPTED
        assert_taskflow_untouched()

    def test_interrupt_in_a_fixture_before_the_test(self, pytester: pytest.Pytester) -> None:
        """A setup interrupted after the session started (a later fixture) is undone too."""
        pytester.makepyfile(
            """
            import pytest

            @pytest.fixture
            def interrupting(flowfault):
                raise KeyboardInterrupt

            def test_interrupted(interrupting):
                pass
            """
        )
        result = pytester.runpytest_inprocess(no_reraise_ctrlc=True)
        assert result.ret == pytest.ExitCode.INTERRUPTED
        assert_taskflow_untouched()


class TestIntercepting:
    def test_restored_when_the_context_manager_is_dropped(self) -> None:
        """A session entered and never exited is undone when it is garbage-collected."""
        manager = intercepting(Session())
        manager.__enter__()
        assert ActionEngine.run_iter is not ORIGINAL_RUN_ITER
        del manager
        gc.collect()
        assert ActionEngine.run_iter is ORIGINAL_RUN_ITER

    def test_nested_sessions_end_in_any_order(self) -> None:
        """The engine class comes back when the last session ends, whichever it is."""
        outer, inner = intercepting(Session()), intercepting(Session())
        outer.__enter__()
        inner.__enter__()
        outer.__exit__(None, None, None)
        assert ActionEngine.run_iter is not ORIGINAL_RUN_ITER
        inner.__exit__(None, None, None)
        assert ActionEngine.run_iter is ORIGINAL_RUN_ITER

    def test_virtual_time_after_an_interrupt(self) -> None:
        """vtime.installed() gives the real functions back on KeyboardInterrupt."""
        with pytest.raises(KeyboardInterrupt), vtime.installed():
            assert time.sleep is not REAL_TIME["sleep"]
            raise KeyboardInterrupt
        assert_taskflow_untouched()
