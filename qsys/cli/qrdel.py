"""qrdel: end advance reservations (their jobs are deleted with them)."""

from __future__ import annotations

import sys

from qsys.cli.common import run
from qsys.cli.engine import HELP, JSON, Option, OptionTable, client_error
from qsys.cli.qdel import Targets, flag, parse_targets, print_lines
from qsys.errors import UsageError


def _users(state: Targets, name: str, values: list[str]) -> None:
    state.users.extend(user for user in values[0].split(",") if user)


QRDEL_OPTIONS = OptionTable("qrdel", [
    HELP,
    JSON,
    Option("-f", "delete the reservation and force its jobs' deletion", flag),
    Option("-u user_list", "the reservations of these users (* for all)", _users),
], "ar_id_list", interleaved=True)


def _body(argv: list[str]) -> int:
    from qsys.client import Client

    try:
        targets = parse_targets(argv, QRDEL_OPTIONS)
    except UsageError as exc:  # as Grid Engine: its usage, then the error, exit 1
        if exc.message.startswith("qrdel: no job id given"):
            exc = UsageError("ERROR! no option argument")
        raise client_error(exc, QRDEL_OPTIONS, with_usage=True) from None
    with Client() as client:
        reply = client.ar_delete(targets.jobs, targets.users, force="-f" in targets.flags)
    return print_lines(reply, targets.form)


def main(argv: list[str] | None = None) -> int:
    return run("qrdel", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
