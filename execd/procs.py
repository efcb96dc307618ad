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


def read_bytes(path: str) -> bytes | None:
    """A small /proc file in three system calls (``open()`` adds fstat, ioctl and lseek);
    None when it cannot be read (the process is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks: list[bytes] = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` from ``/proc/<pid>/task/*/children`` (no table scan)."""
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        data = read_bytes(f"/proc/{pid}/task/{tid}/children")
        if data:
            out.extend(int(x) for x in data.split())
    return out


def pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def groups_of(pid: int) -> list[int] | None:
    """Supplementary groups of a process, None when it is gone."""
    data = read_bytes(f"/proc/{pid}/status")
    if data is None:
        return None
    start = data.find(b"\nGroups:")
    if start < 0:
        return []
    end = data.find(b"\n", start + 1)
    return [int(g) for g in data[start + 8:end if end > 0 else None].split()]


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
    raw = read_bytes(f"/proc/{pid}/stat")
    if raw is None:
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
    data = read_bytes(f"/proc/{pid}/io")
    total = 0
    try:
        for line in (data or b"").splitlines():
            if line.startswith((b"rchar:", b"wchar:")):
                total += int(line.split()[1])
    except ValueError:
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
