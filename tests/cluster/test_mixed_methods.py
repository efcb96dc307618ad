"""Remote startup across hosts in network namespaces, with global and host-local settings:
the command comes from the client's host, the daemon from the session's host, and a
builtin/non-builtin mismatch fails fast naming both settings."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests import netns
from tests.clusterlib import BIN, Cluster, wait_until
from tests.startuplib import SshSetup, start_with_conf

CLIENT_HOST = socket.gethostname().split(".")[0]  # the master's host: where the tests run qrsh


@pytest.fixture
def two_hosts(qsys_root: Path, users: tuple[str, str]) -> Iterator[tuple[Cluster, SshSetup]]:
    spaces = {"node1": netns.create("a"), "node2": netns.create("b")}
    try:
        ssh = SshSetup(qsys_root, users[0], extra_addresses=[ns.inner for ns in spaces.values()])
        global_conf = {f"{m}_{end}": "builtin" for m in ("rsh", "rlogin", "qlogin") for end in ("command", "daemon")}
        local = {
            "node2": {"rsh_daemon": ssh.daemon, "rlogin_daemon": ssh.daemon},
            CLIENT_HOST: {"rlogin_command": ssh.command},
        }
        cluster = Cluster(qsys_root / "cell", hosts=["node1", "node2"], slots=2, mode="service")
        start_with_conf(cluster, global_conf, local, start_execds=False)
        for host, ns in spaces.items():
            cluster.start_execd(host, netns=ns.name)
        cluster.wait_hosts()
        try:
            yield cluster, ssh
        finally:
            cluster.__exit__(None, None, None)
    finally:
        for ns in spaces.values():
            netns.destroy(ns)


def test_builtin_reaches_a_host_in_another_namespace(two_hosts: tuple[Cluster, SshSetup],
                                                      users: tuple[str, str]) -> None:
    cluster, _ = two_hosts
    proc = cluster.run("qrsh", "-q", "all.q@node1", "echo $HOSTNAME; exit 6", user=users[0])
    assert (proc.returncode, proc.stdout) == (6, "node1\n"), proc.stderr


def test_mismatch_fails_fast_naming_both_settings(two_hosts: tuple[Cluster, SshSetup],
                                                  users: tuple[str, str]) -> None:
    cluster, ssh = two_hosts
    proc = cluster.run("qrsh", "-q", "all.q@node2", "echo never", user=users[0])
    assert proc.returncode == 1 and proc.stdout == ""
    assert (f'rsh_command of host {CLIENT_HOST} is "builtin" but rsh_daemon of host node2 is '
            f'"{ssh.daemon}"') in proc.stderr
    wait_until(lambda: not cluster.jobs(), 20, "the refused session's job to end")
    proc = cluster.run("qrsh", "-q", "all.q@node1", "echo never", user=users[0])  # rlogin differs, rsh not
    assert proc.stdout == "never\n"
    child = pexpect.spawn(*_as(cluster, users[0], "qrsh", "-q", "all.q@node1"), env=cluster.env,
                          timeout=20, encoding="utf-8", codec_errors="replace")
    child.expect(f'rlogin_command of host {CLIENT_HOST} is ".*ssh .*" but rlogin_daemon of host node1 '
                 'is "builtin"')
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1


def test_ssh_login_to_the_host_whose_daemon_is_sshd(two_hosts: tuple[Cluster, SshSetup],
                                                    users: tuple[str, str]) -> None:
    cluster, _ = two_hosts
    child = pexpect.spawn(*_as(cluster, users[0], "qrsh", "-q", "all.q@node2"), env={**cluster.env, "TERM": "xterm"},
                          timeout=20, encoding="utf-8", codec_errors="replace")
    child.expect(r"[#$] ")
    child.sendline("echo ON-$HOSTNAME-$(id -un); hostname -I; exit")
    child.expect(f"ON-.*-{users[0]}")
    child.expect(r"10\.231\.\d+\.2")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def _as(cluster: Cluster, user: str, *argv: str) -> tuple[str, list[str]]:
    full = cluster._as_user([str(BIN / argv[0]), *argv[1:]], user)
    return full[0], full[1:]
