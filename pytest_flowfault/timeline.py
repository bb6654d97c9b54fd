"""A run's timeline as text: one aligned row per event, no line wider than :data:`WIDTH`.

Long atom names are folded in the atom column and long errors cut short in their rows;
both are spelled out in full below the table.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from pytest_flowfault.errors import describe_error
from pytest_flowfault.targets import short_labels

if TYPE_CHECKING:
    from pytest_flowfault.run import Event, FlowRun

#: Characters a line of the timeline takes at most.
WIDTH = 120
_NAME_COLUMN = 40  # characters: Octavia's names reach 125


def event_text(
    kind: str,
    what: str,
    *,
    attempt: int | None = None,
    old_state: str | None = None,
    error: str | None = None,
    seconds: float | None = None,
    worker: str | None = None,
) -> str:
    """An event in words, as the timeline and the HTML report's event table show it.

    >>> event_text("execute", "raised", attempt=2, error="ValueError('x')")
    "execute attempt 2: raised ValueError('x')"
    >>> event_text("task", "REVERTED", old_state="REVERTING")
    'task REVERTING -> REVERTED'
    >>> event_text("execute", "ok", attempt=1, worker="flowfault-1")
    'execute attempt 1 on flowfault-1: ok'
    """
    if kind in ("execute", "revert"):
        where = f" on {worker}" if worker is not None else ""
        return f"{kind} attempt {attempt}{where}: {what}" + (
            f" {error}" if error is not None else ""
        )
    if kind == "decision":
        return f"retry decided {what}"
    if kind == "sleep":
        return f"slept {seconds or 0:g} s (virtual time: skipped)"
    return f"{kind} {old_state or '?'} -> {what}" + (f" ({error})" if error is not None else "")


def format_timeline(run: FlowRun) -> str:
    """Render a run as an aligned table, one event a row, at most :data:`WIDTH` wide.

    Names longer than the atom column are folded there, and errors too long for their
    row cut short and numbered (``…[1]``); both are spelled out in full below the table.
    """
    labels = short_labels((event.name for event in run.events), _NAME_COLUMN)
    name_width = max([len(label) for label in labels.values()] + [4])
    heading = f"flow {run.flow_name!r} on the {run.engine} engine ended {run.state}"
    lines = [
        _fill(heading + (f" with {describe_error(run.error)}" if run.error is not None else "")),
        f"{'#':>4}  {'time':>8}  {'atom':<{name_width}}  event",
    ]
    cut: dict[str, int] = {}  # an error cut short in a row -> its number below the table
    for event in run.events:
        start = f"{event.seq:>4}  {event.at * 1000:>6.1f}ms  {labels[event.name]:<{name_width}}  "
        lines.append(_row(start, event, cut))
    folded = [(label, name) for name, label in labels.items() if label != name]
    if folded:
        lines.append("names in full:")
        lines += [_fill(f"{label} = {name}", "  ") for label, name in folded]
    if cut:
        lines.append("errors in full:")
        lines += [_fill(f"[{number}] {error}", "  ") for error, number in cut.items()]
    sleeps = [event.seconds for event in run.events if event.seconds is not None]
    if sleeps:
        lines.append(f"virtual time: {sum(sleeps):g} s skipped in {len(sleeps)} sleeps")
    lines += [_fill(f"recorder error: {problem}") for problem in run.recorder_errors]
    return "\n".join(lines)


def _row(start: str, event: Event, cut: dict[str, int]) -> str:
    """An event's row; an error that would make it wider than WIDTH is cut and numbered."""
    end = " [injected]" if event.injected else ""
    row = start + event.text + end
    if len(row) <= WIDTH or event.error is None:
        return row
    error = describe_error(event.error)
    mark = f"…[{cut.setdefault(error, len(cut) + 1)}]"
    kept = max(len(error) - (len(row) - WIDTH) - len(mark), 0)
    text = event_text(event.kind, event.what, attempt=event.attempt, old_state=event.old_state,
                      error=error[:kept] + mark, seconds=event.seconds, worker=event.worker)
    return start + text + end


def _fill(text: str, indent: str = "") -> str:
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent="    ")
