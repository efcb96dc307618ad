"""Accounting through every startup method, with the real daemons: a known CPU burn that
double-forks away from the session (so the session's own process tree does not hold it) must
be in the job's accounting record, >= 99% of it; and qdel leaves no process with the job's
group ID. The daemons carry the job's group ID into the login through pam_qsys (qsys-sshd
needs no PAM: it is started with the group, as the job's user)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qsys.accounting_file import ACCOUNTING_FIELDS
from tests.clusterlib import BIN, Cluster, wait_until
from tests.startuplib import REPO, method_setup, start_with_conf, telnet_session

BURN = REPO / "tests" / "helpers" / "burn.py"
PY = sys.executable
LOW, HIGH = 20000, 20100  # the default gid_range
METHODS = ["builtin", "ssh", "rsh", "telnet", "qsys-sshd"]


@pytest.fixture
def method_cluster(request: pytest.FixtureRequest, qsys_root: Path,
                   users: tuple[str, str]) -> Iterator[tuple[Cluster, str, Path]]:
    """A one-host service-mode cluster whose rsh (or, for telnet, qlogin) method is the
    test's parameter, pam_qsys in the daemon's PAM service; yields (cluster, method, out dir)."""
    method = request.param
    out = qsys_root / "out"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    conf, undo = method_setup(method, qsys_root, users[0])
    cluster = Cluster(qsys_root / "cell", hosts=["node1"], slots=4, mode="service")
    try:
        start_with_conf(cluster, conf)
        yield cluster, method, out
    finally:
        cluster.__exit__(None, None, None)
        for step in reversed(undo):
            step()


def accounting(cluster: Cluster) -> list[dict[str, str]]:
    try:
        lines = cluster.cell.accounting_file.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [dict(zip(ACCOUNTING_FIELDS, line.split(":"), strict=True)) for line in lines if not line.startswith("#")]


def burn_command(out: Path, seconds: float = 2.0) -> str:
    done = out / "burned"
    return (f"id -G > {out}/groups; {PY} {BURN} {seconds} {done} detach; "
            f"while [ ! -f {done} ]; do sleep 0.1; done")


@pytest.mark.parametrize("method_cluster", METHODS, indirect=True)
def test_burn_through_the_method_is_accounted(method_cluster: tuple[Cluster, str, Path],
                                              users: tuple[str, str]) -> None:
    cluster, method, out = method_cluster
    command = burn_command(out)
    if method == "telnet":
        telnet_session(cluster, users[0], command)
    else:
        proc = cluster.run("qrsh", command, user=users[0], timeout=120)
        assert proc.returncode == 0, proc.stderr
    groups = [int(g) for g in (out / "groups").read_text().split()]
    assert any(LOW <= g <= HIGH for g in groups), f"the job's group ID was lost: {groups}"
    burned = float((out / "burned").read_text())
    [record] = wait_until(lambda: accounting(cluster) or None, 30, "the session's accounting record")
    cpu = float(record["cpu"])
    print(f"{method}: burned {burned:.3f}s, recorded {cpu:.3f}s ({100 * cpu / burned:.1f}%)")
    assert burned >= 2.0
    assert cpu >= 0.99 * burned


@pytest.mark.parametrize("method_cluster", ["ssh", "qsys-sshd"], indirect=True)
def test_qdel_reaches_what_came_through_sshd(method_cluster: tuple[Cluster, str, Path],
                                             users: tuple[str, str]) -> None:
    cluster, _, out = method_cluster
    marker = f"qsys-away-{os.getpid()}"
    remote = f"(setsid bash -c 'exec -a {marker} sleep 300' &); echo started > {out}/started; sleep 300"
    argv = cluster._as_user([str(BIN / "qrsh"), remote], users[0])
    client = subprocess.Popen(argv, env=cluster.env, cwd="/tmp", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: _pids(marker), 30, "the double-forked sleep to run")
        job_id = cluster.jobs()[0].job_id
        spool = cluster.cell.execd_spool("node1") / "active_jobs" / f"{job_id}.1" / "job.json"
        gid = json.loads(spool.read_text())["extra_gid"]
        assert all(gid in _groups(pid) for pid in _pids(marker))  # it came in with the group ID
        cluster.run("qdel", str(job_id), check=True)
        client.wait(30)
        wait_until(lambda: not _pids(marker), 20, "the double-forked sleep to be killed")
        wait_until(lambda: not _carriers(gid), 20, f"no process to carry group {gid}")
        cluster.wait_idle(30)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()


def _pids(marker: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"^{marker} "], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _groups(pid: int) -> list[int]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Groups:"):
                return [int(g) for g in line.split()[1:]]
    except OSError:
        pass
    return []


def _carriers(gid: int) -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and gid in _groups(int(p))]
