"""Reading the accounting file: records, selections and usage totals for ``qacct``.

The master appends one 45-field line per finished task (``qsys.accounting_file`` defines
it). This module reads the typed records back, selects them the way ``qacct`` options ask
(owner, group, queue, host, PE, project, department, account, resource requests, start
time window, job id/name/pattern) and sums their usage per group of records.

Units as the file holds them: times in seconds, ``ru_maxrss`` and the other ``ru_*rss``
values in kilobytes (what ``getrusage(2)`` gives on Linux), ``mem`` in GB seconds, ``io``
in GB, ``maxvmem`` in bytes.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qsys.accounting_file import devices_file, parse_devices_line, parse_record
from qsys.errors import InvalidRequest, NotFound
from qsys.grammar.requests import parse_resource_list

# the grouping columns of the summary table: option key, record field, column title
GROUP_COLUMNS = (
    ("host", "hostname", "HOST"),
    ("queue", "qname", "CLUSTER QUEUE"),
    ("group", "group", "GROUP"),
    ("owner", "owner", "OWNER"),
    ("project", "project", "PROJECT"),
    ("department", "department", "DEPARTMENT"),
    ("pe", "granted_pe", "PE"),
    ("slots", "slots", "SLOTS"),
    ("ar", "arid", "AR"),  # qacct -ar: the advance reservation (0: none)
)
USAGE_KEYS = ("ru_wallclock", "ru_utime", "ru_stime", "cpu", "mem", "io", "iow")


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Every record of an accounting file, in file order."""
    try:
        handle = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise NotFound(f"error: unable to open accounting file \"{path}\"") from None
    with handle:
        yield from records_of(handle)


def with_devices(records: Iterable[dict[str, Any]], accounting: Path) -> Iterator[dict[str, Any]]:
    """``records`` with the resource map ids their tasks held (``devices``, from the file
    beside ``accounting``, see ``qsys.master.accounting``) where there are any."""
    try:
        with open(devices_file(accounting), encoding="utf-8", errors="replace") as handle:
            granted = granted_devices(handle)
    except FileNotFoundError:
        granted = {}
    return devices_joined(records, granted)


def granted_devices(lines: Iterable[str]) -> dict[tuple[int, int, int], str]:
    """(job, task, start time) -> the device ids of the lines of an ``accounting_devices`` file."""
    granted: dict[tuple[int, int, int], str] = {}
    for line in lines:
        found = parse_devices_line(line)
        if found is not None:
            granted[found[0]] = found[1]
    return granted


def devices_joined(records: Iterable[dict[str, Any]],
                   granted: dict[tuple[int, int, int], str]) -> Iterator[dict[str, Any]]:
    """``records`` with their tasks' device ids from ``granted`` where there are any."""
    for record in records:
        if granted and record.get("pe_taskid", "NONE") == "NONE":
            devices = granted.get((record["job_number"], record["task_number"], record["start_time"]))
            if devices is not None:
                record["devices"] = devices
        yield record


