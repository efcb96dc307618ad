"""qhost: show exec hosts, their load and memory (Grid Engine's layout)."""

from __future__ import annotations

import sys
from typing import Any

from qsys.cli.common import run, write
from qsys.errors import UsageError

_FLAGS = {"-xml": "xml", "-q": "queues", "-j": "jobs", "--json": "json"}
USAGE = "usage: qhost [-F [resource_list]] [-h hostlist] [-j] [-q] [-u user_list] [-xml] [--json]"


def parse_args(argv: list[str]) -> dict[str, Any]:
    opts: dict[str, Any] = {"hosts": [], "users": [], "wanted": []}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-help", "--help"):
            print(USAGE)
            raise SystemExit(0)
        if arg in _FLAGS:
            opts[_FLAGS[arg]] = True
        elif arg == "-F":
            opts["resources"] = True
            if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                i += 1
                opts["wanted"].extend(v for v in argv[i].split(",") if v)
        elif arg in ("-h", "-u") and i + 1 < len(argv):
            i += 1
            opts["hosts" if arg == "-h" else "users"].extend(v for v in argv[i].split(",") if v)
        else:
            raise UsageError(f'qhost: invalid option argument "{arg}"\n{USAGE}')
        i += 1
    if opts["users"]:
        opts["jobs"] = True  # -u shows the jobs of those users, as in Grid Engine
    return opts


def _body(argv: list[str]) -> int:
    from qsys.cli import formats
    from qsys.client import Client
    from qsys.records import JobRow, to_wire

    opts = parse_args(argv)
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
    if opts.get("json"):
        import json

        raw = [to_wire(host) for host in hosts]
        for h in raw:
            if opts.get("jobs"):
                places = formats.host_places(h["name"], [r for r in rows if formats.is_running(r)])
                h["jobs"] = [{"job_id": r.job_id, "task": r.tasks, "name": r.name, "owner": r.owner,
                              "state": r.state, "start_time": r.start_time, "queue": q, "master": role}
                             for r, q, role in places]
        print(json.dumps(raw, indent=2))
        return 0
    queues, resources = bool(opts.get("queues")), bool(opts.get("resources"))
    jobs = rows if opts.get("jobs") else None
    if opts.get("xml"):
        from qsys.cli import xmlout

        write(xmlout.qhost_xml(hosts, queues=queues, resources=resources, jobs=jobs))
    else:
        write(formats.qhost_table(hosts, queues=queues, resources=resources, jobs=jobs))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run("qhost", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
