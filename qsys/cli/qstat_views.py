"""qstat -g c (cluster queue summary), -urg (urgency) and -pri (priority) in Grid Engine
8.1.9's layouts, text and XML. Pure functions over what the master sends."""

from __future__ import annotations

from collections.abc import Sequence

from qsys.cli.formats import JOBS_HEADER, QUEUE_WIDTH, cut, format_datetime, row_start, task_column
from qsys.records import ClusterQueueRow, JobRow

# ----------------------------------------------------------------------------- -g c

CQ_HEADER = ("CLUSTER QUEUE                   CQLOAD   USED    RES  AVAIL  TOTAL aoACDS  cdsuE  ")


def cluster_summary(rows: Sequence[ClusterQueueRow]) -> str:
    """qstat -g c: one line per cluster queue."""
    lines = [CQ_HEADER, "-" * 80]
    for row in rows:
        load_text = "-NA-" if row.load is None else f"{float(row.load):.2f}"
        lines.append(f"{row.name[:30]:<30} {load_text:>7} {row.used:>6} {row.resv:>6} "
                     f"{row.available:>6} {row.total:>6} {row.temp_disabled:>6} "
                     f"{row.manual_intervention:>6} ")
    return "".join(line + "\n" for line in lines)


def cluster_summary_xml(rows: Sequence[ClusterQueueRow]) -> str:
    from qsys.cli.xmlout import QSTAT_OPEN, XML_DECL, escape

    lines = [XML_DECL, QSTAT_OPEN]
    for row in rows:
        lines.append("  <cluster_queue_summary>")
        lines.append(f"    <name>{escape(row.name)}</name>")
        if row.load is not None:
            lines.append(f"    <load>{float(row.load):.5f}</load>")
        for tag in ("used", "resv", "available", "total", "temp_disabled", "manual_intervention"):
            lines.append(f"    <{tag}>{getattr(row, tag)}</{tag}>")
        lines.append("  </cluster_queue_summary>")
    lines.append("</job_info>")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- -urg, -pri

_HEAD = "job-ID  prior  "
_URG_COLS = " urg      rrcontr  wtcontr  dlcontr "
_TAIL = " name       user         state submit/start at     "
URG_HEADER = (f"{_HEAD} nurg   {_URG_COLS}{_TAIL} deadline           {'queue':<{QUEUE_WIDTH}} slots ja-task-ID ")
PRI_HEADER = (f"{_HEAD} nurg    npprior ntckts   ppri{_TAIL}{'queue':<{QUEUE_WIDTH}} slots ja-task-ID ")
# Grid Engine's rule under the header: the plain one plus a fixed piece per option
_RULE = len(JOBS_HEADER) - 1
URG_RULE = "-" * (_RULE + 64)
PRI_RULE = "-" * (_RULE + 35)


def _eight(value: float) -> str:
    """GE's compact number in an 8-wide column: integral, or %.3g when huge."""
    return f"{value:8.3g} " if value > 99999999 else f"{value:8.0f} "


def _figures(row: JobRow) -> dict[str, float]:
    return row.urgency or {}


def _after_state(row: JobRow) -> str:
    when = row.start_time if row.queue and row.start_time else row.submit_time
    return f"{format_datetime(when)} "


def _start(row: JobRow) -> str:
    """job-ID and prior, as the plain listing prints them."""
    return row_start(row, with_time=False)[:16]


def _who_state(row: JobRow) -> str:
    return f"{cut(row.name, 10)} {cut(row.owner, 12)} {cut(row.state, 5)} "


def _end(row: JobRow) -> str:
    return f"{cut(row.queue, QUEUE_WIDTH)} {row.slots:>5} {task_column(row)}"


def urgency_listing(rows: Sequence[JobRow]) -> str:
    """qstat -urg."""
    if not rows:
        return ""
    lines = [URG_HEADER, URG_RULE]
    for row in rows:
        fig = _figures(row)
        lines.append(_start(row) + f"{fig.get('nurg', 0.0):7.5f} "
                     + "".join(_eight(fig.get(k, 0.0)) for k in ("urg", "rrcontr", "wtcontr", "dlcontr"))
                     + _who_state(row) + _after_state(row) + " " * 20 + _end(row))
    return "".join(line + "\n" for line in lines)


def priority_listing(rows: Sequence[JobRow]) -> str:
    """qstat -pri."""
    if not rows:
        return ""
    lines = [PRI_HEADER, PRI_RULE]
    for row in rows:
        fig = _figures(row)
        lines.append(_start(row) + f"{fig.get('nurg', 0.0):7.5f} {fig.get('npprior', 0.0):7.5f} "
                     f"{fig.get('ntckts', 0.0):7.5f} {int(fig.get('ppri', 0)):5d} "
                     + _who_state(row) + _after_state(row) + _end(row))
    return "".join(line + "\n" for line in lines)


def with_urgency_xml(text: str, rows: Sequence[JobRow], pri: bool) -> str:
    """Add GE's -urg/-pri elements (JB_nurg, JB_urg, ... / JB_nppri, JAT_ntix, JB_priority)
    after each job_list's JAT_prio line of a qstat -xml document."""
    out: list[str] = []
    queue = list(rows)
    for line in text.splitlines():
        out.append(line)
        if line.strip().startswith("<JAT_prio>") and queue:
            fig = _figures(queue.pop(0))
            pad = line[: len(line) - len(line.lstrip())]
            out.append(f"{pad}<JB_nurg>{fig.get('nurg', 0.0):.5f}</JB_nurg>")
            if pri:
                out.append(f"{pad}<JB_nppri>{fig.get('npprior', 0.0):.5f}</JB_nppri>")
                out.append(f"{pad}<JAT_ntix>{fig.get('ntckts', 0.0):.5f}</JAT_ntix>")
            else:
                for tag, key in (("JB_urg", "urg"), ("JB_rrcontr", "rrcontr"), ("JB_wtcontr", "wtcontr"),
                                 ("JB_dlcontr", "dlcontr")):
                    out.append(f"{pad}<{tag}>{fig.get(key, 0.0):.0f}</{tag}>")
            if pri:
                out.append(f"{pad}<JB_priority>{int(fig.get('ppri', 0))}</JB_priority>")
    return "\n".join(out) + "\n"
