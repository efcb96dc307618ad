"""``qsys up | down | status``: a personal cluster on this machine, in ``$QSYS_ROOT``.

``up`` writes the cell (bootstrap, key, default configuration) if it is new, starts the master
and N exec daemons as the invoking user (personal mode: every job runs as that user) and
waits until every host has registered. ``down`` stops them by PID; it refuses while jobs run
unless told to end them (``--kill-jobs``) or to leave them to their shepherds (``--keep-jobs``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click

from qsys import auth
from qsys.errors import QsysError
from qsys.paths import Cell

START_TIMEOUT = 20.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _alive(pid) else None


def host_names(count: int) -> list[str]:
    """The exec host names of a personal cluster: this machine's name, or node1..nodeN."""
    if count <= 1:
        return [socket.gethostname().split(".")[0]]
    return [f"node{i}" for i in range(1, count + 1)]


def init_cell(cell: Cell, hosts: int, slots: int | None, port: int, store_url: str | None) -> None:
    """Write a new personal cell (kept as it is when it exists)."""
    boot = cell.bootstrap()
    if not boot:
        boot = {
            "mode": "personal",
            "master_host": "127.0.0.1",
            "master_port": str(port),
            "owner_uid": str(os.getuid()),
            "store_url": store_url or f"sqlite:///{cell.master_spool / 'qsys.db'}",
        }
    boot["exec_hosts"] = ",".join(host_names(hosts))
    boot["default_slots"] = str(slots or os.cpu_count() or 1)
    cell.write_bootstrap(boot)
    if not cell.key_file.exists():
        auth.create_key(cell.key_file)
    cell.master_spool.mkdir(parents=True, exist_ok=True)


def _daemon_cmd(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def _wait(predicate, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    tail = ""
    try:
        tail = "\n".join(log.read_text().splitlines()[-15:])
    except OSError:
        pass
    raise click.ClickException(f"{what} did not come up within {timeout:.0f}s\n{tail}")


def _registered_hosts(cell: Cell) -> set[str]:
    from qsys.client import Client

    try:
        with Client(cell, timeout=2.0) as client:
            return {h["name"] for h in client.hosts() if h.get("load") is not None}
    except (QsysError, OSError):
        return set()


def start(cell: Cell) -> None:
    boot = cell.bootstrap()
    master_pid = _read_pid(cell.master_spool / "master.pid")
    if master_pid is None:
        subprocess.run(_daemon_cmd("qsys.master.main"), check=True)
        _wait(lambda: _master_answers(cell), START_TIMEOUT, "the master", cell.master_spool / "messages")
    hosts = [h for h in boot.get("exec_hosts", "").split(",") if h]
    for host in hosts:
        spool = cell.execd_spool(host)
        if _read_pid(spool / "execd.pid") is None:
            subprocess.run(_daemon_cmd("execd.main", "--host", host), check=True)
    _wait(lambda: set(hosts) <= _registered_hosts(cell), START_TIMEOUT, "the exec daemons",
          cell.execd_spool(hosts[0]) / "messages" if hosts else cell.master_spool / "messages")


def _master_answers(cell: Cell) -> bool:
    from qsys.client import Client

    try:
        with Client(cell, timeout=2.0) as client:
            client.hosts()
        return True
    except (QsysError, OSError):
        return False


def stop(cell: Cell, timeout: float = 15.0) -> list[str]:
    """Stop every daemon of the cell by PID; returns what was stopped."""
    stopped = []
    pids: list[tuple[str, int]] = []
    spool_root = cell.dir / "spool"
    if spool_root.exists():
        for entry in sorted(spool_root.iterdir()):
            name = "master.pid" if entry.name == "master" else "execd.pid"
            pid = _read_pid(entry / name)
            if pid is not None:
                pids.append((entry.name, pid))
    for what, pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
            stopped.append(f"{what} (pid {pid})")
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for _, pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    return stopped


@click.group()
def main() -> None:
    """Run a personal qsys cluster on this machine (QSYS_ROOT, default ~/.qsys)."""


@main.command()
@click.option("--hosts", default=1, show_default=True, help="number of exec daemons (node1..nodeN when > 1)")
@click.option("--slots", type=int, default=None, help="slots per host in all.q (default: processors)")
@click.option("--port", type=int, default=0, help="master TCP port for a new cell (0: any free port)")
@click.option("--store", "store_url", default=None, help="store URL for a new cell (default: SQLite)")
def up(hosts: int, slots: int | None, port: int, store_url: str | None) -> None:
    """Start the master and the exec daemons."""
    cell = Cell.current()
    init_cell(cell, hosts, slots, port, store_url)
    start(cell)
    _print_status(cell)


@main.command()
@click.option("--kill-jobs", is_flag=True, help="delete running jobs and wait for them to end first")
@click.option("--keep-jobs", is_flag=True, help="leave running jobs to their shepherds")
def down(kill_jobs: bool, keep_jobs: bool) -> None:
    """Stop the master and the exec daemons."""
    from qsys.client import Client

    cell = Cell.current()
    if _read_pid(cell.master_spool / "master.pid") is not None:
        try:
            with Client(cell, timeout=5.0) as client:
                running = [r for r in client.jobs(["*"]) if r["queue"]]
                if running and kill_jobs:
                    client.job_action("delete", [], users=["*"])
                    _wait(lambda: not [r for r in client.jobs(["*"]) if r["queue"]], 60.0,
                          "the end of the running jobs", cell.master_spool / "messages")
                elif running and not keep_jobs:
                    ids = " ".join(sorted({str(r["job_id"]) for r in running}))
                    raise click.ClickException(
                        f"{len(running)} job task(s) still running (jobs {ids}); "
                        "use --kill-jobs to end them or --keep-jobs to leave them running"
                    )
        except QsysError as exc:
            click.echo(f"qsys down: master not answering ({exc}); stopping by PID", err=True)
    for line in stop(cell):
        click.echo(f"stopped {line}")


@main.command()
def status() -> None:
    """Show what runs."""
    _print_status(Cell.current())


def _print_status(cell: Cell) -> None:
    boot = cell.bootstrap()
    if not boot:
        click.echo(f"no cluster in {cell.dir}")
        sys.exit(1)
    master_pid = _read_pid(cell.master_spool / "master.pid")
    click.echo(f"cell      {cell.dir} ({boot.get('mode', 'personal')} mode)")
    click.echo(f"master    {'running, pid ' + str(master_pid) if master_pid else 'stopped'}"
               f" (port {boot.get('master_port')}, store {boot.get('store_url')})")
    registered = _registered_hosts(cell) if master_pid else set()
    for host in [h for h in boot.get("exec_hosts", "").split(",") if h]:
        pid = _read_pid(cell.execd_spool(host) / "execd.pid")
        state = f"running, pid {pid}" if pid else "stopped"
        if pid and host not in registered:
            state += ", not registered"
        click.echo(f"execd     {host}: {state}")
    if master_pid:
        from qsys.client import Client

        try:
            with Client(cell, timeout=5.0) as client:
                rows = client.jobs(["*"])
            running = sum(1 for r in rows if r["queue"])
            click.echo(f"jobs      {running} running task(s), {len(rows) - running} pending job(s)")
        except QsysError as exc:
            click.echo(f"jobs      unknown ({exc})")


if __name__ == "__main__":
    main()
