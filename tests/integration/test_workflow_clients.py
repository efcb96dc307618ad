"""The qsub lines workflow tools send, as they send them.

The snakemake SGE executor (snakemake-executor-plugin-sge 0.6.31) builds
``echo CMD | qsub -S /bin/bash -N NAME -o DIR/$JOB_ID.$TASK_ID.log -e DIR/$JOB_ID.$TASK_ID.error
-wd DIR -pe PE N -t 1`` with N from the rule's ``resources: threads=N`` (it reads
``job.resources["threads"]``, which a rule's ``threads:`` alone does not set: then it asks for
``-pe PE 1``), and ``-l slots=N`` when no PE is configured, which Grid Engine refuses.
"""

from __future__ import annotations

from pathlib import Path

from tests.clusterlib import Cluster, wait_until

SLOTS_REFUSED = ('Unable to run job: "job" denied: use parallel environments instead of requesting slots '
                 "explicitly\nExiting.\n")


def _snakemake_qsub(cluster: Cluster, logs: Path, *resources: str) -> tuple[int, str]:
    command = 'echo "NSLOTS=$NSLOTS PE=$PE"; cat "$PE_HOSTFILE"'
    proc = cluster.run("qsub", "-S", "/bin/bash", "-N", "two_eac9392b", "-o", f"{logs}/$JOB_ID.$TASK_ID.log",
                       "-e", f"{logs}/$JOB_ID.$TASK_ID.error", "-wd", str(logs), *resources, "-t", "1",
                       input=f"{command}\n".encode())
    assert proc.returncode == 0, proc.stderr
    job_id = int(proc.stdout.split()[2].split(".")[0])  # Your job-array 7.1-1:1 ("...") has been submitted
    log = logs / f"{job_id}.1.log"
    wait_until(lambda: not [r for r in cluster.jobs() if r.job_id == job_id], 60, "the job to end")
    return job_id, log.read_text()


def test_snakemake_sge_executor_threads_reach_the_job_as_nslots(cluster: Cluster, tmp_path: Path) -> None:
    logs = tmp_path / "sge_logs"
    logs.mkdir()
    _, out = _snakemake_qsub(cluster, logs, "-pe", "smp", "2")
    lines = out.splitlines()
    assert lines[0] == "NSLOTS=2 PE=smp"
    assert lines[1].split()[1] == "2", "both slots on one host ($pe_slots)"
    _, out = _snakemake_qsub(cluster, logs, "-pe", "smp", "1")  # `threads: 2` without resources: threads=2
    assert out.splitlines()[0] == "NSLOTS=1 PE=smp"


def test_slots_requested_with_l_are_refused_as_grid_engine_refuses_them(cluster: Cluster) -> None:
    for request in ("slots=2", "s=2", "slots=1"):
        proc = cluster.run("qsub", "-l", request, "-b", "y", "/bin/true")
        assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", SLOTS_REFUSED), request
    proc = cluster.run("qsub", "-pe", "smp", "2", "-l", "slots=2", "-b", "y", "/bin/true")
    assert proc.returncode == 1 and proc.stderr == SLOTS_REFUSED
    assert cluster.jobs() == [], "nothing was accepted"
