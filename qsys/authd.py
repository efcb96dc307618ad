"""``qsys-authd``: the credential signer of a submit-only host (see qsys-authd(8)).

A host that joined with ``qsys join --submit-only`` runs no exec daemon, so this small daemon
serves its users' credentials instead (``qsys.signer``: the kernel names the caller on the
Unix socket ``common/signer.sock``; the credential is signed with the host secret). Pid file
and log in ``spool/authd``. SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from qsys import auth, daemonize
from qsys.errors import QsysError
from qsys.paths import Cell
from qsys.signer import Signer

log = logging.getLogger("qsys.authd")


async def serve(signer: Signer) -> None:
    await signer.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    log.info("host=%s signs credentials on %s", signer.host, signer.path)
    await stopping.wait()
    signer.close()
    log.info("host=%s stopped (%d credentials signed)", signer.host, signer.signed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qsys-authd", description="the credential signer of a joined host")
    parser.add_argument("--foreground", "-f", action="store_true", help="do not detach")
    args = parser.parse_args(argv)
    cell = Cell.current()
    host = cell.bootstrap().get("host_name")
    try:
        if not host:
            raise QsysError(f"qsys-authd: {cell.dir} is not a cell this host joined (no host_name in its bootstrap)")
        secret = auth.load_key(cell.host_secret)
    except QsysError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    spool = cell.dir / "spool" / "authd"
    spool.mkdir(parents=True, exist_ok=True)
    os.chdir("/")
    return daemonize.run(spool / "authd.pid", spool / "messages", args.foreground,
                         lambda: serve(Signer(str(cell.signer_socket), host, secret)), log)


if __name__ == "__main__":
    sys.exit(main())
