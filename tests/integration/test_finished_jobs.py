"""Finished jobs stay visible (qstat -s z, -s f, qstat -j), are never transiently missing,
survive a master restart and leave by finished_jobs and finished_jobs_keep_time; running jobs
show their usage online (qstat -j usage lines, -ext columns, -j -xml)."""

from __future__ import annotations

import re
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

from tests import REFERENCE
from tests.clusterlib import Cluster, wait_until

BURN = Path(__file__).resolve().parent.parent / "helpers" / "burn.py"


def _submit(cluster: Cluster, *args: str) -> int:
    proc = cluster.run("qsub", "-terse", *args)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip().split(".")[0])


def _zombies(cluster: Cluster, *extra: str) -> dict[int, list[str]]:
    proc = cluster.run("qstat", "-s", "z", "-u", "*", *extra)
    assert proc.returncode == 0, proc.stderr
    return {int(line.split()[0]): line.split() for line in proc.stdout.splitlines()[2:]}


def _set_global(cluster: Cluster, tmp_path: Path, **values: str) -> None:
    text = cluster.run("qconf", "-sconf", check=True).stdout
    for name, value in values.items():
        text = re.sub(rf"^{name} .*$", f"{name} {value}", text, flags=re.M) if re.search(rf"^{name} ", text, re.M) \
            else text + f"{name} {value}\n"
    path = tmp_path / "global"
    path.write_text(text)
    cluster.run("qconf", "-Mconf", str(path), check=True)


def test_finished_jobs_are_listed_with_their_exit_status(cluster: Cluster) -> None:
    failed = _submit(cluster, "-o", "/dev/null", "-j", "y", "-N", "fin1", "-b", "y", "/bin/sh", "-c", "exit 3")
    array = _submit(cluster, "-o", "/dev/null", "-j", "y", "-N", "fin2", "-t", "1-3", "-b", "y", "/bin/true")
    wait_until(lambda: {failed, array} <= set(_zombies(cluster)), 60, "both jobs to be listed as finished")
    zombies = _zombies(cluster)
    assert zombies[failed][2:5] == ["fin1", cluster.run("id", "-un").stdout.strip(), "z"]
    assert zombies[array][-1] == "1-3:1" and zombies[array][-2] == "1"
    assert _zombies(cluster, "-s", "f") == zombies  # Open Cluster Scheduler's letter
    assert failed not in {r["job_id"] for r in cluster.jobs()}  # plain qstat lists no finished job
    detail = cluster.run("qstat", "-s", "z", "-j", str(failed)).stdout
    assert re.search(r"^exit_status: +3$", detail, re.M), detail
    assert re.search(r"^end_time: +\w{3} \w{3} ", detail, re.M), detail
    assert re.search(r"^exit_status 1-3:1: +0$", cluster.run("qstat", "-s", "f", "-j", "fin2").stdout, re.M)
    assert re.search(r"^exit_status: +3$", cluster.run("qstat", "-j", str(failed)).stdout, re.M)  # plain -j too
    doc = ET.fromstring(cluster.run("qstat", "-j", f"{failed},{array}", "-xml").stdout)
    ended = {(int(e.findtext("JB_job_number") or 0), int(t.findtext("JAT_task_number") or 0)):
             {s.findtext("UA_name"): float(s.findtext("UA_value") or "nan") for s in t.iter("scaled")}
             for e in doc.iter("element") if e.find("JB_job_number") is not None
             for t in e.iter("ulong_sublist") if t.findtext("JAT_status") == "65536"}  # SGE's JFINISHED
    assert sorted(ended) == [(failed, 1), (array, 1), (array, 2), (array, 3)]
    assert ended[(failed, 1)]["exit_status"] == 3 and {ended[(array, i)]["exit_status"] for i in (1, 2, 3)} == {0}
    assert all(u["start_time"] <= u["end_time"] and u["end_time"] > 0 for u in ended.values())
    gone = 99999  # a job the master never knew is answered as Grid Engine 8.1.9 answers
    proc = cluster.run("qstat", "-j", str(gone))
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", f"Following jobs do not exist: \n{gone}\n")
    proc = cluster.run("qstat", "-j", str(gone), "-xml")
    assert (proc.returncode, proc.stdout) == (0, (REFERENCE / "qstat_j_unknown_xml.txt").read_text())
    doc = ET.fromstring(cluster.run("qstat", "-s", "z", "-u", "*", "-xml").stdout)
    listed = {int(e.findtext("JB_job_number") or 0): e for e in doc.iter("job_list")}
    assert listed[failed].get("state") == "zombie" and listed[failed].findtext("state") == "z"
    assert listed[array].findtext("tasks") == "1-3:1"


