"""One DRMAA session: its job templates, its jobs, and their end reports until reaped.

As in Grid Engine's libdrmaa, the session remembers every job it submitted; a finished task
stays in the session (``drmaa_job_ps`` says DONE or FAILED) until ``drmaa_wait`` or
``drmaa_synchronize(dispose)`` reaps it, after which the job is unknown (INVALID_JOB).
A task is finished when the master no longer shows it: its end report then comes from the
master's ``WaitJobs`` (once the whole job has left) or, for an array task whose siblings
still run, from its accounting record; the resource usage always comes from the record.
"""

from __future__ import annotations

import os
import random
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from qsys.drmaa.backend import Backend, JobView
from qsys.drmaa.codes import (
    JOB_IDS_SESSION_ALL,
    JOB_IDS_SESSION_ANY,
    SYSTEM_BIT,
    TIMEOUT_WAIT_FOREVER,
    USER_BIT,
    Control,
    DrmaaError,
    Errno,
    State,
)
from qsys.drmaa.template import Caller, JobTemplate, build_spec, bulk_range, qtask_files
from qsys.jobspec import TaskRange

T = TypeVar("T")

# drmaa_wait's stat: decoded by the drmaa_w* functions of libdrmaa.c
STAT_EXITED, STAT_SIGNALED, STAT_ABORTED = 1 << 16, 1 << 17, 1 << 19

# the "signal" of Grid Engine's usage list is its portable signal number
_SGE_SIGNALS = {
    "SIGHUP": 901, "SIGINT": 902, "SIGQUIT": 903, "SIGILL": 904, "SIGTRAP": 905, "SIGABRT": 906,
    "SIGFPE": 909, "SIGKILL": 910, "SIGBUS": 911, "SIGSEGV": 912, "SIGPIPE": 914,
    "SIGALRM": 915, "SIGTERM": 916, "SIGURG": 917, "SIGSTOP": 918, "SIGTSTP": 919,
    "SIGCONT": 920, "SIGCHLD": 921, "SIGTTIN": 922, "SIGTTOU": 923, "SIGIO": 924,
    "SIGXCPU": 925, "SIGXFSZ": 926, "SIGVTALRM": 927, "SIGPROF": 928, "SIGWINCH": 929,
    "SIGUSR1": 931, "SIGUSR2": 932,
}
# drmaa_wait's resource usage: Grid Engine's names, in its order
_USAGE = ("io", "iow", "mem", "cpu", "vmem", "maxvmem", "submission_time", "priority",
          "exit_status", "signal", "start_time", "end_time", "ru_wallclock", "ru_utime",
          "ru_stime", "ru_maxrss", "ru_ixrss", "ru_ismrss", "ru_idrss", "ru_isrss", "ru_minflt",
          "ru_majflt", "ru_nswap", "ru_inblock", "ru_oublock", "ru_msgsnd", "ru_msgrcv",
          "ru_nsignals", "ru_nvcsw", "ru_nivcsw")
_ACCT_USAGE = ("cpu", "mem", "io", "iow", "maxvmem")
_JOB_ID = re.compile(r"^(\d+)(?:\.(\d+))?$")
VIEW_MAX_AGE = 0.5  # seconds one look at the master's job list serves (snakemake asks per job)


def _sge_signal(number: int) -> int:
    try:
        return _SGE_SIGNALS.get(signal.Signals(number).name, number)
    except ValueError:
        return number


@dataclass(frozen=True)
class Outcome:
    """How a task ended: exit status as the accounting has it (128 + n for a signal)."""

    exit_status: int
    signal: int
    aborted: bool  # deleted (qdel) or never started
    rusage: list[str] | None  # "name=value" entries; None: none (the task never ran)

    @classmethod
    def of(cls, report: dict[str, Any] | None, record: dict[str, Any] | None) -> Outcome:
        """From the master's end report and/or the accounting record (either may be None)."""
        if report is not None:
            status, sig, failed = report["exit_status"], report["signal"], report["failed"]
            # qsub -sync y's rule for "never ran", and qdel makes a DRMAA job aborted
            aborted = report["deleted"] or (failed not in (0, 100) and not status and not sig)
        elif record is not None:
            status, failed = int(record["exit_status"]), int(record["failed"])
            aborted = failed == 100 or (failed != 0 and not status)
            sig = status - 128 if status > 128 and not aborted else 0
        else:
            return cls(0, 0, True, None)
        return cls(status, sig, aborted, _rusage(record, status, sig, aborted))

    @property
    def state(self) -> State:
        return State.FAILED if self.aborted else State.DONE

    @property
    def stat(self) -> int:
        if self.aborted:
            return STAT_ABORTED
        if self.signal:
            return STAT_SIGNALED | (self.signal & 0xFF) << 8
        return STAT_EXITED | (self.exit_status & 0xFF)


