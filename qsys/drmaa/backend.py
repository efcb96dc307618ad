"""Everything the DRMAA session asks of qsys: the one module that uses ``qsys.client``.

Submitting, the state of jobs (qstat's rows), job control (qdel, qhold/qrls, qmod -sj/-usj),
the end reports the master keeps for ``qsub -sync y`` (``WaitJobs``), and the accounting
records (for ``drmaa_wait``'s resource usage). The client's replies are typed records
(``qsys.records``), read by attribute.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from qsys.acct import parse_record
from qsys.client import Client
from qsys.drmaa.codes import Control, DrmaaError, Errno
from qsys.errors import ConnectionFailed, NotFound, PermissionDenied, QsysError
from qsys.grammar.values import parse_task_range
from qsys.jobspec import JobSpec
from qsys.paths import Cell
from qsys.protocol import JobDetailRows, Lines
from qsys.records import JobRow


@dataclass
class JobView:
    """What the master shows of one job: its running tasks' states and its pending tasks."""

    is_array: bool
    running: dict[int, str] = field(default_factory=dict)  # task id -> r, t, s, S, T, dr, ...
    pending: list[tuple[int, int, int]] = field(default_factory=list)  # task ranges
    pending_state: str = ""  # qw, hqw, Eqw, Rq
    waits_for_jobs: bool = False  # -hold_jid was given

    def add_pending(self, tasks: str, state: str, hold_jids: list[str]) -> None:
        self.pending_state = state
        self.waits_for_jobs = bool(hold_jids)
        if not self.is_array or not tasks:
            self.pending.append((1, 1, 1))
            return
        self.pending.extend(parse_task_range(part) for part in tasks.split(","))

    def task_state(self, task_id: int) -> tuple[str, bool] | None:
        """(qstat's state text, running) of a task; None when the master no longer shows it."""
        if task_id in self.running:
            return self.running[task_id], True
        for first, last, step in self.pending:
            if first <= task_id <= last and (task_id - first) % step == 0:
                return self.pending_state, False
        return None


# reply lines of qdel/qhold/qrls/qmod that tell why an action did nothing
_PROBLEMS = (
    ("does not exist", Errno.INVALID_JOB),
    ("privileges", Errno.AUTH_FAILURE),
    ("no permission", Errno.AUTH_FAILURE),
    ("is already suspended", Errno.SUSPEND_INCONSISTENT_STATE),
    ("can't suspend", Errno.SUSPEND_INCONSISTENT_STATE),
    ("is already unsuspended", Errno.RESUME_INCONSISTENT_STATE),
    ("can't unsuspend", Errno.RESUME_INCONSISTENT_STATE),
)
_FAILED = {Control.SUSPEND: Errno.SUSPEND_INCONSISTENT_STATE,
           Control.RESUME: Errno.RESUME_INCONSISTENT_STATE,
           Control.HOLD: Errno.HOLD_INCONSISTENT_STATE,
           Control.RELEASE: Errno.RELEASE_INCONSISTENT_STATE,
           Control.TERMINATE: Errno.INTERNAL_ERROR}


