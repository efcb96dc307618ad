"""qacct's output: Grid Engine 8.1.9's job blocks and usage tables, plus JSON and CSV.

Layouts follow the reference captures (qacct_j.txt, qacct_summary.txt, qacct_o.txt) to the
byte, with one deliberate difference: ``ru_maxrss`` and the other ``ru_*rss`` values are
kilobytes in the file (as getrusage(2) reports them) and are printed as such, where Grid
Engine prints the kilobyte count as if it were bytes.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Sequence
from typing import Any

from qsys.accounting_file import ACCOUNTING_FIELDS
from qsys.acct import GROUP_COLUMNS, USAGE_KEYS

SEPARATOR = "=" * 62
GIB = 1024.0**3
_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")

# failure codes of the ``failed`` field and what they mean (sge_status(5) numbering)
FAILURE_TEXT = {
    0: "", 1: "assumedly before job", 3: "before writing config", 4: "before writing PID",
    5: "on reading config file", 6: "setting processor set", 7: "before prolog", 8: "in prolog",
    9: "before pestart", 10: "in pestart", 11: "before job", 12: "before pestop", 13: "in pestop",
    14: "before epilog", 15: "in epilog", 16: "releasing processor set", 17: "through signal",
    18: "shepherd returned error", 19: "before writing exit_status",
    20: "found unexpected error file", 21: "in recognizing job", 24: "migrating (checkpointing jobs)",
    25: "rescheduling", 26: "opening output file", 27: "searching requested shell",
    28: "changing to working directory", 29: "AFS setup", 30: "application error returned",
    31: "accessing sgepasswd file", 32: "entry is missing in password file", 33: "wrong password",
    34: "communicating with Grid Engine Helper Service", 35: "before job in Grid Engine Helper Service",
    36: "checking configured daemons", 37: "qmaster enforced h_rt, h_cpu, or h_vmem limit",
    38: "adding supplementary group", 100: "assumedly after job",
}


def memory_text(value: float) -> str:
    """Bytes scaled by 1024 with three decimals: 0.000B, 38.797KB, 3.438MB."""
    unit = 0
    while abs(value) >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    return f"{value:.3f}{_UNITS[unit]}"


def _ctime(epoch: int) -> str:
    return time.asctime(time.localtime(epoch)) if epoch else "-/-"


def _line(label: str, value: object, pad: bool = True) -> str:
    return f"{label:<13.12}{value!s:<20}" if pad else f"{label:<13.12}{value}"


def job_block(r: dict[str, Any]) -> list[str]:
    """One record as ``qacct -j`` prints it, separator line first."""
    failed = int(r["failed"])
    text = FAILURE_TEXT.get(failed, "")
    lines = [
        SEPARATOR,
        _line("qname", r["qname"]), _line("hostname", r["hostname"]), _line("group", r["group"]),
        _line("owner", r["owner"]), _line("project", r["project"]),
        _line("department", r["department"]), _line("jobname", r["job_name"]),
        _line("jobnumber", r["job_number"]),
        _line("taskid", r["task_number"]) if r["task_number"] else _line("taskid", "undefined", False),
        _line("account", r["account"]), _line("priority", r["priority"]),
        _line("qsub_time", _ctime(r["submission_time"])), _line("start_time", _ctime(r["start_time"])),
        _line("end_time", _ctime(r["end_time"])),
        _line("granted_pe", r["granted_pe"]), _line("slots", r["slots"]),
        f"{'failed':<13}{failed:<3} {':' if failed else ''} {text}",
        _line("exit_status", r["exit_status"]),
        _line("ru_wallclock", f"{r['ru_wallclock']:.0f}s", False),
        _line("ru_utime", f"{r['ru_utime']:.3f}s", False),
        _line("ru_stime", f"{r['ru_stime']:.3f}s", False),
    ]
    for name in ("ru_maxrss", "ru_ixrss", "ru_ismrss", "ru_idrss", "ru_isrss"):
        lines.append(_line(name, memory_text(float(r[name]) * 1024), False))
    for name in ("ru_minflt", "ru_majflt", "ru_nswap", "ru_inblock", "ru_oublock", "ru_msgsnd",
                 "ru_msgrcv", "ru_nsignals", "ru_nvcsw", "ru_nivcsw"):
        lines.append(_line(name, int(r[name])))
    lines += [
        _line("cpu", f"{r['cpu']:.3f}s", False),
        _line("mem", memory_text(float(r["mem"]) * GIB) + "s", False),
        _line("io", memory_text(float(r["io"]) * GIB), False),
        _line("iow", f"{r['iow']:.3f}s", False),
        _line("maxvmem", memory_text(float(r["maxvmem"])), False),
        _line("arid", r["arid"]) if r["arid"] else _line("arid", "undefined", False),
        _line("ar_sub_time", _ctime(r["ar_sub_time"])) if r["ar_sub_time"]
        else _line("ar_sub_time", "undefined", False),
        _line("category", r["category"], False),
    ]
    return lines


def job_blocks(records: Sequence[dict[str, Any]]) -> str:
    lines: list[str] = []
    for record in records:
        lines += job_block(record)
    return "".join(line + "\n" for line in lines)


_USAGE_HEADER = (f"{'WALLCLOCK':>13} {'UTIME':>13} {'STIME':>13} {'CPU':>13} "
                 f"{'MEMORY':>18} {'IO':>18} {'IOW':>18}")


def _usage_cells(sums: dict[str, float]) -> str:
    return (f"{sums['ru_wallclock']:13.0f} {sums['ru_utime']:13.3f} {sums['ru_stime']:13.3f} "
            f"{sums['cpu']:13.3f} {sums['mem']:18.3f} {sums['io']:18.3f} {sums['iow']:18.3f}")


def summary(columns: Sequence[str], rows: Sequence[tuple[tuple[str, ...], dict[str, float]]],
            total: dict[str, float]) -> str:
    """The usage table: "Total System Usage" alone, or one line per group of records."""
    if not columns:
        return "".join(line + "\n" for line in
                       ["Total System Usage", _USAGE_HEADER, "=" * len(_USAGE_HEADER), _usage_cells(total)])
    titles = [next(t for k, _, t in GROUP_COLUMNS if k == key) for key in columns]
    widths = [max([len(title)] + [len(key[i]) for key, _ in rows]) + 1 for i, title in enumerate(titles)]
    numbers = [key == "ar" for key in columns]  # Grid Engine prints the AR id right-aligned in 5
    widths = [(6 if rows else 5) if number else w for w, number in zip(widths, numbers, strict=True)]
    header = "".join(f"{t:<{w}}" for t, w in zip(titles, widths, strict=True)) + _USAGE_HEADER
    lines = [header, "=" * len(header)]
    for key, sums in rows:
        lines.append("".join(f"{v:>5} " if number else f"{v:<{w}}"
                             for v, w, number in zip(key, widths, numbers, strict=True)) + _usage_cells(sums))
    return "".join(line + "\n" for line in lines)


# ----------------------------------------------------------------------------- --json / --csv


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"


def records_csv(records: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ACCOUNTING_FIELDS)
    for record in records:
        writer.writerow([record[name] for name in ACCOUNTING_FIELDS])
    return out.getvalue()


def summary_csv(columns: Sequence[str], data: dict[str, Any]) -> str:
    """The summary (``qsys.acct.summary``) as CSV: a line per group, or the total alone."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*columns, *USAGE_KEYS])
    for group in data["groups"] if columns else [data["total"]]:
        writer.writerow([group[key] for key in (*columns, *USAGE_KEYS)])
    return out.getvalue()
