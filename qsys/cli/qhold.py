"""qhold / qrls: put holds on jobs and release them (-h u|o|s, default u)."""

from __future__ import annotations

import sys

from qsys.cli.common import run, write
from qsys.cli.qdel import parse_targets
from qsys.errors import UsageError


def _make_body(program: str, action: str):
    def body(argv: list[str]) -> int:
        from qsys.client import Client

        targets, users, flags = parse_targets(program, argv, {"-h": "h"})
        hold_type = flags.get("-h", "u") or "u"
        if hold_type not in ("u", "o", "s"):
            raise UsageError(f'{program}: invalid hold type "{hold_type}"')
        with Client() as client:
            reply = client.job_action(action, targets, users, hold_type=hold_type)
        for line in reply["lines"]:
            write(line)
        return int(reply["exit"])

    return body


def main_hold(argv: list[str] | None = None) -> int:
    return run("qhold", _make_body("qhold", "hold"), argv)


def main_release(argv: list[str] | None = None) -> int:
    return run("qrls", _make_body("qrls", "release"), argv)


if __name__ == "__main__":
    sys.exit(main_hold())
