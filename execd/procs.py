"""Reading the process table: who carries a group ID, what they used, and ending them.

A job's extra group ID is inherited by every process the job starts (and by processes that
come in through sshd with the PAM helper), whatever their parent or session. So the group ID,
not the process tree, names the job's processes: they are found by the ``Groups:`` line of
``/proc/<pid>/status`` and measured from ``stat`` (cpu, vsize) and ``io``.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(slots=True)
class Proc:
    """One sample of one process; ``(pid, start)`` names it even after its pid is reused."""

    pid: int
    ppid: int
    start: int
    own_cpu: float  # utime + stime, seconds
    kids_cpu: float  # cutime + cstime: children it has waited for
    vsize: int  # bytes
    rss: int  # bytes
    iow: float  # delayacct block I/O wait, seconds
    io: int = 0  # rchar + wchar of the process and its reaped children, bytes

    @property
    def key(self) -> tuple[int, int]:
        return (self.pid, self.start)

    @property
    def total_cpu(self) -> float:
        return self.own_cpu + self.kids_cpu


def pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def groups_of(pid: int) -> list[int] | None:
    """Supplementary groups of a process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Groups:"):
                    return [int(g) for g in line.split()[1:]]
    except OSError:
        return None
    return []


def carriers(gid: int) -> list[int]:
    """Pids of the live processes that carry ``gid`` among their groups."""
    out = []
    for pid in pids():
        groups = groups_of(pid)
        if groups and gid in groups:
            out.append(pid)
    return out


def gids_in_use() -> set[int]:
    """Every supplementary group ID some live process holds."""
    used: set[int] = set()
    for pid in pids():
        used.update(groups_of(pid) or ())
    return used


def read_proc(pid: int, with_io: bool = True) -> Proc | None:
    """A sample of ``pid``; None when it is gone (zombies still give their last numbers)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()
    try:
        proc = Proc(
            pid=pid, ppid=int(fields[1]), start=int(fields[19]),
            own_cpu=(int(fields[11]) + int(fields[12])) / TICKS,
            kids_cpu=(int(fields[13]) + int(fields[14])) / TICKS,
            vsize=int(fields[20]), rss=int(fields[21]) * PAGE,
            iow=int(fields[39]) / TICKS if len(fields) > 39 else 0.0,
        )
    except (IndexError, ValueError):
        return None
    if with_io:
        proc.io = read_io(pid)
    return proc


def read_io(pid: int | str) -> int:
    """rchar + wchar of a process (its reaped children included); 0 when unreadable."""
    total = 0
    try:
        with open(f"/proc/{pid}/io", "rb") as f:
            for line in f:
                if line.startswith((b"rchar:", b"wchar:")):
                    total += int(line.split()[1])
    except (OSError, ValueError):
        return 0
    return total


def kill_gid(gid: int, sig: int = signal.SIGKILL, rounds: int = 3) -> int:
    """Signal every process carrying ``gid``; repeated a few times for processes that forked
    while the table was read. Returns how many signals were sent."""
    sent = 0
    for _ in range(rounds):
        found = carriers(gid)
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
                sent += 1
        if sig != signal.SIGKILL:
            break  # a catchable signal is sent once
    return sent
