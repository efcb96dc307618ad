"""An exec host in a network namespace whose link goes down: its exec daemon and its job run
on, but the master hears nothing. After max_unheard the host is unknown (``u``); after
reschedule_unknown its rerunnable job runs on the other host; when the link is back the
exec daemon reconnects and the copy that was moved away is killed there."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusterlib import Cluster, wait_until
from tests.hostfaults import FAST_UNHEARD, copies, job_states, queue_states, set_global_conf
from tests.netns import NetnsLab

REMOTE = "nsnode"


@pytest.fixture
def lab_cluster(qsys_root: Path) -> Iterator[tuple[Cluster, NetnsLab]]:
    with NetnsLab([REMOTE]) as lab:
        # the exec daemon in the namespace reaches the master over TCP on the bridge
        cluster = Cluster(qsys_root / "cell", hosts=["node1", REMOTE], slots=1,
                          extra_bootstrap={"master_bind": "0.0.0.0"})
        try:
            cluster.init()
            cluster.start_master()
            cluster.start_execd("node1")
            port = cluster.cell.bootstrap()["master_port"]
            argv = ["ip", "netns", "exec", lab.ns(REMOTE), sys.executable, "-m", "execd.main", "--foreground",
                    "--host", REMOTE, "--master", f"{lab.subnet}.1:{port}"]
            log = open(cluster.root / f"execd-{REMOTE}.out", "ab")  # noqa: SIM115
            cluster.execd_procs[REMOTE] = subprocess.Popen(argv, env=cluster.env, stdout=log, stderr=log, cwd="/")
            cluster.wait_hosts()
            yield cluster, lab
        finally:
            link(lab, "up")
            cluster.teardown()


def link(lab: NetnsLab, state: str) -> None:
    subprocess.run(["ip", "link", "set", f"{lab.prefix}h0", state], check=True, capture_output=True)


def test_host_link_down_then_up(lab_cluster: tuple[Cluster, NetnsLab], qsys_root: Path) -> None:
    cluster, lab = lab_cluster
    set_global_conf(cluster, qsys_root, FAST_UNHEARD)
    cluster.run("qmod", "-d", "all.q@node1", check=True)
    marker = f"37{os.getpid() % 100:02d}1"
    done = cluster.run("qsub", "-terse", "-r", "y", "-o", "/dev/null", "-j", "y", "-b", "y", "/bin/sleep", marker,
                       check=True)
    job = int(done.stdout.strip())
    wait_until(lambda: job_states(cluster).get(job) == ("r", f"all.q@{REMOTE}"), 30, "the job on the remote host")
    cluster.run("qmod", "-e", "all.q@node1", check=True)
    assert copies(marker) == 1

    link(lab, "down")
    down_at = time.monotonic()
    wait_until(lambda: "u" in queue_states(cluster).get(f"all.q@{REMOTE}", ""), 30, "the remote host unknown")
    unknown_after = time.monotonic() - down_at
    wait_until(lambda: job_states(cluster).get(job) == ("Rr", "all.q@node1"), 60, "the job to run again on node1")
    rerun_after = time.monotonic() - down_at
    wait_until(lambda: copies(marker) == 2, 30, "the new copy (the remote one cannot be told while its network is down)")
    link(lab, "up")
    up_at = time.monotonic()
    wait_until(lambda: "u" not in queue_states(cluster).get(f"all.q@{REMOTE}", "u"), 90, "the remote host back")
    known_after = time.monotonic() - up_at
    wait_until(lambda: copies(marker) == 1, 30, "the copy moved away killed on the remote host")
    print(f"\nlink down ({FAST_UNHEARD}): u after {unknown_after:.2f}s, the -r y job running on node1 after "
          f"{rerun_after:.2f}s; link up: known again after {known_after:.2f}s, the moved copy killed after "
          f"{time.monotonic() - up_at:.2f}s")
    assert job_states(cluster).get(job) == ("Rr", "all.q@node1")
    records = [line.split(":") for line in cluster.cell.accounting_file.read_text().splitlines()
               if not line.startswith("#") and line.split(":")[5] == str(job)]
    assert [(f[1], f[11]) for f in records] == [(REMOTE, "25")]
    cluster.run("qdel", str(job), check=True)
    cluster.wait_idle(60)
