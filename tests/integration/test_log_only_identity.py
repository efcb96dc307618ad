"""Service mode with ``execd_identity log_only`` (after gLExec's log-only mode), end to end: the
exec daemon runs as an unprivileged pilot account, which cannot switch to a job's owner. Plain
service mode refuses such a session; log-only runs it as the pilot and writes the identity a
switch would have taken into the audit line."""

from __future__ import annotations

import pwd
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusterlib import Cluster, ensure_user

PILOT = "qsys_pilot"


@pytest.fixture
def piloted(qsys_root: Path, users: tuple[str, str]) -> Iterator[Cluster]:
    """A service cell (the master root's) whose exec daemon the pilot account runs."""
    ensure_user(PILOT)
    with Cluster(qsys_root / "cell", hosts=["node1"], slots=2, mode="service") as cluster:
        cluster.kill_execd("node1", signal.SIGTERM)
        cell = cluster.cell
        for path in (cell.execd_spool("node1"), cell.key_file):  # what the pilot's daemon needs
            subprocess.run(["chown", "-R", PILOT, str(path)], check=True)
        cluster.user = PILOT  # the daemon started next runs as the pilot
        try:
            cluster.start_execd("node1")
        finally:
            cluster.user = None
        cluster.wait_hosts()
        yield cluster


def _audit_lines(cluster: Cluster) -> list[str]:
    path = cluster.cell.execd_spool("node1") / "audit"
    return path.read_text().splitlines() if path.exists() else []


def _identity(cluster: Cluster, qsys_root: Path, setting: str) -> None:
    conf = qsys_root / f"node1-{setting}.conf"
    conf.write_text(f"#node1:\nexecd_identity               {setting}\n")
    conf.chmod(0o644)
    # sent on the host's link when stored: before the start of any job dispatched after it
    if cluster.run("qconf", "-Aconf", str(conf)).returncode != 0:
        cluster.run("qconf", "-Mconf", str(conf), "node1", check=True)


def test_a_session_the_policy_would_refuse_runs_and_is_audited(piloted: Cluster, users: tuple[str, str],
                                                               qsys_root: Path) -> None:
    alice = pwd.getpwnam(users[0])
    pilot = pwd.getpwnam(PILOT)
    _identity(piloted, qsys_root, "switch")
    refused = piloted.run("qrsh", "-now", "y", "id", "-un", user=alice.pw_name)
    assert refused.returncode != 0
    assert f"cannot run jobs of {alice.pw_name}" in refused.stderr, refused.stderr

    _identity(piloted, qsys_root, "log_only")
    ran = piloted.run("qrsh", "-now", "y", "id", "-un", user=alice.pw_name)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == [PILOT]  # run as the daemon's account, not switched
    line = _audit_lines(piloted)[-1]
    assert f"user={alice.pw_name} uid={alice.pw_uid} gid={alice.pw_gid} action=log_only" in line, line
    assert f"by_uid={pilot.pw_uid}" in line and f"reason='ran as {PILOT} uid={pilot.pw_uid}'" in line, line
