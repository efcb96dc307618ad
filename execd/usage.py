"""The exit report: what ``os.wait4`` and /proc tell about a job, in the fields accounting needs.

``report_from_wait`` turns one wait status and rusage into a report: ``cpu`` is user +
system seconds; ``maxvmem`` starts from the peak resident size, ``mem`` (GB CPU seconds, as
accounting(5) defines it) from that peak times the CPU time, ``io`` (GB) from the block
counts. GB means 2**30 bytes, the unit qacct scales by. For a job with an extra group ID the
shepherd then calls ``merge_usage``: cpu and io become its children usage (the job and every
orphan it reaped as their subreaper, see ``execd.reaper``) plus what :class:`GroupSampler`
measured of the group ID's carriers outside its tree (io: rchar + wchar), and ``mem`` and
``maxvmem`` come from the sampled virtual sizes of all carriers (``mem`` integrated over the
CPU time they used between samples).
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from typing import Any

from execd.procs import Proc, carriers, read_proc

RUSAGE_FIELDS = (
    "ru_maxrss", "ru_ixrss", "ru_ismrss", "ru_idrss", "ru_isrss", "ru_minflt", "ru_majflt",
    "ru_nswap", "ru_inblock", "ru_oublock", "ru_msgsnd", "ru_msgrcv", "ru_nsignals",
    "ru_nvcsw", "ru_nivcsw",
)

# the kernel's struct names the shared-memory field ru_ixrss; Grid Engine prints ru_ismrss too
_KERNEL_NAME = {"ru_ismrss": "ru_ixrss"}
_GIB = 1024.0**3


def empty_report(start_time: float = 0.0, end_time: float = 0.0) -> dict[str, Any]:
    """A report with every field present (a job that never ran)."""
    report: dict[str, Any] = {
        "exit_status": 0, "signal": 0, "failed": 0, "start_time": start_time, "end_time": end_time,
        "ru_wallclock": max(0.0, end_time - start_time) if start_time else 0.0,
        "ru_utime": 0.0, "ru_stime": 0.0, "cpu": 0.0, "mem": 0.0, "io": 0.0, "iow": 0.0,
        "maxvmem": 0, "error": "", "rerun": False, "error_state": False, "killed": False,
    }
    for name in RUSAGE_FIELDS:
        report[name] = 0
    return report


def decode_status(status: int) -> tuple[int, int]:
    """(exit_status, signal) as Grid Engine reports them: a signal gives 128 + its number."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return 128 + sig, sig
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status), 0
    return 0, 0


def report_from_wait(status: int, ru: resource.struct_rusage, start_time: float,
                     end_time: float) -> dict[str, Any]:
    """The exit report of a job that ran from ``start_time`` to ``end_time``."""
    report = empty_report(start_time, end_time)
    exit_status, sig = decode_status(status)
    report["exit_status"], report["signal"] = exit_status, sig
    report["ru_utime"] = round(ru.ru_utime, 6)
    report["ru_stime"] = round(ru.ru_stime, 6)
    for name in RUSAGE_FIELDS:
        report[name] = int(getattr(ru, _KERNEL_NAME.get(name, name)))
    peak_bytes = report["ru_maxrss"] * 1024
    report["cpu"] = round(ru.ru_utime + ru.ru_stime, 6)
    report["maxvmem"] = peak_bytes
    report["mem"] = round(peak_bytes / _GIB * report["cpu"], 6)
    report["io"] = round((report["ru_inblock"] + report["ru_oublock"]) * 512 / _GIB, 6)
    report["rerun"] = sig == 0 and exit_status == 99
    report["error_state"] = sig == 0 and exit_status == 100
    return report


# ---------------------------------------------------------------- usage from /proc

SAMPLE_SECONDS = 2.0


