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

Record = dict[str, Any]

TITLE = "pytest-flowfault resilience report"
#: Runs shown open per test; the rest (unless they leaked) fold into one <details>.
OPEN_RUNS = 3
_GREY = ("#57606a", "#f6f8fa")
#: state -> (badge and stroke colour, pale fill)
_STATES = {
    "SUCCESS": ("#1a7f37", "#dafbe1"),
    "REVERTED": ("#0969da", "#ddf4ff"),
    "FAILURE": ("#cf222e", "#ffebe9"),
    "REVERT_FAILURE": ("#5b2a86", "#f3e8ff"),
}
_OUTCOMES = {"passed": "#1a7f37", "failed": "#cf222e", "error": "#cf222e", "skipped": "#6e7781"}
#: timeline bar style (also its CSS class) -> (fill, legend text)
_BARS = {
    "exec-ok": ("#2da44e", "execute ok"),
    "exec-err": ("#b35900", "execute raised"),
    "exec-inj": ("#ff1f1f", "⚡ injected fault"),
    "rev-ok": ("#3b82f6", "revert ok"),
    "rev-err": ("#2e1065", "✖ revert failed"),
    "rev-inj": ("#ff1f1f", "⚡ injected revert fault"),
    "open": ("#8c959f", "never ended"),
}
_DECISION = "#bf8700"
_SLEEP = "#6639ba"
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
    return _badge(f"{state}{suffix}", _STATES.get(str(state), _GREY)[0])


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
        for fill, text in _BARS.values()
    )
    return (
        '<div class="panel legend"><b>Timelines:</b> one lane per atom; execute calls in the '
        "upper half, reverts in the lower half, each inside a pale band from the state change "
        f"that began it (RUNNING, REVERTING) to the next one. {bars}<span><i class=sw "
        f'style="width:3px;background:{_DECISION}"></i>retry decision</span><span '
        f'style="color:{_SLEEP}">\u23f8</span> a sleep virtual time skipped<br>'
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


def _run(run: Record, key: str) -> str:
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
        + (f"<figure>{_graph(run)}</figure>" if run["atoms"] else "")
        + f"<figure>{_timeline(run)}</figure><details><summary>{len(events)} events</summary>"
        f"{_event_table(events)}</details></div>"
    )


def _layers(run: Record) -> tuple[list[Record], dict[str, int]]:
    """The atoms (and names only events or dependencies mention) by longest path from a source."""
    atoms: dict[str, Record] = {str(a["name"]): a for a in run["atoms"]}
    named = [n for pair in run["dependencies"] for n in pair]
    for name in named + [e["name"] for e in run["events"] if e["kind"] != "flow"]:
        atoms.setdefault(str(name), {"name": str(name), "kind": "task", "has_revert": None})
    layer = dict.fromkeys(atoms, 0)
    for _ in atoms:  # at most one pass per atom, so that a cycle cannot loop forever
        changed = False
        for before, after in run["dependencies"]:
            if layer[after] < layer[before] + 1:
                layer[after], changed = layer[before] + 1, True
        if not changed:
            break
    position = {name: n for n, name in enumerate(atoms)}
    ordered = sorted(atoms.values(), key=lambda a: (layer[a["name"]], position[a["name"]]))
    return ordered, layer


def _short(name: str, limit: int = 30) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _el(tag: str, content: str = "", **attrs: object) -> str:
    """An element: ``class_`` spells ``class``, other ``_`` are ``-``; attributes are escaped."""
    spelled = "".join(
        f' {key.rstrip("_").replace("_", "-")}="{_e(f"{v:.1f}" if isinstance(v, float) else v)}"'
        for key, v in attrs.items()
    )
    return f"<{tag}{spelled}>{content}</{tag}>"


