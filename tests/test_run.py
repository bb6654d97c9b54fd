"""FlowRun, what users read: its queries and its timeline, on real engine runs."""

from __future__ import annotations

import re

import pytest
from flowkit import Boom, Log, Nap, Step
from taskflow import retry
from taskflow.patterns import linear_flow

from pytest_flowfault import Fault, FaultPlan, FlowRun, UnknownAtom, run_flow
from pytest_flowfault.run import Event
from pytest_flowfault.timeline import event_text


def failing_run() -> FlowRun:
    """a, b, then boom raises: REVERTED, with a injected once under a Times(2) retry."""
    flow = linear_flow.Flow("f", retry=retry.Times(2, name="again")).add(
        Step("a", Log(), provides="a"), Step("pkg.b", Log(), provides="b"), Boom("boom")
    )
    return run_flow(flow, plan=FaultPlan(Fault.fail("a", times=1)))


@pytest.fixture(scope="module")
def run() -> FlowRun:
    return failing_run()


def untimed(timeline: str) -> list[str]:
    """The timeline's lines with the time column blanked (times differ between runs)."""
    return [re.sub(r"^(\s*\d+)\s+[\d.]+ms", r"\1 _", line) for line in timeline.splitlines()]


class TestAtom:
    def test_exact_and_short_names(self, run: FlowRun) -> None:
        """An atom is found by its name or by the last dotted component of it."""
        assert ("a", "pkg.b", "task", "retry") == (
            run.atom("a").name, run.atom("b").name, run.atom("b").kind, run.atom("again").kind
        )

    def test_unknown_name_lists_the_atoms_and_the_closest(self, run: FlowRun) -> None:
        """A typo names the flow, its atoms and a suggestion."""
        with pytest.raises(UnknownAtom) as raised:
            run.atom("bom")
        assert (
            "no atom called 'bom' in flow 'f'; its atoms are: a, pkg.b, boom, again; "
            "did you mean 'boom'?"
        ) == str(raised.value)


class TestQueries:
    def test_attempts_reverts_and_decisions(self, run: FlowRun) -> None:
        """a: 1 injected and 1 real attempt, each reverted; boom: once; again retried once."""
        assert ((2, 2), (1, 1), ("RETRY", "REVERT")) == (
            (run.attempts("a"), run.reverts("a")),
            (run.attempts("boom"), run.reverts("boom")),
            run.decisions("again"),
        )

    def test_calls_end_each_call(self, run: FlowRun) -> None:
        """calls() are the events that ended the atom's calls, injected ones marked."""
        assert [("raised", True, 1), ("ok", False, 2)] == [
            (event.what, event.injected, event.attempt) for event in run.calls("a", "execute")
        ]

    def test_call_spans_pair_starts_and_ends(self, run: FlowRun) -> None:
        """Each span is a start event and the end event of the same call."""
        spans = run.call_spans("boom", "revert")
        assert [("start", "ok")] == [(start.what, end and end.what) for start, end in spans]
        assert all(end is not None and start.attempt == end.attempt for start, end in spans)

    def test_all_call_spans_in_the_order_the_calls_ended(self, run: FlowRun) -> None:
        """Without a name, every call of the run, ordered by the event that ended it."""
        ends = [end.seq for _, end in run.call_spans() if end is not None]
        assert (sorted(ends), len(run.call_spans())) == (ends, sum(
            event.is_call_end for event in run.events
        ))

    def test_execution_order(self, run: FlowRun) -> None:
        """Every execute attempt's atom (the retry's too), in the order the attempts started."""
        assert ("again", "a", "again", "a", "pkg.b", "boom") == (
            run.execution_order()
        )

    def test_sleeps_are_per_atom_and_summed(self) -> None:
        """sleeps() lists an atom's skipped sleeps; slept sums the run's."""
        flow = linear_flow.Flow("napping").add(Step("s0", Log()), Nap("nap", Log()))
        napping = run_flow(flow, virtual_time=True)
        assert ((3600,), (), 3600) == (napping.sleeps("nap"), napping.sleeps("s0"), napping.slept)

    def test_chain_of_a_fresh_run_is_itself(self, run: FlowRun) -> None:
        """A run that resumed nothing is its own chain."""
        assert (run,) == run.chain()

    def test_repr(self, run: FlowRun) -> None:
        """The repr names the flow, engine, state, error and event count."""
        assert (
            "<FlowRun 'f' serial REVERTED error=WrappedFailure(\"WrappedFailure: [Failure: "
            "pytest_flowfault.errors.InjectedFault: flowfault injected a fault into 'a' "
            f"(execute attempt 1), Failure: ValueError: boom is broken]\") "
            f"events={len(run.events)}>"
        ) == repr(run)


