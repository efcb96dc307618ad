"""Usage and kill by the extra group ID: processes that leave the job's tree still count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from qsys.accounting_file import ACCOUNTING_FIELDS
from tests.clusterlib import Cluster, wait_until

BURN = Path(__file__).resolve().parent.parent / "helpers" / "burn.py"
PY = sys.executable


def _submit(cluster: Cluster, *args: str) -> int:
    proc = cluster.run("qsub", "-terse", *args)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip().split(".")[0])


def _gone(cluster: Cluster, job_id: int, timeout: float = 60.0) -> None:
    wait_until(lambda: all(r.job_id != job_id for r in cluster.jobs()), timeout, f"job {job_id} to end")


def _records(cluster: Cluster, job_id: int, count: int = 1) -> list[dict[str, str]]:
    """The job's accounting records, once ``count`` of them are there."""
    return wait_until(lambda: _read_records(cluster, job_id, count), 30, f"{count} records of job {job_id}")


def _read_records(cluster: Cluster, job_id: int, count: int) -> list[dict[str, str]] | None:
    try:
        text = cluster.cell.accounting_file.read_text()
    except FileNotFoundError:
        return None
    out = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        rec = dict(zip(ACCOUNTING_FIELDS, line.split(":"), strict=True))
        if rec["job_number"] == str(job_id):
            out.append(rec)
    return out if len(out) >= count else None


def _job_gid(cluster: Cluster, host: str, job_id: int) -> int:
    path = cluster.cell.execd_spool(host) / "active_jobs" / f"{job_id}.1" / "job.json"
    wait_until(path.exists, 30, "the task's spool directory")
    gid = json.loads(path.read_text())["extra_gid"]
    assert isinstance(gid, int) and gid >= 20000
    return gid


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _foreign(gid: int, *argv: str) -> subprocess.Popen[bytes]:
    """A process outside the job's tree that carries its group ID (as an sshd login through
    the PAM helper does)."""
    return subprocess.Popen(list(argv), preexec_fn=lambda: os.setgroups([gid]), start_new_session=True)


def test_double_forked_burn_is_accounted(cluster: Cluster, tmp_path: Path) -> None:
    done = tmp_path / "burned"
    script = f"{PY} {BURN} 2 {done} detach; while [ ! -f {done} ]; do sleep 0.1; done"
    job_id = _submit(cluster, "-o", "/dev/null", "-j", "y", "-b", "y", "/bin/sh", "-c", script)
    _gone(cluster, job_id)
    burned = float(done.read_text())
    [rec] = _records(cluster, job_id)
    cpu = float(rec["cpu"])
    print(f"double-forked burn {burned:.3f}s, recorded {cpu:.3f}s ({100 * cpu / burned:.1f}%)")
    assert burned >= 2.0
    assert cpu >= 0.99 * burned


def test_foreign_process_with_the_group_id_is_accounted(cluster: Cluster, tmp_path: Path) -> None:
    done = tmp_path / "burned"
    go = tmp_path / "go"
    script = f"while [ ! -f {done} ]; do sleep 0.1; done; sleep 5"
    job_id = _submit(cluster, "-o", "/dev/null", "-j", "y", "-b", "y", "/bin/sh", "-c", script)
    gid = _job_gid(cluster, "node1", job_id)
    go.write_text("")
    shell = _foreign(gid, "/bin/sh", "-c", f"{PY} {BURN} 2 {done}; sleep 300")
    try:
        _gone(cluster, job_id)
        wait_until(lambda: shell.poll() is not None, 20, "the foreign shell to be killed with the job")
    finally:
        if shell.poll() is None:
            shell.kill()
        shell.wait()
    burned = float(done.read_text())
    [rec] = _records(cluster, job_id)
    cpu = float(rec["cpu"])
    print(f"foreign burn {burned:.3f}s, recorded {cpu:.3f}s ({100 * cpu / burned:.1f}%)")
    assert cpu >= 0.99 * burned


def test_qdel_kills_detached_and_foreign_processes(cluster: Cluster, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    script = f"{PY} {BURN} forever {pidfile} detach; sleep 600"
    job_id = _submit(cluster, "-o", "/dev/null", "-j", "y", "-b", "y", "/bin/sh", "-c", script)
    gid = _job_gid(cluster, "node1", job_id)
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 30, "the detached burn to start")
    detached = int(pidfile.read_text())
    foreign = _foreign(gid, "sleep", "600")
    try:
        assert _alive(detached) and foreign.poll() is None
        wait_until(lambda: _cpu(detached) >= 1.0, 30, "the detached burn to use a second of cpu")
        proc = cluster.run("qdel", str(job_id))
        assert proc.returncode == 0, proc.stderr
        wait_until(lambda: not _alive(detached), 30, "the detached process to be killed")
        wait_until(lambda: foreign.poll() is not None, 30, "the foreign process to be killed")
        _gone(cluster, job_id)
    finally:
        if foreign.poll() is None:
            foreign.kill()
        foreign.wait()
    [rec] = _records(cluster, job_id)
    assert float(rec["cpu"]) >= 1.0  # the killed burn's cpu is in the record


def test_two_jobs_never_share_a_group_id(cluster: Cluster) -> None:
    a = _submit(cluster, "-o", "/dev/null", "-b", "y", "sleep", "30")
    b = _submit(cluster, "-o", "/dev/null", "-b", "y", "sleep", "30")
    ga, gb = _job_gid(cluster, "node1", a), _job_gid(cluster, "node1", b)
    assert ga != gb
    cluster.run("qdel", str(a), str(b), check=True)
    _gone(cluster, a)
    _gone(cluster, b)
