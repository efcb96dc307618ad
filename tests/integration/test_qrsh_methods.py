"""Daemon methods with the real daemons: OpenSSH (sshd -i), inetutils telnetd, rsh-redone
rlogind/rshd; the client runs the configured command with the exact argument conventions."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests.clusterlib import BIN, Cluster, wait_until
from tests.startuplib import REPO, TEST_PASSWORD, SshSetup, start_with_conf, trust_local_hosts, unlock


@pytest.fixture
def ssh_cluster(qsys_root: Path, users: tuple[str, str]) -> Iterator[tuple[Cluster, SshSetup]]:
    ssh = SshSetup(qsys_root, users[0])
    conf = {}
    for method in ("rsh", "rlogin"):
        conf[f"{method}_command"] = ssh.command
        conf[f"{method}_daemon"] = ssh.daemon
    conf["qlogin_command"] = f"{REPO}/wrappers/qlogin_wrapper {ssh.options}"
    conf["qlogin_daemon"] = ssh.daemon
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


PROMPT = r"[#$] "


def spawn_as(cluster: Cluster, user: str, *argv: str) -> pexpect.spawn:
    env = cluster.env
    env["TERM"] = "xterm"
    full = cluster._as_user([str(BIN / argv[0]), *argv[1:]], user)
    return pexpect.spawn(full[0], full[1:], env=env, cwd="/tmp", timeout=20, encoding="utf-8",
                         codec_errors="replace")  # rlogin's protocol may leak a 0x80 control byte


def test_qrsh_login_over_openssh_has_a_pty(ssh_cluster: tuple[Cluster, SshSetup], users: tuple[str, str]) -> None:
    cluster, _ssh = ssh_cluster
    child = spawn_as(cluster, users[0], "qrsh")
    child.expect(PROMPT)
    child.sendline("tty; id -un; exit 3")
    child.expect(r"/dev/pts/\d+")
    child.expect(users[0])
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3


def test_qlogin_over_openssh_through_the_wrapper(ssh_cluster: tuple[Cluster, SshSetup],
                                                users: tuple[str, str]) -> None:
    cluster, _ssh = ssh_cluster
    child = spawn_as(cluster, users[0], "qlogin")
    child.expect(r"Establishing .*qlogin_wrapper .* session to host node1")
    child.expect(PROMPT)
    child.sendline("echo QLOGIN-$(id -un); exit 2")
    child.expect(f"QLOGIN-{users[0]}")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2


@pytest.fixture
def legacy_cluster(qsys_root: Path, users: tuple[str, str]) -> Iterator[Cluster]:
    unlock(users[0])
    rhosts = trust_local_hosts(users[0])
    conf = {"qlogin_command": "/usr/bin/telnet", "qlogin_daemon": "/usr/sbin/telnetd",
            "rlogin_command": "/usr/bin/rlogin", "rlogin_daemon": "/usr/sbin/in.rlogind",
            "rsh_command": "/usr/bin/rsh", "rsh_daemon": "/usr/sbin/in.rshd"}
    cluster = Cluster(qsys_root / "cell", hosts=["node1"], slots=4, mode="service")
    start_with_conf(cluster, conf)
    try:
        yield cluster
    finally:
        cluster.__exit__(None, None, None)
        rhosts.unlink()


def test_qrsh_over_rshd(legacy_cluster: Cluster, users: tuple[str, str]) -> None:
    proc = legacy_cluster.run("qrsh", "echo via-rsh $(id -un)", user=users[0])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"via-rsh {users[0]}\n"


def test_qrsh_login_over_rlogind(legacy_cluster: Cluster, users: tuple[str, str]) -> None:
    child = spawn_as(legacy_cluster, users[0], "qrsh")
    child.expect(PROMPT)
    child.sendline("echo RLOGIN-$(id -un); exit")
    child.expect(f"RLOGIN-{users[0]}")
    child.expect(pexpect.EOF)
    child.close()


def test_qlogin_over_telnetd(legacy_cluster: Cluster, users: tuple[str, str]) -> None:
    child = spawn_as(legacy_cluster, users[0], "qlogin")
    child.expect("login: ")
    child.sendline(users[0])
    child.expect("assword: ")
    child.sendline(TEST_PASSWORD)
    child.expect(PROMPT)
    child.sendline("echo TELNET-$(id -un) JOB=$JOB_ID; exit")
    child.expect(f"TELNET-{users[0]}")
    child.expect(pexpect.EOF)
    child.close()


def test_qdel_ends_an_ssh_session_and_its_login(ssh_cluster: tuple[Cluster, SshSetup], users: tuple[str, str]) -> None:
    cluster, _ssh = ssh_cluster
    marker = f"qsys-ssh-{os.getpid()}"
    argv = cluster._as_user([str(BIN / "qrsh"), f"exec -a {marker} sleep 300"], users[0])
    proc = subprocess.Popen(argv, env=cluster.env, cwd="/tmp", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until(lambda: _pids(marker), 20, "the remote sleep to run")
    job_id = cluster.jobs()[0].job_id
    cluster.run("qdel", str(job_id), check=True)
    proc.wait(20)
    cluster.wait_idle(20)
    wait_until(lambda: not _pids(marker), 10, "the remote sleep to be gone")


def _pids(marker: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"^{marker} "], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]
