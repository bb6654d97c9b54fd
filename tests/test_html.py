"""The HTML report: a self-contained page, escaped, with a graph and a timeline per run."""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flowkit import Boom, Log, NoRevertStep, Step
from taskflow import retry
from taskflow.patterns import graph_flow, linear_flow

from pytest_flowfault import Fault, FaultPlan, FlowRun, run_flow
from pytest_flowfault.html import render, write_html
from pytest_flowfault.recorder import Recorder
from pytest_flowfault.report import document, record_of_test
from pytest_flowfault.run import AtomInfo
from pytest_flowfault.session import Session

HOSTILE = "<script>alert('x')</script>"
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr"}


def real_report() -> dict[str, Any]:
    """Three tests made from real engine runs: a retried hostile atom, a leak, no runs."""
    log = Log()
    retried = FaultPlan(Fault.fail(HOSTILE, times=1), Fault.side_effect("c", ["fake"]))
    flow = linear_flow.Flow("ok&flow", retry=retry.Times(3, name="again")).add(
        Step("a", log, provides="a"), Step(HOSTILE, log, provides="h"), Step("c", log)
    )
    leaky = FaultPlan(Fault.fail_revert("make"))
    leaky_flow = linear_flow.Flow("leaky").add(
        Step("make", log, provides="m"), NoRevertStep("keep"), Boom("boom")
    )
    tests = [
        record_of_test(
            nodeid=f"tests/test_x.py::test_hostile[{HOSTILE}]", outcome="passed", seed=1,
            faults=[repr(f) for f in retried], matched_faults=[repr(f) for f in retried],
            runs=[run_flow(flow, plan=retried)],
        ),
        record_of_test(
            nodeid="tests/test_x.py::test_leak", outcome="failed", seed=2,
            faults=[repr(f) for f in leaky], matched_faults=[repr(f) for f in leaky],
            runs=[run_flow(leaky_flow, plan=leaky)],
        ),
        record_of_test(
            nodeid="tests/test_x.py::test_nothing", outcome="skipped", seed=3, faults=[],
            matched_faults=[], runs=[],
        ),
    ]
    return document(tests, seed=7, command_line_faults=["Fault.fail('zzz')"])


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return real_report()


@pytest.fixture(scope="module")
def page(report: dict[str, Any]) -> str:
    return render(report)


def event(seq: int, name: str, kind: str, what: str, **details: Any) -> dict[str, Any]:
    """One event record, ``seq`` milliseconds into the run."""
    fields = {"old_state": None, "attempt": None, "injected": False, "error": None}
    return {"seq": seq, "at": seq / 1000, "kind": kind, "name": name, "what": what,
            **fields, **details}


