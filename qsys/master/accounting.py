"""Accounting records: Grid Engine's 45 colon-separated fields, written when a task ends.

The record is a map keyed by the field names of sge_accounting(5) (the fields, their
types and the line format are ``qsys.accounting_file``, shared with qacct); the master stores it and appends its line to
``$QSYS_ROOT/<cell>/common/accounting`` (flushed and fsync'd at once, so ``qacct`` sees a job
the moment ``qstat`` stops listing it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qsys.accounting_file import ACCOUNTING_FIELDS, HEADER, devices_file, format_devices_line, format_line
from qsys.logfile import LineFile

if TYPE_CHECKING:
    from qsys.master.jobs import Job, Task
    from qsys.protocol import ExitReport

log = logging.getLogger("qsys.master.accounting")


def category_of(job: Job) -> str:
    """The request part of a job's category, as Grid Engine writes it (``NONE`` if empty)."""
    spec = job.spec
    parts = []
    if spec.hard_resources:
        parts.append("-l " + ",".join(f"{k}={v}" for k, v in spec.hard_resources.items()))
    if spec.hard_queues:
        parts.append("-q " + ",".join(spec.hard_queues))
    if spec.pe:
        parts.append(f"-pe {spec.pe}")
    if spec.ar_id is not None:
        parts.append(f"-ar {spec.ar_id}")
    return " ".join(parts) or "NONE"


def failure_code(report: dict[str, Any]) -> int:
    """``failed`` as Grid Engine writes it: a job ended by a signal after qdel (or another
    kill the system sent) is 100, "assumedly after job"; a signal the job caught by itself
    leaves 0 and shows only in exit_status (128 + signal)."""
    failed = int(report.get("failed", 0))
    if not failed and report.get("killed") and report.get("signal"):
        return 100
    return failed


USAGE = ("ru_utime", "ru_stime", "ru_maxrss", "ru_ixrss", "ru_ismrss", "ru_idrss", "ru_isrss", "ru_minflt",
         "ru_majflt", "ru_nswap", "ru_inblock", "ru_oublock", "ru_msgsnd", "ru_msgrcv", "ru_nsignals", "ru_nvcsw",
         "ru_nivcsw", "cpu", "mem", "io", "iow", "maxvmem")  # what a record takes of a report as it is
# the fields of an ExitReport that a record reads
REPORT_FIELDS = ("end_time", "start_time", "failed", "killed", "signal", "exit_status", "ru_wallclock", *USAGE)


def build_record(job: Job, task: Task, report: dict[str, Any], now: float) -> dict[str, Any]:
    end = float(report.get("end_time") or now)
    start = float(report.get("start_time") or task.start_time or 0.0)
    master = task.master
    record: dict[str, Any] = dict.fromkeys(ACCOUNTING_FIELDS, 0)
    record.update(
        qname=master.queue.split("@", 1)[0],
        hostname=master.host,
        group=job.group,
        owner=job.owner,
        job_name=job.name,
        job_number=job.job_id,
        account=job.spec.account or "sge",
        priority=job.spec.priority,
        submission_time=int(job.submit_time),
        start_time=int(start),
        end_time=int(end),
        failed=failure_code(report),
        exit_status=int(report.get("exit_status", 0)),
        ru_wallclock=int(report.get("ru_wallclock") or (max(0.0, end - start) if start else 0)),
        project=job.spec.project or "NONE",
        department="defaultdepartment",
        granted_pe=task.pe or "NONE",
        slots=task.slots,
        task_number=task.task_id if job.is_array else 0,
        category=category_of(job),
        pe_taskid="NONE",
        arid=0,
        ar_sub_time=0,
    )
    for key in USAGE:
        if key in report and report[key] is not None:
            record[key] = report[key]
    if not record["cpu"]:
        record["cpu"] = float(record["ru_utime"]) + float(record["ru_stime"])
    devices = granted_devices(task)
    if devices:
        record["devices"] = devices  # not a field of the line: see AccountingWriter.write
    return record


def granted_devices(task: Task) -> str:
    """The resource map ids a task held, as qstat -j's ``resource map`` line shows them
    (``gpu=node1=(0 1), gpu=node2=(0)``); "" when it held none."""
    return ", ".join(f"{name}={a.host}=({' '.join(ids)})" for a in task.assignments for name, ids in a.devices.items())


