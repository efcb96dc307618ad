"""``qsys-master``: start the master daemon of the current cell."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from qsys import auth
from qsys.daemonize import daemonize, setup_logging, write_pid
from qsys.paths import DEFAULT_PORT, Cell

log = logging.getLogger("qsys.master")


def default_store_url(cell: Cell) -> str:
    return f"sqlite:///{cell.master_spool / 'qsys.db'}"


async def serve(cell: Cell, port: int, bind: str | None) -> None:
    from qsys.master import (
        requests,  # noqa: F401 - registers the request handlers
        sessions,  # noqa: F401 - registers the interactive session handlers
    )
    from qsys.master.core import Master
    from qsys.master.server import Server, short_hostname
    from qsys.store import Store

    boot = cell.bootstrap()
    store = Store(boot.get("store_url") or default_store_url(cell))
    store.create()
    key = auth.load_key(cell.key_file)
    host = boot.get("master_host_name") or short_hostname()
    mode = boot.get("mode", "personal")
    owner_uid = int(boot.get("owner_uid", os.getuid()))
    master = Master(cell, store, key, host, mode, owner_uid)
    master.load()
    await master.config.bootstrap_defaults(master)
    server = Server(master)
    bound = await server.start(bind, port, str(cell.master_socket))
    if port == 0 and bound:
        boot["master_port"] = str(bound)
        cell.write_bootstrap(boot)
    (cell.common / "act_qmaster").write_text(host + "\n")
    log.info("master up on port %s, socket %s, store %s", bound, cell.master_socket, store.url_for_log)
    master.dispatcher.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, master.stopping.set)
    await master.stopping.wait()
    log.info("master stopping")
    master.dispatcher.stop()
    await server.close()
    await master.close()
    store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qsys-master", description="the qsys master daemon")
    parser.add_argument("--foreground", "-f", action="store_true", help="do not detach")
    parser.add_argument("--port", type=int, default=None, help=f"TCP port (default from bootstrap or {DEFAULT_PORT})")
    parser.add_argument("--bind", default=None, help="address to listen on (default all)")
    args = parser.parse_args(argv)
    cell = Cell.current()
    boot = cell.bootstrap()
    if not boot:
        print(f"qsys-master: no cell at {cell.dir} (no bootstrap file)", file=sys.stderr)
        return 1
    port = args.port if args.port is not None else int(boot.get("master_port", DEFAULT_PORT))
    bind = args.bind or boot.get("master_bind") or None
    cell.master_spool.mkdir(parents=True, exist_ok=True)
    pid_file = cell.master_spool / "master.pid"
    if args.foreground:
        write_pid(pid_file)
    else:
        daemonize(pid_file)
    setup_logging(cell.master_spool / "messages", args.foreground)
    try:
        asyncio.run(serve(cell, port, bind))
    except Exception:
        log.exception("master failed")
        return 1
    finally:
        try:
            if pid_file.read_text().strip() == str(os.getpid()):
                pid_file.unlink()
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
