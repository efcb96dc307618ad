"""``qsys-restd``: start the REST daemon of the current cell (see qsys-restd(8))."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from qsys.daemonize import daemonize, setup_logging, write_pid
from qsys.errors import QsysError
from qsys.paths import Cell

log = logging.getLogger("qsys.restd")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qsys-restd", description="the qsys REST daemon and dashboard")
    parser.add_argument("--foreground", "-f", action="store_true", help="do not detach")
    args = parser.parse_args(argv)
    cell = Cell.current()
    if not cell.bootstrap():
        print(f"qsys-restd: no cell at {cell.dir} (no bootstrap file)", file=sys.stderr)
        return 1
    from qsys.restd import settings as restd_settings

    try:
        from qsys.restd.app import create_app
        from qsys.restd.server import serve
    except ModuleNotFoundError as exc:  # the framework is an extra of the package
        print(f"qsys-restd: {exc.name} is not installed: pip install 'qsys[rest]'", file=sys.stderr)
        return 1

    try:
        settings = restd_settings.load(cell)
        app = create_app(cell, settings)
    except QsysError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    spool = cell.restd_spool
    spool.mkdir(parents=True, exist_ok=True)
    pid_file = spool / "restd.pid"
    if args.foreground:
        write_pid(pid_file)
    else:
        daemonize(pid_file)
    setup_logging(spool / "messages", args.foreground)
    log.info("qsys-restd starting: socket %s, tcp %s", settings.socket_path,
             f"{settings.bind}:{settings.port}" if settings.port is not None else "none")
    try:
        serve(app, cell, settings, pid_file)  # it removes the pid file as it stops
    except Exception:
        log.exception("qsys-restd failed")
        if pid_file.read_text().strip() == str(os.getpid()):
            pid_file.unlink()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
