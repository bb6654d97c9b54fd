"""The HTML resilience report: one self-contained page made from the JSON report.

The page fetches nothing and needs no JavaScript: the CSS is inline, each run's flow
graph and timeline are inline SVG, and every string taken from the report is escaped.

>>> write_html(Path("flowfault.html"), json.loads(Path("flowfault.json").read_text()))
... # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any

from pytest_flowfault.report import EventRecord, Record, RunRecord
from pytest_flowfault.svg import (
    BARS,
    DECISION,
    GREY,
    SLEEP,
    SLEEP_MARK,
    STATES,
    graph,
    labels_of,
    timeline,
)
from pytest_flowfault.timeline import event_text

TITLE = "pytest-flowfault resilience report"
#: Runs shown open per test; the rest (unless they leaked) fold into one <details>.
OPEN_RUNS = 3
_OUTCOMES = {"passed": "#1a7f37", "failed": "#cf222e", "error": "#cf222e", "skipped": "#6e7781"}
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","DejaVu Sans",sans-serif;margin:0;
 color:#1f2328;background:#eef1f4} main{max-width:1360px;margin:0 auto;padding:16px 24px}
h1{font-size:24px;margin:8px 0 4px} h2{font-size:17px;margin:0 0 6px;word-break:break-all}
h3{font-size:15px;margin:0 0 6px} code,.mono{font-size:12.5px}
code,.mono,.m{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace}
.panel{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 16px;margin:12px 0}
.bad{border-left:6px solid #cf222e} .warn{border-left:6px solid #bf8700}
.good{border-left:6px solid #1a7f37} .muted{color:#6e7781} .leak{color:#cf222e;font-weight:700}
.badge{display:inline-block;color:#fff;border-radius:10px;padding:0 8px;font-size:12px;
 font-weight:600;white-space:nowrap;vertical-align:1px}
.totals{display:flex;gap:12px;flex-wrap:wrap;margin:10px 0} .total b{font-size:22px;margin:0 6px}
.total{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:6px 14px}
table{border-collapse:collapse;width:100%} th{background:#f6f8fa}
td,th{text-align:left;padding:3px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
tr.bad td{background:#fff5f5} tr.inj td{background:#ffecec} tr.err td{color:#b35900}
.run{border-top:1px solid #d0d7de;padding-top:10px;margin-top:10px}
.facts span{margin-right:18px} .problems{color:#cf222e;margin:4px 0}
figure{margin:8px 0;overflow-x:auto} svg.timeline{max-width:100%;height:auto}
.legend span{margin-right:14px;white-space:nowrap} details{margin-top:6px}
.sw{display:inline-block;width:14px;height:10px;border-radius:2px;margin-right:4px}
summary{cursor:pointer;color:#0969da}
"""


def render(report: dict[str, Any]) -> str:
    """The whole report as one HTML page that runs no script and fetches nothing.

    Tests that failed or leaked (a compensation violation) come first.

    >>> page = render(document(tests, seed=1, command_line_faults=[]))  # doctest: +SKIP
    """
    tests: list[Record] = list(report.get("tests", []))
    order = sorted(range(len(tests)), key=lambda i: (not _troubled(tests[i]), i))
    anchors: dict[str, str] = {}
    for i in order:
        anchors.setdefault(str(tests[i]["nodeid"]), f"test-{i}")
    body = [_header(report, anchors), _legend(), _index(tests, order)]
    body += [_test(tests[i], f"test-{i}") for i in order if tests[i]["runs"]]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{TITLE}</title><style>{_CSS}</style></head>\n<body><main>\n"
        + "\n".join(body)
        + "\n</main></body></html>\n"
    )


