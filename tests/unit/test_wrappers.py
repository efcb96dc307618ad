"""The shell wrappers: startmpi.sh's machine file and rsh link, the PAM account check, rsh outside a job."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

WRAPPERS = Path(__file__).resolve().parent.parent.parent / "wrappers"


def test_startmpi_writes_machines_and_links_rsh(tmp_path: Path) -> None:
    hostfile = tmp_path / "pe_hostfile"
    hostfile.write_text("node1 2 all.q@node1 UNDEFINED\nnode2 1 all.q@node2 UNDEFINED\n")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    subprocess.run([str(WRAPPERS / "startmpi.sh"), "-catch_rsh", str(hostfile)], env=env, check=True)
    assert (tmp_path / "machines").read_text() == "node1\nnode1\nnode2\n"
    assert os.readlink(tmp_path / "rsh") == str(WRAPPERS / "rsh")
    subprocess.run([str(WRAPPERS / "stopmpi.sh")], env=env, check=True)
    assert not (tmp_path / "machines").exists() and not (tmp_path / "rsh").exists()


def test_startmpi_fails_without_a_hostfile(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.run([str(WRAPPERS / "startmpi.sh"), str(tmp_path / "missing")], env=env, capture_output=True)
    assert proc.returncode != 0


def test_pam_account_admits_only_users_with_a_running_job(tmp_path: Path) -> None:
    task = tmp_path / "active_jobs" / "7.1"
    task.mkdir(parents=True)
    (task / "job.json").write_text(json.dumps({"owner": "alice", "job_id": 7}, sort_keys=True))
    slave = tmp_path / "pe_slaves" / "8.1"
    slave.mkdir(parents=True)
    (slave / "job.json").write_text(json.dumps({"owner": "carol", "job_id": 8}, sort_keys=True))

    def check(user: str) -> int:
        env = {"PATH": "/usr/bin:/bin", "PAM_USER": user, "QSYS_SPOOL": str(tmp_path)}
        return subprocess.run([str(WRAPPERS / "pam_qsys_account")], env=env, capture_output=True).returncode

    assert check("alice") == 0
    assert check("carol") == 0
    assert check("bob") != 0
    (task / "exit.json").write_text("{}")
    assert check("alice") != 0


def test_rsh_refuses_outside_a_job() -> None:
    env = {k: v for k, v in os.environ.items() if k != "JOB_ID"}
    proc = subprocess.run([str(WRAPPERS / "rsh"), "-n", "node2", "true"], env=env, capture_output=True, text=True)
    assert proc.returncode == 1 and "not inside a qsys job" in proc.stderr
