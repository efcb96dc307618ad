"""qhost: show exec hosts, their load and memory (Grid Engine's layout)."""

from __future__ import annotations

import sys
from typing import Any

from qsys.cli.common import run, write
from qsys.cli.engine import CSV, HELP, JSON, XML, Option, OptionTable, parse, store_flag, store_items
from qsys.errors import UsageError

_wanted = store_items("wanted")


def _resources(opts: dict[str, Any], name: str, values: list[str]) -> None:
    opts["resources"] = True
    _wanted(opts, name, values)


QHOST_OPTIONS = OptionTable("qhost", [
    HELP,
    Option("-F [resource_list]", "the load values of each host (only these)", _resources),
    Option("-h hostlist", "only these hosts", store_items("hosts")),
    Option("-j", "the jobs running on each host", store_flag("jobs")),
    Option("-q", "the queue instances on each host", store_flag("queues")),
    Option("-u user_list", "the jobs of these users (implies -j)", store_items("users")),
    XML,
    JSON,
    CSV,
], usage_on_error=True)


def parse_args(argv: list[str]) -> dict[str, Any]:
    opts: dict[str, Any] = {"hosts": [], "users": [], "wanted": []}
    parse(argv, QHOST_OPTIONS, opts)
    if opts["users"]:
        opts["jobs"] = True  # -u shows the jobs of those users, as in Grid Engine
    if opts.get("jobs") and opts.get("form") == "csv":
        raise UsageError("qhost: --csv does not show jobs (use --json or -xml with -j)")
    return opts


def _body(argv: list[str]) -> int:
    from qsys.cli import formats
    from qsys.client import Client
    from qsys.records import JobRow

    opts = parse_args(argv)
    form = opts.get("form", "")
    rows: list[JobRow] = []
    with Client() as client:
        hosts = client.hosts()
        if opts.get("jobs"):
            rows = client.jobs(opts["users"] or ["*"])
    if opts["hosts"]:
        hosts = [h for h in hosts if h.name in opts["hosts"]]
    if opts["wanted"]:
        for host in hosts:
            host.load_values = {k: v for k, v in host.load_values.items() if k in opts["wanted"]}
    queues, resources = bool(opts.get("queues")), bool(opts.get("resources"))
    if form == "json":
        from qsys.cli.jsonout import print_json

        formats.attach_jobs(hosts, rows)
        return print_json(hosts)
    jobs = rows if opts.get("jobs") else None
    if form == "csv":
        from qsys.cli import csvout

        write(csvout.qhost_csv(hosts, queues=queues, resources=resources))
    elif form == "xml":
        from qsys.cli import xmlout

        write(xmlout.qhost_xml(hosts, queues=queues, resources=resources, jobs=jobs))
    else:
        write(formats.qhost_table(hosts, queues=queues, resources=resources, jobs=jobs))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run("qhost", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
