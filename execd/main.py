"""``qsys-execd``: the exec daemon's command line.

qsys-execd [--host NAME] [--foreground] [--master HOST:PORT | --master-socket PATH] [--spool DIR]

Defaults come from the cell (``$QSYS_ROOT``/``$QSYS_CELL``), looked up before every connection:
the master's Unix socket when it exists on this machine, then the bootstrap's
master_candidates (the one named in act_qmaster first), else its master_host and master_port
(in TLS when the bootstrap says ``tls yes``); the key is the host's secret
(``common/host.secret``, a host that joined with ``qsys join``) or the cluster key (the master
host); the spool is ``spool/<host>``. The host name is ``--host``, else the name the host
joined as (bootstrap ``host_name``), else the short ``gethostname()`` (several daemons may run
on one machine under different names); it is never looked up in DNS.
Without ``--foreground`` the daemon detaches (double fork, setsid, pid file
``<spool>/execd.pid``). SIGTERM stops the daemon; jobs run on under their shepherds.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from qsys import auth
from qsys.daemonize import daemonize, setup_logging
from qsys.errors import QsysError
from qsys.paths import USER_COMMANDS, Cell, link_commands, master_candidates, read_active_master


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qsys-execd", description="qsys exec daemon")
    p.add_argument("--host", help="exec host name to register (default: short host name)")
    p.add_argument("--foreground", action="store_true", help="do not detach; log to stderr too")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--master", metavar="HOST:PORT", help="the master's TCP address")
    where.add_argument("--master-socket", metavar="PATH", help="the master's Unix socket")
    p.add_argument("--spool", metavar="DIR", help="spool directory (default: the cell's spool/<host>)")
    return p


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise QsysError(f"--master wants HOST:PORT, not {text!r}")
    return host.strip("[]"), int(port)


def cell_master_addresses(cell: Cell) -> list[tuple[str, int] | Path]:
    """Where the cell's master listens, read afresh: its Unix socket when it is on this machine,
    then the bootstrap's master candidates (re-read: a master on port 0 publishes the port it
    got there; the active one of several, named in act_qmaster, first)."""
    boot = cell.bootstrap()
    active = read_active_master(cell) if boot.get("master_candidates") else ""
    found: list[tuple[str, int] | Path] = [cell.master_socket] if cell.master_socket.exists() else []
    return [*found, *master_candidates(boot, active)]


def provide_commands(root: Path) -> Path | None:
    """``$QSYS_ROOT/bin/$ARC``: links to this installation's commands, and nothing else (no
    python), as Grid Engine's ``$SGE_ROOT/bin/$ARC``: the jobs' SGE_BINARY_PATH and first in
    their PATH after TMPDIR (also after a login shell's profile), and where Open MPI looks for
    Grid Engine's qrsh to start its daemons with ``qrsh -inherit``. None when it cannot be made."""
    from execd.load import ARCH

    where = root / "bin" / ARCH
    try:
        link_commands(Path(sys.executable).parent, where, USER_COMMANDS)
    except OSError:
        pass  # another exec daemon of this cell makes them, or the cell is read-only here
    return where if (where / "qsub").exists() else None


def proving_key(cell: Cell) -> tuple[bytes, bool]:
    """(key, joined): the host's secret on a host that joined, else the cluster key."""
    if cell.host_secret.exists():
        return auth.load_key(cell.host_secret), True
    return auth.load_key(cell.key_file), False


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cell = Cell.current()
    boot = cell.bootstrap()
    host = args.host or boot.get("host_name") or socket.gethostname().split(".")[0]
    spool_dir = Path(args.spool) if args.spool else cell.execd_spool(host)
    try:
        key, joined = proving_key(cell)
        fixed: tuple[str, int] | Path | None = None
        if args.master:
            fixed = _address(args.master)
        elif args.master_socket:
            fixed = Path(args.master_socket)
    except (QsysError, ValueError) as exc:
        print(f"qsys-execd: {exc}", file=sys.stderr)
        return 1

    def master_address() -> list[tuple[str, int] | Path]:
        return [fixed] if fixed is not None else cell_master_addresses(cell)

    from execd.daemon import DaemonOptions, ExecDaemon
    from execd.spool import Spool

    spool = Spool(spool_dir)
    spool.ensure()
    commands = provide_commands(cell.root)
    own = {"qsys_root": str(cell.root), "cell": cell.name, **({"binary_path": str(commands)} if commands else {})}
    if not args.foreground:
        daemonize(spool.pid_file)
        os.chdir("/")  # an exec daemon must not hold the directory it was started in
    else:
        spool.pid_file.write_text(f"{os.getpid()}\n")
    setup_logging(spool.log_file, args.foreground)
    import asyncio

    from qsys.tls import enabled

    daemon = ExecDaemon(DaemonOptions(host, spool_dir, key, master_address, cell=cell, tls=enabled(boot),
                                      joined=joined, own_paths=own))
    try:
        asyncio.run(daemon.run())
    finally:
        try:
            if spool.pid_file.read_text().split()[0] == str(os.getpid()):
                spool.pid_file.unlink()
        except (OSError, IndexError):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
