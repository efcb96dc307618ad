"""The exit report: what ``os.wait4`` tells about a job, in the fields accounting needs.

Grid Engine's usage values come from the kernel's rusage of the job's process tree.
``cpu`` is user + system seconds. ``maxvmem`` is approximated by the peak resident size
(rusage has no virtual size); ``mem`` (GB CPU seconds, as accounting(5) defines it) by that
peak times the CPU time; ``io`` (GB) by the block counts in 512-byte units; ``iow`` is not
measured (0). GB means 2**30 bytes, the unit qacct scales by.
"""

from __future__ import annotations

import os
import resource
import signal as _signal
from typing import Any

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


def signal_name(sig: int) -> str:
    try:
        return _signal.Signals(sig).name
    except ValueError:
        return str(sig)