class AccountingWriter:
    """Appends records to the accounting file, durable before the job is forgotten.

    Lines are written whole or not at all (``qsys.logfile``); a line the disk has no room
    for is kept and written before the next one, once there is room again.

    The resource map ids a task held (``record["devices"]``) have no field in Grid Engine's
    line, which stays as Grid Engine writes it: they go to a file of their own beside it
    (``qsys.accounting_file.devices_file``), where ``qacct -j --json`` finds them.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.devices_path = devices_file(path)
        self._devices: LineFile | None = None
        self._file: LineFile | None = None
        self._sync_pending = False
        self.backlog: list[bytes] = []  # lines not written yet (no room on the disk)

    def _open(self) -> LineFile:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = LineFile(self.path)
            if self._file.size() == 0:
                self._file.append(HEADER.encode())
            os.chmod(self.path, 0o644)
        return self._file

    def open(self) -> None:
        """Open the file now rather than at the first record (see detach_other_writers)."""
        self._open()

    def record(self, job: Job, task: Task, report: ExitReport, now: float) -> dict[str, Any]:
        """The record of a task's end (the fields it reads of the report: not a whole copy of it)."""
        return build_record(job, task, {name: getattr(report, name) for name in REPORT_FIELDS}, now)

    def write(self, record: dict[str, Any]) -> None:
        """Append the line: visible to qacct at once, on disk soon: an fsync starts in the
        loop's next turn (ends that arrive together share it), in a worker thread, so the
        loop serves on meanwhile (it overlaps the store's commit of the same ends instead of
        holding up the loop for as long as that commit)."""
        f = self._open()
        # the bytes of a name or path as the user gave them (not UTF-8: as they are)
        self.backlog.append((format_line(record) + "\n").encode("utf-8", "surrogateescape"))
        if record.get("devices") and record.get("pe_taskid", "NONE") == "NONE":
            self._write_devices(record)
        while self.backlog and f.append(self.backlog[0]):
            self.backlog.pop(0)
        if self.backlog:
            log.error("accounting: no room for %d records in %s; written when there is", len(self.backlog), self.path)
        if self._sync_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._sync()
            return
        self._sync_pending = True
        loop.call_soon(self._sync, loop)

    def _write_devices(self, record: dict[str, Any]) -> None:
        first = self._devices is None
        if self._devices is None:
            self._devices = LineFile(self.devices_path)
        if not self._devices.append((format_devices_line(record) + "\n").encode("utf-8", "surrogateescape")):
            log.error("accounting: no room for the device ids of job %s in %s", record["job_number"],
                      self.devices_path)
        elif first:
            os.chmod(self.devices_path, 0o644)  # world-readable, as the accounting file is

    def _sync(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """fsync both files: in ``loop``'s worker thread when given, else here."""
        self._sync_pending = False
        files = [f for f in (self._file, self._devices) if f is not None]
        if loop is not None:
            loop.run_in_executor(None, _fsync_all, files)
        else:
            _fsync_all(files)

    def written_keys(self, tasks: set[tuple[int, int]], tail_bytes: int = 8 << 20) -> set[tuple[int, int, int]]:
        """(job, task, start time) of the records of ``tasks`` already in the file's tail.

        A master killed after writing a line but before its commit learns the same end again
        from the exec daemon; this lets it skip the second line (exactly once per run).
        """
        path = self.path
        if not tasks or not path.exists():
            return set()
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - tail_bytes))
            data = f.read().decode("utf-8", "replace")
        found = set()
        for line in data.splitlines():
            fields = line.split(":")
            if len(fields) < 36 or line.startswith("#"):
                continue
            if len(fields) > 41 and fields[41] != "NONE":
                continue  # a pe task's record (qrsh -inherit), not the task's own
            try:
                key = (int(fields[5]), int(fields[35]) or 1)  # task 0 in the file: not an array job
                start = int(fields[9])
            except ValueError:
                continue
            if key in tasks:
                found.add((key[0], key[1], start))
        return found

    def close(self) -> None:
        if self._file is not None:
            while self.backlog and self._file.append(self.backlog[0]):
                self.backlog.pop(0)
            self._file.fsync()
            self._file.close()
            self._file = None
        if self._devices is not None:
            self._devices.fsync()
            self._devices.close()
            self._devices = None


def _fsync_all(files: list[LineFile]) -> None:
    for f in files:
        f.fsync()


def detach_other_writers(path: Path) -> None:
    """Give the accounting file a new inode with the same lines, before a master that took
    the lease reads it.

    The file is shared by the master hosts of a failover cell, and the master that held the
    lease before may still hold it open (stopped, or cut off from the store). Its lines are
    written before its commits, which now fail; whatever it appends from here on goes to the
    old inode, which nobody reads any more, so no line of an end the new master accounts
    appears twice. (A line it wrote before is in the copy, and the new master recognises it,
    see ``written_keys``.)"""
    if not path.exists():
        return
    fresh = path.with_name(path.name + ".takeover")
    shutil.copyfile(path, fresh)
    shutil.copymode(path, fresh)
    if os.geteuid() == 0:
        st = path.stat()
        os.chown(fresh, st.st_uid, st.st_gid)
    with open(fresh, "rb") as f:
        os.fsync(f.fileno())
    fresh.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