def _svg(kind: str, width: float, height: float, label: str, parts: list[str]) -> str:
    width, height = round(width), round(height)
    return _el(
        "svg", "".join(parts), class_=kind, xmlns="http://www.w3.org/2000/svg", width=width,
        height=height, viewBox=f"0 0 {width} {height}", role="img", aria_label=label,
    )


def _graph(run: Record) -> str:
    atoms, layer = _layers(run)
    events = run["events"]
    final = {e["name"]: e["what"] for e in events if e["kind"] in ("task", "retry")}
    columns: list[list[str]] = [[] for _ in range(max(layer.values()) + 1)]
    notes: dict[str, tuple[str, str, bool]] = {}
    for atom in atoms:
        name, state = str(atom["name"]), str(final.get(atom["name"], "not run"))
        columns[layer[name]].append(name)
        calls = [e["kind"] for e in events if e["name"] == name and e["what"] != "start"]
        note = f"{state} · ×{calls.count('execute')} exec"
        note += f" · ×{calls.count('revert')} revert"
        note += " · no revert" if atom["has_revert"] is False else ""
        # A task still in SUCCESS after its flow failed did work that nobody undid.
        leaked = run["state"] != "SUCCESS" and state == "SUCCESS" and atom["kind"] != "retry"
        notes[name] = (state, note + (" · NOT UNDONE" if leaked else ""), leaked)
    box_h, gap_y, gap_x, pad = 40, 14, 60, 10
    height = max(map(len, columns)) * (box_h + gap_y) - gap_y + 2 * pad
    boxes: dict[str, tuple[float, float, float]] = {}
    x = float(pad)
    for column in columns:
        # 7.3 and 6.0 px: one character of the 12px monospace name and of the 10px note.
        width = max([150.0] + [max(len(_short(n)) * 7.3, len(notes[n][1]) * 6.0) + 24
                               for n in column])
        top = (height - len(column) * (box_h + gap_y) + gap_y) / 2
        for n, name in enumerate(column):
            boxes[name] = (x, top + n * (box_h + gap_y), width)
        x += width + gap_x
    parts = []
    for before, after in run["dependencies"]:
        (x1, y1, w1), (x2, y2, _) = boxes[before], boxes[after]
        sx, sy, ex, ey = x1 + w1, y1 + box_h / 2, x2 - 7, y2 + box_h / 2
        mid = (sx + ex) / 2
        curve = f"M{sx:.1f},{sy:.1f} C{mid:.1f},{sy:.1f} {mid:.1f},{ey:.1f} {ex:.1f},{ey:.1f}"
        head = f"{x2:.1f},{ey:.1f} {ex:.1f},{ey - 4:.1f} {ex:.1f},{ey + 4:.1f}"
        parts.append(
            _el("path", class_="edge", d=curve, fill="none", stroke="#57606a", stroke_width=1.5)
            + _el("polygon", points=head, fill="#57606a")
        )
    for atom in atoms:
        name, retry = str(atom["name"]), atom["kind"] == "retry"
        (bx, by, width), (state, note, leaked) = boxes[name], notes[name]
        stroke, fill = _STATES.get(state, _GREY)
        stroke = "#cf222e" if leaked else stroke
        middle = {"x": bx + width / 2, "text_anchor": "middle"}
        box = _el(
            "rect", x=bx, y=by, width=width, height=box_h, rx=20 if retry else 4, fill=fill,
            stroke=stroke, stroke_width=3 if leaked else 2 if retry else 1.5,
            stroke_dasharray="6 3" if retry else "none",
        )
        parts.append(_el(
            "g",
            _el("title", _e(f"{name} ({atom['kind']}): {note}")) + box
            + _el("text", ("↻ " if retry else "") + _e(_short(name)), class_="m", y=by + 17,
                  font_size=12, **middle)
            + _el("text", _e(note), y=by + 32, font_size=10, fill=stroke, **middle),
            class_=f"atom {'retry' if retry else 'task'}",
        ))
    return _svg("graph", x - gap_x + pad, height, "flow graph", parts)


