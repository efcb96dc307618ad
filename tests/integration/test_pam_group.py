"""The job's extra group ID survives sshd's initgroups() through the pam_qsys module.

The daemon is started exactly as the shepherd starts it (``execd.startup.spawn_daemon``:
socket on stdin/stdout, extra group added, QSYS_ADD_GRP_ID in its environment), and a real
OpenSSH client logs in as a test user. Without the module the group is lost (Grid Engine's
problem), with it the session's processes carry it, and a group outside gid_range is never
added.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from execd.startup import daemon_env, open_listener, spawn_daemon
from qsys.launch import Launch
from tests.clusterlib import wait_until
from tests.startuplib import REPO, SshSetup, trust_local_hosts

GID_RANGE = "20000-20100"
JOB_GID = 20077


@pytest.fixture
def pam_module(qsys_root: Path) -> Path:
    out = qsys_root / "pam_qsys.so"
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-fPIC", "-shared", "-o", str(out),
                    str(REPO / "wrappers" / "pam" / "pam_qsys.c"), "-lpam"], check=True)
    return out


@pytest.fixture
def ssh_pam(qsys_root: Path, users: tuple[str, str], pam_module: Path) -> Iterator[SshSetup]:
    service = f"qsys-sshd-{os.getpid()}"
    ssh = SshSetup(qsys_root, users[0], pam_service=service)
    pam_file = Path("/etc/pam.d") / service
    pam_file.write_text(
        "auth     required  pam_unix.so\n"
        f"auth     optional  {pam_module} gid_range={GID_RANGE}\n"
        "account  required  pam_unix.so\n"
        "session  required  pam_unix.so\n"
        f"session  optional  {pam_module} gid_range={GID_RANGE}\n"
    )
    try:
        yield ssh
    finally:
        pam_file.unlink()


def _groups_in_session(ssh: SshSetup, daemon: str, gid: int) -> tuple[list[int], list[int]]:
    """(groups of the login's process, groups of the daemon) for one session. (sshd itself
    drops its supplementary groups at start, so only the session's groups tell.)"""
    listener = open_listener()
    port = listener.getsockname()[1]
    remote = "id -G; sleep 0.1"
    client = subprocess.Popen(["runuser", "-u", ssh.user, "--", *shlex.split(ssh.command), "-p", str(port),
                               "127.0.0.1", remote], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    conn, _ = listener.accept()
    listener.close()
    launch = Launch(job_id=7, task_id=1, is_array=False, spec={}, owner=ssh.user, uid=0, group="", gid=0,
                    queue="all.q", host="node1", slots=1, total_slots=1, extra_gid=gid)
    pid = spawn_daemon(conn, shlex.split(daemon), daemon_env(launch, {"QSYS_ADD_GRP_ID": str(gid)}), gid)
    conn.close()
    wait_until(lambda: os.readlink(f"/proc/{pid}/exe").endswith("sshd"), 10, "sshd to start")
    daemon_groups = _proc_groups(pid)
    out, err = client.communicate(timeout=30)
    os.waitpid(pid, 0)
    assert client.returncode == 0, err
    return [int(g) for g in out.split()], daemon_groups


def _proc_groups(pid: int) -> list[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Groups:"):
            return [int(g) for g in line.split()[1:]]
    return []


def test_group_survives_sshd_with_the_module(ssh_pam: SshSetup) -> None:
    session, _daemon = _groups_in_session(ssh_pam, ssh_pam.daemon, JOB_GID)
    assert JOB_GID in session


def test_group_is_lost_without_the_module(qsys_root: Path, users: tuple[str, str]) -> None:
    ssh = SshSetup(qsys_root, users[0])  # UsePAM no: sshd's initgroups() alone
    session, _daemon = _groups_in_session(ssh, ssh.daemon, JOB_GID)
    assert JOB_GID not in session


def test_group_outside_the_range_is_never_added(ssh_pam: SshSetup) -> None:
    session, _ = _groups_in_session(ssh_pam, ssh_pam.daemon, 27)
    assert 27 not in session


@pytest.fixture(params=[True, False], ids=["with-module", "without-module"])
def rsh_pam(request: pytest.FixtureRequest, users: tuple[str, str], pam_module: Path) -> Iterator[tuple[str, bool]]:
    """/etc/pam.d/rsh with pam_qsys added or not (in.rshd's PAM service name is fixed),
    restored after."""
    pam_file = Path("/etc/pam.d/rsh")
    original = pam_file.read_text()
    lines = f"auth optional {pam_module} gid_range={GID_RANGE}\nsession optional {pam_module} gid_range={GID_RANGE}\n"
    rhosts = trust_local_hosts(users[0])
    if request.param:
        pam_file.write_text(original + lines)
    try:
        yield users[0], request.param
    finally:
        pam_file.write_text(original)
        rhosts.unlink()


def test_group_and_rshd(rsh_pam: tuple[str, bool]) -> None:
    user, with_module = rsh_pam
    listener = open_listener()
    port = listener.getsockname()[1]
    client = subprocess.Popen(["runuser", "-u", user, "--", "/usr/bin/rsh", "-n", "-p", str(port),
                               "127.0.0.1", "id -G"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    conn, _ = listener.accept()
    listener.close()
    pid = spawn_daemon(conn, ["/usr/sbin/in.rshd"], {"PATH": "/usr/bin:/bin", "QSYS_ADD_GRP_ID": str(JOB_GID)},
                       JOB_GID)
    conn.close()
    out, err = client.communicate(timeout=30)
    os.waitpid(pid, 0)
    assert client.returncode == 0, err
    assert (JOB_GID in [int(g) for g in out.split()]) == with_module


@pytest.fixture
def pam_service(request: pytest.FixtureRequest, users: tuple[str, str], pam_module: Path) -> Iterator[str]:
    """pam_qsys added to the PAM service named by the test's parameter, restored after."""
    pam_file = Path("/etc/pam.d") / request.param
    original = pam_file.read_text()
    lines = f"auth optional {pam_module} gid_range={GID_RANGE}\nsession optional {pam_module} gid_range={GID_RANGE}\n"
    rhosts = trust_local_hosts(users[0])
    pam_file.write_text(original + lines)
    try:
        yield users[0]
    finally:
        pam_file.write_text(original)
        rhosts.unlink()


def _interactive_groups(user: str, client: list[str], daemon: list[str], password: str | None) -> list[int]:
    import pexpect

    listener = open_listener()
    port = listener.getsockname()[1]
    child = pexpect.spawn("/usr/sbin/runuser", ["-u", user, "--", *client, *(["127.0.0.1", str(port)] if "telnet" in client[0]
                                                                 else ["-p", str(port), "127.0.0.1"])],
                          timeout=20, encoding="utf-8", codec_errors="replace",
                          env={"TERM": "xterm", "PATH": "/usr/bin:/bin"})
    conn, _ = listener.accept()
    listener.close()
    pid = spawn_daemon(conn, daemon, {"PATH": "/usr/bin:/bin", "QSYS_ADD_GRP_ID": str(JOB_GID)}, JOB_GID)
    conn.close()
    if password is not None:
        child.expect("login: ")
        child.sendline(user)
        child.expect("assword: ")
        child.sendline(password)
    child.expect(r"[#$] ")
    child.sendline("echo GROUPS: $(id -G) :END; exit")
    child.expect(r"GROUPS: ([\d ]+) :END")
    groups = [int(g) for g in child.match.group(1).split()]
    child.expect(pexpect.EOF)
    child.close()
    os.waitpid(pid, 0)
    return groups


@pytest.mark.parametrize("pam_service", ["login"], indirect=True)
def test_group_survives_telnetd_login(pam_service: str) -> None:
    from tests.startuplib import unlock

    password = unlock(pam_service)
    groups = _interactive_groups(pam_service, ["/usr/bin/telnet"], ["/usr/sbin/telnetd"], password)
    assert JOB_GID in groups


@pytest.mark.parametrize("pam_service", ["login"], indirect=True)
def test_group_survives_rlogind_login(pam_service: str) -> None:
    """rsh-redone's rlogind resets its groups and runs ``login -f``; login's PAM stack finds the
    group in rlogind's environment (rlogind runs as root)."""
    groups = _interactive_groups(pam_service, ["/usr/bin/rlogin"], ["/usr/sbin/in.rlogind"], None)
    assert JOB_GID in groups
