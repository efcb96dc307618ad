"""The spool directory contract between the exec daemon and its shepherds.

Either side may restart without the other, so everything they share lives in files::

    <spool>/execd.pid                 the daemon's pid (daemonized)
    <spool>/messages                  the daemon's log
    <spool>/audit                     one line per identity decision (shepherds append)
    <spool>/active_jobs/<job>.<task>/ one directory per task:
        job.json       the Launch map (``qsys.launch.Launch.to_wire()``) without the script;
                       mode 0600 (it holds the job's environment)
        execd.json     what the daemon decided for this start: mode, min_uid, min_gid, identity
                       policy, spool root (the host configuration at start time)
        script         the job script (mode 0700, the job user's once the shepherd decided
                       who that is); absent for -b y
        shepherd.pid   "<pid> <starttime>" written by the shepherd first thing
        job.pid        "<pid>" of the job (also its process group), written after the fork
        pe_hostfile    "host slots queue processors" lines for parallel jobs
        kill           "<signal>" written by the daemon before it signals the job (KillJob)
        migrate        written by the daemon when a checkpointing job is to migrate (MigrateJob)
        trace          the shepherd's own stderr
        error          text, when the start failed
        usage.json     the shepherd's latest /proc sample of the job's group ID carriers
        exit.json      the exit report, written atomically (tmp + rename) by the shepherd:
                       exit_status, signal, failed, start_time, end_time, ru_* fields,
                       cpu, mem, io, iow, maxvmem, error, rerun, error_state (see usage.py)

Directories are 0711 and files 0600 (the daemon's), except the files the job reads.
A task directory is removed only when the master acknowledged its end (FinishedAck): renamed
to ``.retired.<job>.<task>.<pid>.<n>`` at once, its files removed in a worker thread.
``<starttime>`` is field 22 of ``/proc/<pid>/stat``: with the pid it names one process even
after the pid is reused.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qsys.launch import Launch

ACTIVE = "active_jobs"
JOB_FILE = "job.json"
EXECD_FILE = "execd.json"
SCRIPT = "script"
SHEPHERD_PID = "shepherd.pid"
JOB_PID = "job.pid"
PE_HOSTFILE = "pe_hostfile"
KILL = "kill"
MIGRATE = "migrate"
TRACE = "trace"
ERROR = "error"
EXIT = "exit.json"
USAGE = "usage.json"
TMPDIR = "tmpdir"  # the job's TMPDIR, so the daemon removes it when its shepherd died
# Directories others may pass through but not list: a job's user reaches its own script and
# PE host file (made its own by the shepherd); every other file is the daemon's (0600).
DIR_MODE = 0o711
RETIRED = ".retired."  # the prefix of an acknowledged task's directory on its way out
_retired = itertools.count(1)


def remove_retired(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


def write_atomic(path: Path, data: bytes | str, mode: int = 0o600) -> None:
    """Write ``path`` so a reader sees the old content or the whole new one, never a part."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    payload = data.encode(errors="surrogateescape") if isinstance(data, str) else data
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, payload)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def proc_start_time(pid: int) -> int | None:
    """Start time (clock ticks since boot) of a live process, None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # the command name may hold spaces and parentheses: split after the last ")"
    fields = stat[stat.rfind(b")") + 2:].split()
    if fields and fields[0] == b"Z":
        return None  # a zombie has ended: its report is what counts
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


class TaskDir:
    """One task's spool directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        parts = path.name.split(".")  # <job>.<task>, or <job>.<task>.<n> for a pe task
        self.job_id = int(parts[0])
        self.task_id = int(parts[1])

    @property
    def key(self) -> tuple[int, int]:
        return (self.job_id, self.task_id)

    def __repr__(self) -> str:
        return f"TaskDir({self.path})"

    def file(self, name: str) -> Path:
        return self.path / name

    # ------------------------------------------------------------ the start

    def launch(self) -> Launch:
        data = json.loads(self.file(JOB_FILE).read_text())
        return Launch.from_wire(data)

    def execd_conf(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.file(EXECD_FILE).read_text()))
        except FileNotFoundError:
            return {}

    def write_execd_conf(self, conf: dict[str, Any]) -> None:
        write_atomic(self.file(EXECD_FILE), json.dumps(conf, sort_keys=True), 0o600)

    @property
    def script_path(self) -> Path:
        return self.file(SCRIPT)

    # ------------------------------------------------------------ pids

    def write_shepherd_pid(self, pid: int) -> None:
        write_atomic(self.file(SHEPHERD_PID), f"{pid} {proc_start_time(pid) or 0}\n")

    def shepherd_pid(self) -> tuple[int, int] | None:
        """(pid, starttime) the shepherd recorded, None before it did."""
        try:
            pid, start = self.file(SHEPHERD_PID).read_text().split()
            return int(pid), int(start)
        except (OSError, ValueError):
            return None

    def write_tmpdir(self, path: str) -> None:
        """Record the job's TMPDIR (0600: a task directory's files are the daemons' own)."""
        fd = os.open(self.file(TMPDIR), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, path.encode(errors="surrogateescape"))
        finally:
            os.close(fd)

    def remove_tmpdir(self) -> None:
        """Remove the TMPDIR a shepherd made and could not remove (it died): the exec daemon's
        part of the clean-up, as Grid Engine's execd removes a job's tmpdir."""
        try:
            path = self.file(TMPDIR).read_text()
        except OSError:
            return
        if os.path.isabs(path) and os.path.basename(path).startswith(f"{self.job_id}.{self.task_id}."):
            shutil.rmtree(path, ignore_errors=True)

    def shepherd_alive(self) -> bool:
        rec = self.shepherd_pid()
        return rec is not None and proc_start_time(rec[0]) == rec[1]

    def write_job_pid(self, pid: int) -> None:
        write_atomic(self.file(JOB_PID), f"{pid}\n")

    def job_pid(self) -> int | None:
        return self._number(JOB_PID)

    def _number(self, name: str) -> int | None:
        """The first number of a small spool file (None when absent or not written yet)."""
        try:
            return int(self.file(name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    # ------------------------------------------------------------ kill requests

    def request_kill(self, signal: int) -> None:
        write_atomic(self.file(KILL), f"{signal}\n")

    def kill_signal(self) -> int | None:
        return self._number(KILL)

    def request_migrate(self) -> None:
        write_atomic(self.file(MIGRATE), "1\n")

    def migrate_requested(self) -> bool:
        return self.file(MIGRATE).exists()

    # ------------------------------------------------------------ the end

    def write_exit(self, report: dict[str, Any]) -> None:
        write_atomic(self.file(EXIT), json.dumps(report, sort_keys=True))

    def write_usage(self, usage: dict[str, Any]) -> None:
        write_atomic(self.file(USAGE), json.dumps(usage, sort_keys=True))

    def exit_report(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.file(EXIT).read_text()))
        except (OSError, ValueError):
            return None

    def write_error(self, text: str) -> None:
        write_atomic(self.file(ERROR), text.rstrip("\n") + "\n")

    def error(self) -> str:
        try:
            return self.file(ERROR).read_text().strip()
        except OSError:
            return ""

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def retire(self) -> Path | None:
        """Take the directory out of the spool at once (one rename); the caller removes what
        this returns when it likes (:func:`remove_retired`, e.g. in a worker thread: an
        acknowledged end must not hold up the daemon's loop for a directory's unlinks).
        A retired name is no task's (``Spool.tasks`` skips it; ``ensure`` removes leftovers)."""
        gone = self.path.with_name(f"{RETIRED}{self.path.name}.{os.getpid()}.{next(_retired)}")
        try:
            os.rename(self.path, gone)
        except OSError:
            self.remove()
            return None
        return gone


class Spool:
    """An exec daemon's spool root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.active = root / ACTIVE

    def ensure(self) -> None:
        self.active.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, DIR_MODE)
        os.chmod(self.active, DIR_MODE)
        for name in os.listdir(self.active):
            if name.startswith(RETIRED):  # retired by a daemon that stopped before removing it
                remove_retired(self.active / name)

    @property
    def pid_file(self) -> Path:
        return self.root / "execd.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "messages"

    def task_dir(self, job_id: int, task_id: int) -> TaskDir:
        return TaskDir(self.active / f"{job_id}.{task_id}")

    def tasks(self) -> Iterator[TaskDir]:
        """Every task directory (names that are not ``<int>.<int>`` are skipped)."""
        try:
            entries = sorted(os.listdir(self.active))
        except FileNotFoundError:
            return
        for name in entries:
            job, dot, task = name.partition(".")
            if dot and job.isdigit() and task.isdigit():
                yield TaskDir(self.active / name)

    def create_task(self, launch: Launch, execd_conf: dict[str, Any] | None) -> TaskDir:
        """Write a new task directory from a Launch; an old one of the same name is replaced.
        ``execd_conf`` None: no execd.json (a lean shepherd's task: its plan holds the decisions;
        ``TaskDir.write_execd_conf`` when it goes to the Python shepherd after all)."""
        tdir = self.task_dir(launch.job_id, launch.task_id)
        if tdir.path.exists():
            shutil.rmtree(tdir.path)
        tdir.path.mkdir(mode=DIR_MODE)
        os.chmod(tdir.path, DIR_MODE)
        wire = launch.to_wire()
        spec = dict(wire["spec"])
        script = spec.pop("script", None)
        spec["script"] = None
        wire["spec"] = spec
        if script is not None and not spec.get("binary"):
            write_atomic(tdir.script_path, bytes(script), 0o700)  # the shepherd gives it to the job user
        if launch.hosts:
            lines = "".join(f"{h.host} {h.slots} {h.queue} {h.processors}\n" for h in launch.hosts)
            write_atomic(tdir.file(PE_HOSTFILE), lines)
        # job.json holds the job's environment (-V): readable by the shepherd only, which reads
        # it before it switches to the job's user
        if execd_conf is not None:
            tdir.write_execd_conf(execd_conf)
        write_atomic(tdir.file(JOB_FILE), json.dumps(wire, sort_keys=True), 0o600)
        return tdir
