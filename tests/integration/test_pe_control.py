"""Control of a parallel job's tasks on every host: suspension reaches the qrsh -inherit tasks
on slave hosts as it does the master task, and a host takes no more tasks than the job's
slots there (the job script counts as one on its host with job_is_first_task TRUE)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clusterlib import REPO, Cluster, wait_until
from tests.integration.test_pe import pe_cluster  # noqa: F401 - the fixture
from tests.integration.test_pe_usage import _gone


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(") ", 1)[1][0]


def _submit(cluster: Cluster, *args: str) -> int:
    proc = cluster.run("qsub", "-terse", "-v", f"PYTHONPATH={REPO}", *args)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip())


@pytest.mark.parametrize("by", ["qmod -sj", "calendar"])
def test_suspension_reaches_pe_tasks_on_slave_hosts(pe_cluster: Cluster, tmp_path: Path, by: str) -> None:  # noqa: F811
    """qmod -sj of the job, or a calendar that suspends the slave task's queue instance (the
    path of suspend thresholds too: any suspended instance of the job stops all its tasks),
    stops the master task and the qrsh -inherit task on the slave host, and both go on after."""
    master_pid, slave_pid, slave_host = tmp_path / "master.pid", tmp_path / "slave.pid", tmp_path / "slave.host"
    script = (f'echo $$ > {master_pid}; '
              'other=$(awk -v me="$HOSTNAME" \'$1 != me {print $1; exit}\' "$PE_HOSTFILE"); '
              f'echo "$other" > {slave_host}; '
              f"qrsh -inherit -nostdin \"$other\" 'echo $$ > {slave_pid}; exec sleep 300' & "
              "sleep 300")
    job_id = _submit(pe_cluster, "-pe", "rr", "2", "-o", "/dev/null", "-j", "y", "-b", "y", "/bin/sh", "-c", script)
    wait_until(lambda: slave_pid.exists() and slave_pid.read_text().strip(), 60, "the pe task on the slave host")
    pids = [int(master_pid.read_text()), int(slave_pid.read_text())]
    instance = f"all.q@{slave_host.read_text().strip()}"
    if by == "qmod -sj":
        suspend, resume = [("qmod", "-sj", str(job_id))], [("qmod", "-usj", str(job_id))]
    else:
        calendar = tmp_path / "always"
        calendar.write_text("calendar_name always\nyear NONE\nweek mon-sun=suspended\n")
        pe_cluster.run("qconf", "-Acal", str(calendar), check=True)
        suspend = [("qconf", "-mattr", "queue", "calendar", "always", instance)]
        resume = [("qconf", "-purge", "queue", "calendar", instance)]
    try:
        for argv in suspend:
            pe_cluster.run(*argv, check=True)
        for pid in pids:
            wait_until(lambda pid=pid: _state(pid) == "T", 30, f"process {pid} to be stopped")
        for argv in resume:
            pe_cluster.run(*argv, check=True)
        for pid in pids:
            wait_until(lambda pid=pid: _state(pid) != "T", 30, f"process {pid} to go on")
    finally:
        pe_cluster.run("qdel", str(job_id))
    _gone(pe_cluster, job_id)


def _second_task(cluster: Cluster, tmp_path: Path, pe: str, where: str) -> list[str]:
    """Start one long qrsh -inherit task on ``where`` (a shell word), then ask for another there."""
    out, started = tmp_path / f"{pe}.out", tmp_path / f"{pe}.started"
    script = (f'other=$(awk -v me="$HOSTNAME" \'$1 != me {{print $1; exit}}\' "$PE_HOSTFILE"); '
              f"qrsh -inherit -nostdin {where} 'touch {started}; sleep 300' & "
              f"while [ ! -f {started} ]; do sleep 0.1; done; "
              f'qrsh -inherit -nostdin {where} true; echo "second=$?"; '
              'qrsh -inherit -nostdin "${other:-none}" true; echo "elsewhere=$?"; kill %1')
    job_id = _submit(cluster, "-pe", pe, "2", "-o", str(out), "-j", "y", "-b", "y", "/bin/sh", "-c", script)
    _gone(cluster, job_id, timeout=90)
    return out.read_text().splitlines()


def test_a_host_takes_no_more_tasks_than_its_slots(pe_cluster: Cluster, tmp_path: Path) -> None:  # noqa: F811
    # fill: both slots on the master task's host and job_is_first_task TRUE: one task there
    lines = _second_task(pe_cluster, tmp_path, "fill", '"$HOSTNAME"')
    assert "second=0" not in lines and any("job_is_first_task TRUE" in line for line in lines), lines
    # rr: one slot on each of two hosts, job_is_first_task FALSE: one task on each
    lines = _second_task(pe_cluster, tmp_path, "rr", '"$HOSTNAME"')
    assert "second=0" not in lines and any("has 1 slots on host" in line for line in lines), lines
    assert "elsewhere=0" in lines, lines