def run(flow: str, atoms: list[str], events: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A run record: a successful linear flow of ``atoms`` unless ``fields`` say otherwise
    (``calls`` pairs call events by ``seq``, as run_record() stores them)."""
    return {
        "flow": flow, "engine": "serial", "state": "SUCCESS", "error": None,
        "faults_injected": 0, "compensated": None, "compensation_problems": [],
        "atoms": [{"name": name, "kind": "task", "has_revert": True} for name in atoms],
        "dependencies": [list(pair) for pair in zip(atoms, atoms[1:])], "events": events,
        "calls": [], **fields,
    }


def single_test_report(*runs: dict[str, Any]) -> dict[str, Any]:
    test = {"nodeid": "t.py::test", "outcome": "passed", "seed": 1, "faults": [],
            "matched_faults": [], "runs": list(runs)}
    return document([test], seed=1, command_line_faults=[])


def svgs(page: str, kind: str) -> list[ElementTree.Element]:
    """Every inline <svg class=kind>, parsed as XML (so each must be well-formed)."""
    found = re.findall(rf'<svg class="{kind}".*?</svg>', page, flags=re.DOTALL)
    return [ElementTree.fromstring(svg) for svg in found]


def elements(svg: ElementTree.Element, tag: str, css_class: str) -> list[ElementTree.Element]:
    return [
        element for element in svg.iter(f"{{http://www.w3.org/2000/svg}}{tag}")
        if css_class in element.get("class", "").split()
    ]


class Balance(HTMLParser):
    """Checks that every element is closed, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.mismatches: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.mismatches.append(tag)


class TestRender:
    def test_page_is_self_contained(self, page: str) -> None:
        """Nothing is fetched: no remote src/href, no script, no stylesheet link, no url()."""
        assert page.startswith("<!DOCTYPE html>")
        assert [] == re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page)
        assert [] == re.findall(r"<(?:script|link|img|iframe)\b|url\(|@import", page, re.I)

    def test_hostile_names_are_escaped(self, page: str) -> None:
        """An atom called <script>… shows up escaped, in the graph, the timeline and the table."""
        assert "<script" not in page
        escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
        assert 8 <= page.count(escaped)

    def test_elements_are_balanced(self, page: str) -> None:
        """html.parser sees every element closed in order, svg ones included."""
        parser = Balance()
        parser.feed(page)
        parser.close()
        assert ([], []) == (parser.open, parser.mismatches)

    def test_one_timeline_per_run_with_one_lane_per_atom(
        self, report: dict[str, Any], page: str
    ) -> None:
        """Each run gets a timeline whose lanes are exactly its atoms."""
        expected = sorted(
            sorted(atom["name"] for atom in run["atoms"])
            for test in report["tests"]
            for run in test["runs"]
        )
        actual = sorted(
            sorted(str(lane.get("data-atom")) for lane in elements(svg, "g", "lane"))
            for svg in svgs(page, "timeline")
        )
        assert expected == actual

    def test_one_graph_per_run_with_a_box_per_atom_and_an_arrow_per_dependency(
        self, report: dict[str, Any], page: str
    ) -> None:
        """Each run's graph has one box per atom and one edge per dependency."""
        expected = sorted(
            (len(run["atoms"]), len(run["dependencies"]))
            for test in report["tests"]
            for run in test["runs"]
        )
        actual = sorted(
            (len(elements(svg, "g", "atom")), len(elements(svg, "path", "edge")))
            for svg in svgs(page, "graph")
        )
        assert expected == actual

    def test_injected_calls_are_marked(self, report: dict[str, Any], page: str) -> None:
        """Every injected call is a red bar with a bolt: as many as the summary counts."""
        injected = [
            call
            for svg in svgs(page, "timeline")
            for call in elements(svg, "g", "call")
            if {"exec-inj", "rev-inj"} & set(call.get("class", "").split())
        ]
        assert report["summary"]["faults_injected"] == len(injected) == 3
        assert all("⚡" in "".join(call.itertext()) for call in injected)

    def test_real_execute_error_has_its_own_style(self, page: str) -> None:
        """boom's own ValueError is an exec-err bar, not an injected one."""
        titles = [
            re.sub(r", [\d.]+–[\d.]+ ms", "", "".join(call.itertext()))
            for svg in svgs(page, "timeline")
            for call in elements(svg, "g", "exec-err")
        ]
        assert ["boom: execute attempt 1, raised ValueError('boom is broken')"] == titles

    def test_compensation_violation_is_shown(self, page: str) -> None:
        """The violation panel names the test and flow, lists the problems, links the test."""
        panel = page[page.index("Compensation violations: 1"):page.index("never matched an atom")]
        assert 'href="#test-1">tests/test_x.py::test_leak</a>, flow <code>leaky</code>' in panel
        assert "&#x27;make&#x27; failed to revert: InjectedFault(" in panel
        assert 'id="test-1"' in page

    def test_summary_shows_seed_states_and_unmatched_faults(self, page: str) -> None:
        """The header shows the seed, end states as badges and faults that never matched."""
        header = page[: page.index("</header>")]
        assert "seed <code>7</code>" in header
        assert [">FAILURE 1<", ">SUCCESS 1<"] == re.findall(r">[A-Z_]+ \d+<", header)
        unmatched = "never matched an atom</h2><div><code>Fault.fail(&#x27;zzz&#x27;)</code>"
        assert unmatched in header

    def test_troubled_tests_come_first_and_runless_tests_get_no_section(self, page: str) -> None:
        """The failed test is listed and shown first; the test without runs is one table row."""
        sections = re.findall(r'<section id="(test-\d)"', page)
        assert ["test-1", "test-0"] == sections
        assert "tests/test_x.py::test_nothing</td><td><span class=muted>no flow runs" in page

    def test_rendering_is_deterministic(self, report: dict[str, Any], page: str) -> None:
        """The same report renders to the same page."""
        assert page == render(copy.deepcopy(report))

    def test_graph_layers_follow_the_longest_path(self) -> None:
        """In a diamond a -> (b, c) -> d plus a -> d, d sits right of b and c."""
        flow = graph_flow.Flow("diamond").add(
            Step("a", Log(), provides="x"), Step("b", Log(), requires="x", provides="y"),
            Step("c", Log(), requires="x", provides="z"),
            Step("d", Log(), requires=("x", "y", "z")),
        )
        record = record_of_test(nodeid="t", outcome="passed", seed=0, faults=[],
                                matched_faults=[], runs=[run_flow(flow)])
        (graph,) = svgs(render(document([record], seed=0, command_line_faults=[])), "graph")
        left = {
            "".join(box.itertext()).partition(" (")[0]: float(box[1].get("x", ""))
            for box in elements(graph, "g", "atom")
        }
        assert left["a"] < left["b"] == left["c"] < left["d"]

    def test_unfinished_calls_and_unlisted_atoms_still_get_drawn(self) -> None:
        """A call that never ended is an 'open' bar; an atom only events name gets a lane."""
        events = [
            event(0, "f", "flow", "RUNNING"),
            event(1, "a", "execute", "start", attempt=1),
            event(2, "ghost", "execute", "start", attempt=1),
            event(3, "ghost", "execute", "ok", attempt=1),
        ]
        calls = [[2, 3], [1, None]]
        page = render(single_test_report(run("f", ["a"], events, state="RUNNING", calls=calls)))
        (timeline,) = svgs(page, "timeline")
        assert ["a", "ghost"] == [lane.get("data-atom") for lane in elements(timeline, "g", "lane")]
        assert [["call", "exec-ok"], ["call", "open"]] == [
            call.get("class", "").split() for call in elements(timeline, "g", "call")
        ]

    def test_failed_revert_and_retry_decision_are_marked(self) -> None:
        """A revert that raised on its own is a rev-err bar with a cross; decisions are ticks."""
        events = [
            event(1, "a", "revert", "start", attempt=1),
            event(2, "a", "revert", "raised", attempt=1, error="TypeError('bug')"),
            event(3, "r", "decision", "REVERT"),
        ]
        page = render(
            single_test_report(run("f", ["a", "r"], events, state="FAILURE", calls=[[1, 2]]))
        )
        (timeline,) = svgs(page, "timeline")
        (failed,) = elements(timeline, "g", "rev-err")
        (decision,) = elements(timeline, "g", "decision")
        assert "a: revert attempt 1, raised TypeError('bug'), 1.000–2.000 ms✖" == "".join(
            failed.itertext()
        )
        assert "r decided REVERT at 3.000 msREVERT" == "".join(decision.itertext())
        # The run's last event: its word goes left of the tick, inside the picture.
        assert "end" == decision.find("{http://www.w3.org/2000/svg}text").get("text-anchor")  # type: ignore[union-attr]

    def test_many_runs_fold_after_the_first_few(self) -> None:
        """Runs after the third fold into one <details>, which says how they ended."""
        events = [
            event(0, "a", "execute", "start", attempt=1),
            event(1, "a", "execute", "ok", attempt=1),
        ]
        runs = [run("f", ["a"], events, calls=[[0, 1]]) for _ in range(5)]
        page = render(single_test_report(*runs))
        assert 5 == len(svgs(page, "timeline"))
        assert 1 == page.count("<summary>2 more runs (SUCCESS 2)</summary>")