class TestTimeline:
    def test_one_row_per_event(self) -> None:
        """The table: header, then each event's sequence, atom and text, injections marked."""
        flow = linear_flow.Flow("f").add(Step("a", Log(), provides="a"), Boom("boom"))
        failed = run_flow(flow, plan=FaultPlan(Fault.fail_revert("a")))
        assert [
            "flow 'f' on the serial engine ended FAILURE with InjectedFault('a', 'revert', 1)",
            "   #      time  atom  event",
            "   0 _  f     flow PENDING -> RUNNING",
            "   1 _  a     task PENDING -> RUNNING",
            "   2 _  a     execute attempt 1: start",
            "   3 _  a     execute attempt 1: ok",
            "   4 _  a     task RUNNING -> SUCCESS",
            "   5 _  boom  task PENDING -> RUNNING",
            "   6 _  boom  execute attempt 1: start",
            "   7 _  boom  execute attempt 1: raised ValueError('boom is broken')",
            "   8 _  boom  task RUNNING -> FAILURE (ValueError('boom is broken'))",
            "   9 _  boom  task FAILURE -> REVERTING",
            "  10 _  boom  revert attempt 1: start",
            "  11 _  boom  revert attempt 1: ok",
            "  12 _  boom  task REVERTING -> REVERTED",
            "  13 _  a     task SUCCESS -> REVERTING",
            "  14 _  a     revert attempt 1: start",
            "  15 _  a     revert attempt 1: raised InjectedFault('a', 'revert', 1) [injected]",
            "  16 _  a     task REVERTING -> REVERT_FAILURE (InjectedFault('a', 'revert', 1))",
            "  17 _  f     flow RUNNING -> FAILURE",
        ] == untimed(failed.timeline())

    def test_skipped_sleeps_are_totalled(self) -> None:
        """Under virtual time the table says what was slept and the total skipped."""
        napping = run_flow(linear_flow.Flow("napping").add(Nap("nap", Log())), virtual_time=True)
        lines = untimed(napping.timeline())
        assert ("   3 _  nap      slept 3600 s (virtual time: skipped)",
                "virtual time: 3600 s skipped in 1 sleeps") == (lines[5], lines[-1])


class TestEventText:
    def test_each_kind_in_words(self) -> None:
        """Calls, decisions, sleeps and state changes each read their own way."""
        assert [
            "execute attempt 2: raised ValueError('x')",
            "revert attempt 1: ok",
            "retry decided RETRY",
            "slept 1.5 s (virtual time: skipped)",
            "task RUNNING -> FAILURE (ValueError('x'))",
            "flow ? -> RUNNING",
        ] == [
            event_text("execute", "raised", attempt=2, error="ValueError('x')"),
            event_text("revert", "ok", attempt=1),
            event_text("decision", "RETRY"),
            event_text("sleep", "skipped", seconds=1.5),
            event_text("task", "FAILURE", old_state="RUNNING", error="ValueError('x')"),
            event_text("flow", "RUNNING"),
        ]

    def test_an_event_describes_its_error(self) -> None:
        """Event.text spells the error the way every report does."""
        event = Event(0, 0.0, "execute", "a", "raised", attempt=1, error=ValueError("x"))
        assert "execute attempt 1: raised ValueError('x')" == event.text