def _rusage(record: dict[str, Any] | None, status: int, sig: int, aborted: bool) -> list[str] | None:
    if record is None:  # no accounting to read: what the end report tells
        return None if aborted else [f"exit_status={status:.4f}", f"signal={_sge_signal(sig) if sig else 0:.4f}"]
    values = {name: float(record.get(name, 0) or 0) for name in _USAGE}
    values.update(vmem=0.0, exit_status=float(status), signal=float(_sge_signal(sig) if sig else 0))
    entries = [f"{name}={values[name]:.4f}" for name in _USAGE]
    return entries + [f"acct_{name}={values[name]:.4f}" for name in _ACCT_USAGE]


@dataclass
class SessionJob:
    """A job this session submitted: its tasks not seen finished, finished ones not reaped."""

    job_id: int
    tasks: TaskRange | None  # None: not an array job (its one task is task 1)
    open: set[int]
    done: dict[int, Outcome] = field(default_factory=dict)
    reaped: set[int] = field(default_factory=set)

    def has(self, task_id: int) -> bool:
        ids = self.tasks.ids() if self.tasks else range(1, 2)
        return task_id in ids

    def label(self, task_id: int) -> str:
        return f"{self.job_id}.{task_id}" if self.tasks else str(self.job_id)

    def finish(self, task_id: int, outcome: Outcome) -> None:
        if task_id in self.open:
            self.open.discard(task_id)
            self.done[task_id] = outcome


def drmaa_state(text: str, running: bool, waits_for_jobs: bool) -> State:
    """Grid Engine's mapping of a task's state to a DRMAA state: a job hold is a user hold,
    a -hold_jid wait a system hold; qmod -sj is a user suspension, a suspended queue
    (S) or a load threshold (T) a system one; an error (Eqw) is FAILED."""
    if not running:
        if "E" in text:
            return State.FAILED
        if "h" in text:
            return State(State.QUEUED_ACTIVE | (SYSTEM_BIT if waits_for_jobs else USER_BIT))
        return State.QUEUED_ACTIVE
    bits = (USER_BIT if "s" in text else 0) | (SYSTEM_BIT if "S" in text or "T" in text else 0)
    return State(State.RUNNING | bits)


def parse_job_id(text: str) -> tuple[int, int | None]:
    match = _JOB_ID.match(text)
    if not match:
        raise DrmaaError(Errno.INVALID_ARGUMENT, f'Job id, "{text}", is not a valid job id')
    return int(match.group(1)), int(match.group(2)) if match.group(2) else None


