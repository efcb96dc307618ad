"""qselect: print the names of the queue instances that match the given filters, one per
line, so scripts can feed them to qmod (``qmod -d $(qselect -l arch=lx-amd64)``); with
--json the names as one object ({"names": [...]})."""

from __future__ import annotations

import sys
from typing import Any

from qsys.cli.common import run, write
from qsys.cli.engine import HELP, JSON, Option, OptionTable, checked, parse, store_items
from qsys.errors import UsageError

_STATES = set("acdosuACDES")


def _resources(filters: dict[str, Any], name: str, values: list[str]) -> None:
    from qsys.grammar.requests import parse_resource_list

    filters.setdefault("resources", {}).update(checked(parse_resource_list, "qselect", name, values[0]))


def _states(filters: dict[str, Any], name: str, values: list[str]) -> None:
    if not values[0] or not set(values[0]) <= _STATES:
        raise UsageError(f'qselect: invalid queue state "{values[0]}"')
    filters["states"] = filters.get("states", "") + values[0]


QSELECT_OPTIONS = OptionTable("qselect", [
    HELP,
    JSON,
    Option("-l resource_list", "queue instances offering these resources", _resources),
    Option("-pe pe_list", "queue instances of these parallel environments", store_items("pes")),
    Option("-q wc_queue_list", "queue instances matching these names", store_items("queues")),
    Option("-qs {a|c|d|o|s|u|A|C|D|E|S}", "queue instances in one of these states", _states),
    Option("-U user_list", "queue instances these users have access to", store_items("users")),
])


def parse_args(argv: list[str]) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    parse(argv, QSELECT_OPTIONS, filters)
    return filters


def _body(argv: list[str]) -> int:
    from qsys.client import Client

    filters = parse_args(argv)
    form = filters.pop("form", "")
    with Client() as client:
        names = client.select_queues(**filters)
    if form == "json":
        from qsys.cli.jsonout import print_json
        from qsys.protocol import Names

        return print_json(Names(names))
    for name in names:
        write(name)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run("qselect", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
