"""Crashes: kill -9 the master under load and an exec daemon under running jobs."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

from qsys.errors import QsysError
from qsys.jobspec import JobSpec
from tests.clusterlib import Cluster, wait_until


def _accounted(cluster: Cluster) -> Counter[int]:
    path = cluster.root / "default" / "common" / "accounting"
    lines = [line.split(":") for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return Counter(int(fields[5]) for fields in lines)


def _spec(log: Path) -> JobSpec:
    return JobSpec(command="/bin/sh", args=["-c", f"echo $JOB_ID >> {log}"], binary=True, name="crash",
                   stdout_paths=["/dev/null"], join=True, submit_env={"WORKDIR": "/tmp"}, submit_cwd="/tmp")


def test_kill_master_while_submitting_and_running(qsys_root: Path) -> None:
    log = qsys_root / "ran.log"
    total = 1000
    acked: list[int] = []
    with Cluster(qsys_root / "cell", hosts=["node1"], slots=4) as cluster:
        crashed = threading.Event()

        def submitter() -> None:
            client = cluster.client()
            while len(acked) < total:
                try:
                    acked.append(client.submit(_spec(log)).job_id)
                except (QsysError, OSError):
                    client.close()
                    client = cluster.client()
                    crashed.wait(5)
                    wait_until(lambda: cluster.master_proc is not None, 30, "the master to restart")
            client.close()

        thread = threading.Thread(target=submitter)
        thread.start()
        wait_until(lambda: len(acked) >= 300, 60, "300 acknowledged submissions")
        cluster.kill_master()
        crashed.set()
        cluster.start_master()
        thread.join(timeout=300)
        assert not thread.is_alive()
        cluster.wait_idle(timeout=300)
        ran = Counter(int(x) for x in log.read_text().split())
        accounted = _accounted(cluster)
    assert len(acked) == total
    lost = [j for j in acked if ran[j] == 0]
    twice = [j for j, n in ran.items() if n > 1]
    assert not lost, f"acknowledged jobs that never ran: {lost[:10]}"
    assert not twice, f"jobs that ran twice: {twice[:10]}"
    wrong = {j: accounted[j] for j in acked if accounted[j] != 1}
    assert not wrong, f"every job is accounted exactly once: {list(wrong.items())[:10]}"
    assert len(set(acked)) == total, "job numbers are never reused"


def test_kill_execd_while_jobs_run(qsys_root: Path) -> None:
    log = qsys_root / "ran.log"
    with Cluster(qsys_root / "cell", hosts=["node1"], slots=4) as cluster:
        client = cluster.client()
        ids = []
        for _ in range(4):
            spec = _spec(log)
            spec.args = ["-c", f"sleep 2; echo $JOB_ID >> {log}; exit 7"]
            ids.append(client.submit(spec).job_id)
        wait_until(lambda: sum(1 for r in cluster.jobs() if r.state == "r") == 4, 20, "the jobs to run")
        cluster.kill_execd("node1")
        cluster.start_execd("node1")
        cluster.wait_idle(timeout=60)
        accounted = _accounted(cluster)
        ran = Counter(int(x) for x in log.read_text().split())
        acct_lines = (cluster.root / "default" / "common" / "accounting").read_text().splitlines()
    assert all(ran[j] == 1 for j in ids)
    assert all(accounted[j] == 1 for j in ids), accounted
    statuses = {int(f[5]): f[12] for f in (line.split(":") for line in acct_lines if not line.startswith("#"))}
    assert all(statuses[j] == "7" for j in ids), statuses
