"""Service mode: another user can read none of a job's data -- not the store (where ``qsub -V``
put a secret), its write-ahead log, the logs, nor the job's spool files -- while the job's own
user reads its script and PE host file. Both shepherds: a PE job runs under the Python one, a
plain batch job under the lean one (whose plan file holds the job's environment)."""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from execd import lean
from tests.clusterlib import Cluster, wait_until

SECRET = "s3cr3t-token-4711"


@pytest.fixture
def service(qsys_root: Path, users: tuple[str, str]) -> Iterator[Cluster]:
    with Cluster(qsys_root / "cell", hosts=["node1"], slots=4, mode="service") as c:
        yield c


def _readable_by(user: str, path: Path) -> bool:
    return subprocess.run(["runuser", "-u", user, "--", "cat", str(path)], capture_output=True).returncode == 0


def _listable_by(user: str, path: Path) -> bool:
    return subprocess.run(["runuser", "-u", user, "--", "ls", str(path)], capture_output=True).returncode == 0


def test_another_user_reads_no_job_data(service: Cluster, users: tuple[str, str]) -> None:
    alice, bob = users
    home = Path(pwd.getpwnam(alice).pw_dir)
    script = home / "private_job.sh"
    _remove_outputs(home)  # a failed run's outputs would pass for this run's (job ids start at 1 again)
    script.write_text(f"#!/bin/sh\n# {SECRET}\necho ran as $(id -un)\nsleep 300\n")
    os.chown(script, pwd.getpwnam(alice).pw_uid, pwd.getpwnam(alice).pw_gid)
    proc = service.run("qsub", "-terse", "-V", "-pe", "smp", "1", str(script), user=alice, cwd=str(home),
                       env={"QSYS_TEST_SECRET": SECRET})
    assert proc.returncode == 0, proc.stderr
    job_id = int(proc.stdout.strip())
    task_dir = service.cell.execd_spool("node1") / "active_jobs" / f"{job_id}.1"
    output = home / f"private_job.sh.o{job_id}"
    wait_until(lambda: output.exists() and "ran as" in output.read_text(), 30, "the job to start")
    assert output.read_text() == f"ran as {alice}\n"  # its user could read its script
    spool = service.cell.master_spool
    private = [spool / "qsys.db", spool / "qsys.db-wal", spool / "messages",
               service.cell.execd_spool("node1") / "messages", task_dir / "job.json", task_dir / "script",
               task_dir / "trace", task_dir / "execd.json", task_dir / "shepherd.pid",
               task_dir / "tmpdir"]
    for path in private:
        assert path.exists(), path
        assert not _readable_by(bob, path), f"{bob} can read {path}"
    stored = (spool / "qsys.db").read_bytes() + (spool / "qsys.db-wal").read_bytes()
    assert SECRET.encode() in stored  # it is there (for the master), and nobody else reads it
    assert not _listable_by(bob, task_dir) and not _listable_by(bob, spool)
    assert not _listable_by(bob, task_dir.parent)
    assert _readable_by(alice, task_dir / "script") and not _readable_by(alice, task_dir / "job.json")
    pe_hostfile = task_dir / "pe_hostfile"
    assert _readable_by(alice, pe_hostfile) and not _readable_by(bob, pe_hostfile)
    assert service.run("qstat", user=bob).returncode == 0  # the Unix socket is still for everyone
    lean_job, lean_dir = _plain_job(service, alice, script, home)
    assert (lean_dir / lean.PLAN).exists(), "the plain job runs under the lean shepherd"
    assert SECRET.encode() in (lean_dir / lean.PLAN).read_bytes()
    for path in sorted(lean_dir.iterdir()):
        assert not _readable_by(bob, path), f"{bob} can read {path}"
    assert not _listable_by(bob, lean_dir)
    assert _readable_by(alice, lean_dir / "script") and not _readable_by(alice, lean_dir / lean.PLAN)
    service.run("qdel", str(job_id), str(lean_job), user=alice)
    _remove_outputs(home)
    script.unlink()


def _remove_outputs(home: Path) -> None:
    for path in home.glob("private_job.sh.[eo]*"):
        path.unlink()


def _plain_job(service: Cluster, user: str, script: Path, home: Path) -> tuple[int, Path]:
    """A plain batch job of ``user`` with the secret exported, started: its id and task directory."""
    proc = service.run("qsub", "-terse", "-V", str(script), user=user, cwd=str(home),
                       env={"QSYS_TEST_SECRET": SECRET})
    assert proc.returncode == 0, proc.stderr
    job_id = int(proc.stdout.strip())
    output = home / f"private_job.sh.o{job_id}"
    wait_until(lambda: output.exists() and "ran as" in output.read_text(), 30, "the plain job to start")
    return job_id, service.cell.execd_spool("node1") / "active_jobs" / f"{job_id}.1"
