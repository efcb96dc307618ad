"""qrsh: run a command (or a login shell) as an interactive job, Grid Engine style."""

from __future__ import annotations

import sys

from qsys.cli.common import run


def _body(argv: list[str]) -> int:
    if "-inherit" in argv:
        from qsys.cli.inherit import main_body as inherit_body

        return inherit_body(argv)
    from qsys.cli.interactive import main_body

    return main_body(argv, "qrsh")


def main(argv: list[str] | None = None) -> int:
    return run("qrsh", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
