"""qstat's text made on the master (``protocol.StatusText``) with the commands' own formatters
(``qsys.cli.formats``, ``qsys.cli.xmlout``: pure functions over the rows), so the text is
byte for byte what the command would print from the same rows.

A listing of 5,000 pending jobs is 5,000 rows' texts, and after a change (one job submitted,
one started) nearly all of them are what they were: ``KeptLines`` keeps each row's text per
form while the row is the same object (``status.RowMaker`` keeps a job's rows until the job
changes), so a listing renders only the rows that changed and joins the rest.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Sequence
from functools import cache

from qsys import protocol
from qsys.cli import formats, xmlout
from qsys.errors import ProtocolError
from qsys.records import JobRow, QueueInstanceRow

ROW_TEXTS: dict[str, Callable[[JobRow], str]] = {
    "": formats.job_text, "ext": formats.ext_text, "requested": formats.requested_text}
HEADERS = {"": formats.JOBS_HEADER, "ext": formats.EXT_HEADER, "requested": formats.JOBS_HEADER,
           "tasks": formats.TASKS_HEADER}


MAX_WHOLE = 16  # listings' texts kept (one per form)


@cache
def master_zone() -> str:
    """The master's time zone, as the commands name theirs (read once: so does ``time``)."""
    return protocol.time_zone()


class KeptLines:
    """Each row's text per form, made once per row object (the rows of a job that did not
    change are the same objects from one listing to the next) and dropped with its row."""

    def __init__(self) -> None:
        self._forms: dict[Hashable, dict[int, tuple[weakref.KeyedRef, str]]] = {}
        self._whole: dict[Hashable, tuple[Sequence[JobRow], str]] = {}  # form -> the last listing's rows, text

    def whole(self, form: Hashable, rows: Sequence[JobRow], make: Callable[[], str]) -> str:
        """The text of a listing of ``rows`` in ``form``: the last one's if it was of the very
        same list (the rows of a listing of unchanged jobs are: ``status.job_rows``)."""
        last = self._whole.get(form)
        if last is not None and last[0] is rows:
            return last[1]
        text = make()
        if len(self._whole) >= MAX_WHOLE:
            self._whole.clear()
        self._whole[form] = (rows, text)
        return text

    def texts(self, form: Hashable, render: Callable[[JobRow], str]) -> Callable[[JobRow], str]:
        """The text of a row in ``form``: the kept one, or ``render(row)``, kept."""
        kept = self._forms.get(form)
        if kept is None:
            kept = self._forms[form] = {}
        get, gone = kept.get, _dropper(kept)

        def text_of(row: JobRow) -> str:
            entry = get(id(row))  # (an entry leaves when its row dies: its id is this row's)
            if entry is not None:
                return entry[1]
            text = render(row)
            kept[id(row)] = (weakref.KeyedRef(row, gone, id(row)), text)
            return text

        return text_of

    def kept(self, form: Hashable) -> int:
        """How many rows' texts are kept in ``form``."""
        return len(self._forms.get(form, ()))


def _dropper(kept: dict[int, tuple[weakref.KeyedRef, str]]) -> Callable[[weakref.KeyedRef], None]:
    def gone(ref: weakref.KeyedRef) -> None:
        kept.pop(ref.key, None)

    return gone


def _texts(kept: KeptLines | None, form: Hashable, render: Callable[[JobRow], str]) -> Callable[[JobRow], str]:
    return render if kept is None else kept.texts(form, render)


def _xml_texts(kept: KeptLines | None, forms: frozenset[str]) -> Callable[[JobRow, bool, int], str]:
    """``xmlout.job_list_text`` of rows, kept per -ext/-r/-t forms, queue column and depth."""
    made: dict[tuple[bool, int], Callable[[JobRow], str]] = {}

    def text_of(row: JobRow, with_queue: bool, depth: int) -> str:
        texts = made.get((with_queue, depth))
        if texts is None:
            def render(row: JobRow) -> str:
                return xmlout.job_list_text(row, with_queue, depth, forms)

            texts = made[(with_queue, depth)] = _texts(kept, ("xml", forms, with_queue, depth), render)
        return texts(row)

    return text_of


def jobs_text(rows: Sequence[JobRow], msg: protocol.StatusText, kept: KeptLines | None = None) -> str:
    """qstat's job listing in ``msg.form`` (the rows' texts kept in ``kept``)."""
    if kept is None:
        return _jobs_text(rows, msg, None)
    return kept.whole((msg.form, tuple(msg.xml_forms)), rows, lambda: _jobs_text(rows, msg, kept))


def _jobs_text(rows: Sequence[JobRow], msg: protocol.StatusText, kept: KeptLines | None) -> str:
    if msg.form == "xml":
        forms = frozenset(msg.xml_forms)
        return xmlout.qstat_xml(rows, forms, _xml_texts(kept, forms))
    if msg.form not in HEADERS:
        raise ProtocolError(f"qstat has no form {msg.form!r}")
    if not rows:
        return ""
    indent = formats.tasks_indent(rows) if msg.form == "tasks" else 0  # (-t: the SLAVE lines' indent is the first row's)

    def tasks_text(row: JobRow) -> str:
        return formats.tasks_text(row, indent)

    render = tasks_text if msg.form == "tasks" else ROW_TEXTS[msg.form]
    return formats.listing(HEADERS[msg.form], map(_texts(kept, (msg.form, indent), render), rows))


def full_text(queues: Sequence[QueueInstanceRow], rows: Sequence[JobRow], msg: protocol.StatusText,
              kept: KeptLines | None = None) -> str:
    """qstat -f in ``msg.form`` ("" or "xml")."""
    if msg.form == "xml":
        forms = frozenset(msg.xml_forms)
        return xmlout.qstat_full_xml(queues, rows, forms, _xml_texts(kept, forms))
    if msg.form:
        raise ProtocolError(f"qstat -f has no form {msg.form!r}")
    return formats.qstat_full(queues, rows, explain=msg.explain,
                              text_of=_texts(kept, "full", formats.waiting_text))