def records_of(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The records of accounting file lines (comments and damaged lines left out)."""
    for line in lines:
        record = parse_record(line)
        if record is not None:
            yield record


# ----------------------------------------------------------------------------- times


def time_window(begin: float | None, end: float | None, days: float | None,
                now: float | None = None) -> tuple[float | None, float | None]:
    """The start-time window of -b/-e/-d: -d counts forward from -b, back from -e, or back
    from now when neither is given."""
    if days is not None:
        span = days * 86400
        if begin is not None and end is None:
            end = begin + span
        elif end is not None and begin is None:
            begin = end - span
        elif begin is None and end is None:
            begin = (time.time() if now is None else now) - span
    return begin, end


# ----------------------------------------------------------------------------- selection


@dataclass
class Selection:
    """What ``qacct`` options ask for. A group option given without a value (``-o``) only
    adds a column; with a value it also filters (shell patterns allowed)."""

    owner: str | None = None
    group: str | None = None
    queue: str | None = None
    host: str | None = None
    pe: str | None = None
    project: str | None = None
    department: str | None = None
    account: str | None = None
    slots: int | None = None
    ar: int | None = None  # -ar ar_id
    begin: float | None = None
    end: float | None = None
    requests: dict[str, str] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)  # option keys of GROUP_COLUMNS, in order
    job: str | None = None  # -j value: id, name or pattern; "" for every job
    tasks: tuple[int, int, int] | None = None  # -t first-last:step

    def matches(self, record: dict[str, Any]) -> bool:
        checks = ((self.owner, "owner"), (self.group, "group"), (self.project, "project"),
                  (self.department, "department"), (self.account, "account"), (self.pe, "granted_pe"))
        for wanted, name in checks:
            if wanted is not None and not fnmatch.fnmatchcase(str(record[name]), wanted):
                return False
        if self.host is not None and not _host_matches(self.host, record["hostname"]):
            return False
        if self.queue is not None and not _queue_matches(self.queue, record):
            return False
        if self.slots is not None and record["slots"] != self.slots:
            return False
        if self.ar is not None and int(record.get("arid") or 0) != self.ar:
            return False
        start = record["start_time"]
        if self.begin is not None and start < self.begin:
            return False
        if self.end is not None and start > self.end:
            return False
        if self.requests and not _requests_match(self.requests, record["category"]):
            return False
        if self.tasks is not None:
            first, last, step = self.tasks
            task = record["task_number"]
            if not (first <= task <= last and (task - first) % step == 0):
                return False
        return True


def _short(host: str) -> str:
    return host.split(".", 1)[0].lower()


def _host_matches(wanted: str, host: str) -> bool:
    return fnmatch.fnmatchcase(host.lower(), wanted.lower()) or _short(wanted) == _short(host)


def _queue_matches(wanted: str, record: dict[str, Any]) -> bool:
    """A cluster queue (``all.q``, patterns allowed) or a queue instance ``all.q@host``."""
    cqueue, at, host = wanted.partition("@")
    if not fnmatch.fnmatchcase(record["qname"], cqueue):
        return False
    return not at or _host_matches(host, record["hostname"])


def category_requests(category: str) -> dict[str, str]:
    """The ``-l`` requests of a category text (``-l h_rt=60,mem=1G -q all.q``)."""
    words = category.split()
    found: dict[str, str] = {}
    for flag, value in zip(words, words[1:], strict=False):
        if flag == "-l":
            try:
                found.update(parse_resource_list(value, bare=""))
            except InvalidRequest:
                continue  # not a list we could have written: it matches no request
    return found


def _requests_match(wanted: dict[str, str], category: str) -> bool:
    have = category_requests(category)
    return all(name in have and (not value or have[name] == value) for name, value in wanted.items())


def job_matcher(job: str) -> tuple[int | None, str | None]:
    """(id, None) for a job number, (None, pattern) for a name or a pattern."""
    return (int(job), None) if job.isdigit() else (None, job)


def select(records: Iterable[dict[str, Any]], sel: Selection) -> list[dict[str, Any]]:
    """The records the selection keeps; for ``-j ID``/``-j NAME`` with none left, the
    error Grid Engine gives."""
    kept = [r for r in records if sel.matches(r)]
    if sel.job:
        number, pattern = job_matcher(sel.job)
        if number is not None:
            kept = [r for r in kept if r["job_number"] == number]
            if not kept:
                raise NotFound(f"error: job id {number} not found")
        else:
            assert pattern is not None
            kept = [r for r in kept if fnmatch.fnmatchcase(r["job_name"], pattern)]
            if not kept:
                raise NotFound(f"error: job name {pattern} not found")
    return kept


# ----------------------------------------------------------------------------- totals


def _zero() -> dict[str, float]:
    return dict.fromkeys(USAGE_KEYS, 0.0)


def totals(records: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Usage summed over records (the "Total System Usage" line)."""
    sums = _zero()
    for record in records:
        for key in USAGE_KEYS:
            sums[key] += float(record[key])
    return sums


def grouped(records: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[tuple[tuple[str, ...], dict[str, float]]]:
    """Usage summed per distinct value of the grouping columns, sorted by those values."""
    fields = [next(f for k, f, _ in GROUP_COLUMNS if k == key) for key in columns]
    groups: dict[tuple[str, ...], dict[str, float]] = {}
    for record in records:
        key = tuple(str(record[f]) for f in fields)
        sums = groups.setdefault(key, _zero())
        for name in USAGE_KEYS:
            sums[name] += float(record[name])
    return sorted(groups.items(), key=lambda item: [(0, int(v)) if v.isdigit() else (1, v) for v in item[0]])


def summary(records: Sequence[dict[str, Any]], columns: Sequence[str]) -> dict[str, Any]:
    """qacct's summary as data (``qacct --json``, qsys-restd's accounting totals): per group of
    records its columns' values and usage sums (no groups without columns), and the sums over
    all records."""
    groups = [{**dict(zip(columns, key, strict=True)), **sums} for key, sums in grouped(records, columns)]
    return {"groups": groups if columns else [], "total": totals(records)}
