"""The qsys-sshd method between hosts in network namespaces, with the stock OpenSSH client:
qrsh and qlogin from the test's namespace to an exec host in another one, and qrsh -inherit
from inside such a session to the second host; on a service-mode cluster (root daemons, the
sessions of a useradd user, the job's group ID on the remote processes) and on the personal
cluster of that user (nothing runs as root but the namespaces)."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from execd.startup import descendants
from tests.clusterlib import BIN, Cluster, wait_until
from tests.integration.test_pe import put_objects
from tests.integration.test_session_usage import HIGH, LOW, _groups, _pids
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


def test_every_process_of_a_session_on_the_other_host(lab: tuple[Cluster, str, dict[str, str]]) -> None:
    """The daemon, the shell and what the shell starts, even a process that left its session,
    are in node2's network namespace and run as the user; on the service cluster each carries
    the job's extra group ID. The personal cluster has no group to give (an unprivileged
    process cannot add one), and nothing of it runs as root: its shepherd and exec daemon
    are the user's too."""
    cluster, user, _ = lab
    marker = f"qsys-sshd-ns-{os.getpid()}"
    argv = cluster._as_user([str(BIN / "qrsh"), "-q", "all.q@node2",
                             f"(setsid bash -c 'exec -a {marker}-orphan sleep 300' &); exec -a {marker} sleep 300"],
                            user)
    proc = subprocess.Popen(argv, env=cluster.env, cwd="/tmp", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: _pids(marker) and _pids(f"{marker}-orphan"), 30, "the remote sleeps to run")
        [job] = cluster.jobs()
        spool = cluster.cell.execd_spool("node2") / "active_jobs" / f"{job.job_id}.1"
        shepherd = int((spool / "shepherd.pid").read_text().split()[0])
        session = {pid: _status(pid) for pid in [*descendants(shepherd), *_pids(f"{marker}-orphan")]}
        session = {pid: status for pid, status in session.items() if status.get("State", "Z")[0] != "Z"}
        daemons = [pid for pid, status in session.items() if status["Name"] == "qsys-sshd"]
        assert len(daemons) == 1 and len(session) >= 3, session
        node2 = _net(cluster.execd_procs["node2"].pid)
        assert node2 != _net(os.getpid()) and {_net(pid) for pid in session} == {node2}
        uid = str(pwd.getpwnam(user).pw_uid)
        assert {status["Uid"].split()[0] for status in session.values()} == {uid}, session
        if cluster.mode == "service":
            [extra] = {g for g in _groups(daemons[0]) if LOW <= g <= HIGH}
            assert all(extra in _groups(pid) for pid in session), {pid: _groups(pid) for pid in session}
        else:
            execds = subprocess.run(["pgrep", "-f", f"^{sys.executable} -m execd.main --foreground --host node2$"],
                                    capture_output=True, text=True).stdout.split()
            assert execds and {_status(int(pid))["Uid"].split()[0] for pid in [shepherd, *execds]} == {uid}
        cluster.run("qdel", str(job.job_id), check=True)
        proc.wait(30)
        wait_until(lambda: not _pids(marker) and not _pids(f"{marker}-orphan"), 30, "the session's processes to end")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _status(pid: int) -> dict[str, str]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def _net(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


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
