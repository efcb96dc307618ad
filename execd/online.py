"""Usage of the tasks running on this host, sent with every load report (``qstat -j``'s
``usage`` lines, the ``qstat -ext`` cpu/mem/io columns).

A task's processes are the carriers of its extra group ID (the same /proc sampling as
``execd.usage`` does for accounting) and everything below its shepherds (the master task's
and those of its ``qrsh -inherit`` tasks here; a daemon without group IDs has only these).
Per sample: ``cpu`` is their user + system time plus what they and the shepherds waited for
(their children that ended), ``io`` their rchar + wchar (GB), ``vmem`` their virtual size now,
``maxvmem`` its peak so far and ``mem`` the vmem integrated over the cpu used (GB s, as
accounting(5) defines it). The report carries only running tasks, a few numbers each.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from execd.procs import Proc, children_of, groups_of, read_proc

_GIB = 1024.0**3
Key = tuple[int, int]


@dataclass(slots=True)
class TaskProcesses:
    """How to find one task's processes on this host."""

    shepherds: list[int]  # pids whose descendants belong to the task
    gid: int | None = None  # extra group ID they carry


@dataclass(slots=True)
class _Seen:
    cpu: float = 0.0
    io: float = 0.0
    vmem: int = 0
    mem: float = 0.0
    maxvmem: int = 0


def _descendants(roots: list[int]) -> set[int]:
    found: set[int] = set()
    todo = list(roots)
    while todo:
        for child in children_of(todo.pop()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _carriers(gids: set[int]) -> dict[int, set[int]]:
    """gid -> pids carrying it, for the wanted gids, in one pass over /proc."""
    out: dict[int, set[int]] = {gid: set() for gid in gids}
    if not gids:
        return out
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if name.isdigit():
                for gid in gids.intersection(groups_of(int(name)) or ()):
                    out[gid].add(int(name))
    return out


class OnlineUsage:
    """Samples the running tasks; keeps each task's peak and memory integral between samples."""

    def __init__(self) -> None:
        self._seen: dict[Key, _Seen] = {}

    def sample(self, tasks: dict[Key, TaskProcesses]) -> dict[str, dict[str, float]]:
        """``"job.task"`` -> cpu, mem, io, vmem, maxvmem of every task in ``tasks``."""
        carriers = _carriers({t.gid for t in tasks.values() if t.gid is not None})
        out: dict[str, dict[str, float]] = {}
        for key, where in tasks.items():
            pids = _descendants(where.shepherds) | carriers.get(where.gid, set()) if where.gid is not None \
                else _descendants(where.shepherds)
            pids.difference_update(where.shepherds)
            procs = [p for p in (read_proc(pid) for pid in pids) if p is not None]
            waited = sum(p.kids_cpu for p in (read_proc(pid, with_io=False) for pid in where.shepherds) if p)
            out[f"{key[0]}.{key[1]}"] = self._account(key, procs, waited)
        for gone in set(self._seen) - set(tasks):
            del self._seen[gone]
        return out

    def _account(self, key: Key, procs: list[Proc], waited: float) -> dict[str, float]:
        seen = self._seen.setdefault(key, _Seen())
        # cpu and io never go back (a process whose parent is not sampled takes its part along)
        cpu = max(seen.cpu, sum(p.total_cpu for p in procs) + waited)
        io = max(seen.io, sum(p.io for p in procs) / _GIB)
        vmem = sum(p.vsize for p in procs)
        seen.mem += (seen.vmem + vmem) / 2 / _GIB * (cpu - seen.cpu)
        seen.cpu, seen.io, seen.vmem, seen.maxvmem = cpu, io, vmem, max(seen.maxvmem, vmem)
        return {"cpu": round(cpu, 2), "mem": round(seen.mem, 5), "io": round(io, 6),
                "iow": round(sum(p.iow for p in procs), 2), "vmem": float(vmem), "maxvmem": float(seen.maxvmem)}
