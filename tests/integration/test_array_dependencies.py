"""-hold_jid_ad: task N of an array job waits for task N of the array jobs it names, with
Grid Engine's checks, messages and qstat lines."""

from __future__ import annotations

import re
from pathlib import Path

from tests.clusterlib import Cluster, wait_until

NOT_ARRAY = 'Can only specify "-hold_jid_ad" option with an array job (using "-t" option)'
RANGES = "This array job must have the same range of sub-tasks as the dependent array job specified with -hold_jid_ad"


def _submit(cluster: Cluster, *args: str) -> int:
    proc = cluster.run("qsub", "-terse", *args)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip().split(".")[0])


def _refused(cluster: Cluster, *args: str) -> str:
    proc = cluster.run("qsub", *args)
    assert proc.returncode == 1, proc.stdout
    return proc.stderr


def test_the_checks_of_grid_engine(cluster: Cluster) -> None:
    first = _submit(cluster, "-h", "-t", "1-3", "-N", "first", "-b", "y", "/bin/true")
    single = _submit(cluster, "-h", "-N", "single", "-b", "y", "/bin/true")
    assert _refused(cluster, "-t", "1-4", "-hold_jid_ad", str(first), "-b", "y", "/bin/true") == \
        f"Unable to run job: {RANGES}\nExiting.\n"
    assert _refused(cluster, "-hold_jid_ad", "first", "-b", "y", "/bin/true") == f"Unable to run job: {NOT_ARRAY}\nExiting.\n"
    assert _refused(cluster, "-t", "1-3", "-hold_jid_ad", str(single), "-b", "y", "/bin/true") == \
        f"Unable to run job: {NOT_ARRAY}\nExiting.\n"
    assert _refused(cluster, "-t", "2-4", "-hold_jid_ad", str(first), "-b", "y", "/bin/true") == \
        f"Unable to run job: {RANGES}\nExiting.\n"
    # SGE 8.1.9 compares the first and the last task, not the step: 1-3:2 may wait for 1-3:1
    stepped = _submit(cluster, "-h", "-t", "1-3:2", "-hold_jid_ad", str(first), "-b", "y", "/bin/true")
    assert re.search(rf"^ja_ad_predecessor_list: +{first}$", cluster.run("qstat", "-j", str(stepped)).stdout, re.M)
    unknown = _submit(cluster, "-h", "-t", "1-3", "-hold_jid_ad", "99999", "-b", "y", "/bin/true")  # as SGE: accepted
    other = _submit(cluster, "-h", "-t", "1-2", "-b", "y", "/bin/true")
    proc = cluster.run("qalter", "-hold_jid_ad", str(first), str(other))
    assert (proc.returncode, proc.stdout) == (1, RANGES + "\n")
    for args in ((str(first), str(single)), (str(single), str(unknown))):  # either side not an array
        proc = cluster.run("qalter", "-hold_jid_ad", *args)
        assert (proc.returncode, proc.stdout) == (1, NOT_ARRAY + "\n"), args
    proc = cluster.run("qalter", "-hold_jid_ad", str(first), str(unknown))
    assert proc.returncode == 0
    assert proc.stdout == f"modified job id hold array list of job {unknown}\n   blocking jobs: {first}\n   exited jobs:   NONE\n"
    detail = cluster.run("qstat", "-j", str(unknown)).stdout
    assert re.search(rf"^ja_ad_predecessor_list: +{first}$", detail, re.M), detail
    assert re.search(rf"^ja_ad_successor_list: +{stepped},{unknown}$", cluster.run("qstat", "-j", str(first)).stdout,
                     re.M)
    requested = cluster.run("qstat", "-r").stdout
    assert f"       Predecessor Array Jobs (request): {first}\n       Predecessor Array Jobs: {first}\n" in requested


def test_task_n_waits_for_task_n(cluster: Cluster, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    marks = tmp_path / "marks"
    marks.mkdir()
    # the predecessor's task 2 waits for the gate; its tasks 1 and 3 end at once
    script = f'[ "$SGE_TASK_ID" = 2 ] && while [ ! -f {gate} ]; do sleep 0.1; done; exit 0'
    first = _submit(cluster, "-t", "1-3", "-o", "/dev/null", "-j", "y", "-b", "y", "/bin/sh", "-c", script)
    second = _submit(cluster, "-t", "1-3", "-hold_jid_ad", str(first), "-o", "/dev/null", "-j", "y", "-b", "y",
                     "/bin/sh", "-c", f"touch {marks}/$SGE_TASK_ID")
    wait_until(lambda: sorted(p.name for p in marks.iterdir()) == ["1", "3"], 60,
               "tasks 1 and 3 to run after their predecessor tasks")
    wait_until(lambda: [(r["state"], r["tasks"]) for r in cluster.jobs() if r["job_id"] == second] == [("hqw", "2")],
               30, "only task 2 to be left, waiting for its predecessor task")
    plain = cluster.run("qstat").stdout
    assert re.search(rf"^ +{second} .* hqw .* 2$", plain, re.M), plain
    gate.write_text("")
    wait_until(lambda: sorted(p.name for p in marks.iterdir()) == ["1", "2", "3"], 60, "task 2 to run at last")