def test_a_job_is_never_missing_between_qsub_and_the_finished_list(cluster: Cluster, tmp_path: Path) -> None:
    """A poller asks as fast as it can from the moment qsub returns until the job is listed as
    finished: every answer must hold the job. The job is held, then released, then let go
    through a gate, so the poller sees each change (held, running, finished) happen."""
    gate = tmp_path / "gate"
    job_id = _submit(cluster, "-h", "-o", "/dev/null", "-j", "y", "-b", "y", "/bin/sh", "-c",
                     f"while [ ! -f {gate} ]; do sleep 0.1; done")
    answers: list[str | None] = []
    stop = threading.Event()

    def poll() -> None:
        with cluster.client() as client:
            while not stop.is_set():
                rows = {r.job_id: r.state for r in client.jobs(["*"], states="prsz")}
                answers.append(rows.get(job_id))
                if rows.get(job_id) == "z":
                    return

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        wait_until(lambda: "hqw" in answers, 30, "the poller to see the held job")
        cluster.run("qrls", str(job_id), check=True)
        wait_until(lambda: "r" in answers, 60, "the poller to see the job run")
        gate.write_text("")
        poller.join(60)
    finally:
        stop.set()
        poller.join()
    assert answers and answers[-1] == "z", answers[-5:]
    assert None not in answers, f"missing in {answers.count(None)} of {len(answers)} answers"
    seen = sorted(set(answers), key=answers.index)
    assert seen[0] == "hqw" and seen.index("r") < seen.index("z"), seen
    print(f"{len(answers)} answers, states seen: {seen}")


def test_the_finished_list_survives_a_master_restart(cluster: Cluster) -> None:
    job_id = _submit(cluster, "-o", "/dev/null", "-j", "y", "-b", "y", "/bin/sh", "-c", "exit 7")
    wait_until(lambda: job_id in _zombies(cluster), 60, "the job to be listed as finished")
    cluster.kill_master()
    cluster.start_master()
    assert job_id in _zombies(cluster)
    assert re.search(r"^exit_status: +7$", cluster.run("qstat", "-s", "z", "-j", str(job_id)).stdout, re.M)


def test_finished_jobs_and_keep_time_bound_the_list(cluster: Cluster, tmp_path: Path) -> None:
    _set_global(cluster, tmp_path, finished_jobs="2")
    ids = [_submit(cluster, "-o", "/dev/null", "-j", "y", "-b", "y", "/bin/true") for _ in range(3)]
    cluster.wait_idle()
    wait_until(lambda: set(_zombies(cluster)) == set(ids[1:]), 30, "the two newest to stay")
    deleted = _submit(cluster, "-h", "-b", "y", "/bin/true")
    cluster.run("qdel", str(deleted), check=True)  # a deleted job is finished too (Grid Engine's zombie)
    assert deleted in _zombies(cluster)
    _set_global(cluster, tmp_path, finished_jobs_keep_time="00:00:02")
    assert "finished_jobs_keep_time" in cluster.run("qconf", "-sconf").stdout
    wait_until(lambda: not _zombies(cluster), 30, "finished jobs older than 2 s to leave the list")


def test_a_running_job_shows_its_usage(cluster: Cluster, tmp_path: Path) -> None:
    done = tmp_path / "burned"
    job_id = _submit(cluster, "-o", "/dev/null", "-j", "y", "-b", "y", "/bin/sh", "-c",
                     f"{sys.executable} {BURN} 4 {done}; sleep 60")

    def cpu_seconds() -> float:
        text = cluster.run("qstat", "-j", str(job_id)).stdout
        match = re.search(r"^usage +1: +cpu=(\d+):(\d+):(\d+), mem=[\d.]+ GB s, io=[\d.]+ GB, vmem=\S+, "
                          r"maxvmem=\S+$", text, re.M)
        return 0.0 if match is None else int(match[1]) * 3600 + int(match[2]) * 60 + int(match[3])

    try:
        wait_until(lambda: cpu_seconds() >= 2, 90, "qstat -j to show 2 s of cpu", interval=0.5)
        line = next(line for line in cluster.run("qstat", "-ext").stdout.splitlines() if line.split()[0] == str(job_id))
        cpu, mem, io = line.split()[8:11]
        assert re.fullmatch(r"0:00:00:0[2-9]|0:00:00:[1-9]\d", cpu), line
        assert float(mem) >= 0 and float(io) >= 0
        doc = ET.fromstring(cluster.run("qstat", "-j", str(job_id), "-xml").stdout)
        usage = {e.findtext("UA_name"): float(e.findtext("UA_value") or 0) for e in doc.iter("scaled")}
        assert list(usage) == ["cpu", "mem", "io", "iow", "vmem", "maxvmem"] and usage["cpu"] >= 2
        assert usage["maxvmem"] >= usage["vmem"] > 0
    finally:
        cluster.run("qdel", str(job_id))
