"""`qsys up | status | down` as an ordinary user, and the master on PostgreSQL."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

from tests.clusterlib import BIN, Cluster, wait_until


def _as(user: str, root: Path, *argv: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    env = {"QSYS_ROOT": str(root), "PATH": f"{BIN}:/usr/bin:/bin", "HOME": pwd.getpwnam(user).pw_dir}
    pairs = [f"{k}={v}" for k, v in env.items()]
    return subprocess.run(["runuser", "-u", user, "--", "env", "-i", *pairs, *argv], capture_output=True,
                          text=True, timeout=timeout, cwd="/tmp")


def test_qsys_up_as_ordinary_user_runs_jobs_as_that_user(qsys_root: Path, users: tuple[str, str]) -> None:
    user = users[1]
    root = qsys_root / "personal"
    root.mkdir()
    os.chown(root, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    up = _as(user, root, "qsys", "up", "--hosts", "2", "--slots", "2")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "node1: running" in up.stdout and "node2: running" in up.stdout
        sub = _as(user, root, "qsub", "-terse", "-o", str(root), "-N", "mine", "-b", "y", "/bin/sh", "-c", "id -un")
        assert sub.returncode == 0, sub.stderr
        job_id = sub.stdout.strip()
        try:
            wait_until(lambda: _as(user, root, "qstat").stdout == "", 30, "the job to end")
        except AssertionError:
            detail = _as(user, root, "qstat", "-j", job_id).stdout
            raise AssertionError(f"job {job_id} did not end:\n{_as(user, root, 'qstat').stdout}\n{detail}") from None
        out = root / f"mine.o{job_id}"
        assert out.read_text().strip() == user
        assert out.stat().st_uid == pwd.getpwnam(user).pw_uid
        out.unlink()
        # a job that runs keeps `down` from stopping silently
        _as(user, root, "qsub", "-b", "y", "sleep", "60")
        wait_until(lambda: " r " in _as(user, root, "qstat").stdout, 30, "the sleeper to run")
        refused = _as(user, root, "qsys", "down")
        assert refused.returncode != 0 and "still running" in refused.stderr
        status = _as(user, root, "qsys", "status")
        assert "master    running" in status.stdout
    finally:
        down = _as(user, root, "qsys", "down", "--kill-jobs")
    assert down.returncode == 0, down.stderr
    assert "stopped master" in down.stdout
    status = _as(user, root, "qsys", "status")
    assert "master    stopped" in status.stdout


def test_master_on_postgresql_keeps_jobs_across_restart(qsys_root: Path, postgres_url: str) -> None:
    with Cluster(qsys_root / "cell", hosts=["node1"], slots=2, store_url=postgres_url) as cluster:
        held = cluster.run("qsub", "-terse", "-h", "-N", "kept", "-b", "y", "/bin/true")
        assert held.returncode == 0, held.stderr
        ran = cluster.run("qsub", "-sync", "y", "-o", "/dev/null", "-b", "y", "/bin/sh", "-c", "exit 4")
        assert ran.returncode == 4, ran.stdout + ran.stderr
        cluster.kill_master()
        cluster.start_master()
        rows = cluster.jobs()
        assert [(r.job_id, r.name, r.state) for r in rows] == [(int(held.stdout), "kept", "hqw")]
        again = cluster.run("qsub", "-terse", "-b", "y", "/bin/true")
        assert int(again.stdout) > int(held.stdout) + 1, "job numbers are never reused"
    from qsys.store import Store

    store = Store(postgres_url)
    try:
        records = store.accounting()
    finally:
        store.close()
    assert [int(r["exit_status"]) for r in records if r["job_name"] == "sh"] == [4]
