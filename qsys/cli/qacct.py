"""qacct: report usage of finished jobs from the accounting file (Grid Engine's options).

It reads ``$QSYS_ROOT/<cell>/common/accounting`` (or ``-f file``) directly, as Grid Engine's
qacct does; the master appends and fsyncs each record before the job leaves ``qstat``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from qsys.acct import GROUP_COLUMNS, Selection, parse_task_range, parse_time, time_window
from qsys.cli.common import run, write
from qsys.errors import UsageError

USAGE = """usage: qacct [options]
 [-ar [ar_id]]                     view advance reservation accounting (not supported)
 [-A account_string]               jobs accounted to the given account
 [-b begin_time]                   jobs started after [[CC]YY]MMDDhhmm[.SS]
 [-d days]                         jobs started during the last days
 [-D [department]]                 list [matching] department
 [-e end_time]                     jobs started before [[CC]YY]MMDDhhmm[.SS]
 [-f acct_file]                    use an alternate accounting file
 [-g [groupid|groupname]]          list [matching] group
 [-h [host]]                       list [matching] host
 [-help]                           display this message
 [-j [job_id|job_name|pattern]]    list all [matching] jobs
 [-l attr=val,...]                 jobs that requested these resources
 [-o [owner]]                      list [matching] owner
 [-pe [pe_name]]                   list [matching] parallel environment
 [-P [project]]                    list [matching] project
 [-q [queue]]                      list [matching] queue (cluster queue or queue@host)
 [-slots [slots]]                  list [matching] job slots
 [-t task_id_range]                tasks of an array job (with -j)
 [--json | --csv]                  machine-readable output (qsys)
"""

# options that add a grouping column, with an optional value that also filters
_GROUPING = {"-o": "owner", "-g": "group", "-q": "queue", "-h": "host", "-pe": "pe",
             "-P": "project", "-D": "department", "-slots": "slots"}
_WITH_VALUE = {"-A", "-b", "-e", "-d", "-f", "-l", "-t"}


def _optional(argv: list[str], i: int) -> str | None:
    """The value after an option whose argument may be left out."""
    if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
        return argv[i + 1]
    return None


def parse_args(argv: list[str]) -> tuple[Selection, dict[str, object]]:
    """(Selection, other options) from qacct's command line."""
    sel = Selection()
    opts: dict[str, object] = {}
    days: float | None = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-help", "--help"):
            sys.stdout.write(USAGE)
            raise SystemExit(0)
        if arg in ("--json", "--csv"):
            opts["format"] = arg[2:]
        elif arg in _GROUPING:
            key = _GROUPING[arg]
            value = _optional(argv, i)
            if key not in sel.columns:
                sel.columns.append(key)
            if value is not None:
                i += 1
                if key == "slots":
                    if not value.isdigit():
                        raise UsageError(f'error: invalid slots value "{value}"')
                    sel.slots = int(value)
                else:
                    setattr(sel, key, value)
        elif arg == "-j":
            value = _optional(argv, i)
            sel.job = value or ""
            opts["jobs"] = True
            if value is not None:
                i += 1
        elif arg == "-ar":
            raise UsageError("error: advance reservations are not supported")
        elif arg in _WITH_VALUE:
            if i + 1 >= len(argv):
                raise UsageError(f'error: option "{arg}" requires an argument\n{USAGE.rstrip()}')
            i += 1
            value = argv[i]
            if arg == "-A":
                sel.account = value
            elif arg == "-b":
                sel.begin = parse_time(value)
            elif arg == "-e":
                sel.end = parse_time(value)
            elif arg == "-d":
                try:
                    days = float(value)
                except ValueError:
                    raise UsageError(f'error: invalid number of days "{value}"') from None
            elif arg == "-f":
                opts["file"] = value
            elif arg == "-l":
                for item in value.split(","):
                    name, _, val = item.partition("=")
                    if name:
                        sel.requests[name.strip()] = val.strip()
            elif arg == "-t":
                sel.tasks = parse_task_range(value)
        else:
            raise UsageError(f'error: invalid option argument "{arg}"\n{USAGE.rstrip()}')
        i += 1
    if sel.tasks is not None and "jobs" not in opts:
        raise UsageError("error: -t option requires -j option")
    order = [key for key, _, _ in GROUP_COLUMNS]
    sel.columns.sort(key=order.index)  # Grid Engine's column order, whatever the option order
    sel.begin, sel.end = time_window(sel.begin, sel.end, days)
    return sel, opts


def _body(argv: list[str]) -> int:
    from qsys import acct
    from qsys.cli import acctout
    from qsys.paths import Cell

    sel, opts = parse_args(argv)
    path = Path(str(opts["file"])) if "file" in opts else Cell.current().accounting_file
    records = acct.select(acct.read_records(path), sel)
    fmt = opts.get("format")
    if opts.get("jobs"):
        if fmt == "json":
            write(acctout.to_json(records))
        elif fmt == "csv":
            write(acctout.records_csv(records))
        else:
            write(acctout.job_blocks(records))
        return 0
    rows = acct.grouped(records, sel.columns)
    total = acct.totals(records)
    if fmt in ("json", "csv"):
        table = acctout.summary_rows(sel.columns, rows, total)
        write(acctout.to_json(table) if fmt == "json" else acctout.summary_csv(table))
    else:
        write(acctout.summary(sel.columns, rows, total))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run("qacct", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
