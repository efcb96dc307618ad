"""Service mode, two users: an exec host's user_lists/xuser_lists keep users' jobs off it
(Grid Engine's "has no permission for host"), and a qrsh the identity policy refuses tells
its client why and ends, instead of waiting in error state."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusterlib import Cluster, wait_until


@pytest.fixture
def service(qsys_root: Path, users: tuple[str, str]) -> Iterator[Cluster]:
    with Cluster(qsys_root / "cell", hosts=["node1", "node2"], slots=2, mode="service") as c:
        yield c


def _ok(cluster: Cluster, *argv: str, user: str | None = None) -> str:
    proc = cluster.run(*argv, user=user, cwd="/tmp")
    assert proc.returncode == 0, f"{argv}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o644)
    return str(path)


def test_exec_host_user_lists_are_enforced(service: Cluster, users: tuple[str, str], tmp_path: Path) -> None:
    alice, bob = users
    _ok(service, "qconf", "-Au", _file(tmp_path, "u", f"name onlyalice\ntype ACL\nfshare 0\noticket 0\nentries {alice}\n"))
    _ok(service, "qconf", "-rattr", "exechost", "user_lists", "onlyalice", "node2")
    _ok(service, "qconf", "-rattr", "exechost", "xuser_lists", "onlyalice", "node1")
    kept_off = int(_ok(service, "qsub", "-terse", "-l", "h=node2", "-o", "/dev/null", "-b", "y", "/bin/true", user=bob))
    wait_until(lambda: 'has no permission for host "node2"' in service.run("qstat", "-j", str(kept_off)).stdout,
               30, "bob's job to be kept off node2")
    where = Path("/tmp") / f"host_access_{alice}"
    where.unlink(missing_ok=True)
    _ok(service, "qsub", "-o", str(where), "-j", "y", "-b", "y", "/bin/sh", "-c", "echo $HOSTNAME", user=alice)
    try:
        wait_until(lambda: where.exists() and where.read_text().strip(), 60, "alice's job to run")
        assert where.read_text().split() == ["node2"]  # node1 excludes her
    finally:
        where.unlink(missing_ok=True)
    service.run("qdel", str(kept_off), check=True)


def test_a_refused_qrsh_says_why_and_ends(service: Cluster, users: tuple[str, str], tmp_path: Path) -> None:
    _, bob = users
    conf = service.run("qconf", "-sconf").stdout + f"execd_deny_users {bob}\n"
    _ok(service, "qconf", "-Mconf", _file(tmp_path, "global", conf))
    proc = service.run("qrsh", "-now", "n", "/bin/true", user=bob, timeout=60)
    assert proc.returncode != 0
    assert f"user {bob} is denied on this host" in proc.stderr, proc.stderr
    assert "Connection reset" not in proc.stderr
    assert not service.jobs(), "the refused session's job must end, not wait in Eqw"
    finished = service.run("qstat", "-s", "z", "-u", "*").stdout
    assert re.search(rf"^ +\d+ .* {bob} +z ", finished, re.M), finished
    audits = [service.cell.execd_spool(h) / "audit" for h in service.hosts]
    lines = [line for p in audits if p.exists() for line in p.read_text().splitlines() if "action=refuse" in line]
    assert any(f"user={bob}" in line and f"reason='user {bob} is denied on this host'" in line for line in lines), lines
