"""qstat: show jobs, queues and job details in Grid Engine's formats."""

from __future__ import annotations

import sys

from qsys.cli.common import run, write
from qsys.cli.engine import (
    CSV,
    HELP,
    JSON,
    XML,
    Option,
    OptionTable,
    checked,
    parse,
    store_flag,
    store_items,
    store_text,
)
from qsys.cli.jsonout import print_json
from qsys.errors import QsysError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a command milliseconds at run time
    from typing import Any

_STATE_LETTERS = set("prszfhuosdja")  # -s: p r s z (f), holds hu ho hs hd hj ha (h), a


def _states(opts: dict[str, Any], name: str, values: list[str]) -> None:
    if not values[0] or not set(values[0]) <= _STATE_LETTERS:
        raise QsysError("ERROR! wrong argument to -s option")
    opts["states"] = values[0]


def _resources(opts: dict[str, Any], name: str, values: list[str]) -> None:
    from qsys.grammar.requests import parse_resource_list

    opts["resources"] = checked(parse_resource_list, "qstat", name, values[0])


def _explain(opts: dict[str, Any], name: str, values: list[str]) -> None:
    if not values[0] or set(values[0]) - set("acAE"):
        raise UsageError(f"qstat: -explain wants a, c, A or E, not {values[0]!r}")
    opts["explain"] = values[0]
    opts["full"] = True


QSTAT_OPTIONS = OptionTable("qstat", [
    HELP,
    Option("-explain a|c|A|E", "full listing with the reason of these queue states (E: error)", _explain),
    Option("-ext", "more columns: tickets, project, department", store_flag("ext")),
    Option("-f", "full listing: every queue instance and its jobs", store_flag("full")),
    Option("-g c", "cluster queue summary", store_text("group")),
    Option("-j [job_list]", "details of these jobs (of all jobs without a list)", store_items("jobs")),
    Option("-l resource_list", "queues offering these resources, and the jobs that could run there", _resources),
    Option("-pri", "priority columns", store_flag("pri")),
    Option("-q queue_list", "these queues, and the jobs running or able to run there", store_items("queues")),
    Option("-r", "the resources each job requested", store_flag("requested")),
    Option("-s {p|r|s|z|f|hu|ho|hs|hd|hj|ha|h|a}",
           "jobs in these states: pending, running, suspended, finished (z or f), held; a: prsh", _states),
    Option("-t", "one line per array task and parallel task", store_flag("tasks")),
    Option("-u user_list", "jobs of these users (* for all; default: yours)", store_items("users")),
    Option("-urg", "urgency columns", store_flag("urg")),
    XML,
    JSON,
    CSV,
])


def xml_forms(opts: dict[str, Any]) -> frozenset[str]:
    """The -ext/-r/-t additions the XML output carries."""
    return frozenset(name for name in ("ext", "requested", "tasks") if opts.get(name))


def parse_args(argv: list[str]) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    parse(argv, QSTAT_OPTIONS, opts)
    if opts.get("form") == "csv" and ("jobs" in opts or opts.get("urg") or opts.get("pri")):
        raise UsageError("qstat: --csv prints the tables of qstat, qstat -f and -g c (use --json)")
    return opts


def _body(argv: list[str]) -> int:
    from qsys.client import Client

    opts = parse_args(argv)
    form = opts.get("form", "")
    with Client() as client:
        if "jobs" in opts:
            return _details(client, opts)
        if opts.get("group") == "c":
            return _cluster_summary(client, opts)
        users = opts.get("users") or [_login_name()]
        options: dict[str, Any] = {"states": opts.get("states", ""), "queues": opts.get("queues", []),
                                   "resources": opts.get("resources", {})}
        if opts.get("urg") or opts.get("pri"):
            options["urgency"] = True
        elif not form and not any(opts.get(k) for k in ("ext", "requested", "tasks")):
            options["brief"] = True  # only the columns plain qstat and -f print
        rendered = _rendered_form(opts)
        if rendered is not None:  # the master prints (protocol.StatusText); rows if it cannot
            from qsys import protocol

            query = protocol.JobsStatus(users, **options)
            reply = client.status_text(query, full=bool(opts.get("full")), form=rendered,
                                       xml_forms=list(xml_forms(opts)), explain=opts.get("explain", ""))
            if isinstance(reply, str):
                write(reply)
                return 0
            if opts.get("full"):
                return _print_full(reply.queues, reply.jobs, opts)
            return _print_jobs(reply.rows, opts)
        if opts.get("full"):
            data = client.queues(users, **options)
            queues, rows = data.queues, data.jobs
            if form == "json":
                return print_json(data)
            return _print_full(queues, rows, opts)
        rows = client.jobs(users, **options)
    if form == "json":
        return print_json(rows)
    if opts.get("urg") or opts.get("pri"):
        return _urgency(rows, opts)
    return _print_jobs(rows, opts)


