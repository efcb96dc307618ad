"""What a restarted master shows of the tasks it knew before its exec daemons register again."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

from qsys.jobspec import JobSpec
from tests.clusterlib import Cluster, wait_until


def _stored_states(cluster: Cluster) -> list[str]:
    """The task states in the master's store (read-only, beside the running master)."""
    db = cluster.root / "default" / "spool" / "master" / "qsys.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return [row[0] for row in conn.execute("SELECT state FROM tasks")]


def test_a_running_task_is_r_at_once_after_a_master_restart(qsys_root: Path) -> None:
    with Cluster(qsys_root / "cell", hosts=["node1"], slots=2) as cluster:
        client = cluster.client()
        spec = JobSpec(command="/bin/sleep", args=["300"], binary=True, name="long", stdout_paths=["/dev/null"],
                       join=True, submit_env={"WORKDIR": "/tmp"}, submit_cwd="/tmp")
        job_id = client.submit(spec).job_id
        client.close()
        wait_until(lambda: [row.state for row in cluster.jobs()] == ["r"], 30, "the job to run")
        wait_until(lambda: _stored_states(cluster) == ["r"], 30, "its start to be stored")
        execd = cluster.execd_procs["node1"]
        execd.send_signal(signal.SIGSTOP)  # it cannot register with the new master
        try:
            cluster.kill_master()
            cluster.start_master()
            assert "node1" not in cluster.registered_hosts()
            rows = cluster.jobs()
            assert [(row.job_id, row.state) for row in rows] == [(job_id, "r")]  # not "t"
        finally:
            execd.send_signal(signal.SIGCONT)
        cluster.wait_hosts(["node1"])
        # the host reports the task: still the same run, and it ends as any other
        assert [(row.job_id, row.state) for row in cluster.jobs()] == [(job_id, "r")]
        cluster.client().job_action("delete", [str(job_id)])
        cluster.wait_idle()
        accounting = (cluster.root / "default" / "common" / "accounting").read_text().splitlines()
        assert [line.split(":")[5] for line in accounting if not line.startswith("#")] == [str(job_id)]