def page_of(run: FlowRun) -> str:
    """The page of one test with one real run."""
    record = record_of_test(nodeid="t.py::test", outcome="passed", seed=0, faults=[],
                            matched_faults=[], runs=[run])
    return render(document([record], seed=0, command_line_faults=[]))


def leaking_run() -> FlowRun:
    """A REVERTED run in which 'make' completed and was never reverted, as the recorder
    records it when a task's revert is skipped."""
    recorder = Recorder()
    for kind, name, what, attempt in [
        ("flow", "f", "RUNNING", None), ("execute", "make", "start", 1),
        ("execute", "make", "ok", 1), ("task", "make", "SUCCESS", None),
        ("execute", "boom", "start", 1), ("execute", "boom", "raised", 1),
        ("task", "boom", "FAILURE", None), ("revert", "boom", "start", 1),
        ("revert", "boom", "ok", 1), ("task", "boom", "REVERTED", None),
        ("flow", "f", "REVERTED", None),
    ]:
        recorder.add(kind, name, what, attempt=attempt)  # type: ignore[arg-type]
    return recorder.finish(
        flow_name="f", engine="serial", state="REVERTED", error=ValueError("boom"), results={},
        plan=FaultPlan(), atoms=(AtomInfo("make", "task", True), AtomInfo("boom", "task", True)),
        dependencies=(("make", "boom"),),
    )


