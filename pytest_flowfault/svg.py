"""The HTML report's pictures: each run's flow graph and timeline as inline SVG.

Drawn from a run record's stored facts (:mod:`pytest_flowfault.report`): each atom's state,
call counts and verdict, and the run's call pairs. Every string taken from the record is
escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from pytest_flowfault.report import EventRecord, RunRecord
from pytest_flowfault.targets import short_labels

GREY = ("#57606a", "#f6f8fa")
#: state -> (badge and stroke colour, pale fill)
STATES = {
    "SUCCESS": ("#1a7f37", "#dafbe1"),
    "REVERTED": ("#0969da", "#ddf4ff"),
    "FAILURE": ("#cf222e", "#ffebe9"),
    "REVERT_FAILURE": ("#5b2a86", "#f3e8ff"),
}
#: timeline bar style (also its CSS class) -> (fill, legend text)
BARS = {
    "exec-ok": ("#2da44e", "execute ok"),
    "exec-err": ("#b35900", "execute raised"),
    "exec-inj": ("#ff1f1f", "⚡ injected fault"),
    "rev-ok": ("#3b82f6", "revert ok"),
    "rev-err": ("#2e1065", "✖ revert failed"),
    "rev-inj": ("#ff1f1f", "⚡ injected revert fault"),
    "open": ("#8c959f", "never ended"),
}
DECISION = "#bf8700"
SLEEP = "#6639ba"
#: A skipped sleep's mark: ‖, since the pause sign (U+23F8) is in neither DejaVu nor
#: Liberation, the fonts a Linux desktop or CI browser has (it drew as an empty box there).
SLEEP_MARK = "\u2016"

#: An atom as drawn: a record's ``atoms`` entry, or a name only events or dependencies give.
Atom = dict[str, Any]


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _layers(run: RunRecord) -> tuple[list[Atom], dict[str, int]]:
    """The atoms (and names only events or dependencies mention) by longest path from a source."""
    atoms: dict[str, Atom] = {str(a["name"]): dict(a) for a in run["atoms"]}
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


def labels_of(run: RunRecord) -> dict[str, str]:
    """The label each atom of ``run`` gets in the graph and the timeline (name -> label)."""
    return _labels(_layers(run)[0])


def _labels(atoms: Sequence[Atom]) -> dict[str, str]:
    """Each atom's label: long names folded to their distinctive parts (the full name is
    in the element's title, shown on hover, and in the run's list of full names)."""
    return short_labels([str(atom["name"]) for atom in atoms], _LABEL)


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


def _note(atom: Atom) -> tuple[str, str, bool]:
    """(state, the box's note, whether it is marked not undone), from the atom's verdict."""
    state = str(atom.get("state") or "not run")
    note = state
    if "attempts" in atom:
        note += f" · ×{atom['attempts']} exec · ×{atom['reverts']} revert"
    note += " · no revert" if atom["has_revert"] is False else ""
    leaked = atom.get("verdict") == "not undone"
    return state, note + (" · NOT UNDONE" if leaked else ""), leaked


_BOX_H, _GAP_Y, _GAP_X, _PAD = 40, 14, 60, 10
_LABEL = 34  # characters of an atom's label; longer names are folded
#: px a picture takes at most: what a run's panel has inside html.py's 1,360 px page column
#: (less its paddings and borders), so that pictures are drawn unscaled on a 1,600 px page.
WIDTH = 1270


def graph(run: RunRecord) -> str:
    """The flow graph: a box per atom, in columns by longest path, an arrow per dependency.

    Columns that would make it wider than :data:`WIDTH` wrap into another band below.
    """
    atoms, layer = _layers(run)
    labels = _labels(atoms)
    columns: list[list[str]] = [[] for _ in range(max(layer.values()) + 1)]
    notes = {str(atom["name"]): _note(atom) for atom in atoms}
    for atom in atoms:
        columns[layer[str(atom["name"])]].append(str(atom["name"]))
    # 7.3 and 6.0 px: one character of the 12px monospace name and of the 10px note.
    widths = [
        max([150.0] + [max(len(labels[n]) * 7.3, len(notes[n][1]) * 6.0) + 24 for n in column])
        for column in columns
    ]
    boxes: dict[str, tuple[float, float, float]] = {}
    x, band_top, band_height, widest = float(_PAD), float(_PAD), 0.0, 0.0
    for column, width in zip(columns, widths):
        if x > _PAD and x + width + _PAD > WIDTH:  # wrap: a new band of columns below
            widest = max(widest, x - _GAP_X)
            x, band_top, band_height = float(_PAD), band_top + band_height + 2 * _GAP_Y, 0.0
        for n, name in enumerate(column):
            boxes[name] = (x, band_top + n * (_BOX_H + _GAP_Y), width)
        band_height = max(band_height, len(column) * (_BOX_H + _GAP_Y) - _GAP_Y)
        x += width + _GAP_X
    widest = max(widest, x - _GAP_X)
    parts = [_edge(boxes[before], boxes[after]) for before, after in run["dependencies"]]
    parts += [
        _box(atom, boxes[str(atom["name"])], notes[str(atom["name"])], labels[str(atom["name"])])
        for atom in atoms
    ]
    return _svg("graph", widest + _PAD, band_top + band_height + _PAD, "flow graph", parts)


def _edge(start: tuple[float, float, float], end: tuple[float, float, float]) -> str:
    (x1, y1, w1), (x2, y2, _) = start, end
    sx, sy, ex, ey = x1 + w1, y1 + _BOX_H / 2, x2 - 7, y2 + _BOX_H / 2
    mid = (sx + ex) / 2
    curve = f"M{sx:.1f},{sy:.1f} C{mid:.1f},{sy:.1f} {mid:.1f},{ey:.1f} {ex:.1f},{ey:.1f}"
    head = f"{x2:.1f},{ey:.1f} {ex:.1f},{ey - 4:.1f} {ex:.1f},{ey + 4:.1f}"
    return (
        _el("path", class_="edge", d=curve, fill="none", stroke="#57606a", stroke_width=1.5)
        + _el("polygon", points=head, fill="#57606a")
    )


def _box(
    atom: Atom, place: tuple[float, float, float], note: tuple[str, str, bool], label: str
) -> str:
    name, retry = str(atom["name"]), atom["kind"] == "retry"
    (bx, by, width), (state, text, leaked) = place, note
    stroke, fill = STATES.get(state, GREY)
    stroke = "#cf222e" if leaked else stroke
    middle = {"x": bx + width / 2, "text_anchor": "middle"}
    box = _el(
        "rect", x=bx, y=by, width=width, height=_BOX_H, rx=20 if retry else 4, fill=fill,
        stroke=stroke, stroke_width=3 if leaked else 2 if retry else 1.5,
        stroke_dasharray="6 3" if retry else "none",
    )
    return _el(
        "g",
        _el("title", _e(f"{name} ({atom['kind']}): {text}")) + box
        + _el("text", ("↻ " if retry else "") + _e(label), class_="m", y=by + 17,
              font_size=12, **middle)
        + _el("text", _e(text), y=by + 32, font_size=10, fill=stroke, **middle),
        class_=f"atom {'retry' if retry else 'task'}",
    )


@dataclass(frozen=True)
class _Scale:
    """Where a timeline puts things: ``x(at)`` for seconds into the run, lanes by atom."""

    end: float
    step: float
    total_ms: float
    lane_y: dict[str, int]
    height: int
    label_w: int = 270  # room for a label of _LABEL characters
    plot_w: int = WIDTH - 270 - 30  # less the label column and the 30 px right margin
    lane_h: int = 34
    top: int = 24

    def x(self, at: float) -> float:
        return self.label_w + at * 1000 / self.total_ms * self.plot_w

    @property
    def width(self) -> int:
        """The whole picture's: the label column, the plot and a 30 px right margin."""
        return self.label_w + self.plot_w + 30


def _scale(atoms: Sequence[Atom], events: Sequence[EventRecord]) -> _Scale:
    end = max([float(e["at"]) for e in events] + [1e-6])
    step = next(  # 1, 2 or 5 times a power of ten, for at most 12 ticks
        m * 10.0**k for k in range(-3, 9) for m in (1, 2, 5) if end * 1000 / (m * 10.0**k) <= 12
    )
    lanes = {str(a["name"]): 24 + n * 34 for n, a in enumerate(atoms)}
    return _Scale(end, step, -(-end * 1000 // step) * step, lanes, 24 + 34 * len(atoms) + 22)


def timeline(run: RunRecord) -> str:
    """The run's timeline: a lane per atom, phase bands, call bars, decisions and sleeps."""
    atoms, _ = _layers(run)
    events = run["events"]
    scale = _scale(atoms, events)
    labels = _labels(atoms)
    parts = [_lane(atom, n, scale, labels[str(atom["name"])]) for n, atom in enumerate(atoms)]
    parts += [_tick(n, scale) for n in range(round(scale.total_ms / scale.step) + 1)]
    parts += [_mark(e, scale) for e in events if e["kind"] in ("flow", "decision", "sleep")]
    parts += [_band(*phase, scale) for phase in _phases(events, scale.end)]
    by_seq: dict[int | None, EventRecord] = {e["seq"]: e for e in events}
    for start_seq, end_seq in run.get("calls", []):
        start = by_seq[start_seq]
        parts.append(_bar(float(start["at"]), by_seq[end_seq] if end_seq is not None else start,
                          scale))
    return _svg("timeline", scale.width, scale.height, f"timeline of {run['flow']}", parts)


def _lane(atom: Atom, n: int, scale: _Scale, short: str) -> str:
    name, y, retry = str(atom["name"]), scale.lane_y[str(atom["name"])], atom["kind"] == "retry"
    label = _el("title", _e(name)) + ("↻ " if retry else "") + _e(short)
    return _el(
        "g",
        _el("rect", x=0, y=y, width=scale.label_w + scale.plot_w + 10, height=scale.lane_h,
            fill="#f6f8fa" if n % 2 else "#ffffff")
        + _el("text", label, class_="m", x=scale.label_w - 8, y=y + scale.lane_h / 2 + 4,
              font_size=12, text_anchor="end", fill="#5b2a86" if retry else "#1f2328"),
        class_="lane", data_atom=name,
    )


def _tick(n: int, scale: _Scale) -> str:
    tick = round(n * scale.step, 6)
    return (
        _el("line", x1=scale.x(tick / 1000), y1=scale.top - 4, x2=scale.x(tick / 1000),
            y2=scale.height - 22, stroke="#d0d7de")
        + _el("text", f"{tick:g}{' ms' * (n == 0)}", x=scale.x(tick / 1000), y=scale.top - 8,
              text_anchor="middle", font_size=10, fill="#57606a")
    )


def _mark(e: EventRecord, scale: _Scale) -> str:
    """A flow state change (a dashed line), a retry decision (a tick) or a skipped sleep."""
    at = scale.x(e["at"])
    if e["kind"] == "flow":
        return (
            _el("line", x1=at, y1=scale.top, x2=at, y2=scale.height - 18, stroke="#1f2328",
                stroke_dasharray="3 3")
            + _el("text", f"flow {_e(e['what'])}", x=at, y=scale.height - 6, font_size=10,
                  text_anchor="start" if e["what"] == "RUNNING" else "end")
        )
    y = scale.lane_y[str(e["name"])]
    if e["kind"] == "decision":
        tip = f"{e['name']} decided {e['what']} at {e['at'] * 1000:.3f} ms"
        # Its word goes right of the tick, or left of it where the picture ends too soon
        # (7.5 px: a capital of the 10 px bold text).
        fits = at + 4 + 7.5 * len(str(e["what"])) <= scale.width
        side = {"x": at + 4} if fits else {"x": at - 4, "text_anchor": "end"}
        return _el(
            "g",
            _el("title", _e(tip))
            + _el("line", x1=at, y1=y + 2, x2=at, y2=y + scale.lane_h - 2, stroke=DECISION,
                  stroke_width=2.5)
            + _el("text", _e(e["what"]), y=y + 14, font_size=10, font_weight="bold",
                  fill=DECISION, **side),
            class_="decision",
        )
    tip = (f"{e['name']} slept {e['seconds']:g} s at {e['at'] * 1000:.3f} ms "
           f"(virtual time: skipped)")
    return _el(
        "g",
        _el("title", _e(tip))
        + _el("text", SLEEP_MARK, x=at, y=y + 30, font_size=10, fill=SLEEP, text_anchor="middle"),
        class_="sleep",
    )


def _phases(
    events: Sequence[EventRecord], end: float
) -> list[tuple[str, str, float, float, str]]:
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


def _band(name: str, kind: str, start: float, stop: float, state: str, scale: _Scale) -> str:
    return _el(
        "rect", _el("title", _e(f"{name}: {kind} phase, then {state}")), class_="phase",
        x=scale.x(start), y=scale.lane_y[name] + (3 if kind == "execute" else 18),
        width=max(scale.x(stop) - scale.x(start), 1.0), height=16 if kind == "execute" else 13,
        fill=STATES.get(state, GREY)[1],
    )


def _bar(start: float, e: EventRecord, scale: _Scale) -> str:
    """One call: ``e`` is the event that ended it, or its start event if it never ended."""
    kind, injected = ("exec" if e["kind"] == "execute" else "rev"), bool(e["injected"])
    worked = "ok" if e["what"] in ("ok", "returned") else "err"
    style = "open" if e["what"] == "start" else f"{kind}-{'inj' if injected else worked}"
    stop = scale.end if e["what"] == "start" else float(e["at"])
    y = scale.lane_y[str(e["name"])] + (5 if kind == "exec" else 19)
    x1, width = scale.x(start), max(scale.x(stop) - scale.x(start), 5.0)
    outcome = "never ended" if style == "open" else f"{e['what']} {e['error'] or ''}"
    tip = (
        f"{e['name']}: {e['kind']} attempt {e['attempt']}, {outcome.strip()}"
        f"{' [injected]' if injected else ''}, {start * 1000:.3f}–{stop * 1000:.3f} ms"
    )
    mark = "⚡" if injected else "✖" if style == "rev-err" else ""
    return _el(
        "g",
        _el("title", _e(tip))
        + _el("rect", x=x1, y=y, width=width, height=12 if kind == "exec" else 10, rx=1.5,
              fill=BARS[style][0])
        + (_el("text", mark, x=x1 + width + 1, y=y + 10, font_size=13, font_weight="bold",
               fill="#ff1f1f" if injected else BARS["rev-err"][0]) if mark else ""),
        class_=f"call {style}",
    )
