"""Service mode with ``execd_identity proxy`` (after Qube's proxy_execution_mode): every job runs
as the host's ``proxy_account``, never as root; the audit line and the accounting name the
submitter."""

from __future__ import annotations

import pwd
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusterlib import Cluster, ensure_user, wait_until

PROXY = "qsys_proxy"


@pytest.fixture
def proxied(qsys_root: Path, users: tuple[str, str]) -> Iterator[Cluster]:
    ensure_user(PROXY)
    with Cluster(qsys_root / "cell", hosts=["node1"], slots=4, mode="service") as cluster:
        conf = qsys_root / "node1.conf"
        conf.write_text(f"#node1:\nexecd_identity               proxy\nproxy_account                {PROXY}\n")
        cluster.run("qconf", "-Aconf", str(conf), check=True)
        yield cluster


def _audit(cluster: Cluster) -> str:
    path = cluster.cell.execd_spool("node1") / "audit"
    return path.read_text() if path.exists() else ""


def test_jobs_run_as_the_proxy_account_for_their_submitters(proxied: Cluster, users: tuple[str, str],
                                                            qsys_root: Path) -> None:
    out = qsys_root / "out"
    out.mkdir(mode=0o1777)
    out.chmod(0o1777)
    ids = {}
    for user in users:
        proc = proxied.run("qsub", "-terse", "-o", str(out / f"{user}.out"), "-j", "y", "-b", "y", "/bin/sh", "-c",
                           "id -un; id -u", user=user, cwd="/tmp")
        assert proc.returncode == 0, proc.stderr
        ids[user] = int(proc.stdout)
    proxy = pwd.getpwnam(PROXY)
    for user, job_id in ids.items():
        record = wait_until(lambda j=job_id: (p := proxied.run("qacct", "-j", str(j))).returncode == 0 and p.stdout,
                            60, f"job {job_id}'s accounting record")
        assert re.search(rf"^owner\s+{user}\s*$", record, re.M), record  # accounting names the submitter
        assert re.search(r"^exit_status\s+0\s*$", record, re.M), record
        assert (out / f"{user}.out").read_text().split() == [PROXY, str(proxy.pw_uid)]
        assert (out / f"{user}.out").stat().st_uid == proxy.pw_uid
        line = next(line for line in _audit(proxied).splitlines() if f"job={job_id}.1 " in line)
        assert f"user={PROXY} uid={proxy.pw_uid}" in line and f"submitter={user}" in line
        assert "action=proxy" in line


def test_a_proxy_account_of_root_is_refused(proxied: Cluster, users: tuple[str, str], qsys_root: Path) -> None:
    conf = qsys_root / "root.conf"
    conf.write_text("#node1:\nexecd_identity               proxy\nproxy_account                root\n")
    proxied.run("qconf", "-Mconf", str(conf), "node1", check=True)
    proc = proxied.run("qsub", "-terse", "-b", "y", "/bin/true", user=users[0], cwd="/tmp")
    job_id = int(proc.stdout)
    wait_until(lambda: f"job={job_id}.1 " in _audit(proxied), 60, "the refusal in the audit file")
    line = next(line for line in _audit(proxied).splitlines() if f"job={job_id}.1 " in line)
    assert "action=refuse" in line and "jobs do not run as root" in line
    proxied.run("qdel", str(job_id), check=False)
