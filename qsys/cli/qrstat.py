"""qrstat: the advance reservations, as a summary, in detail (-ar) or as XML."""

from __future__ import annotations

import sys
from typing import Any

from qsys.cli.common import run
from qsys.cli.engine import HELP, JSON, Option, OptionTable, client_error, parse, store_flag, store_items
from qsys.errors import UsageError

QRSTAT_OPTIONS = OptionTable("qrstat", [
    HELP,
    JSON,
    Option("-ar ar_id_list", "show these advance reservations in detail", store_items("ids")),
    Option("-u user_list", "the reservations of these users (* for all)", store_items("users"),
           missing=("a list usernames",)),
    Option("-xml", "XML output", store_flag("xml")),
])


def _body(argv: list[str]) -> int:
    from qsys.arspec import format_details, format_missing, format_summary, format_xml
    from qsys.client import Client

    opts: dict[str, Any] = {}
    try:
        parse(argv, QRSTAT_OPTIONS, opts)
        if not all(text.isdigit() for text in opts.get("ids", [])):
            raise UsageError("qrstat: ERROR! invalid id, must be an unsigned integer")
    except UsageError as exc:  # Grid Engine's words: "error: ...", exit 1
        raise client_error(exc, QRSTAT_OPTIONS) from None
    ids = [int(text) for text in opts.get("ids", [])]
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
