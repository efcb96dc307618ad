"""A shepherd killed while its job runs: the exec daemon reports the end (failed, "assumedly
after job") and removes the job's TMPDIR, which the shepherd can no longer remove (Grid Engine's
execd removes a job's tmpdir itself, too)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from execd.spool import ACTIVE, TMPDIR
from tests.clusterlib import Cluster, wait_until


def test_the_daemon_removes_the_tmpdir_of_a_killed_shepherd(cluster: Cluster, tmp_path: Path) -> None:
    proc = cluster.run("qsub", "-terse", "-o", str(tmp_path), "-j", "y", "-b", "y", "/bin/sleep", "300")
    assert proc.returncode == 0, proc.stderr
    job_id = int(proc.stdout.strip())
    task = cluster.cell.execd_spool("node1") / ACTIVE / f"{job_id}.1"
    wait_until(lambda: (task / "job.pid").exists(), 20, "the job to run")
    tmpdir = Path((task / TMPDIR).read_text())
    assert tmpdir.is_dir() and tmpdir.name.startswith(f"{job_id}.1.")
    shepherd = int((task / "shepherd.pid").read_text().split()[0])
    job = int((task / "job.pid").read_text())
    os.kill(shepherd, signal.SIGKILL)
    try:
        wait_until(lambda: all(r.job_id != job_id for r in cluster.jobs()), 30, f"job {job_id} to end")
        assert not tmpdir.exists()
        acct = cluster.run("qacct", "-j", str(job_id))
        assert acct.returncode == 0, acct.stderr
        failed = next(line for line in acct.stdout.splitlines() if line.startswith("failed"))
        assert failed.split(None, 1)[1].startswith("100"), failed
    finally:
        os.killpg(job, signal.SIGKILL)  # the job itself outlived its shepherd
