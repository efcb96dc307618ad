"""Daemon methods with the real daemons: OpenSSH (sshd -i), inetutils telnetd, rsh-redone
rlogind/rshd; the client runs the configured command with the exact argument conventions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusterlib import Cluster
from tests.startuplib import SshSetup, start_with_conf


@pytest.fixture
def ssh_cluster(qsys_root: Path, users: tuple[str, str]) -> Iterator[tuple[Cluster, SshSetup]]:
    ssh = SshSetup(qsys_root, users[0])
    conf = {}
    for method in ("rsh", "rlogin"):
        conf[f"{method}_command"] = ssh.command
        conf[f"{method}_daemon"] = ssh.daemon
    cluster = Cluster(qsys_root / "cell", hosts=["node1"], slots=4, mode="service")
    start_with_conf(cluster, conf)
    try:
        yield cluster, ssh
    finally:
        cluster.__exit__(None, None, None)


def test_qrsh_over_openssh(ssh_cluster: tuple[Cluster, SshSetup], users: tuple[str, str]) -> None:
    cluster, _ssh = ssh_cluster
    proc = cluster.run("qrsh", "echo via-ssh $(id -un); echo err >&2; exit 4", user=users[0])
    assert proc.returncode == 4, proc.stderr
    assert proc.stdout == f"via-ssh {users[0]}\n"
    assert "err" in proc.stderr
