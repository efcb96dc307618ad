"""Grid Engine's accounting file: its 45 colon-separated fields, their types, the header.

The one definition the writer (the master, ``qsys.master.accounting``) and the readers
(``qsys.acct`` for qacct, ``qsys.cli.acctout``) share, so that neither side imports the
other. A leaf module: standard library only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["ACCOUNTING_FIELDS", "FLOAT_FIELDS", "HEADER", "INT_FIELDS", "devices_file", "format_devices_line",
           "format_line", "parse_devices_line", "parse_line", "parse_record"]

ACCOUNTING_FIELDS = (
    "qname", "hostname", "group", "owner", "job_name", "job_number", "account", "priority",
    "submission_time", "start_time", "end_time", "failed", "exit_status", "ru_wallclock",
    "ru_utime", "ru_stime", "ru_maxrss", "ru_ixrss", "ru_ismrss", "ru_idrss", "ru_isrss",
    "ru_minflt", "ru_majflt", "ru_nswap", "ru_inblock", "ru_oublock", "ru_msgsnd", "ru_msgrcv",
    "ru_nsignals", "ru_nvcsw", "ru_nivcsw", "project", "department", "granted_pe", "slots",
    "task_number", "cpu", "mem", "io", "category", "iow", "pe_taskid", "maxvmem", "arid",
    "ar_sub_time",
)
INT_FIELDS = frozenset({
    "job_number", "priority", "submission_time", "start_time", "end_time", "failed",
    "exit_status", "ru_ixrss", "ru_ismrss", "ru_idrss", "ru_isrss", "ru_minflt", "ru_majflt",
    "ru_nswap", "ru_oublock", "ru_msgsnd", "ru_msgrcv", "ru_nsignals", "ru_nvcsw", "ru_nivcsw",
    "slots", "task_number", "arid", "ar_sub_time", "ru_wallclock",
})
FLOAT_FIELDS = frozenset({"ru_utime", "ru_stime", "ru_maxrss", "ru_inblock", "cpu", "mem", "io", "iow",
                          "maxvmem"})
HEADER = "# Version: 8.1.9\n# \n# DO NOT MODIFY THIS FILE MANUALLY!\n"


_FIELD_IS_FLOAT = tuple((name, name in FLOAT_FIELDS) for name in ACCOUNTING_FIELDS)


def format_line(record: dict[str, Any]) -> str:
    """One line of the accounting file (colons inside values would break readers: replaced).
    A number's text has neither, so only other values are searched (a line per ended task)."""
    out = []
    get = record.get
    for name, is_float in _FIELD_IS_FLOAT:
        value = get(name, 0)
        if is_float:
            out.append(f"{float(value):.6f}")
        elif type(value) is int:
            out.append(str(value))
        else:
            text = str(value)
            if ":" in text or "\n" in text:
                text = text.replace(":", "_").replace("\n", " ")
            out.append(text)
    return ":".join(out)


def devices_file(accounting: Path) -> Path:
    """Where the resource map ids that ended tasks held are kept: beside the accounting file,
    whose 45 fields (Grid Engine's) have no place for them."""
    return accounting.with_name(accounting.name + "_devices")


def format_devices_line(record: dict[str, Any]) -> str:
    """``job:task:start_time:granted`` (granted as qstat -j's ``resource map`` line shows it,
    last, as an id may hold colons); the first three find the task's accounting record."""
    devices = str(record["devices"]).replace("\n", " ")
    return f"{record['job_number']}:{record['task_number']}:{int(record['start_time'])}:{devices}"


def parse_devices_line(line: str) -> tuple[tuple[int, int, int], str] | None:
    """((job, task, start time), granted) of one line; None for a damaged one."""
    parts = line.rstrip("\n").split(":", 3)
    if len(parts) < 4:
        return None
    try:
        return (int(parts[0]), int(parts[1]), int(parts[2])), parts[3]
    except ValueError:
        return None


def parse_line(line: str) -> dict[str, Any]:
    """The record of one accounting line (values as text)."""
    values = line.rstrip("\n").split(":")
    return dict(zip(ACCOUNTING_FIELDS, values, strict=False))


def _number(text: str, kind: type) -> Any:
    try:
        return kind(float(text)) if kind is int else float(text)
    except ValueError:
        return 0


def parse_record(line: str) -> dict[str, Any] | None:
    """The typed record of one line; None for comments, blank or truncated lines."""
    line = line.rstrip("\n")
    if len(line) <= 1 or line.startswith("#"):
        return None
    values = line.split(":")
    if len(values) < len(ACCOUNTING_FIELDS):
        return None
    record: dict[str, Any] = {}
    for name, text in zip(ACCOUNTING_FIELDS, values, strict=False):
        if name in INT_FIELDS:
            record[name] = _number(text, int)
        elif name in FLOAT_FIELDS:
            record[name] = _number(text, float)
        else:
            record[name] = text
    return record
