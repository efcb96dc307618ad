"""qselect: print the names of the queue instances that match the given filters, one per
line, so scripts can feed them to qmod (``qmod -d $(qselect -l arch=lx-amd64)``)."""

from __future__ import annotations

import sys
from typing import Any

from qsys.cli.common import run, write
from qsys.errors import UsageError

USAGE = """usage: qselect [options]
   [-help]                    print this help
   [-l resource_list]         queue instances offering these resources
   [-pe pe_list]              queue instances of these parallel environments
   [-q wc_queue_list]         queue instances matching these names
   [-qs {a|c|d|o|s|u|A|C|D|E|S}] queue instances in one of these states
   [-U user_list]             queue instances these users have access to
"""

_STATES = set("acdosuACDES")


def parse_args(argv: list[str]) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-help", "--help"):
            sys.stdout.write(USAGE)
            raise SystemExit(0)
        if arg not in ("-l", "-pe", "-q", "-qs", "-U"):
            raise UsageError(f'qselect: invalid option argument "{arg}"')
        if i + 1 >= len(argv):
            raise UsageError(f"qselect: ERROR! {arg} option must have argument")
        value = argv[i + 1]
        items = [v for v in value.split(",") if v]
        if arg == "-l":
            resources = filters.setdefault("resources", {})
            for item in items:
                name, sep, val = item.partition("=")
                resources[name] = val if sep else "TRUE"
        elif arg == "-pe":
            filters.setdefault("pes", []).extend(items)
        elif arg == "-q":
            filters.setdefault("queues", []).extend(items)
        elif arg == "-qs":
            if not value or not set(value) <= _STATES:
                raise UsageError(f'qselect: invalid queue state "{value}"')
            filters["states"] = filters.get("states", "") + value
        else:
            filters.setdefault("users", []).extend(items)
        i += 2
    return filters


def _body(argv: list[str]) -> int:
    from qsys.client import Client

    filters = parse_args(argv)
    with Client() as client:
        names = client.select_queues(**filters)
    for name in names:
        write(name)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run("qselect", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
