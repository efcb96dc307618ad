"""qhold / qrls: put holds on jobs and release them (-h u|o|s, default u)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from qsys.cli.common import run
from qsys.cli.engine import Option
from qsys.cli.qdel import QDEL_OPTIONS, flag, parse_targets, print_lines
from qsys.errors import UsageError

_HOLD = QDEL_OPTIONS.derive("qhold", drop=["-f"], add=[
    Option("-h u|o|s", "the hold type: user (the default), operator or system", flag),
])
TABLES = {"qhold": _HOLD, "qrls": _HOLD.derive("qrls")}


def _make_body(program: str, action: str) -> Callable[[list[str]], int]:
    def body(argv: list[str]) -> int:
        from qsys.client import Client

        targets = parse_targets(argv, TABLES[program])
        hold_type = targets.flags.get("-h") or "u"
        if hold_type not in ("u", "o", "s"):
            raise UsageError(f'{program}: invalid hold type "{hold_type}"')
        with Client() as client:
            reply = client.job_action(action, targets.jobs, targets.users, hold_type=hold_type)
        return print_lines(reply, targets.form)

    return body


def main_hold(argv: list[str] | None = None) -> int:
    return run("qhold", _make_body("qhold", "hold"), argv)


def main_release(argv: list[str] | None = None) -> int:
    return run("qrls", _make_body("qrls", "release"), argv)


if __name__ == "__main__":
    sys.exit(main_hold())