def _calls(events: Sequence[Record]) -> list[tuple[float, Record]]:
    """Each execute or revert call: its start time and the event that ended the attempt.

    A call that never ended is its start event (``what`` is ``start``).
    """
    started: dict[tuple[object, ...], Record] = {}
    calls = []
    for e in events:
        if e["kind"] in ("execute", "revert"):
            key = (e["kind"], e["name"], e["attempt"])
            if e["what"] == "start":
                started[key] = e
            else:
                calls.append((float(started.pop(key, e)["at"]), e))
    return calls + [(float(e["at"]), e) for e in started.values()]


def _phases(events: Sequence[Record], end: float) -> list[tuple[str, str, float, float, str]]:
    """Spans from RUNNING or REVERTING to the state the engine moved the atom to next."""
    opened: dict[str, tuple[str, float]] = {}
    phases = []
    for e in events:
        if e["kind"] in ("task", "retry"):
            name = str(e["name"])
            if name in opened:
                phases.append((name, *opened.pop(name), float(e["at"]), str(e["what"])))
            if e["what"] in ("RUNNING", "REVERTING"):
                opened[name] = ("execute" if e["what"] == "RUNNING" else "revert", float(e["at"]))
    return phases + [(name, kind, at, end, "?") for name, (kind, at) in opened.items()]