class Backend:
    """One session's link to the master (one connection, shared under a lock) and to the
    cell's accounting file."""

    def __init__(self, cell: Cell | None = None) -> None:
        self.cell = cell or Cell.current()
        self._client = Client(self.cell)
        self._lock = threading.Lock()
        self.user = ""
        self.accounting = AccountingIndex(str(self.cell.accounting_file))

    def connect(self) -> None:
        """Reach the master now, so drmaa_init fails when it cannot be reached."""
        try:
            with self._lock:
                self._client.hosts()
                self.user = self._client.user
        except QsysError as exc:
            raise DrmaaError(Errno.DRMS_INIT_FAILED, exc.message) from None

    def close(self) -> None:
        with self._lock:
            self._client.close()

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            with self._lock:
                return getattr(self._client, method)(*args, **kwargs)
        except ConnectionFailed as exc:
            raise DrmaaError(Errno.DRM_COMMUNICATION_FAILURE, exc.message) from None
        except PermissionDenied as exc:
            raise DrmaaError(Errno.AUTH_FAILURE, exc.message) from None

    # ------------------------------------------------------------ submit

    def submit(self, spec: JobSpec) -> int:
        """Submit a job; its accounting records are kept from now on."""
        with self.accounting.lock:  # the job may end before submit returns: keep its record
            try:
                result = self._call("submit", spec)
            except DrmaaError:
                raise
            except QsysError as exc:
                raise DrmaaError(Errno.DENIED_BY_DRM, exc.message) from None
            job_id = result.job_id
            self.accounting.wanted.add(job_id)
        return job_id

    # ------------------------------------------------------------ state

    def my_jobs(self) -> dict[int, JobView]:
        """The session user's jobs as qstat shows them."""
        views: dict[int, JobView] = {}
        rows: list[JobRow] = self._call("jobs", [self.user])
        for row in rows:
            view = views.setdefault(row.job_id, JobView(row.is_array))
            if row.queue:
                view.running[int(row.tasks) if row.tasks else 1] = row.state
            else:
                view.add_pending(row.tasks, row.state, row.hold_jids)
        return views

    def other_job(self, job_id: int) -> JobView | None:
        """A job of another user (qstat -j), or None when the master does not know it."""
        answer: JobDetailRows = self._call("job_details", [str(job_id)])
        for detail in answer.details:
            if detail.state == "z":
                return None  # finished: qstat -j still shows it, the session treats it as gone
            spec = detail.spec  # the JobSpec's wire map
            view = JobView(spec.get("tasks") is not None)
            for task in detail.tasks:
                view.running[task.task_id] = task.state
            if detail.pending_tasks or (not view.is_array and not view.running):
                view.add_pending(detail.pending_tasks, detail.state or "qw", list(spec.get("hold_jids") or []))
            return view
        return None

    def end_reports(self, job_id: int) -> dict[int, dict[str, Any]] | None:
        """The end report of each task of a job that has left the master (task 0: its
        pending tasks were deleted); None when the master no longer has them. Blocks until
        the job ends, on a connection of its own."""
        try:
            with Client(self.cell) as client:
                reports = client.wait([job_id])
        except NotFound:
            return None
        except ConnectionFailed as exc:
            raise DrmaaError(Errno.DRM_COMMUNICATION_FAILURE, exc.message) from None
        return {r.task_id: {"exit_status": r.exit_status, "signal": r.signal, "failed": r.failed,
                            "deleted": r.deleted} for r in reports}

    # ------------------------------------------------------------ control

    def control(self, action: Control, target: str) -> None:
        reply: Lines
        if action in (Control.SUSPEND, Control.RESUME):
            verb = "suspend" if action == Control.SUSPEND else "unsuspend"
            reply = self._call("queue_action", verb, [target], jobs=True)
        elif action == Control.TERMINATE:
            reply = self._call("job_action", "delete", [target])
        else:
            verb = "hold" if action == Control.HOLD else "release"
            reply = self._call("job_action", verb, [target], hold_type="u")
        for line in reply.lines:
            for needle, code in _PROBLEMS:
                if needle in line:
                    raise DrmaaError(code, line)
        if reply.exit:
            raise DrmaaError(_FAILED[action], "\n".join(reply.lines))


class AccountingIndex:
    """The accounting records of this session's jobs, read incrementally from where the
    file ended when the session began (a session's jobs all end after that)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        try:
            self._offset = os.path.getsize(path)
        except OSError:
            self._offset = 0
        self._records: dict[tuple[int, int], dict[str, Any]] = {}
        self.wanted: set[int] = set()  # job ids worth keeping

    def lookup(self, job_id: int, task_number: int) -> dict[str, Any] | None:
        """The record of a task (task_number 0 for a job that is not an array)."""
        with self.lock:
            key = (job_id, task_number)
            if key not in self._records:
                self._read_new()
            return self._records.pop(key, None)

    def _read_new(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size < self._offset:  # the file was rotated
                    self._offset = 0
                handle.seek(self._offset)
                data = handle.read()
        except OSError:
            return
        complete = data.rfind(b"\n") + 1
        self._offset += complete
        for line in data[:complete].decode("utf-8", "replace").splitlines():
            record = parse_record(line)
            if record is not None and record["job_number"] in self.wanted:
                self._records[(record["job_number"], record["task_number"])] = record