class TestLongNames:
    """OpenStack names (``ROLE-subflow-…-task``) reach 125 characters."""

    ROLES = ("MASTER", "BACKUP")
    TAIL = "-octavia-create-amp-for-lb-subflow-octavia-cert-compute-create"

    def test_the_atom_column_folds_shared_middles_and_spells_names_out_below(self) -> None:
        from flowkit import Plain
        from taskflow.patterns import unordered_flow

        from pytest_flowfault import run_flow

        flow = unordered_flow.Flow("lb").add(
            *(Plain(role + self.TAIL, provides=role) for role in self.ROLES)
        )
        text = run_flow(flow).timeline()
        rows = [line for line in text.splitlines() if "execute attempt 1: ok" in line]
        assert {
            "MASTER-…-octavia-cert-compute-create", "BACKUP-…-octavia-cert-compute-create"
        } == {row.split()[2] for row in rows}
        assert all(len(row) <= 100 for row in rows)
        assert text.endswith(
            "names in full:\n"
            f"  BACKUP-…-octavia-cert-compute-create = BACKUP{self.TAIL}\n"
            f"  MASTER-…-octavia-cert-compute-create = MASTER{self.TAIL}"
        ) or text.endswith(
            "names in full:\n"
            f"  MASTER-…-octavia-cert-compute-create = MASTER{self.TAIL}\n"
            f"  BACKUP-…-octavia-cert-compute-create = BACKUP{self.TAIL}"
        )

    def test_labels_stay_distinct_when_folding_makes_them_alike(self) -> None:
        from pytest_flowfault.targets import short_labels

        names = ["A-" + "x" * 50 + "-same-end", "A-" + "y" * 50 + "-same-end"]
        labels = short_labels(names, 30)
        assert 2 == len(set(labels.values()))
        assert all(len(label) <= 30 for label in labels.values())

    def test_labels_folded_alike_show_where_the_names_differ(self) -> None:
        """Octavia's two retry controllers of one amphora share start and end: their
        labels keep the words that tell them apart, not a number."""
        from pytest_flowfault.targets import short_labels

        names = [
            "MASTER-octavia-create-amp-for-lb-subflow-octavia-compute-create-retry-subflow_retry",
            "MASTER-octavia-create-amp-for-lb-subflow-octavia-create-amphora-retry-subflow_retry",
            "octavia-post-lb-subflow-octavia-get-vrrp-subflow-0-octavia-amphora-update-vrrp-intf",
            "octavia-post-lb-subflow-octavia-get-vrrp-subflow-1-octavia-amphora-update-vrrp-intf",
        ]
        assert [
            "MASTER-…-compute-create", "MASTER-…-create-amphora",
            "octavia-…-0-…-update-vrrp-intf", "octavia-…-1-…-update-vrrp-intf",
        ] == list(short_labels(names, 30).values())

    def test_no_line_is_wider_than_120_columns(self) -> None:
        """A 125-character name and long errors: each row cuts its error short and numbers
        it, and the names and errors in full below the table wrap."""
        name = ("octavia-post-loadbalancer-amp_association-subflow-octavia-post-loadbalancer-"
                "amp_association-subflow-reload-lb-after-amp-assoc")
        flow = linear_flow.Flow("lb").add(Step("pkg.plug", Log(), provides="p"), Boom(name))
        text = run_flow(flow, plan=FaultPlan(Fault.fail_revert("plug"))).timeline()
        lines = text.splitlines()
        cut = [line for line in lines if "…[" in line]
        assert (125, 120, [120] * 4) == (len(name), max(map(len, lines)), [len(c) for c in cut])
        assert [
            "execute attempt 1: raised ValueError('octavia-post-loadbalancer…[1]",
            "task RUNNING -> FAILURE (ValueError('octavia-post-loadbalancer…[1])",
            "revert attempt 1: raised InjectedFault('pkg.plug', '…[2] [injected]",
            "task REVERTING -> REVERT_FAILURE (InjectedFault('pkg.plug', 'r…[2])",
        ] == [line[53:] for line in cut]
        assert text.endswith(
            "errors in full:\n"
            "  [1] ValueError('octavia-post-loadbalancer-amp_association-subflow-octavia-post-"
            "loadbalancer-amp_association-subflow-\n"
            "    reload-lb-after-amp-assoc is broken')\n"
            "  [2] InjectedFault('pkg.plug', 'revert', 1)"
        )
        assert lines[0].endswith("ended FAILURE with InjectedFault('pkg.plug', 'revert', 1)")
