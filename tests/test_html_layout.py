"""The HTML report as a browser lays it out: at a 1,600 px window, the report of Octavia's
59-atom flow (names up to 125 characters) is no wider than the window and no label is cut.

Measured in headless Chromium, not by reading the HTML: a script added to a copy of the page
measures every SVG text and HTML element once the page has loaded and writes what it found
into the page, which ``--dump-dom`` prints. The tests skip, saying what to install, where no
Chromium is on PATH.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import WARNINGS_INI
from flowkit import Plain
from taskflow.patterns import linear_flow
from test_html import event, real_report, run, single_test_report

from pytest_flowfault import run_flow
from pytest_flowfault import svg as svg_module
from pytest_flowfault.html import write_html
from pytest_flowfault.report import document, record_of_test

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
WIDTH = 1600
EXAMPLES = Path(__file__).parent.parent / "examples"
#: Example tests on the 59-atom ACTIVE_STANDBY flow (retries, REVERT_ALL, a permanent
#: failure and its reverts) and the SINGLE flow's failed revert (a compensation violation).
SELECTION = "build_failure or permanent_failure and serial or unreachable or database_outage"
OCTAVIA_125 = ("octavia-post-loadbalancer-amp_association-subflow-octavia-post-loadbalancer-"
               "amp_association-subflow-reload-lb-after-amp-assoc")

# Runs once the page has loaded, with every <details> opened so that folded content counts.
# SVG texts are measured in their picture's own units (getBBox), against the picture's
# edges, their lane's label column or their box; HTML elements against their panel.
MEASURE = """<script>
addEventListener("load", () => {
  const cut = [];
  const counts = {lane_labels: 0, box_texts: 0, svg_texts: 0, elements: 0};
  const where = (el) => {
    const run = el.closest(".run"), svg = el.closest("svg");
    return (run ? run.id + " " : "") + (svg ? svg.getAttribute("class") : el.tagName.toLowerCase());
  };
  // An SVG text's own words (a lane label holds its full name in a <title>).
  const said = (el) => JSON.stringify((el.closest("svg")
    ? [...el.childNodes].filter((node) => node.nodeType === Node.TEXT_NODE).map((node) => node.data).join("")
    : el.textContent).trim().slice(0, 130));
  document.querySelectorAll("details").forEach((d) => { d.open = true; });
  for (const svg of document.querySelectorAll("svg")) {
    const [, , width, height] = svg.getAttribute("viewBox").split(" ").map(Number);
    const scale = svg.getBoundingClientRect().width / width;
    for (const text of svg.querySelectorAll("text")) {
      counts.svg_texts++;
      const box = text.getBBox();
      if (box.x < -0.5 || box.y < -0.5 || box.x + box.width > width + 0.5
          || box.y + box.height > height + 0.5) {
        cut.push(`${where(text)}: ${said(text)} runs off the picture`);
      }
      const size = parseFloat(getComputedStyle(text).fontSize) * scale;
      if (size < 9.5) cut.push(`${where(text)}: ${said(text)} shrunk to ${size.toFixed(1)} px`);
    }
    for (const lane of svg.querySelectorAll("g.lane")) {
      counts.lane_labels++;
      const text = lane.querySelector("text"), box = text.getBBox();
      // A glyph's ink may pass its advance by a pixel; the plot begins 8 px further on.
      if (box.x < 0 || box.x + box.width > Number(text.getAttribute("x")) + 2) {
        cut.push(`${where(lane)}: lane label ${said(text)} does not fit its column`);
      }
      if (text.querySelector("title").textContent !== lane.dataset.atom) {
        cut.push(`${where(lane)}: lane label ${said(text)} has no full name on hover`);
      }
    }
    for (const atom of svg.querySelectorAll("g.atom")) {
      const rect = atom.querySelector("rect");
      const left = Number(rect.getAttribute("x")), right = left + Number(rect.getAttribute("width"));
      for (const text of atom.querySelectorAll("text")) {
        counts.box_texts++;
        const box = text.getBBox();
        if (box.x < left + 2 || box.x + box.width > right - 2) {
          cut.push(`${where(atom)}: ${said(text)} overflows its box`);
        }
      }
    }
  }
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest("svg")) continue;
    counts.elements++;
    if (getComputedStyle(el).overflowX !== "visible" && el.scrollWidth > el.clientWidth + 1) {
      cut.push(`${where(el)} ${said(el)} hides ${el.scrollWidth - el.clientWidth} px behind a scroll bar`);
    }
    const panel = el.parentElement && el.parentElement.closest(".panel");
    if (panel && el.getBoundingClientRect().right > panel.getBoundingClientRect().right + 0.5) {
      cut.push(`${where(el)} ${said(el)} sticks out of its panel`);
    }
  }
  const result = document.createElement("pre");
  result.id = "flowfault-layout";
  result.textContent = JSON.stringify({
    window_width: innerWidth, viewport_width: document.documentElement.clientWidth,
    page_width: document.documentElement.scrollWidth, counts, cut,
  });
  document.body.append(result);
});
</script>"""


def find_browser() -> str | None:
    """The first of :data:`BROWSERS` on PATH, if any."""
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


@pytest.fixture
def browser() -> str:
    found = find_browser()
    if found is None:
        pytest.skip(f"no headless browser: none of {', '.join(BROWSERS)} is on PATH "
                    "(on Debian: apt-get install chromium)")
    return found


def layout_of(browser: str, page: Path, tmp_path: Path) -> dict[str, Any]:
    """What :data:`MEASURE` found in ``page`` laid out at :data:`WIDTH` px."""
    measured = tmp_path / "measured.html"
    measured.write_text(page.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"),
                        encoding="utf-8")
    command = [
        browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={WIDTH},1000", "--virtual-time-budget=5000", "--dump-dom",
        measured.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    found = re.search(r'<pre id="flowfault-layout">(.*?)</pre>', done.stdout, re.DOTALL)
    assert found, f"{browser} printed no measurement (exit {done.returncode}):\n{done.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return result


def problems_of(layout: dict[str, Any]) -> list[str]:
    """Everything cut, and a page wider than the window, in words."""
    problems = list(layout["cut"])
    if layout["page_width"] > layout["viewport_width"]:
        problems.insert(0, f"the page is {layout['page_width']} px wide in a "
                           f"{layout['viewport_width']} px window")
    return problems


def octavia_report(pytester: pytest.Pytester) -> Path:
    """The HTML report of :data:`SELECTION` of examples/test_amphora_resilience.py."""
    pytester.makepyfile(
        amphora=(EXAMPLES / "amphora.py").read_text(),
        test_amphora_resilience=(EXAMPLES / "test_amphora_resilience.py").read_text(),
        octavia_faults=(EXAMPLES / "octavia_faults.py").read_text(),
    )
    pytester.makeini(WARNINGS_INI)
    result = pytester.runpytest("-k", SELECTION, "--flowfault-report=report.html",
                                "--flowfault-report=report.json")
    result.assert_outcomes(passed=3, xfailed=1)
    return pytester.path / "report.html"


class TestLayout:
    def test_the_octavia_report_fits_1600_px_and_no_label_is_cut(
        self, browser: str, pytester: pytest.Pytester, tmp_path: Path
    ) -> None:
        """Every lane label, box text and element of the 59-atom runs' pages is whole."""
        page = octavia_report(pytester)
        runs = [run for test in json.loads(page.with_suffix(".json").read_text())["tests"]
                for run in test["runs"]]
        assert [59, 59, 59, 30] == sorted((len(run["atoms"]) for run in runs), reverse=True)
        layout = layout_of(browser, page, tmp_path)
        problems = problems_of(layout)
        assert [] == problems, f"{len(problems)} layout problems:\n" + "\n".join(problems[:40])
        lanes = sum(len(run["atoms"]) for run in runs)  # a lane and a box (two texts) each
        assert (WIDTH, lanes, 2 * lanes) == (
            layout["window_width"], layout["counts"]["lane_labels"], layout["counts"]["box_texts"]
        )

    def test_the_check_sees_labels_that_are_not_folded(
        self, browser: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A check that cannot fail proves nothing: unfolded 125-character names are cut."""
        monkeypatch.setattr(svg_module, "short_labels", lambda names, width: {
            name: name for name in names
        })
        names = [OCTAVIA_125, OCTAVIA_125.replace("after", "later")]
        flow_run = run_flow(linear_flow.Flow("lb").add(*(Plain(name) for name in names)))
        page = tmp_path / "report.html"
        write_html(page, document([record_of_test(
            nodeid="t.py::test", outcome="passed", seed=0, faults=[], matched_faults=[],
            runs=[flow_run],
        )], seed=0, command_line_faults=[]))
        problems = "\n".join(problems_of(layout_of(browser, page, tmp_path)))
        for name in names:
            assert f'lane label "{name}" does not fit its column' in problems


    def test_marks_at_the_end_of_a_timeline_stay_inside(
        self, browser: str, tmp_path: Path
    ) -> None:
        """A retry's decision as a run's last event writes its word left of its tick; the
        pages test_html.py checks (hostile names, a leak, retries) are whole too."""
        events = [
            event(1, "a", "execute", "start", attempt=1),
            event(2, "a", "execute", "raised", attempt=1, error="TypeError('bug')"),
            event(3, "r", "decision", "REVERT_ALL"),
        ]
        last_word = single_test_report(
            run("f", ["a", "r"], events, state="FAILURE", calls=[[1, 2]])
        )
        report = real_report()
        page = tmp_path / "report.html"
        write_html(page, document([*report["tests"], *last_word["tests"]], seed=1,
                                  command_line_faults=report["command_line_faults"]))
        assert [] == problems_of(layout_of(browser, page, tmp_path))