class TestNotUndone:
    def test_a_crashed_run_marks_no_atom_not_undone(self, tmp_path: Path) -> None:
        """A crashed run is to be resumed, not undone: its completed tasks are no leak."""
        session = Session(FaultPlan(Fault.crash_after("b")))
        session.directory = lambda: tmp_path
        crashed = session.run(
            linear_flow.Flow("f").add(Step("a", Log(), provides="a"), Step("b", Log())),
            backend="memory",
        )
        page = page_of(crashed)
        assert ("CRASHED", 0, 1) == (
            crashed.state, page.count("NOT UNDONE"), page.count("compensated n/a")
        )

    def test_a_reverted_run_that_leaked_marks_the_task(self) -> None:
        """The task that completed and was never reverted is marked, with a red box."""
        page = page_of(leaking_run())
        (graph,) = svgs(page, "graph")
        svg = "{http://www.w3.org/2000/svg}"
        marked = {
            str(box.findtext(f"{svg}title")): str(box.find(f"{svg}rect").get("stroke"))  # type: ignore[union-attr]
            for box in elements(graph, "g", "atom")
        }
        assert {
            "make (task): SUCCESS · ×1 exec · ×0 revert · NOT UNDONE": "#cf222e",
            "boom (task): REVERTED · ×1 exec · ×1 revert": "#0969da",
        } == marked
        assert 'compensated <span class="leak">no</span>' in page


class TestWriteHtml:
    def test_writes_the_page_in_utf8_creating_directories(
        self, tmp_path: Path, report: dict[str, Any], page: str
    ) -> None:
        """The file holds render()'s page, bolts and all, under new directories."""
        path = tmp_path / "reports" / "run 1" / "flowfault.html"
        write_html(path, report)
        assert page == path.read_bytes().decode("utf-8")


class TestSixtyAtoms:
    """Octavia's flows have 59 atoms with names up to 125 characters."""

    def test_labels_are_folded_whole_and_the_graph_wraps(self, tmp_path: Path) -> None:
        from flowkit import Plain
        from taskflow.patterns import linear_flow, unordered_flow

        from pytest_flowfault import run_flow
        from pytest_flowfault.html import write_html
        from pytest_flowfault.report import document, record_of_test

        tail = "-octavia-create-amp-for-lb-subflow-octavia-compute-create-step-"
        flow = linear_flow.Flow("lb")
        for step in range(30):  # 30 layers of two roles: one very wide graph unwrapped
            flow.add(unordered_flow.Flow(f"s{step}").add(
                *(Plain(f"{role}{tail}{step:02d}", provides=f"{role}{step}")
                  for role in ("MASTER", "BACKUP"))
            ))
        run = run_flow(flow)
        record = record_of_test(nodeid="t", outcome="passed", seed=0, faults=[],
                                matched_faults=[], runs=[run])
        path = tmp_path / "r.html"
        write_html(path, document([record], seed=0, command_line_faults=[]))
        page = path.read_text()
        assert "MASTER-…-compute-create-step-07" in page
        assert f"<code>MASTER-…-compute-create-step-07</code> = <code>MASTER{tail}07</code>" in page
        graph_width = int(page.split('<svg class="graph"')[1].split('width="')[1].split('"')[0])
        assert graph_width <= 1270
