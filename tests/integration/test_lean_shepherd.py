"""Plain batch jobs under the lean shepherd (qsys-shepherd) in a real cluster, and the Python
shepherd when it is chosen (QSYS_SHEPHERD=python) or the binary is missing."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from execd import lean
from execd.spool import ACTIVE
from tests import leanlib
from tests.clusterlib import Cluster, wait_until

SHOW_PARENT = ["-b", "y", "/bin/sh", "-c", "readlink /proc/$PPID/exe; echo $JOB_ID"]


def _ended(cluster: Cluster, job_id: int) -> bool:
    return all(r.job_id != job_id for r in cluster.jobs()) and cluster.run("qacct", "-j", str(job_id)).returncode == 0


def _run(cluster: Cluster, out: Path, *args: str) -> tuple[int, str]:
    """A job's id and what it printed once it has ended and is accounted."""
    proc = cluster.run("qsub", "-terse", "-o", str(out), "-j", "y", *args)
    assert proc.returncode == 0, proc.stderr
    job_id = int(proc.stdout.strip())
    wait_until(lambda: _ended(cluster, job_id), 30, f"job {job_id} to end")
    return job_id, (out / f"sh.o{job_id}").read_text()


def _own_tmpdir(cluster: Cluster, where: Path) -> None:
    """TMPDIRs in a directory of this test's: another cluster's job of the same number on this
    machine may hold the name in /tmp (and its start then goes to the Python shepherd)."""
    (where / "tmp").mkdir(mode=0o777)
    proc = cluster.run("qconf", "-mattr", "queue", "tmpdir", str(where / "tmp"), "all.q")
    assert proc.returncode == 0, proc.stderr


def _exit_status(cluster: Cluster, job_id: int) -> str:
    acct = cluster.run("qacct", "-j", str(job_id)).stdout
    return next(line.split()[1] for line in acct.splitlines() if line.startswith("exit_status"))


@pytest.mark.parametrize("choice", ["lean", "python", "missing"])
def test_which_shepherd_runs_a_plain_job(qsys_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         choice: str) -> None:
    built = leanlib.build()
    assert built is not None
    monkeypatch.setenv(lean.ENV_BINARY, str(built) if choice != "missing" else str(tmp_path / "no-such-binary"))
    if choice == "python":
        monkeypatch.setenv(lean.ENV_CHOICE, "python")
    else:
        monkeypatch.delenv(lean.ENV_CHOICE, raising=False)
    os.chmod(tmp_path, 0o777)
    with Cluster(qsys_root / "cell", hosts=["node1"], slots=2) as cluster:
        _own_tmpdir(cluster, tmp_path)
        job_id, text = _run(cluster, tmp_path, *SHOW_PARENT)
        parent, shown_id = text.split("\n")[:2]
        assert shown_id == str(job_id)
        if choice == "lean":
            assert parent == os.path.realpath(built)
        else:
            assert os.path.basename(parent).startswith("python")
        assert _exit_status(cluster, job_id) == "0"


def test_qdel_of_a_lean_job_and_an_exec_daemon_restart(cluster: Cluster, tmp_path: Path) -> None:
    """The lean shepherd outlives its exec daemon (a session of its own); the restarted daemon
    adopts it and reports its end once; qdel ends a running one."""
    os.chmod(tmp_path, 0o777)
    _own_tmpdir(cluster, tmp_path)
    ids = []
    for seconds in ("3", "300"):
        proc = cluster.run("qsub", "-terse", "-o", str(tmp_path), "-j", "y", "-b", "y", "/bin/sleep", seconds)
        assert proc.returncode == 0, proc.stderr
        ids.append(int(proc.stdout.strip()))
    spool = cluster.cell.execd_spool("node1") / ACTIVE
    wait_until(lambda: all((spool / f"{i}.1" / "job.pid").exists() for i in ids), 20, "both jobs to run")
    assert all((spool / f"{i}.1" / lean.PLAN).exists() for i in ids)  # started lean
    shepherds = [int((spool / f"{i}.1" / "shepherd.pid").read_text().split()[0]) for i in ids]
    cluster.kill_execd("node1", signal.SIGKILL)
    for pid in shepherds:
        os.kill(pid, 0)  # still there without their daemon
    cluster.start_execd("node1")
    short, long = ids
    wait_until(lambda: _ended(cluster, short), 30, f"job {short} to end")
    assert _exit_status(cluster, short) == "0"
    assert cluster.run("qdel", str(long)).returncode == 0
    wait_until(lambda: _ended(cluster, long), 30, f"job {long} to end")
    acct = cluster.run("qacct", "-j", str(long)).stdout
    assert sum(line.startswith("jobnumber") for line in acct.splitlines()) == 1
    assert _exit_status(cluster, long) == str(128 + signal.SIGKILL)
