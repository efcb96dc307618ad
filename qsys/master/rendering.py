"""qstat's text made on the master (``protocol.StatusText``) with the commands' own formatters
(``qsys.cli.formats``, ``qsys.cli.xmlout``: pure functions over the rows), so the text is
byte for byte what the command would print from the same rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

from qsys import protocol
from qsys.cli import formats, xmlout
from qsys.errors import ProtocolError
from qsys.records import JobRow, QueueInstanceRow

JOB_FORMS: dict[str, Callable[[Sequence[JobRow]], str]] = {
    "": formats.qstat_jobs, "ext": formats.qstat_jobs_ext, "requested": formats.qstat_jobs_requested,
    "tasks": formats.qstat_jobs_tasks}


@cache
def master_zone() -> str:
    """The master's time zone, as the commands name theirs (read once: so does ``time``)."""
    return protocol.time_zone()


def jobs_text(rows: Sequence[JobRow], msg: protocol.StatusText) -> str:
    """qstat's job listing in ``msg.form``."""
    if msg.form == "xml":
        return xmlout.qstat_xml(rows, frozenset(msg.xml_forms))
    return _job_form(msg.form)(rows)


def full_text(queues: Sequence[QueueInstanceRow], rows: Sequence[JobRow], msg: protocol.StatusText) -> str:
    """qstat -f in ``msg.form`` ("" or "xml")."""
    if msg.form == "xml":
        return xmlout.qstat_full_xml(queues, rows, frozenset(msg.xml_forms))
    if msg.form:
        raise ProtocolError(f"qstat -f has no form {msg.form!r}")
    return formats.qstat_full(queues, rows, explain=msg.explain)


def _job_form(form: str) -> Callable[[Sequence[JobRow]], str]:
    try:
        return JOB_FORMS[form]
    except KeyError:
        raise ProtocolError(f"qstat has no form {form!r}") from None
