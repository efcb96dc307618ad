"""qquota: what the running jobs hold of each resource quota rule (qsys_resource_quota(5)),
in Grid Engine's layout, text or XML."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from qsys.cli.common import run
from qsys.cli.engine import HELP, JSON, Option, OptionTable, client_error, parse, store_flag, store_items
from qsys.errors import UsageError

QQUOTA_OPTIONS = OptionTable("qquota", [
    HELP,
    JSON,
    Option("-h wc_host_list|wc_hostgroup_list", "display only selected hosts", store_items("hosts")),
    Option("-l resource_attributes", "only the limits of these resources", store_items("resources")),
    Option("-u user_list", "display only selected users (* for all)", store_items("users")),
    Option("-pe wc_pe_list", "display only selected parallel environments", store_items("pes")),
    Option("-P wc_project_list", "display only selected projects", store_items("projects")),
    Option("-q wc_cqueue_list", "display only selected queues", store_items("queues")),
    Option("-xml", "display the information in XML format", store_flag("xml")),
])
HEADER = f"{'resource quota rule':<18} {'limit':<20} filter\n" + "-" * 80 + "\n"
_XMLNS = "http://arc.liv.ac.uk/repos/darcs/sge/source/source/dist/util/resources/schemas/qquota/qquota.xsd"


def _limit_text(limit: Sequence[str]) -> str:
    """``slots=2/10`` (used/limit), or ``arch=lx-amd64`` for a fixed value."""
    return f"{limit[0]}={limit[2]}/{limit[1]}" if len(limit) > 2 else f"{limit[0]}={limit[1]}"


def format_text(rows: Sequence[Any]) -> str:
    """One line per rule and limit; nothing at all without any."""
    lines: list[str] = []
    for row in rows:
        filters = " ".join(f"{kind} {text}" for kind, text, _ in row.filters)
        lines.extend(f"{row.rule:<18} {_limit_text(limit):<20} {filters}".rstrip() + "\n" for limit in row.limits)
    return HEADER + "".join(lines) if lines else ""


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace("'", "&apos;").replace("<", "&lt;")


def format_xml(rows: Sequence[Any]) -> str:
    out = ["<?xml version='1.0'?>\n", f'<qquota_result xmlns="{_XMLNS}">\n']
    for row in rows:
        out.append(f" <qquota_rule name='{_attr(row.rule)}'>\n")
        out.extend(f"   <{kind}>{_attr(xml_text)}</{kind}>\n" for kind, _, xml_text in row.filters)
        for limit in row.limits:
            value = f" value='{_attr(limit[2])}'" if len(limit) > 2 else ""
            out.append(f"   <limit resource='{_attr(limit[0])}' limit='{_attr(limit[1])}'{value}/>\n")
        out.append(" </qquota_rule>\n")
    out.append("</qquota_result>\n")
    return "".join(out)


def _body(argv: list[str]) -> int:
    from qsys.client import Client

    opts: dict[str, Any] = {}
    try:
        parse(argv, QQUOTA_OPTIONS, opts)
    except UsageError as exc:  # as Grid Engine: its usage, then "error: ...", exit 1
        raise client_error(exc, QQUOTA_OPTIONS, with_usage=True) from None
    with Client() as client:
        reply = client.quota_status(**{key: opts.get(key, []) for key in ("users", "projects", "pes", "queues",
                                                                           "hosts")})
    rows = reply.rows
    wanted = set(opts.get("resources", []))
    if wanted:
        for row in rows:
            row.limits = [limit for limit in row.limits if limit[0] in wanted]
        rows = [row for row in rows if row.limits]
    if opts.get("form") == "json":
        from qsys.cli.jsonout import print_json

        return print_json(rows)
    sys.stdout.write(format_xml(rows) if opts.get("xml") else format_text(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run("qquota", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
