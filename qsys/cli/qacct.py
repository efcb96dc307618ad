"""qacct: report usage of finished jobs from the accounting file (Grid Engine's options).

It reads ``$QSYS_ROOT/<cell>/common/accounting`` (or ``-f file``) directly, as Grid Engine's
qacct does; the master appends and fsyncs each record before the job leaves ``qstat``. The
resource map ids tasks held come from the file beside it (``accounting_devices``: Grid
Engine's line has no field for them) and only ``-j --json`` shows them. A host that joined the
cell has no such file (no directory is shared with the master): there qacct reads the
master's file through the master (without the device ids).
"""

from __future__ import annotations

import sys
from pathlib import Path

from qsys.acct import GROUP_COLUMNS, Selection, time_window
from qsys.cli.common import run, write
from qsys.cli.engine import CSV, HELP, JSON, Handler, Option, OptionTable, checked, parse
from qsys.errors import UsageError


class _State:
    """What qacct's options ask: the selection, the output form, the file, -d days."""

    __slots__ = ("days", "file", "form", "jobs", "sel")

    def __init__(self) -> None:
        self.sel = Selection()
        self.days: float | None = None
        self.file: str | None = None
        self.form = ""
        self.jobs = False


def _grouping(key: str) -> Handler:
    """-o, -g, -q, ...: a summary column; with a value, also a filter (patterns allowed)."""

    def handler(state: _State, name: str, values: list[str]) -> None:
        if key not in state.sel.columns:
            state.sel.columns.append(key)
        if not values:
            return
        if key in ("slots", "ar"):
            if not values[0].isdigit():
                raise UsageError(f'error: invalid {"slots" if key == "slots" else "ar_id"} value "{values[0]}"')
            setattr(state.sel, key, int(values[0]))
        else:
            setattr(state.sel, key, values[0])

    return handler


def _jobs(state: _State, name: str, values: list[str]) -> None:
    state.sel.job = values[0] if values else ""
    state.jobs = True


def _account(state: _State, name: str, values: list[str]) -> None:
    state.sel.account = values[0]


def _time(attr: str) -> Handler:
    def handler(state: _State, name: str, values: list[str]) -> None:
        from qsys.grammar.values import parse_datetime

        setattr(state.sel, attr, checked(parse_datetime, "qacct", name, values[0]))

    return handler


def _days(state: _State, name: str, values: list[str]) -> None:
    try:
        state.days = float(values[0])
    except ValueError:
        raise UsageError(f'error: invalid number of days "{values[0]}"') from None


def _file(state: _State, name: str, values: list[str]) -> None:
    state.file = values[0]


def _requests(state: _State, name: str, values: list[str]) -> None:
    """-l: jobs that requested these resources; a name alone matches any value."""
    from qsys.grammar.requests import parse_resource_list

    state.sel.requests.update(checked(lambda text: parse_resource_list(text, bare=""), "qacct", name, values[0]))


def _tasks(state: _State, name: str, values: list[str]) -> None:
    from qsys.grammar.values import parse_task_range

    state.sel.tasks = checked(parse_task_range, "qacct", name, values[0])


QACCT_OPTIONS = OptionTable("qacct", [
    HELP,
    Option("-ar [ar_id]", "view advance reservation accounting", _grouping("ar")),
    Option("-A account_string", "jobs accounted to the given account", _account),
    Option("-b begin_time", "jobs started after [[CC]YY]MMDDhhmm[.SS]", _time("begin")),
    Option("-d days", "jobs started during the last days", _days),
    Option("-D [department]", "list [matching] department", _grouping("department")),
    Option("-e end_time", "jobs started before [[CC]YY]MMDDhhmm[.SS]", _time("end")),
    Option("-f acct_file", "use an alternate accounting file", _file),
    Option("-g [groupid|groupname]", "list [matching] group", _grouping("group")),
    Option("-h [host]", "list [matching] host", _grouping("host")),
    Option("-j [job_id|job_name|pattern]", "list all [matching] jobs", _jobs),
    Option("-l attr=val,...", "jobs that requested these resources", _requests),
    Option("-o [owner]", "list [matching] owner", _grouping("owner")),
    Option("-pe [pe_name]", "list [matching] parallel environment", _grouping("pe")),
    Option("-P [project]", "list [matching] project", _grouping("project")),
    Option("-q [queue]", "list [matching] queue (cluster queue or queue@host)", _grouping("queue")),
    Option("-slots [slots]", "list [matching] job slots", _grouping("slots")),
    Option("-t task_id_range", "tasks of an array job (with -j)", _tasks),
    JSON,
    CSV,
], usage_on_error=True)


def parse_args(argv: list[str]) -> tuple[Selection, dict[str, object]]:
    """(Selection, other options) from qacct's command line."""
    state = _State()
    parse(argv, QACCT_OPTIONS, state)
    sel = state.sel
    if sel.tasks is not None and not state.jobs:
        raise UsageError("error: -t option requires -j option")
    order = [key for key, _, _ in GROUP_COLUMNS]
    sel.columns.sort(key=order.index)  # Grid Engine's column order, whatever the option order
    sel.begin, sel.end = time_window(sel.begin, sel.end, state.days)
    opts: dict[str, object] = {"format": state.form} if state.form else {}
    if state.file is not None:
        opts["file"] = state.file
    if state.jobs:
        opts["jobs"] = True
    return sel, opts


def _body(argv: list[str]) -> int:
    from qsys import acct
    from qsys.cli import acctout
    from qsys.paths import Cell

    sel, opts = parse_args(argv)
    cell = Cell.current()
    path = Path(str(opts["file"])) if "file" in opts else cell.accounting_file
    if "file" not in opts and not path.exists() and cell.bootstrap().get("host_name"):
        from qsys.client import Client

        with Client(cell) as client:
            granted = acct.granted_devices(client.accounting_lines(devices=True))
            records = acct.select(acct.devices_joined(acct.records_of(client.accounting_lines()), granted), sel)
    else:  # with the resource map ids of the file beside it (qacct -j --json shows them)
        records = acct.select(acct.with_devices(acct.read_records(path), path), sel)
    fmt = opts.get("format")
    if opts.get("jobs"):
        if fmt == "json":
            write(acctout.to_json(records))
        elif fmt == "csv":
            write(acctout.records_csv(records))
        else:
            write(acctout.job_blocks(records))
        return 0
    if fmt in ("json", "csv"):
        data = acct.summary(records, sel.columns)
        write(acctout.to_json(data) if fmt == "json" else acctout.summary_csv(sel.columns, data))
    else:
        write(acctout.summary(sel.columns, acct.grouped(records, sel.columns), acct.totals(records)))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run("qacct", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