class Session:
    """The helper's state between drmaa_init and drmaa_exit. Safe for the several threads
    of a program: one lock guards the templates and the jobs."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        host = os.uname().nodename.split(".")[0]
        self.contact = f"session={host}.{os.getpid()}.{random.randrange(10**7, 10**8)}"
        self.templates: dict[int, JobTemplate] = {}
        self.jobs: dict[int, SessionJob] = {}
        self._next_template = 1
        self._lock = threading.RLock()
        self._views: tuple[float, dict[int, JobView]] | None = None

    def _job_views(self) -> dict[int, JobView]:
        """The user's jobs as the master shows them, at most VIEW_MAX_AGE old (under the lock);
        forgotten after this session changed something."""
        now = time.monotonic()
        if self._views is None or now - self._views[0] > VIEW_MAX_AGE:
            self._views = (now, self.backend.my_jobs())
        return self._views[1]

    def _changed(self) -> None:
        with self._lock:
            self._views = None

    # ------------------------------------------------------------ job templates

    def new_template(self) -> int:
        with self._lock:
            number = self._next_template
            self._next_template += 1
            self.templates[number] = JobTemplate()
            return number

    def template(self, number: int) -> JobTemplate:
        with self._lock:
            found = self.templates.get(number)
        if found is None:
            raise DrmaaError(Errno.INVALID_ARGUMENT, "no such job template")
        return found

    def delete_template(self, number: int) -> None:
        with self._lock:
            self.templates.pop(number, None)

    # ------------------------------------------------------------ submit

    def run(self, number: int, caller: Caller, bulk: tuple[int, int, int] | None = None) -> list[str]:
        """drmaa_run_job (one id) and drmaa_run_bulk_jobs (one id per task: ``job.task``)."""
        tasks = bulk_range(*bulk) if bulk else None
        files = qtask_files(str(self.backend.cell.common), caller.home)
        spec = build_spec(self.template(number), caller, tasks, files)
        job_id = self.backend.submit(spec)
        self._changed()
        job = SessionJob(job_id, spec.tasks, set(spec.tasks.ids() if spec.tasks else (1,)))
        with self._lock:
            self.jobs[job_id] = job
        if bulk is None:
            return [str(job_id)]
        return [job.label(task) for task in sorted(job.open)]

    # ------------------------------------------------------------ control and state

    def control(self, job_text: str, action: Control) -> None:
        try:
            self._control(job_text, action)
        finally:
            self._changed()

    def _control(self, job_text: str, action: Control) -> None:
        if job_text != JOB_IDS_SESSION_ALL:
            parse_job_id(job_text)
            self.backend.control(action, job_text)
            return
        with self._lock:
            targets = [job.job_id for job in self.jobs.values() if job.open]
        first: DrmaaError | None = None
        for job_id in targets:
            try:
                self.backend.control(action, str(job_id))
            except DrmaaError as exc:
                if exc.code != Errno.INVALID_JOB and first is None:  # ended meanwhile: fine
                    first = exc
        if first is not None:
            raise first

    def job_ps(self, job_text: str) -> State:
        job_id, task = parse_job_id(job_text)
        with self._lock:
            job = self.jobs.get(job_id)
            if job is not None:
                task = self._check_task(job, task)
                if task in job.done:
                    return job.done[task].state
            views = self._job_views()
            view = views.get(job_id) or (self.backend.other_job(job_id) if job is None else None)
            if job is not None:
                self._update(job, view)
                if task in job.done:
                    return job.done[task].state
            if view is None:
                raise DrmaaError(Errno.INVALID_JOB)
            if job is None and (task is not None) != view.is_array:
                raise DrmaaError(Errno.INVALID_JOB)
            found = view.task_state(task or 1)
        if found is None:  # gone from the master, its end report not read yet
            if job is None:
                raise DrmaaError(Errno.INVALID_JOB)
            return State.UNDETERMINED
        return drmaa_state(found[0], found[1], view.waits_for_jobs)

    def _check_task(self, job: SessionJob, task: int | None) -> int:
        """The task a job id names; INVALID_JOB for a wrong form, an unknown or reaped task."""
        if (task is None) != (job.tasks is None):
            raise DrmaaError(Errno.INVALID_JOB)
        task = task or 1
        if not job.has(task) or task in job.reaped:
            raise DrmaaError(Errno.INVALID_JOB)
        return task

    # ------------------------------------------------------------ finding finished tasks

    def _refresh(self, jobs: list[SessionJob]) -> None:
        """Look once at the master for what these jobs' open tasks did (under the lock)."""
        if any(job.open for job in jobs):
            views = self._job_views()
            for job in jobs:
                if job.open:
                    self._update(job, views.get(job.job_id))

    def _update(self, job: SessionJob, view: JobView | None) -> None:
        if not job.open:
            return
        if view is None:  # the whole job has left: its end reports are there at once
            self._collect(job, self.backend.end_reports(job.job_id))
            return
        for task in sorted(job.open):
            if view.task_state(task) is None:
                record = self.backend.accounting.lookup(job.job_id, task if job.tasks else 0)
                if record is not None:
                    job.finish(task, Outcome.of(None, record))

    def _collect(self, job: SessionJob, reports: dict[int, dict[str, Any]] | None) -> None:
        reports = reports or {}
        for task in sorted(job.open):
            report = reports.get(task, reports.get(0))  # task 0: its pending tasks deleted
            record = self.backend.accounting.lookup(job.job_id, task if job.tasks else 0)
            job.finish(task, Outcome.of(report, record))

    # ------------------------------------------------------------ wait and synchronize

    def wait(self, job_text: str, timeout: int) -> tuple[str, Outcome]:
        """drmaa_wait: the first finished task (of the session, or the one named), reaped."""
        deadline = _deadline(timeout)
        if job_text == JOB_IDS_SESSION_ANY:
            return _until(deadline, self._reap_any)
        job_id, task_id = parse_job_id(job_text)
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                raise DrmaaError(Errno.INVALID_JOB)
            task = self._check_task(job, task_id)
        if deadline is None and job.tasks is None and task in job.open:
            self._block_until_gone(job)

        def reap() -> tuple[str, Outcome] | None:
            with self._lock:
                if task in job.open:
                    self._refresh([job])
                if task not in job.done:
                    return None
                job.reaped.add(task)
                return job.label(task), job.done.pop(task)

        return _until(deadline, reap)

    def _block_until_gone(self, job: SessionJob) -> None:
        """Wait forever for a job through the master's WaitJobs, on a thread of its own,
        looking at the job every 10 s as well: the master wakes no waiter for a job deleted
        while it was pending. Returns at once when the master cannot be reached (the caller
        polls then)."""
        answers: list[dict[int, dict[str, Any]] | None] = []

        def ask() -> None:
            try:
                answers.append(self.backend.end_reports(job.job_id))
            except DrmaaError:
                pass

        waiter = threading.Thread(target=ask, daemon=True)
        waiter.start()
        while True:
            waiter.join(10.0)
            with self._lock:
                if not waiter.is_alive():
                    if answers:
                        self._collect(job, answers[0])
                    return
                self._refresh([job])
                if not job.open:
                    return

    def _reap_any(self) -> tuple[str, Outcome] | None:
        with self._lock:
            for _ in range(2):  # what is known already, then after one look at the master
                for job in sorted(self.jobs.values(), key=lambda j: j.job_id):
                    if job.done:
                        task = min(job.done)
                        job.reaped.add(task)
                        return job.label(task), job.done.pop(task)
                unfinished = [job for job in self.jobs.values() if job.open]
                if not unfinished:
                    raise DrmaaError(Errno.INVALID_JOB)
                self._refresh(unfinished)
        return None

    def synchronize(self, job_texts: list[str], timeout: int, dispose: bool) -> None:
        deadline = _deadline(timeout)
        with self._lock:
            if JOB_IDS_SESSION_ALL in job_texts:
                wanted = [(job, task) for job in self.jobs.values()
                          for task in (*job.open, *job.done)]
            else:
                wanted = []
                for text in job_texts:
                    job_id, task = parse_job_id(text)
                    job = self.jobs.get(job_id)
                    if job is not None:  # a job the session does not know is synchronized
                        wanted.extend((job, t) for t in ([task] if task else sorted(job.open | set(job.done))))

        def all_done() -> bool | None:
            with self._lock:
                self._refresh(list({job.job_id: job for job, _ in wanted}.values()))
                if any(task in job.open for job, task in wanted):
                    return None
                if dispose:
                    for job, task in wanted:
                        if job.done.pop(task, None) is not None:
                            job.reaped.add(task)
                return True

        _until(deadline, all_done)


def _deadline(timeout: int) -> float | None:
    if timeout == TIMEOUT_WAIT_FOREVER:
        return None
    if timeout < 0:
        raise DrmaaError(Errno.INVALID_ARGUMENT, f"invalid timeout {timeout}")
    return time.monotonic() + timeout


def _until(deadline: float | None, check: Callable[[], T | None]) -> T:
    """Call ``check`` until it gives an answer, polling the master ever more slowly (up to
    once a second); EXIT_TIMEOUT at the deadline (None: never)."""
    delay = 0.05
    while True:
        found = check()
        if found is not None:
            return found
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            raise DrmaaError(Errno.EXIT_TIMEOUT)
        time.sleep(delay if deadline is None else min(delay, deadline - now))
        delay = min(delay * 2, 1.0)
