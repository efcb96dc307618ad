"""``qsys init`` on a host of its own (tests.hostlab, the machine's network: the PostgreSQL
server of tests.pg listens on its loopback): a service cell on PostgreSQL; run again it keeps
everything; it refuses to change a cell that has jobs."""

from __future__ import annotations

import ipaddress
import tempfile
from pathlib import Path

import pytest

from qsys import certs
from tests.hostlab import HostLab

pytestmark = [pytest.mark.root, pytest.mark.postgres]
COMMON = "/var/lib/qsys/default/common"


def test_init_on_postgresql_is_idempotent_and_keeps_a_cell_with_jobs(postgres_url: str,
                                                                     users: tuple[str, str]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="qsys-init-", dir="/tmp"))
    with HostLab(["pghead"], tmp, network=False) as lab:
        head = lab["pghead"]
        head.run("/opt/qsys/venv/bin/python -m qsys.install", check=True)
        first = head.run(f"qsys init --store {postgres_url} --port 0 --no-systemd", check=True).stdout
        assert "made the cell CA" in first and "started master" in first
        assert "[Service]" in first and "ExecStart=" in first  # --no-systemd: the unit printed, not installed
        assert not head.path("/etc/systemd/system/qsys-master.service").exists()
        boot = head.path(COMMON).joinpath("bootstrap").read_text()
        assert f"store_url            {postgres_url}" in boot and "tls                  yes" in boot
        ca = head.path(COMMON).joinpath("ca.pem").read_bytes()
        names = certs.names_of(head.path(COMMON).joinpath("host.pem").read_bytes())

        again = head.run(f"qsys init --store {postgres_url}", check=True).stdout
        assert "exists with these settings: keeping it" in again and "master already running" in again
        assert "made the cell CA" not in again
        assert head.path(COMMON).joinpath("ca.pem").read_bytes() == ca
        # the certificate is issued anew only to add a name: on this host (the machine's network, where
        # other tests' bridges come and go) that may be an address that appeared in between
        added = set(certs.names_of(head.path(COMMON).joinpath("host.pem").read_bytes())) - set(names)
        assert ("issued the master's certificate" in again) == bool(added), again
        assert all(ipaddress.ip_address(name) for name in added)
        assert head.path("/etc/systemd/system/qsys-master.service").exists()
        assert head.run("qconf -sql", check=True).stdout.split() == ["all.q"]
        assert head.run("qconf -spl", check=True).stdout.split() == ["make", "mpi", "smp"]

        job = head.run("qsub -terse -h -b y /bin/true", users[0], check=True).stdout.strip()
        refused = head.run("qsys init --port 7999 --no-start")
        assert refused.returncode != 0 and "has 1 job(s)" in refused.stderr and "master_port" in refused.stderr
        assert head.path(COMMON).joinpath("bootstrap").read_text() == boot
        head.run(f"qdel {job}", users[0], check=True)