def _timeline(run: Record) -> str:
    atoms, _ = _layers(run)
    events = run["events"]
    end = max([float(e["at"]) for e in events] + [1e-6])
    step = next(  # 1, 2 or 5 times a power of ten, for at most 12 ticks
        m * 10.0**k for k in range(-3, 9) for m in (1, 2, 5) if end * 1000 / (m * 10.0**k) <= 12
    )
    total_ms = -(-end * 1000 // step) * step
    label_w, plot_w, lane_h, top = 230, 1000, 34, 24
    height = top + lane_h * len(atoms) + 22

    def x(at: float) -> float:
        return label_w + at * 1000 / total_ms * plot_w

    lane_y = {str(a["name"]): top + n * lane_h for n, a in enumerate(atoms)}
    parts = []
    for n, atom in enumerate(atoms):
        name, y, retry = str(atom["name"]), top + n * lane_h, atom["kind"] == "retry"
        label = _el("title", _e(name)) + ("↻ " if retry else "") + _e(_short(name))
        parts.append(_el(
            "g",
            _el("rect", x=0, y=y, width=label_w + plot_w + 10, height=lane_h,
                fill="#f6f8fa" if n % 2 else "#ffffff")
            + _el("text", label, class_="m", x=label_w - 8, y=y + lane_h / 2 + 4, font_size=12,
                  text_anchor="end", fill="#5b2a86" if retry else "#1f2328"),
            class_="lane", data_atom=name,
        ))
    for n in range(round(total_ms / step) + 1):
        tick = round(n * step, 6)
        parts.append(
            _el("line", x1=x(tick / 1000), y1=top - 4, x2=x(tick / 1000), y2=height - 22,
                stroke="#d0d7de")
            + _el("text", f"{tick:g}{' ms' * (n == 0)}", x=x(tick / 1000), y=top - 8,
                  text_anchor="middle", font_size=10, fill="#57606a")
        )
    for e in events:
        at = x(e["at"])
        if e["kind"] == "flow":
            parts.append(
                _el("line", x1=at, y1=top, x2=at, y2=height - 18, stroke="#1f2328",
                    stroke_dasharray="3 3")
                + _el("text", f"flow {_e(e['what'])}", x=at, y=height - 6, font_size=10,
                      text_anchor="start" if e["what"] == "RUNNING" else "end")
            )
        elif e["kind"] == "decision":
            y = lane_y[str(e["name"])]
            tip = f"{e['name']} decided {e['what']} at {e['at'] * 1000:.3f} ms"
            parts.append(_el(
                "g",
                _el("title", _e(tip))
                + _el("line", x1=at, y1=y + 2, x2=at, y2=y + lane_h - 2, stroke=_DECISION,
                      stroke_width=2.5)
                + _el("text", _e(e["what"]), x=at + 4, y=y + 14, font_size=10,
                      font_weight="bold", fill=_DECISION),
                class_="decision",
            ))
        elif e["kind"] == "sleep":
            y = lane_y[str(e["name"])]
            tip = (f"{e['name']} slept {e['seconds']:g} s at {e['at'] * 1000:.3f} ms "
                   f"(virtual time: skipped)")
            parts.append(_el(
                "g",
                _el("title", _e(tip))
                + _el("text", "\u23f8", x=at, y=y + 30, font_size=10, fill=_SLEEP,
                      text_anchor="middle"),
                class_="sleep",
            ))
    for name, kind, start, stop, state in _phases(events, end):
        parts.append(_el(
            "rect", _el("title", _e(f"{name}: {kind} phase, then {state}")), class_="phase",
            x=x(start), y=lane_y[name] + (3 if kind == "execute" else 18),
            width=max(x(stop) - x(start), 1.0), height=16 if kind == "execute" else 13,
            fill=_STATES.get(state, _GREY)[1],
        ))
    for start, e in _calls(events):
        kind, injected = ("exec" if e["kind"] == "execute" else "rev"), bool(e["injected"])
        worked = "ok" if e["what"] in ("ok", "returned") else "err"
        style = "open" if e["what"] == "start" else f"{kind}-{'inj' if injected else worked}"
        stop = end if e["what"] == "start" else float(e["at"])
        y = lane_y[str(e["name"])] + (5 if kind == "exec" else 19)
        x1, width = x(start), max(x(stop) - x(start), 5.0)
        outcome = "never ended" if style == "open" else f"{e['what']} {e['error'] or ''}"
        tip = (
            f"{e['name']}: {e['kind']} attempt {e['attempt']}, {outcome.strip()}"
            f"{' [injected]' if injected else ''}, {start * 1000:.3f}–{stop * 1000:.3f} ms"
        )
        mark = "⚡" if injected else "✖" if style == "rev-err" else ""
        parts.append(_el(
            "g",
            _el("title", _e(tip))
            + _el("rect", x=x1, y=y, width=width, height=12 if kind == "exec" else 10, rx=1.5,
                  fill=_BARS[style][0])
            + (_el("text", mark, x=x1 + width + 1, y=y + 10, font_size=13, font_weight="bold",
                   fill="#ff1f1f" if injected else _BARS["rev-err"][0]) if mark else ""),
            class_=f"call {style}",
        ))
    return _svg("timeline", label_w + plot_w + 30, height, f"timeline of {run['flow']}", parts)


def _describe(e: Record) -> str:
    if e["kind"] in ("execute", "revert"):
        error = f" {e['error']}" if e["error"] is not None else ""
        return f"{e['kind']} attempt {e['attempt']}: {e['what']}{error}"
    if e["kind"] == "decision":
        return f"retry decided {e['what']}"
    error = f" ({e['error']})" if e["error"] is not None else ""
    return f"{e['kind']} {e['old_state'] or '?'} -> {e['what']}{error}"


def _event_table(events: Sequence[Record]) -> str:
    rows = "".join(
        f'<tr class="{"inj" if e["injected"] else "err" if e["error"] else ""}"><td>'
        f'{_e(e["seq"])}</td><td>{e["at"] * 1000:.3f}</td><td class="mono">{_e(e["name"])}</td>'
        f'<td class="mono">{_e(_describe(e))}</td><td>{"⚡ injected" * bool(e["injected"])}</td>'
        "</tr>"
        for e in events
    )
    head = "<tr><th>#</th><th>ms</th><th>atom</th><th>event</th><th></th></tr>"
    return f"<table>{head}{rows}</table>"