def _login_name() -> str:
    """Whose jobs qstat shows by default: ``getpass.getuser``'s rule, without the modules
    ``getpass`` imports (a few milliseconds of every qstat)."""
    import os

    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        user = os.environ.get(name)
        if user:
            return user
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def _rendered_form(opts: dict[str, Any]) -> str | None:
    """The StatusText form of what qstat prints, None for what the command formats itself
    (--json, --csv, -urg, -pri)."""
    form = opts.get("form", "")
    if form in ("json", "csv") or opts.get("urg") or opts.get("pri"):
        return None
    if form == "xml" or opts.get("full"):
        return form
    return next((name for name in ("ext", "requested", "tasks") if opts.get(name)), "")


def _print_full(queues: list[Any], rows: list[Any], opts: dict[str, Any]) -> int:
    """qstat -f from the rows (text, --csv or -xml)."""
    from qsys.cli import formats

    form = opts.get("form", "")
    if form == "csv":
        from qsys.cli import csvout

        write(csvout.qstat_full_csv(queues, rows))
    elif form == "xml":
        from qsys.cli import xmlout

        write(xmlout.qstat_full_xml(queues, rows, xml_forms(opts)))
    else:
        write(formats.qstat_full(queues, rows, explain=opts.get("explain", "")))
    return 0


def _print_jobs(rows: list[Any], opts: dict[str, Any]) -> int:
    """qstat's job listing from the rows (--csv, -xml, -ext, -r, -t or plain)."""
    from qsys.cli import formats

    form = opts.get("form", "")
    if form == "csv":
        from qsys.cli import csvout

        write(csvout.qstat_jobs_csv(rows))
    elif form == "xml":
        from qsys.cli import xmlout

        write(xmlout.qstat_xml(rows, xml_forms(opts)))
    elif opts.get("ext"):
        write(formats.qstat_jobs_ext(rows))
    elif opts.get("requested"):
        write(formats.qstat_jobs_requested(rows))
    elif opts.get("tasks"):
        write(formats.qstat_jobs_tasks(rows))
    else:
        write(formats.qstat_jobs(rows))
    return 0


def _details(client: Any, opts: dict[str, Any]) -> int:
    """qstat -j. A finished job still in the finished list is shown with its exit status and
    end time (state z), as the parity issue asks; a job the master does not know at all is
    answered as Grid Engine does ("Following jobs do not exist", exit 1; with -xml an
    ``unknown_jobs`` document, exit 0)."""
    from qsys.cli import formats

    asked = opts["jobs"] or [str(r.job_id) for r in client.jobs(["*"])]
    data = client.job_details(asked)
    details, missing = data.details, data.missing
    if opts.get("form") == "json":
        print_json(data)
        return 1 if missing and not details else 0
    if opts.get("form") == "xml":
        from qsys.cli import xmlout

        write(xmlout.qstat_job_details_xml(details) if details else xmlout.unknown_jobs_xml(missing))
        return 0  # as Grid Engine's: the unknown jobs are the document
    if details:
        write(formats.qstat_job_details(details))
    if missing and not details:
        sys.stderr.write(formats.job_not_found_message(missing))
        return 1
    return 0


def _cluster_summary(client: Any, opts: dict[str, Any]) -> int:
    from qsys.cli import qstat_views

    rows = client.cluster_queues()
    form = opts.get("form")
    if form == "json":
        return print_json(rows)
    if form == "csv":
        from qsys.cli import csvout

        write(csvout.cluster_queues_csv(rows))
    else:
        write(qstat_views.cluster_summary_xml(rows) if form == "xml" else qstat_views.cluster_summary(rows))
    return 0


def _urgency(rows: list[Any], opts: dict[str, Any]) -> int:
    from qsys.cli import qstat_views, xmlout

    pri = bool(opts.get("pri"))
    if opts.get("form") == "xml":
        write(qstat_views.with_urgency_xml(xmlout.qstat_xml(rows), rows, pri))
    elif pri:
        write(qstat_views.priority_listing(rows))
    else:
        write(qstat_views.urgency_listing(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run("qstat", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
