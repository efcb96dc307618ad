"""The exec host list as Grid Engine keeps it: the host group @allhosts of a new cell, kept
as hosts join; qconf -de refused for a host with jobs, else the host is gone from qhost and
its exec daemon is refused until it is added again. Instance overrides set to NONE and
removed (-rattr, -purge) as Grid Engine does, and -mattr NONE refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusterlib import Cluster, wait_until

MATTR_NONE = '"NONE" is not a valid list attribute value for -mattr.  Try using -rattr instead.\n'


@pytest.fixture
def two_hosts(qsys_root: Path) -> Iterator[Cluster]:
    with Cluster(qsys_root / "cell", hosts=["node1", "node2"], slots=2) as c:
        yield c


def _out(cluster: Cluster, *argv: str, code: int = 0) -> str:
    proc = cluster.run(*argv)
    assert proc.returncode == code, f"{argv}: {proc.returncode} {proc.stdout}{proc.stderr}"
    return proc.stdout + proc.stderr


def _qhost_names(cluster: Cluster) -> list[str]:
    return [line.split()[0] for line in _out(cluster, "qhost").splitlines()[2:]]


def test_allhosts_is_made_and_kept(two_hosts: Cluster, tmp_path: Path) -> None:
    cluster = two_hosts
    assert _out(cluster, "qconf", "-shgrpl") == "@allhosts\n"
    assert _out(cluster, "qconf", "-shgrp", "@allhosts") == "group_name @allhosts\nhostlist node1 node2\n"
    assert "hostlist              @allhosts\n" in _out(cluster, "qconf", "-sq", "all.q")
    path = tmp_path / "node3"
    path.write_text("hostname node3\n")
    _out(cluster, "qconf", "-Ae", str(path))
    assert _out(cluster, "qconf", "-shgrp", "@allhosts") == "group_name @allhosts\nhostlist node1 node2 node3\n"
    cluster.start_execd("node4")  # a host that registers on its own joins too
    cluster.wait_hosts(["node4"])
    assert _out(cluster, "qconf", "-shgrp", "@allhosts").endswith(" node3 node4\n")


def test_deleting_an_exec_host(two_hosts: Cluster, tmp_path: Path) -> None:
    cluster = two_hosts
    job_id = int(_out(cluster, "qsub", "-terse", "-l", "h=node2", "-o", "/dev/null", "-b", "y", "sleep", "300"))
    wait_until(lambda: any(r["job_id"] == job_id and r["state"] == "r" for r in cluster.jobs()), 60, "the job to run")
    assert _out(cluster, "qconf", "-de", "node2", code=1) == \
        'Host object "node2" is still referenced in cluster queue "all.q".\n'
    _out(cluster, "qdel", str(job_id))
    wait_until(lambda: not cluster.jobs(), 60, "the job to end")
    assert _out(cluster, "qconf", "-de", "node2").endswith('removed "node2" from exechost list\n')
    assert _qhost_names(cluster) == ["global", "node1"]
    assert _out(cluster, "qconf", "-sel") == "node1\n"
    assert _out(cluster, "qconf", "-shgrp", "@allhosts") == "group_name @allhosts\nhostlist node1\n"
    assert "all.q@node2" not in _out(cluster, "qstat", "-f")
    # its exec daemon still runs and asks again: it is refused until the host is added again
    messages = cluster.root / "execd-node2.out"
    wait_until(lambda: "refused by the master: node2 is not an execution host" in messages.read_text(), 30, "node2's exec daemon to be refused")
    assert _qhost_names(cluster) == ["global", "node1"]
    path = tmp_path / "node2"
    path.write_text("hostname node2\n")
    _out(cluster, "qconf", "-Ae", str(path))
    cluster.wait_hosts(["node2"], timeout=30)
    assert _qhost_names(cluster) == ["global", "node1", "node2"]
    assert _out(cluster, "qconf", "-shgrp", "@allhosts") == "group_name @allhosts\nhostlist node1 node2\n"


def test_none_on_an_instance_and_purge(cluster: Cluster) -> None:
    out = _out(cluster, "qconf", "-mattr", "queue", "suspend_thresholds", "np_load_avg=5", "all.q@node1")
    assert out.startswith('"suspend_thresholds" of "all.q" is empty - Adding new element(s).\n'), out  # as SGE
    assert out.endswith(' modified "all.q" in cluster queue list\n') and out.count("\n") == 2, out
    out = _out(cluster, "qconf", "-mattr", "queue", "suspend_thresholds", "load_avg=9", "all.q@node1")
    assert out.startswith('Unable to find "load_avg" in "suspend_thresholds" of "all.q" - Adding new element.\n'), out
    _out(cluster, "qconf", "-rattr", "queue", "suspend_thresholds", "np_load_avg=5", "all.q@node1")
    _out(cluster, "qconf", "-mattr", "queue", "load_thresholds", "np_load_avg=7", "all.q@node1")
    for attr, target in (("suspend_thresholds", "all.q@node1"), ("load_thresholds", "all.q@node1"),
                         ("user_lists", "all.q"), ("user_lists", "all.q@node1")):
        assert _out(cluster, "qconf", "-mattr", "queue", attr, "NONE", target, code=1) == MATTR_NONE
    shown = _out(cluster, "qconf", "-sq", "all.q")
    assert "suspend_thresholds    NONE,[node1=np_load_avg=5]\n" in shown
    _out(cluster, "qconf", "-rattr", "queue", "suspend_thresholds", "NONE", "all.q@node1")
    assert "suspend_thresholds    NONE,[node1=NONE]\n" in _out(cluster, "qconf", "-sq", "all.q")
    _out(cluster, "qconf", "-purge", "queue", "suspend_thresholds,load_thresholds", "all.q@node1")
    shown = _out(cluster, "qconf", "-sq", "all.q")
    assert "suspend_thresholds    NONE\n" in shown and "load_thresholds       NONE\n" in shown
    assert _out(cluster, "qconf", "-purge", "queue", "slots", "all.q@node1") == \
        'Attribute name ("slots") and/or value ("node1") not found\n'
    assert _out(cluster, "qconf", "-purge", "queue", "slots", "all.q", code=1) == \
        'error: Given object_instance "all.q" is incomplete\n'