class GroupSampler:
    """Usage of the processes that carry a job's extra group ID, sampled from /proc.

    Processes below one of our shepherds are measured exactly by that shepherd's ``wait4``
    (it is their child subreaper, so double-forked ones are reaped by it too); here they
    count only for memory (vsize integral and peak). The others -- *foreign* processes,
    e.g. ones started through sshd -- are accounted from their samples: a live one with its
    own and its reaped children's cpu/io; one that vanished with its last sample unless its
    parent was a carrier too (the parent's children counters took it over when it reaped it).
    """

    def __init__(self, gid: int, shepherds: Callable[[], set[int]]) -> None:
        self.gid = gid
        self.shepherds = shepherds
        self.mem = 0.0  # GB CPU seconds of virtual memory
        self._last_cpu = 0.0
        self.maxvmem = 0
        self._last_time: float | None = None
        self._last_vmem = 0
        self._live: dict[tuple[int, int], tuple[Proc, bool]] = {}  # foreign, at the last sample
        self._gone_cpu = 0.0
        self._gone_io = 0
        self._gone_iow = 0.0
        self.carriers: list[int] | None = None  # the pids the last sample found (None: none yet)

    def sample(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        current: dict[int, Proc] = {}
        for pid in carriers(self.gid):
            proc = read_proc(pid)
            if proc is not None:
                current[pid] = proc
        self.carriers = list(current)
        vmem = sum(p.vsize for p in current.values())
        cpu = sum(p.own_cpu for p in current.values())
        if self._last_time is not None:
            used = max(0.0, cpu - self._last_cpu)
            self.mem += (self._last_vmem + vmem) / 2 / _GIB * used
        self._last_time, self._last_vmem, self._last_cpu = now, vmem, cpu
        self.maxvmem = max(self.maxvmem, vmem)
        shepherds = self.shepherds()
        live: dict[tuple[int, int], tuple[Proc, bool]] = {}
        for proc in current.values():
            root = proc
            seen = 0
            while root.ppid in current and seen < 4096:
                root = current[root.ppid]
                seen += 1
            if root.ppid in shepherds:
                continue  # below a shepherd: its wait4 counts it
            live[proc.key] = (proc, proc.ppid in current)
        for key, (proc, parent_carries) in self._live.items():
            if key not in live and not parent_carries:
                self._gone_cpu += proc.total_cpu
                self._gone_io += proc.io
                self._gone_iow += proc.iow
        self._live = live

    def foreign(self) -> dict[str, float]:
        """cpu (s), io (bytes), iow (s) of the foreign processes up to the last sample."""
        cpu, io, iow = self._gone_cpu, float(self._gone_io), self._gone_iow
        for proc, _ in self._live.values():
            cpu += proc.total_cpu
            io += proc.io
            iow += proc.iow
        return {"cpu": cpu, "io": io, "iow": iow}


def merge_usage(report: dict[str, Any], children: resource.struct_rusage, io_bytes: int,
                sampler: GroupSampler | None) -> dict[str, Any]:
    """Fill a report's usage from the shepherd's children rusage (the job and everything it
    left behind, reaped by the shepherd) plus the foreign processes of ``sampler``."""
    report["ru_utime"] = round(children.ru_utime, 6)
    report["ru_stime"] = round(children.ru_stime, 6)
    cpu = children.ru_utime + children.ru_stime
    io = float(io_bytes)
    iow = 0.0
    if sampler is not None:
        foreign = sampler.foreign()
        cpu += foreign["cpu"]
        io += foreign["io"]
        iow += foreign["iow"]
        if sampler.maxvmem:
            report["maxvmem"] = max(int(report.get("maxvmem") or 0), sampler.maxvmem)
        if sampler.mem:
            report["mem"] = round(sampler.mem, 6)
    report["cpu"] = round(cpu, 6)
    report["io"] = round(io / _GIB, 9)
    report["iow"] = round(iow, 6)
    report["foreign_cpu"] = round(cpu - children.ru_utime - children.ru_stime, 6)
    return report


def rusage_delta(after: resource.struct_rusage, before: resource.struct_rusage) -> resource.struct_rusage:
    """``after - before`` field by field (maxrss: the later peak)."""
    values = []
    for name in ("ru_utime", "ru_stime", "ru_maxrss", "ru_ixrss", "ru_idrss", "ru_isrss", "ru_minflt",
                 "ru_majflt", "ru_nswap", "ru_inblock", "ru_oublock", "ru_msgsnd", "ru_msgrcv",
                 "ru_nsignals", "ru_nvcsw", "ru_nivcsw"):
        a, b = getattr(after, name), getattr(before, name)
        values.append(a if name in ("ru_maxrss", "ru_ixrss", "ru_idrss", "ru_isrss") else a - b)
    return resource.struct_rusage(values)
