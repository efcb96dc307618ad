"""qacct on a real cluster: the master's accounting file after real jobs, read back."""

from __future__ import annotations

import getpass
import json
import re
from typing import Any

import pytest

from tests.clusterlib import Cluster, wait_until

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0:\n    pass\n"


def _submit(cluster: Cluster, *args: str) -> int:
    proc = cluster.run("qsub", "-terse", "-o", "/dev/null", "-j", "y", *args)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip().split(".")[0])


def _gone(cluster: Cluster, job_id: int) -> bool:
    return all(r.job_id != job_id for r in cluster.jobs())


def _records(cluster: Cluster, *args: str) -> list[dict[str, object]]:
    proc = cluster.run("qacct", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def _block_values(text: str) -> list[dict[str, str]]:
    blocks = [b for b in text.split("=" * 62 + "\n") if b]
    return [{line[:13].strip(): line[13:].rstrip() for line in b.splitlines()} for b in blocks]


@pytest.fixture
def finished(cluster: Cluster) -> dict[str, int]:
    """A set of jobs that ended in the ways accounting must tell apart."""
    jobs = {
        "burn": _submit(cluster, "-N", "burn", "-l", "h_rt=60", "-b", "y", "/usr/bin/python3", "-c", BURN),
        "exit3": _submit(cluster, "-N", "exit3", "-b", "y", "/bin/sh", "-c", "exit 3"),
        "selfkill": _submit(cluster, "-N", "selfkill", "-b", "y", "/bin/sh", "-c", "kill -TERM $$"),
        "array": _submit(cluster, "-N", "arr", "-t", "1-2", "-b", "y", "/bin/true"),
        "sleeper": _submit(cluster, "-N", "sleeper", "-b", "y", "/bin/sleep", "300"),
    }
    wait_until(lambda: any(r.job_id == jobs["sleeper"] and r.state == "r" for r in cluster.jobs()),
               30, "the sleeper to run")
    assert cluster.run("qdel", str(jobs["sleeper"])).returncode == 0
    for job_id in jobs.values():
        wait_until(lambda j=job_id: _gone(cluster, j), 60, f"job {job_id} to end")
    return jobs


def test_qacct_sees_a_job_as_soon_as_qstat_drops_it(cluster: Cluster) -> None:
    job_id = _submit(cluster, "-b", "y", "/bin/true")
    wait_until(lambda: _gone(cluster, job_id), 30, "the job to end")
    proc = cluster.run("qacct", "-j", str(job_id))
    assert proc.returncode == 0, proc.stderr
    assert f"jobnumber    {job_id:<20}\n" in proc.stdout


def test_records_tell_how_jobs_ended(cluster: Cluster, finished: dict[str, int]) -> None:
    by_job: dict[int, list[dict[str, object]]] = {}
    for record in _records(cluster, "-j"):
        by_job.setdefault(int(record["job_number"]), []).append(record)  # type: ignore[call-overload]
    (burn,) = by_job[finished["burn"]]
    assert burn["failed"] == 0 and burn["exit_status"] == 0
    assert 0.9 <= float(burn["ru_utime"]) + float(burn["ru_stime"]) < 3.0  # type: ignore[arg-type]
    assert 0.9 <= float(burn["cpu"]) < 3.0  # type: ignore[arg-type]
    # a python interpreter: some megabytes resident, recorded in kilobytes
    assert 2_000 < float(burn["ru_maxrss"]) < 500_000  # type: ignore[arg-type]
    assert 2_000_000 < float(burn["maxvmem"]) < 2_000_000_000  # type: ignore[arg-type]
    assert burn["category"] == "-l h_rt=60" and burn["qname"] == "all.q" and burn["hostname"] == "node1"
    assert burn["department"] == "defaultdepartment" and burn["project"] == "NONE"
    assert burn["granted_pe"] == "NONE" and burn["slots"] == 1 and burn["task_number"] == 0
    assert burn["owner"] == getpass.getuser() and burn["account"] == "sge"
    (exit3,) = by_job[finished["exit3"]]
    assert exit3["failed"] == 0 and exit3["exit_status"] == 3
    (selfkill,) = by_job[finished["selfkill"]]
    assert selfkill["failed"] == 0 and selfkill["exit_status"] == 128 + 15
    (sleeper,) = by_job[finished["sleeper"]]
    assert sleeper["failed"] == 100 and int(sleeper["exit_status"]) in (128 + 9, 128 + 15)  # type: ignore[call-overload]
    assert sorted(int(r["task_number"]) for r in by_job[finished["array"]]) == [1, 2]  # type: ignore[call-overload]


def test_job_blocks_by_id_and_name(cluster: Cluster, finished: dict[str, int]) -> None:
    proc = cluster.run("qacct", "-j", str(finished["burn"]))
    assert proc.returncode == 0 and proc.stderr == ""
    (block,) = _block_values(proc.stdout)
    assert block["jobname"] == "burn" and block["jobnumber"] == str(finished["burn"])
    assert re.fullmatch(r"[12]\.\d{3}s", block["cpu"]), block["cpu"]
    assert re.fullmatch(r"\d+\.\d{3}MB", block["ru_maxrss"]), block["ru_maxrss"]
    assert block["taskid"] == "undefined" and block["category"] == "-l h_rt=60"
    by_name = _block_values(cluster.run("qacct", "-j", "arr").stdout)
    assert sorted(b["taskid"] for b in by_name) == ["1", "2"]
    sleeper = _block_values(cluster.run("qacct", "-j", "sleep*").stdout)
    assert [b["failed"] for b in sleeper] == ["100 : assumedly after job"]
    one_task = _block_values(cluster.run("qacct", "-j", "arr", "-t", "2").stdout)
    assert [b["taskid"] for b in one_task] == ["2"]


def test_unknown_job(cluster: Cluster, finished: dict[str, int]) -> None:
    proc = cluster.run("qacct", "-j", "999999")
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", "error: job id 999999 not found\n")
    proc = cluster.run("qacct", "-j", "nosuchname")
    assert (proc.returncode, proc.stderr) == (1, "error: job name nosuchname not found\n")


def test_filters_and_summary_totals(cluster: Cluster, finished: dict[str, int]) -> None:
    me = getpass.getuser()
    records = _records(cluster, "-j")
    assert len(records) == 6  # five jobs, the array with two tasks
    for args in (["-o", me], ["-q", "all.q"], ["-h", "node1"], ["-d", "1"], ["-q", "all.q@node1"]):
        assert len(_records(cluster, "-j", *args)) == 6, args
    for args in (["-o", "nobody"], ["-q", "other.q"], ["-h", "node9"], ["-l", "h_rt=61"]):
        assert cluster.run("qacct", *args, "-j", "burn").returncode == 1, args
    assert [r["job_name"] for r in _records(cluster, "-j", "-l", "h_rt=60")] == ["burn"]
    summary: Any = _records(cluster)
    total = summary["total"]
    assert summary["groups"] == [] and total["ru_wallclock"] == pytest.approx(
        sum(float(r["ru_wallclock"]) for r in records))  # type: ignore[arg-type]
    assert total["cpu"] == pytest.approx(sum(float(r["cpu"]) for r in records), abs=1e-5)  # type: ignore[arg-type]
    mine: Any = _records(cluster, "-o")
    assert [g["owner"] for g in mine["groups"]] == [me] and mine["groups"][0]["cpu"] == total["cpu"]
    text = cluster.run("qacct").stdout.splitlines()
    assert text[0] == "Total System Usage" and len(text) == 4
    assert float(text[3].split()[3]) == pytest.approx(float(total["cpu"]), abs=1e-3)  # type: ignore[arg-type]
    table = cluster.run("qacct", "-o", "-q").stdout.splitlines()
    assert table[0].split()[:3] == ["CLUSTER", "QUEUE", "OWNER"]
    assert table[2].split()[:2] == ["all.q", me]
