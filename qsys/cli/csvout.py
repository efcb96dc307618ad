"""qstat --csv (our addition): the row forms of qstat as comma-separated values.

One header line, then one line per row, quoted as Python's csv module quotes. Times are
ISO 8601 in local time as in the XML output, so a spreadsheet and a script read the same.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from qsys.cli.formats import format_iso, is_running
from qsys.records import JobRow, QueueInstanceRow

JOB_COLUMNS = ["job_id", "prior", "name", "user", "state", "submit_start_at", "queue", "slots", "ja_task_id"]
QUEUE_COLUMNS = ["queuename", "qtype", "resv", "used", "tot", "load_avg", "arch", "states"]


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _job_cells(row: JobRow) -> list[object]:
    when = row.start_time if is_running(row) and row.start_time else row.submit_time
    return [row.job_id, f"{row.priority:.5f}", row.name, row.owner, row.state, format_iso(when),
            row.queue, row.slots, row.tasks if row.is_array else ""]


def _queue_cells(queue: QueueInstanceRow) -> list[object]:
    load = "" if queue.load_avg is None else f"{queue.load_avg:.2f}"
    return [queue.name, queue.qtype, queue.reserved, queue.used, queue.total, load, queue.arch, queue.states]


def qstat_jobs_csv(rows: Sequence[JobRow]) -> str:
    """qstat --csv: the default listing, one line per job or running task."""
    return _table(JOB_COLUMNS, (_job_cells(r) for r in rows))


def qstat_full_csv(queues: Sequence[QueueInstanceRow], rows: Sequence[JobRow]) -> str:
    """qstat -f --csv: one line per queue instance and job running there (a queue with no
    job gets one line with empty job cells), then the pending jobs with empty queue cells."""
    lines: list[list[object]] = []
    for queue in queues:
        here = [r for r in rows if is_running(r) and (r.queue == queue.name or
                any(s.get("queue") == queue.name for s in r.slave_queues))]
        if not here:
            lines.append(_queue_cells(queue) + [""] * len(JOB_COLUMNS))
        lines += [_queue_cells(queue) + _job_cells(r) for r in here]
    lines += [[""] * len(QUEUE_COLUMNS) + _job_cells(r) for r in rows if not is_running(r)]
    return _table(QUEUE_COLUMNS + JOB_COLUMNS, lines)
