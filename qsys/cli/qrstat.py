"""qrstat: the advance reservations, as a summary, in detail (-ar) or as XML."""

from __future__ import annotations

import sys
from typing import Any

from qsys.cli.common import run
from qsys.cli.engine import HELP, JSON, Option, OptionTable, parse, store_flag, store_items
from qsys.errors import UsageError

QRSTAT_OPTIONS = OptionTable("qrstat", [
    HELP,
    JSON,
    Option("-ar ar_id_list", "show these advance reservations in detail", store_items("ids")),
    Option("-u user_list", "the reservations of these users (* for all)", store_items("users")),
    Option("-xml", "XML output", store_flag("xml")),
])


def _body(argv: list[str]) -> int:
    from qsys.arspec import format_details, format_missing, format_summary, format_xml
    from qsys.client import Client

    opts: dict[str, Any] = {}
    parse(argv, QRSTAT_OPTIONS, opts)
    ids = []
    for text in opts.get("ids", []):
        if not text.isdigit():
            raise UsageError(f'qrstat: invalid advance reservation id "{text}"')
        ids.append(int(text))
    with Client() as client:
        reply = client.ar_status(ids, opts.get("users", []))
    if opts.get("form") == "json":
        from qsys.cli.jsonout import print_json

        print_json(reply)
        return 1 if reply.missing else 0
    if opts.get("xml"):
        sys.stdout.write(format_xml(reply.records, details=bool(ids), missing=reply.missing))
        return 1 if reply.missing else 0
    sys.stdout.write(format_details(reply.records) if ids else format_summary(reply.records))
    if reply.missing:
        sys.stdout.write(format_missing(reply.missing))
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    return run("qrstat", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
