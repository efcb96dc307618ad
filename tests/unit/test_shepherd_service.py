"""The shepherd in service mode (run as root): identity switch, min_uid, deny lists, audit."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qsys.launch import Launch
from tests.clusterlib import ensure_user
from tests.unit.test_shepherd import make_launch, run_shepherd

USER = "qsys_t1"

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def job_user() -> Iterator[pwd.struct_passwd]:
    if os.geteuid() != 0:
        pytest.skip("service mode needs root")
    ensure_user(USER)
    pw = pwd.getpwnam(USER)
    yield pw


@pytest.fixture
def area(qsys_root: Path) -> Path:
    """A directory every user can traverse (conftest's qsys_root)."""
    return qsys_root


def service_launch(area: Path, pw: pwd.struct_passwd, **spec: Any) -> Launch:
    launch = make_launch(area, **spec)
    launch.owner, launch.uid, launch.gid, launch.group = pw.pw_name, pw.pw_uid, pw.pw_gid, ""
    return launch


SERVICE = {"execd_mode": "service", "min_uid": 1000, "min_gid": 100}


def test_job_runs_as_its_owner_with_files_owned_by_it(area: Path, job_user: pwd.struct_passwd) -> None:
    os.chown(area, job_user.pw_uid, job_user.pw_gid)
    launch = service_launch(area, job_user, name="who",
                            script=b'id -un; id -u; echo "$HOME $USER"; stat -c %U "$TMPDIR"\n')
    report, _ = run_shepherd(area, launch, SERVICE)
    assert report["failed"] == 0, report["error"]
    out = area / "who.o12"
    assert out.read_text().split("\n")[:4] == [USER, str(job_user.pw_uid), f"{job_user.pw_dir} {USER}", USER]
    assert out.stat().st_uid == job_user.pw_uid
    audit = (area / "spool" / "audit").read_text()
    assert f"job=12.1 user={USER}" in audit and "action=switch" in audit


def test_default_working_directory_is_the_owners_home(area: Path, job_user: pwd.struct_passwd) -> None:
    launch = service_launch(area, job_user, name="home", cwd=None, script=b"pwd\n")
    report, _ = run_shepherd(area, launch, SERVICE)
    out = Path(job_user.pw_dir) / "home.o12"
    try:
        assert report["failed"] == 0, report["error"]
        assert out.read_text() == f"{job_user.pw_dir}\n"
    finally:
        out.unlink(missing_ok=True)
        (Path(job_user.pw_dir) / "home.e12").unlink(missing_ok=True)


def test_min_uid_refuses_the_job(area: Path, job_user: pwd.struct_passwd) -> None:
    conf = dict(SERVICE, min_uid=job_user.pw_uid + 1)
    report, tdir = run_shepherd(area, service_launch(area, job_user, name="low"), conf)
    assert report["failed"] == 11 and report["error_state"] is True
    assert "min_uid" in report["error"] and "min_uid" in tdir.error()
    assert tdir.job_pid() is None and not (area / "low.o12").exists()
    assert "action=refuse" in (area / "spool" / "audit").read_text()


def test_root_is_never_a_job_user(area: Path) -> None:
    root = pwd.getpwuid(0)
    report, _ = run_shepherd(area, service_launch(area, root), dict(SERVICE, min_uid=0, min_gid=0))
    assert report["failed"] == 11 and "root" in report["error"]


def test_deny_and_allow_lists(area: Path, job_user: pwd.struct_passwd) -> None:
    report, _ = run_shepherd(area, service_launch(area, job_user), dict(SERVICE, execd_deny_users=[USER]))
    assert report["failed"] == 11 and "denied" in report["error"]
    report, _ = run_shepherd(area, service_launch(area, job_user), dict(SERVICE, execd_allow_users="someone_else"))
    assert report["failed"] == 11 and "not allowed" in report["error"]


def test_output_file_the_owner_cannot_write_fails(area: Path, job_user: pwd.struct_passwd) -> None:
    locked = area / "locked"
    locked.mkdir(mode=0o755)  # root's, not writable by the job user
    report, _ = run_shepherd(area, service_launch(area, job_user, stdout_paths=[str(locked)]), SERVICE)
    assert report["failed"] == 26 and report["error_state"] is True


_LOG_ONLY = """
import sys
from pathlib import Path
from execd import identity
from qsys.launch import Launch
launch = Launch(job_id=7, task_id=1, is_array=False, spec={}, owner=sys.argv[1], uid=0, group="", gid=0,
                queue="all.q", host="node1", slots=1, total_slots=1)
ident = identity.decide(identity.IdentityPolicy(mode="service", log_only=True), launch)
identity.audit(Path(sys.argv[2]), launch, ident, "none")
"""


def test_log_only_audits_the_identity_a_switch_would_take(area: Path, job_user: pwd.struct_passwd) -> None:
    """A daemon run by an unprivileged pilot account (job_user) decides for another owner
    (root's account name is refused, so the owner is a second user) and runs the job as
    itself: the audit line names the owner, and who ran it."""
    import subprocess
    import sys

    from tests.clusterlib import REPO

    ensure_user("qsys_t2")
    owner = pwd.getpwnam("qsys_t2")
    audit = area / "audit"
    os.chmod(area, 0o777)
    subprocess.run(["/usr/sbin/runuser", "-u", USER, "--", sys.executable, "-c", _LOG_ONLY, owner.pw_name, str(audit)],
                   check=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, cwd="/")
    line = audit.read_text()
    assert f"job=7.1 user={owner.pw_name} uid={owner.pw_uid} gid={owner.pw_gid} action=log_only" in line, line
    assert f"by_uid={job_user.pw_uid}" in line and f"reason='ran as {USER} uid={job_user.pw_uid}'" in line
