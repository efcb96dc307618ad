"""qhost: show exec hosts, their load and memory (Grid Engine's layout)."""

from __future__ import annotations

import sys

from qsys.cli.common import run, write
from qsys.errors import UsageError

_FLAGS = {"-xml": "xml", "-q": "queues", "-F": "resources", "-j": "jobs", "--json": "json"}


def _body(argv: list[str]) -> int:
    from qsys.cli import formats
    from qsys.client import Client
    from qsys.records import HostRow, QueueInstanceRow, from_wire

    opts: dict[str, object] = {}
    hosts_filter: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _FLAGS:
            opts[_FLAGS[arg]] = True
        elif arg == "-h" and i + 1 < len(argv):
            i += 1
            hosts_filter.extend(argv[i].split(","))
        else:
            raise UsageError(f'qhost: invalid option argument "{arg}"')
        i += 1
    with Client() as client:
        raw = client.hosts()
    if hosts_filter:
        raw = [h for h in raw if h["name"] in hosts_filter]
    if opts.get("json"):
        import json

        print(json.dumps(raw, indent=2))
        return 0
    hosts = [from_wire(HostRow, h) for h in raw]
    for host in hosts:
        host.queues = [from_wire(QueueInstanceRow, q) for q in host.queues]  # type: ignore[arg-type]
    if opts.get("xml"):
        from qsys.cli import xmlout

        write(xmlout.qhost_xml(hosts))
    else:
        write(formats.qhost_table(hosts, queues=bool(opts.get("queues")), resources=bool(opts.get("resources"))))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run("qhost", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
