"""qstat's text made on the master (``protocol.StatusText``) with the commands' own formatters
(``qsys.cli.formats``, ``qsys.cli.xmlout``: pure functions over the rows), so the text is
byte for byte what the command would print from the same rows.

A listing is rows rendered now (running tasks: their state and usage move on their own)
followed by kept pending rows (``pending_rows.PendingRows``: each job's text per form, made
again only when the job changed); the text of a listing of nothing but kept rows that is
the very one of the last time (nothing changed) is served as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from functools import cache
from typing import Protocol

from qsys import protocol
from qsys.cli import formats, xmlout
from qsys.errors import ProtocolError
from qsys.records import JobRow, QueueInstanceRow

ROW_TEXTS: dict[str, Callable[[JobRow], str]] = {
    "": formats.job_text, "ext": formats.ext_text, "requested": formats.requested_text}
HEADERS = {"": formats.JOBS_HEADER, "ext": formats.EXT_HEADER, "requested": formats.JOBS_HEADER,
           "tasks": formats.TASKS_HEADER}


class Kept(Protocol):
    """Kept pending rows: their text in a form, their first row."""

    def text(self, form: Hashable, render: Callable[[JobRow], str]) -> str: ...

    def first(self) -> JobRow: ...


@cache
def master_zone() -> str:
    """The master's time zone, as the commands name theirs (read once: so does ``time``)."""
    return protocol.time_zone()


def jobs_text(rows: Sequence[JobRow], msg: protocol.StatusText, kept: Sequence[Kept] = (),
              texts: dict[Hashable, str] | None = None) -> str:
    """qstat's job listing in ``msg.form``: ``rows`` and, after them, ``kept`` pending rows
    (``texts``: the texts of listings of nothing but these kept rows, by form)."""
    if texts is not None and not rows:
        whole = (msg.form, tuple(msg.xml_forms))
        text = texts.get(whole)
        if text is None:
            text = texts[whole] = jobs_text(rows, msg, kept)
        return text
    if msg.form == "xml":
        forms = frozenset(msg.xml_forms)
        return xmlout.qstat_xml(rows, forms, _xml_texts(kept, forms, True))
    if msg.form not in HEADERS:
        raise ProtocolError(f"qstat has no form {msg.form!r}")
    if not rows and not kept:
        return ""
    # (-t: the SLAVE lines' indent is the first row's)
    indent = formats.tasks_indent([rows[0] if rows else kept[0].first()]) if msg.form == "tasks" else 0

    def tasks_text(row: JobRow) -> str:
        return formats.tasks_text(row, indent)

    render = tasks_text if msg.form == "tasks" else ROW_TEXTS[msg.form]
    form = (msg.form, indent)
    return formats.listing(HEADERS[msg.form], [*map(render, rows), *(k.text(form, render) for k in kept)])


def full_text(queues: Sequence[QueueInstanceRow], rows: Sequence[JobRow], msg: protocol.StatusText,
              kept: Sequence[Kept] = ()) -> str:
    """qstat -f in ``msg.form`` ("" or "xml"): ``rows``, then ``kept`` pending rows."""
    if msg.form == "xml":
        forms = frozenset(msg.xml_forms)
        return xmlout.qstat_full_xml(queues, rows, forms, _xml_texts(kept, forms, False))
    if msg.form:
        raise ProtocolError(f"qstat -f has no form {msg.form!r}")
    pending = "".join(k.text("full", formats.waiting_text) for k in kept)
    return formats.qstat_full(queues, rows, explain=msg.explain, pending_text=pending)


def _xml_texts(kept: Sequence[Kept], forms: frozenset[str], with_queue: bool) -> str:
    """The job_list elements of kept pending rows."""
    def render(row: JobRow) -> str:
        return xmlout.job_list_text(row, with_queue, 2, forms)

    form = ("xml", forms, with_queue)
    return "".join(k.text(form, render) for k in kept)
