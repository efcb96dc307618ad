"""The shepherd as its job's child subreaper: every process the job leaves behind ends below it.

With ``PR_SET_CHILD_SUBREAPER`` a process that double-forks away from the job (or whose
parent dies) is re-parented to the shepherd, not to init. The shepherd reaps it, so the
kernel adds its cpu and io to the shepherd's children usage: ``getrusage(RUSAGE_CHILDREN)``
then holds everything the job ran on this host below the shepherd, exactly. At the end the
shepherd kills what is left (process group, group ID carriers, its own children) and reaps
it all before it writes the report.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import time
from pathlib import Path

from execd import procs

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make the calling process the subreaper of its descendants (False where unsupported)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def reap_nohang(job_pid: int) -> tuple[int, resource.struct_rusage] | None:
    """Reap every child that has ended; (status, rusage) when one of them was the job."""
    result = None
    while True:
        try:
            pid, status, ru = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return result
        if pid == 0:
            return result
        if pid == job_pid:
            result = (status, ru)


def my_children() -> list[int]:
    return procs.children_of(os.getpid())


def end_all(job_pid: int, gid: int | None, timeout: float = 30.0, carried_after_job: list[int] | None = None) -> None:
    """Kill and reap everything the job left: its process group, the carriers of its group
    ID (on this host, also those not below us) and every remaining descendant.

    ``carried_after_job``: the carriers a scan found after the job's process ended (the
    shepherd's last usage sample), taken as the first round's: when it found none, nothing
    can carry the ID any more (only a carrier's fork could), so no second scan is needed."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(job_pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while True:
        # one table scan a round: done when a round finds nothing left to kill
        if carried_after_job is not None:
            carried, carried_after_job = carried_after_job, None
        else:
            carried = procs.carriers(gid) if gid is not None else []
        children = my_children()
        for pid in {*carried, *children}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        reap_nohang(job_pid)
        if not carried and not children or time.monotonic() > deadline:
            return
        time.sleep(0.01)


def shepherd_pids(spool_root: Path) -> set[int]:
    """Pids of the live shepherds of this exec host (job tasks and pe tasks)."""
    found: set[int] = set()
    for kind in ("active_jobs", "pe_tasks"):
        base = os.path.join(spool_root, kind)
        try:
            names = os.listdir(base)
        except OSError:
            continue
        for name in names:
            if name.startswith("."):
                continue  # a retired task directory (execd.spool.RETIRED) on its way out
            data = procs.read_bytes(os.path.join(base, name, "shepherd.pid"))
            with contextlib.suppress(ValueError, IndexError):
                found.add(int((data or b"").split()[0]))
    return found
