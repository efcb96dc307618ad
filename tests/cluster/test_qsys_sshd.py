"""The qsys-sshd method between hosts in network namespaces, with the stock OpenSSH client:
qrsh and qlogin from the test's namespace to an exec host in another one, and qrsh -inherit
from inside such a session to the second host; on a service-mode cluster (root daemons, the
sessions of a useradd user, the job's group ID on the remote processes) and on the personal
cluster of that user (nothing runs as root but the namespaces)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests.clusterlib import BIN, Cluster
from tests.integration.test_pe import put_objects
from tests.integration.test_session_usage import HIGH, LOW
from tests.netns import NetnsLab
from tests.startuplib import QSYS_SSHD_CONF, REPO, one_slot_tight_pe

HOSTS = ["node1", "node2"]


@pytest.fixture(params=["service", "personal"])
def lab(request: pytest.FixtureRequest, qsys_root: Path,
        users: tuple[str, str]) -> Iterator[tuple[Cluster, str, dict[str, str]]]:
    """Two exec hosts in namespaces, one slot each, every method on qsys-sshd, PE ``tight``
    (control_slaves TRUE). Yields (cluster, the user who runs the sessions, host addresses)."""
    user = users[0]
    personal = request.param == "personal"
    with NetnsLab(HOSTS) as net:
        cluster = Cluster(qsys_root / "cell", hosts=HOSTS, slots=1, mode="personal" if personal else "service",
                          user=user if personal else None)
        cluster.init()
        put_objects(cluster, one_slot_tight_pe(dict(QSYS_SSHD_CONF)))
        if personal:
            subprocess.run(["chown", "-R", user, str(cluster.root)], check=True)
        cluster.start_master()
        for host in HOSTS:
            cluster.start_execd(host, netns=net.ns(host))
        cluster.wait_hosts()
        try:
            yield cluster, user, dict(net.addresses)
        finally:
            cluster.__exit__(None, None, None)


def test_qrsh_to_a_host_in_another_namespace(lab: tuple[Cluster, str, dict[str, str]]) -> None:
    cluster, user, addresses = lab
    proc = cluster.run("qrsh", "-q", "all.q@node2", "echo $HOSTNAME $(id -un); hostname -I; id -G; exit 4",
                       user=user)
    assert proc.returncode == 4, proc.stderr
    host, groups = proc.stdout.splitlines()[0], proc.stdout.splitlines()[2]
    assert host == f"node2 {user}" and addresses["node2"] in proc.stdout.splitlines()[1], proc.stdout
    if cluster.mode == "service":
        assert any(LOW <= int(g) <= HIGH for g in groups.split()), f"the job's group ID was lost: {groups}"


def test_qlogin_to_a_host_in_another_namespace(lab: tuple[Cluster, str, dict[str, str]]) -> None:
    cluster, user, addresses = lab
    full = cluster._as_user([str(BIN / "qlogin"), "-q", "all.q@node1"], user)
    child = pexpect.spawn(full[0], full[1:], env={**cluster.env, "TERM": "xterm"}, cwd="/tmp", timeout=30,
                          encoding="utf-8", codec_errors="replace")
    child.expect("Establishing /usr/bin/ssh session to host node1")
    child.expect(r"[#$] ")
    child.sendline("echo ON-$HOSTNAME-$(id -un); hostname -I; tty; exit 6")
    child.expect(f"ON-node1-{user}")
    child.expect(addresses["node1"])
    child.expect(r"/dev/pts/\d+")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 6


def test_qrsh_inherit_from_inside_a_session(lab: tuple[Cluster, str, dict[str, str]]) -> None:
    cluster, user, addresses = lab
    inner = "qrsh -inherit node2 'echo task on $HOSTNAME; hostname -I; exit 3'; echo rc=$?"
    proc = cluster.run("qrsh", "-pe", "tight", "2", "-masterq", "all.q@node1", "-v", f"PYTHONPATH={REPO}", inner,
                       user=user, timeout=90)
    assert proc.returncode == 0, proc.stderr
    assert "task on node2" in proc.stdout and addresses["node2"] in proc.stdout, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("rc=3"), proc.stdout
