"""--csv (our addition): the tables of qstat and qhost as comma-separated values (qacct's
are in ``qsys.cli.acctout``).

One header line, then one line per row, quoted as Python's csv module quotes. Times are
ISO 8601 in local time as in the XML output, so a spreadsheet and a script read the same.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from qsys.cli.formats import format_iso, is_running
from qsys.records import ClusterQueueRow, HostRow, JobRow, QueueInstanceRow

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


CLUSTER_QUEUE_COLUMNS = ["cluster_queue", "cqload", "used", "res", "avail", "total", "aoACDS", "cdsuE"]


def cluster_queues_csv(rows: Sequence[ClusterQueueRow]) -> str:
    """qstat -g c --csv: one line per cluster queue, the columns of the summary."""
    return _table(CLUSTER_QUEUE_COLUMNS, ([r.name, "" if r.load is None else f"{r.load:.2f}", r.used, r.resv,
                                          r.available, r.total, r.temp_disabled, r.manual_intervention]
                                         for r in rows))


HOST_COLUMNS = ["hostname", "arch", "ncpu", "nsoc", "ncor", "nthr", "load", "mem_total", "mem_used",
                "swap_total", "swap_used"]
HOST_QUEUE_COLUMNS = ["queuename", "qtype", "resv", "used", "tot", "states"]


def qhost_csv(hosts: Sequence[HostRow], *, queues: bool = False, resources: bool = False) -> str:
    """qhost --csv: one line per exec host, its memory in bytes; -F adds a column per load
    value, -q one line per queue instance on the host (after the host's own line)."""
    names = sorted({name for h in hosts for name in h.load_values}) if resources else []
    header = HOST_COLUMNS + names + (HOST_QUEUE_COLUMNS if queues else [])
    lines: list[list[object]] = []
    for host in hosts:
        cells: list[object] = [host.name, host.arch, host.ncpu, host.nsoc, host.ncor, host.nthr,
                               "" if host.load is None else f"{host.load:.2f}", host.mem_total, host.mem_used,
                               host.swap_total, host.swap_used, *(host.load_values.get(n, "") for n in names)]
        lines.append(cells + ([""] * len(HOST_QUEUE_COLUMNS) if queues else []))
        for qi in host.queues if queues else []:
            lines.append(cells + [qi.name.partition("@")[0], qi.qtype, qi.reserved, qi.used, qi.total, qi.states])
    return _table(header, lines)
