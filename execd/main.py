"""``qsys-execd``: the exec daemon's command line.

qsys-execd [--host NAME] [--foreground] [--master HOST:PORT | --master-socket PATH] [--spool DIR]

Defaults come from the cell (``$QSYS_ROOT``/``$QSYS_CELL``), looked up before every connection:
the master's Unix socket when it exists on this machine, then the bootstrap's
master_candidates (the one named in act_qmaster first), else its master_host and
master_port; the key in ``common/cluster.key`` and the spool
``spool/<host>``. The host name is the short ``gethostname()`` unless ``--host`` names it
(several daemons may run on one machine under different names); it is never looked up in DNS.
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
from qsys.paths import Cell, master_candidates, read_active_master


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


def provide_qrsh_for_mpi(root: Path) -> None:
    """``$SGE_ROOT/bin/$ARC/qrsh`` (a job's SGE_ROOT is the cell root): where Open MPI looks for
    Grid Engine's qrsh to start its daemons with ``qrsh -inherit``."""
    from execd.load import ARCH

    ours = Path(sys.executable).parent / "qrsh"
    link = root / "bin" / ARCH / "qrsh"
    if not ours.exists() or link.is_symlink() or link.exists():
        return
    try:
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ours)
    except OSError:
        pass  # another exec daemon of this cell made it, or the cell is read-only here


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cell = Cell.current()
    host = args.host or socket.gethostname().split(".")[0]
    spool_dir = Path(args.spool) if args.spool else cell.execd_spool(host)
    try:
        key = auth.load_key(cell.key_file)
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
    provide_qrsh_for_mpi(cell.root)
    if not args.foreground:
        daemonize(spool.pid_file)
        os.chdir("/")  # an exec daemon must not hold the directory it was started in
    else:
        spool.pid_file.write_text(f"{os.getpid()}\n")
    setup_logging(spool.log_file, args.foreground)
    import asyncio

    daemon = ExecDaemon(DaemonOptions(host, spool_dir, key, master_address))
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
