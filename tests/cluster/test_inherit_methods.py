"""``qrsh -inherit`` through the rsh method between two exec hosts in network namespaces:
builtin, and OpenSSH (sshd -i started by the target's exec daemon as the pe task, pam_qsys
in its PAM stack). The task's exit code comes back, a double-forked CPU burn in it is
accounted (>= 99%) in its own pe task record, qdel kills it, a command/daemon mismatch fails
at once naming both settings, and processes that carry the job's group ID on a slave host
outside any task are accounted too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusterlib import Cluster, wait_until
from tests.integration.test_pe import put_objects
from tests.integration.test_pe_usage import _foreign, _gone, _records
from tests.netns import NetnsLab, start_execd
from tests.startuplib import REPO, method_setup

HOSTS = ["node1", "node2"]
BURN = REPO / "tests" / "helpers" / "burn.py"
PY = sys.executable


@pytest.fixture
def lab(qsys_root: Path, request: pytest.FixtureRequest,
        users: tuple[str, str]) -> Iterator[tuple[Cluster, str, Path]]:
    """Two hosts, one slot each, PE ``tight`` (control_slaves TRUE, round robin); the rsh
    method is the parameter: ``builtin``, or ssh globally with node1's own rsh_daemon builtin
    (so node1 -> node2 is ssh, node1 -> node1 a mismatch). Yields (cluster, method, out dir)."""
    method = request.param
    out = qsys_root / "out"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    with NetnsLab(HOSTS) as net:
        conf, undo = method_setup(method, qsys_root, users[0], [*net.addresses.values(), *HOSTS])
        local = {"node1": {"rsh_daemon": "builtin"}} if method == "ssh" else {}
        cluster = Cluster(qsys_root / "cell", hosts=HOSTS, slots=1, mode="service")
        cluster.init()
        pe = {"slots": "99", "allocation_rule": "$round_robin", "control_slaves": "TRUE",
              "job_is_first_task": "TRUE"}
        put_objects(cluster, [
            ("pe", "tight", pe),
            ("queue", "all.q", {"hostlist": "@allhosts", "slots": "1", "pe_list": "tight"}),
            ("conf", "global", conf),
            *[("conf", host, attrs) for host, attrs in local.items()],
        ])
        cluster.start_master()
        for host in HOSTS:
            start_execd(cluster, host, net.ns(host))
        cluster.wait_hosts()
        try:
            yield cluster, method, out
        finally:
            cluster.teardown()
            for step in reversed(undo):
                step()


def _submit(cluster: Cluster, user: str, out: Path, script: str) -> int:
    proc = cluster.run("qsub", "-terse", "-pe", "tight", "2", "-masterq", "all.q@node1", "-v", f"PYTHONPATH={REPO}",
                       "-o", str(out / "job.out"),
                       "-j", "y", "-b", "y", "/bin/sh", "-c", script, user=user)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip())


BOTH = pytest.mark.parametrize("lab", ["builtin", "ssh"], indirect=True)


@BOTH
def test_task_runs_and_its_exit_code_comes_back(lab: tuple[Cluster, str, Path], users: tuple[str, str]) -> None:
    cluster, method, out = lab
    script = ("qrsh -inherit node2 'echo task on $(hostname) as $(id -un); id -G; exit 7'; echo \"rc=$?\"")
    job_id = _submit(cluster, users[0], out, script)
    _gone(cluster, job_id, timeout=60)
    text = (out / "job.out").read_text()
    assert f"task on node2 as {users[0]}" in text and "rc=7" in text, text
    groups = [int(g) for g in text.splitlines()[1].split()]
    assert any(20000 <= g <= 20100 for g in groups), f"{method}: the task lost the job's group ID: {text}"


@BOTH
def test_double_forked_burn_in_a_task_is_accounted(lab: tuple[Cluster, str, Path], users: tuple[str, str]) -> None:
    cluster, method, out = lab
    done = out / "burned"
    script = f"qrsh -inherit node2 '{PY} {BURN} 2 {done} detach; while [ ! -f {done} ]; do sleep 0.1; done'"
    job_id = _submit(cluster, users[0], out, script)
    _gone(cluster, job_id, timeout=90)
    burned = float(done.read_text())
    records = _records(cluster, job_id, count=2)
    [task] = [r for r in records if r["pe_taskid"] != "NONE"]
    assert task["pe_taskid"] == "1.node2" and task["hostname"] == "node2"
    cpu = float(task["cpu"])
    print(f"qrsh -inherit ({method}): burned {burned:.3f}s, recorded {cpu:.3f}s ({100 * cpu / burned:.1f}%)")
    assert cpu >= 0.99 * burned
    qacct = cluster.run("qacct", "-j", str(job_id))
    assert qacct.returncode == 0, qacct.stderr
    assert qacct.stdout.count("=" * 62) == 2 and "hostname     node2" in qacct.stdout, qacct.stdout


@BOTH
def test_qdel_kills_the_task(lab: tuple[Cluster, str, Path], users: tuple[str, str]) -> None:
    cluster, _, out = lab
    marker = f"qsys-task-{os.getpid()}"
    script = f"qrsh -inherit node2 \"(setsid bash -c 'exec -a {marker} sleep 300' &); sleep 300\""
    job_id = _submit(cluster, users[0], out, script)
    wait_until(lambda: _pids(marker), 60, "the task's double-forked sleep to run")
    assert cluster.run("qdel", str(job_id)).returncode == 0
    wait_until(lambda: not _pids(marker), 30, "the task's processes to be killed")
    _gone(cluster, job_id, timeout=60)


@pytest.mark.parametrize("lab", ["ssh"], indirect=True)
def test_mismatch_fails_fast_naming_both_settings(lab: tuple[Cluster, str, Path], users: tuple[str, str]) -> None:
    cluster, _, out = lab
    job_id = _submit(cluster, users[0], out, 'qrsh -inherit node1 true; echo "rc=$?"')
    _gone(cluster, job_id, timeout=60)
    text = (out / "job.out").read_text()
    assert 'rsh_command of host node1 is "/usr/bin/ssh ' in text, text
    assert 'but rsh_daemon of host node1 is "builtin"' in text and "rc=1" in text, text


@pytest.mark.parametrize("lab", ["builtin"], indirect=True)
def test_foreign_process_on_a_slave_host_is_accounted(lab: tuple[Cluster, str, Path],
                                                       users: tuple[str, str]) -> None:
    cluster, _, out = lab
    done = out / "burned"
    job_id = _submit(cluster, users[0], out, f"while [ ! -f {done} ]; do sleep 0.1; done; sleep 3")
    slave = cluster.cell.execd_spool("node2") / "pe_slaves" / f"{job_id}.1" / "job.json"
    wait_until(slave.exists, 30, "the slave record on node2")
    gid = json.loads(slave.read_text())["extra_gid"]
    shell = _foreign(gid, "/bin/sh", "-c", f"{PY} {BURN} 2 {done}; sleep 300")
    try:
        _gone(cluster, job_id, timeout=60)
        wait_until(lambda: shell.poll() is not None, 30, "the foreign shell to be killed with the job")
    finally:
        if shell.poll() is None:
            shell.kill()
        shell.wait()
    burned = float(done.read_text())
    records = _records(cluster, job_id, count=2)
    [foreign] = [r for r in records if r["pe_taskid"] == "foreign.node2"]
    cpu = float(foreign["cpu"])
    print(f"foreign on a slave host: burned {burned:.3f}s, recorded {cpu:.3f}s ({100 * cpu / burned:.1f}%)")
    assert cpu >= 0.99 * burned


def _pids(marker: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", f"^{marker} "], capture_output=True, text=True).stdout
    return [int(p) for p in found.split()]