def write_html(path: Path, report: dict[str, Any]) -> None:
    """Write :func:`render`'s page to ``path`` in UTF-8, creating missing directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _badge(text: object, color: str) -> str:
    return f'<span class="badge" style="background:{color}">{_e(text)}</span>'


def _state_badge(state: object, suffix: str = "") -> str:
    return _badge(f"{state}{suffix}", STATES.get(str(state), GREY)[0])


def _outcome_badge(outcome: object) -> str:
    return _badge(outcome, _OUTCOMES.get(str(outcome), "#9a6700"))


def _codes(values: Iterable[object]) -> str:
    return ", ".join(f"<code>{_e(value)}</code>" for value in values) or "none"


def _troubled(test: Record) -> bool:
    return test["outcome"] in ("failed", "error") or any(
        run["compensated"] is False for run in test["runs"]
    )


def _header(report: Record, anchors: dict[str, str]) -> str:
    totals = report["summary"]
    states = " ".join(_state_badge(s, f" {n}") for s, n in totals["states"].items())
    counts = (("tests", "tests"), ("runs", "flow runs"), ("faults_injected", "faults injected"))
    parts = [
        f"<h1>{TITLE}</h1>",
        f'<div>seed <code>{_e(report.get("seed"))}</code> &middot; command-line faults: '
        f'{_codes(report.get("command_line_faults", []))}</div><div class="totals">'
        + "".join(f'<div class="total"><b>{_e(totals[k])}</b>{label}</div>' for k, label in counts)
        + f'<div class="total">runs ended: {states or "none"}</div></div>',
    ]
    violations = totals["compensation_violations"]
    if violations:
        items = "".join(
            f'<li><a href="#{anchors.get(str(v["test"]), "")}">{_e(v["test"])}</a>, flow '
            f'<code>{_e(v["flow"])}</code><ul class="problems">'
            + "".join(f"<li>{_e(problem)}</li>" for problem in v["problems"])
            + "</ul></li>"
            for v in violations
        )
        parts.append(
            f'<div class="panel bad"><h2>Compensation violations: {len(violations)}</h2>'
            f"<ul>{items}</ul></div>"
        )
    else:
        parts.append('<div class="panel good">No compensation violations: every failed run '
                     "undid what it had done.</div>")
    if totals["never_matched"]:
        parts.append(
            '<div class="panel warn"><h2>Faults that never matched an atom</h2>'
            + "".join(f"<div><code>{_e(f)}</code></div>" for f in totals["never_matched"])
            + "</div>"
        )
    if totals.get("not_injected"):
        parts.append(
            '<div class="panel warn"><h2>Faults that could not be injected</h2>'
            + "".join(
                f'<div><code>{_e(miss["fault"])}</code> into {_e(miss["atoms"])} atoms in '
                f'{_e(miss["tests"])} tests: {_e(miss["reason"])}</div>'
                for miss in totals["not_injected"]
            )
            + "</div>"
        )
    return "<header>" + "\n".join(parts) + "</header>"


def _legend() -> str:
    bars = "".join(
        f'<span><i class="sw" style="background:{fill}"></i>{text}</span>'
        for fill, text in BARS.values()
    )
    return (
        '<div class="panel legend"><b>Timelines:</b> one lane per atom; execute calls in the '
        "upper half, reverts in the lower half, each inside a pale band from the state change "
        f"that began it (RUNNING, REVERTING) to the next one. {bars}<span><i class=sw "
        f'style="width:3px;background:{DECISION}"></i>retry decision</span><span '
        f'style="color:{SLEEP}">{SLEEP_MARK}</span> a sleep virtual time skipped<br>'
        "<b>Graphs:</b> boxes are tasks, dashed pills (↻) retry controllers, the fill is the "
        "final state, arrows lead to the atoms that wait. Hover a bar or a box for details.</div>"
    )


def _index(tests: Sequence[Record], order: Sequence[int]) -> str:
    rows = []
    for i in order:
        test, runs = tests[i], tests[i]["runs"]
        name = f'<a href="#test-{i}">{_e(test["nodeid"])}</a>' if runs else _e(test["nodeid"])
        ended = Counter((str(run["flow"]), str(run["state"])) for run in runs)
        states = " ".join(
            f"<code>{_e(flow)}</code>&nbsp;{_state_badge(state, f' ×{n}' * (n > 1))}"
            for (flow, state), n in ended.items()
        )
        compensated = [run["compensated"] for run in runs]
        leak = "yes" if True in compensated else "n/a"
        leak = '<span class="leak">leaked</span>' if False in compensated else leak
        rows.append(
            f'<tr class="{"bad" if _troubled(test) else ""}"><td>'
            f'{_outcome_badge(test["outcome"])}</td><td class="mono">{name}</td>'
            f'<td>{states or "<span class=muted>no flow runs</span>"}</td>'
            f'<td>{sum(run["faults_injected"] for run in runs)}</td><td>{leak}</td></tr>'
        )
    return (
        '<div class="panel"><table><tr><th>outcome</th><th>test</th><th>runs</th>'
        f'<th>injected</th><th>compensated</th></tr>{"".join(rows)}</table></div>'
    )


def _test(test: Record, anchor: str) -> str:
    unmatched = [f for f in test["faults"] if f not in test["matched_faults"]]
    faults = _codes(test["faults"])
    faults += f' &middot; <b>never matched</b>: {_codes(unmatched)}' if unmatched else ""
    shown, folded, folded_states = [], [], Counter[str]()
    for n, run in enumerate(test["runs"]):
        block = _run(run, f"{anchor}-{n}")
        if n < OPEN_RUNS or run["compensated"] is False:
            shown.append(block)
        else:
            folded.append(block)
            folded_states[str(run["state"])] += 1
    if folded:
        states = ", ".join(f"{_e(s)} {n}" for s, n in sorted(folded_states.items()))
        shown.append(
            f"<details><summary>{len(folded)} more runs ({states})</summary>"
            f'{"".join(folded)}</details>'
        )
    return (
        f'<section id="{anchor}" class="panel{" bad" if _troubled(test) else ""}">'
        f'<h2>{_outcome_badge(test["outcome"])} <span class="mono">{_e(test["nodeid"])}</span>'
        f'</h2><div class="muted">seed <code>{_e(test["seed"])}</code> &middot; faults: '
        f'{faults}</div>{"".join(shown)}</section>'
    )


def _run(run: RunRecord, key: str) -> str:
    compensated = {True: "yes", False: '<span class="leak">no</span>', None: "n/a"}
    error = f'<span>error <code>{_e(run["error"])}</code></span>' if run["error"] else ""
    problems = "".join(f"<li>{_e(p)}</li>" for p in run["compensation_problems"])
    events = run["events"]
    slept = run.get("virtual_seconds_skipped") or 0
    return (
        f'<div class="run" id="{key}"><h3>flow <code>{_e(run["flow"])}</code> on the '
        f'{_e(run["engine"])} engine {_state_badge(run["state"])}</h3><div class="facts">'
        f'<span>faults injected <b>{_e(run["faults_injected"])}</b></span>'
        f'<span>compensated {compensated.get(run["compensated"], "?")}</span>{error}'
        + (f'<span>virtual time skipped <b>{_e(f"{slept:g}")} s</b></span>' if slept else "")
        + "</div>"
        + (f'<ul class="problems">{problems}</ul>' if problems else "")
        + (f"<figure>{graph(run)}</figure>" if run["atoms"] else "")
        + f"<figure>{timeline(run)}</figure>{_full_names(run)}"
        f"<details><summary>{len(events)} events</summary>{_event_table(events)}</details></div>"
    )


def _full_names(run: RunRecord) -> str:
    folded = [(label, name) for name, label in labels_of(run).items() if label != name]
    if not folded:
        return ""
    items = "".join(f"<li><code>{_e(label)}</code> = <code>{_e(name)}</code></li>"
                    for label, name in folded)
    return f'<details class="names"><summary>names in full</summary><ul>{items}</ul></details>'


def _event_table(events: Sequence[EventRecord]) -> str:
    rows = "".join(
        f'<tr class="{"inj" if e["injected"] else "err" if e["error"] else ""}"><td>'
        f'{_e(e["seq"])}</td><td>{e["at"] * 1000:.3f}</td><td class="mono">{_e(e["name"])}</td>'
        f'<td class="mono">{_e(_text(e))}</td><td>{"⚡ injected" * bool(e["injected"])}</td>'
        "</tr>"
        for e in events
    )
    head = "<tr><th>#</th><th>ms</th><th>atom</th><th>event</th><th></th></tr>"
    return f"<table>{head}{rows}</table>"


def _text(e: EventRecord) -> str:
    return event_text(
        e["kind"], e["what"], attempt=e["attempt"], old_state=e["old_state"], error=e["error"],
        seconds=e.get("seconds"), worker=e.get("worker"),
    )
