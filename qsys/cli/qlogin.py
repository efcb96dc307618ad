"""qlogin: an interactive login session as a job, Grid Engine style."""

from __future__ import annotations

import sys

from qsys.cli.common import run


def _body(argv: list[str]) -> int:
    from qsys.cli.interactive import main_body

    return main_body(argv, "qlogin")


def main(argv: list[str] | None = None) -> int:
    return run("qlogin", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
