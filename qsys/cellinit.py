"""``qsys init``: the cell of a cluster's master host (see qsys(8)).

Service mode (root): the bootstrap (mode service, the store, the port, ``tls yes``), the
cluster key, the cell CA and the master's certificate for its names and addresses, the store
with the default queue, PEs and the master host as admin and submit host, the commands on the
system PATH and the pages in the manpath, the master's systemd unit (installed, or printed),
and the master started. ``--personal``: today's personal cell (``qsys up``'s), with TLS.

Run again, it does what is missing and changes nothing else: keys, CA and certificates are
kept (the master's certificate is issued anew only for names it lacks), and the store keeps
its objects. A cell whose settings would change is rewritten only while it has no jobs.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from pathlib import Path

from qsys import auth, install
from qsys.errors import QsysError
from qsys.paths import DEFAULT_PORT, Cell

Echo = Callable[[str], None]
MASTER_UNITS = ["qsys-master.service"]


def master_names(extra: list[str]) -> list[str]:
    """What the master's certificate is valid for: its host names, the names given, loopback
    and the host's addresses (exec hosts may join by any of them)."""
    from qsys.remote.addresses import local_addresses

    full = socket.gethostname()
    short = full.split(".")[0]
    return list(dict.fromkeys([short, full, *extra, "localhost", "127.0.0.1", "::1", *local_addresses()]))


def store_jobs(boot: dict[str, str]) -> int:
    """How many jobs the cell's store holds (0 for a store that does not exist yet)."""
    from qsys.store import Store, StoreError

    url = boot.get("store_url")
    if not url:
        return 0
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return 0
    try:
        store = Store(url)
        try:
            return len(store.load().jobs)
        finally:
            store.close()
    except StoreError:
        return 0


def check_rewrite(cell: Cell, wanted: dict[str, str]) -> bool:
    """Whether the bootstrap changes; QsysError when it would change a cell that has jobs."""
    old = cell.bootstrap()
    changed = {k: (old.get(k), v) for k, v in wanted.items() if old.get(k) != v}
    if old and changed:
        jobs = store_jobs(old)
        if jobs:
            what = ", ".join(f"{k} {a or '(unset)'} -> {b}" for k, (a, b) in sorted(changed.items()))
            raise QsysError(f"the cell in {cell.dir} has {jobs} job(s): qsys init does not change it ({what}); "
                            "run it with the cell's settings, or end the jobs first")
    return bool(changed)


def ensure_tls(cell: Cell, cell_name: str, master: str, names: list[str], echo: Echo) -> None:
    """The CA (made once) and a master certificate that covers ``names``."""
    from qsys import certs

    if not cell.ca_cert.exists() or not cell.ca_key.exists():
        ca_pem, ca_key = certs.make_ca(cell_name, master)
        certs.write_private(cell.ca_key, ca_key)
        certs.write_public(cell.ca_cert, ca_pem)
        echo(f"made the cell CA {cell.ca_cert} (fingerprint sha256:{certs.fingerprint(ca_pem)[:32]}...)")
    have = certs.names_of(cell.host_cert.read_bytes()) if cell.host_cert.exists() and cell.host_key.exists() else []
    if not set(names) <= set(have):
        cert, key = certs.server_certificate(cell.ca_cert.read_bytes(), cell.ca_key.read_bytes(),
                                             list(dict.fromkeys([*have, *names])))
        certs.write_private(cell.host_key, key)
        certs.write_public(cell.host_cert, cert)
        echo(f"issued the master's certificate for {', '.join(certs.names_of(cert))}")


def make_defaults(cell: Cell) -> None:
    """The store and what a new cell has (all.q, the PEs, the global configuration, the
    master host as admin and submit host), written as the master would at its first start."""
    from qsys.master.main import build_master

    async def run() -> None:
        daemon = build_master(cell, port=None)
        try:
            await daemon.state.config.bootstrap_defaults(daemon.state)
        finally:
            await daemon.state.committer.close()
            daemon.accounting.close()
            daemon.store.close()

    asyncio.run(run())


def init_service(cell: Cell, *, store_url: str | None, port: int | None, names: list[str], systemd: bool,
                 start: bool, echo: Echo) -> None:
    from qsys import cluster

    if os.geteuid() != 0:
        raise QsysError("qsys init makes a service-mode cell and must run as root (qsys init --personal makes a "
                        "personal one)")
    old = cell.bootstrap()
    if old.get("host_name"):
        raise QsysError(f"{cell.dir} is the cell of a host that joined {old.get('master_host')}: "
                        "qsys init runs on the master host")
    host = socket.gethostname().split(".")[0]
    wanted = {
        "mode": "service",
        "master_host": old.get("master_host") or host,
        "master_port": str(port if port is not None else old.get("master_port") or DEFAULT_PORT),
        "master_host_name": old.get("master_host_name") or host,
        "owner_uid": "0",
        "store_url": store_url or old.get("store_url") or f"sqlite:///{cell.master_spool / 'qsys.db'}",
        "tls": "yes",
    }
    if check_rewrite(cell, wanted):
        cell.write_bootstrap({**old, **wanted})
        echo(f"wrote {cell.bootstrap_file} (service mode, port {wanted['master_port']}, store {wanted['store_url']})")
    else:
        echo(f"cell {cell.dir} exists with these settings: keeping it")
    os.chmod(cell.dir, 0o755)
    if not cell.key_file.exists():
        auth.create_key(cell.key_file)
        echo(f"made the cluster key {cell.key_file} (root only; it never leaves this host)")
    ensure_tls(cell, cell.name, host, master_names(names), echo)
    cell.master_spool.mkdir(parents=True, exist_ok=True)
    running = cluster.daemon_pid(cell, "master")
    if running is None:
        make_defaults(cell)
        echo("store ready: queue all.q, PEs make smp mpi, admin and submit host " + wanted["master_host_name"])
    for line in install.link_system_commands():
        echo(line)
    start_units(cell, MASTER_UNITS, systemd=systemd, start=start, echo=echo,
                direct=lambda: cluster.start(cell))


def start_units(cell: Cell, units: list[str], *, systemd: bool, start: bool, echo: Echo,
                direct: Callable[[], list[str]]) -> None:
    """Install (or print) the units; start the daemons: by systemd where it runs, directly
    (detached) elsewhere."""
    if systemd:
        for path in install.install_units(units, cell):
            echo(f"installed {path}")
    else:
        for name in units:
            echo(f"# {name} (--no-systemd: not installed)\n{install.unit_text(name, cell)}")
    if not start:
        return
    if systemd and install.systemd_runs():
        install.enable_units(units)
        echo(f"systemctl enable --now {' '.join(units)}")
        return
    for line in direct():
        echo(line)


def init_personal(cell: Cell, *, hosts: int, slots: int | None, port: int | None, store_url: str | None,
                  start: bool, echo: Echo) -> None:
    """A personal cell, as ``qsys up`` makes it (the caller runs everything)."""
    from qsys import cluster

    if cell.bootstrap():
        echo(f"cell {cell.dir} exists: keeping it")
    else:
        cluster.new_cell(cell, hosts, slots, port or 0, store_url)
        echo(f"wrote the personal cell {cell.dir}")
    if start:
        for line in cluster.start(cell):
            echo(line)
