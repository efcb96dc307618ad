"""Batch jobs end to end on a real personal cluster: submit, run, watch, delete."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests import REFERENCE
from tests.clusterlib import Cluster, wait_until

HOME = Path(os.path.expanduser("~"))


def _submit(cluster: Cluster, *args: str, input: bytes | None = None, cwd: str | None = None) -> int:
    proc = cluster.run("qsub", "-terse", *args, input=input, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip().split(".")[0])


def _wait_gone(cluster: Cluster, job_id: int, timeout: float = 30.0) -> None:
    wait_until(lambda: all(r.job_id != job_id for r in cluster.jobs()), timeout, f"job {job_id} to end")


def test_binary_job_runs_and_writes_output(cluster: Cluster, tmp_path: Path) -> None:
    out = cluster.run("qsub", "-N", "hello", "-o", str(tmp_path), "-j", "y", "-b", "y",
                      "/bin/sh", "-c", "echo 'hello  world' $JOB_ID")
    assert out.returncode == 0, out.stderr
    m = re.fullmatch(r'Your job (\d+) \("hello"\) has been submitted\n', out.stdout)
    assert m, out.stdout
    job_id = int(m.group(1))
    _wait_gone(cluster, job_id)
    text = (tmp_path / f"hello.o{job_id}").read_text()
    assert text == f"hello  world {job_id}\n"
    acct = (cluster.root / "default" / "common" / "accounting").read_text().splitlines()
    mine = [line.split(":") for line in acct if not line.startswith("#") and line.split(":")[5] == str(job_id)]
    assert len(mine) == 1 and len(mine[0]) == 45
    assert mine[0][4] == "hello" and mine[0][12] == "0"


def test_argv_is_kept_exactly(cluster: Cluster, tmp_path: Path) -> None:
    args = ["a b", "", "it's", '"q"', "$HOME", "*"]
    job_id = _submit(cluster, "-o", str(tmp_path / "argv.out"), "-b", "y", "/usr/bin/printf", "[%s]\\n", *args)
    _wait_gone(cluster, job_id)
    assert (tmp_path / "argv.out").read_text() == "".join(f"[{a}]\n" for a in args)


def test_script_from_stdin_with_directives(cluster: Cluster, tmp_path: Path) -> None:
    script = f"#!/bin/sh\n#$ -N fromstdin\n#$ -o {tmp_path}/$JOB_NAME.$JOB_ID.txt\necho script $1 ran\n"
    proc = cluster.run("qsub", input=script.encode())
    assert proc.returncode == 0, proc.stderr
    m = re.fullmatch(r'Your job (\d+) \("fromstdin"\) has been submitted\n', proc.stdout)
    assert m, proc.stdout
    job_id = int(m.group(1))
    _wait_gone(cluster, job_id)
    assert (tmp_path / f"fromstdin.{job_id}.txt").read_text() == "script ran\n"


def test_job_environment(cluster: Cluster, tmp_path: Path) -> None:
    job_id = _submit(cluster, "-N", "envjob", "-v", "MYVAR=my value", "-o", str(tmp_path / "env.out"),
                     "-b", "y", "/bin/sh", "-c", "env; test -d \"$TMPDIR\" && echo TMPDIR_EXISTS")
    _wait_gone(cluster, job_id)
    lines = (tmp_path / "env.out").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines if "=" in line)
    assert env["JOB_ID"] == str(job_id)
    assert env["JOB_NAME"] == "envjob"
    assert env["NSLOTS"] == "1" and env["NHOSTS"] == "1" and env["QUEUE"] == "all.q"
    assert env["SGE_TASK_ID"] == "undefined"
    assert env["ENVIRONMENT"] == "BATCH"
    assert env["MYVAR"] == "my value"
    assert env["SGE_O_WORKDIR"] == "/tmp"
    assert "TMPDIR_EXISTS" in lines
    assert not Path(env["TMPDIR"]).exists(), "TMPDIR must be removed after the job"
    reference = (REFERENCE / "env_batch_job.txt")
    if reference.exists():
        expected = {line.split("=", 1)[0] for line in reference.read_text().splitlines() if "=" in line}
        missing = expected - set(env)
        assert not missing, f"variables Grid Engine sets but we do not: {sorted(missing)}"


def test_array_job(cluster: Cluster, tmp_path: Path) -> None:
    proc = cluster.run("qsub", "-t", "1-3", "-N", "arr", "-o", f"{tmp_path}/$TASK_ID.out", "-b", "y",
                       "/bin/sh", "-c", "echo task $SGE_TASK_ID of $SGE_TASK_FIRST-$SGE_TASK_LAST:$SGE_TASK_STEPSIZE")
    assert proc.returncode == 0, proc.stderr
    m = re.fullmatch(r'Your job-array (\d+)\.1-3:1 \("arr"\) has been submitted\n', proc.stdout)
    assert m, proc.stdout
    _wait_gone(cluster, int(m.group(1)))
    for task in (1, 2, 3):
        assert (tmp_path / f"{task}.out").read_text() == f"task {task} of 1-3:1\n"


def test_hold_release_and_dependency(cluster: Cluster, tmp_path: Path) -> None:
    first = _submit(cluster, "-h", "-N", "first", "-o", str(tmp_path / "order"), "-b", "y", "/bin/sh", "-c",
                    "echo first >> " + str(tmp_path / "order"))
    second = _submit(cluster, "-hold_jid", str(first), "-N", "second", "-o", "/dev/null", "-b", "y", "/bin/sh", "-c",
                     "echo second >> " + str(tmp_path / "order"))
    rows = {r.job_id: r for r in cluster.jobs()}
    assert rows[first].state == "hqw" and rows[second].state == "hqw"
    released = cluster.run("qrls", str(first))
    assert released.returncode == 0, released.stderr
    _wait_gone(cluster, second)
    assert (tmp_path / "order").read_text().splitlines() == ["first", "second"]


def test_qdel_running_and_pending(cluster: Cluster) -> None:
    running = _submit(cluster, "-b", "y", "sleep", "60")
    wait_until(lambda: any(r.job_id == running and r.state == "r" for r in cluster.jobs()), 20, "job to run")
    held = _submit(cluster, "-h", "-b", "y", "/bin/true")
    user = _whoami()
    out = cluster.run("qdel", str(running), str(held))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines() == [
        f"{user} has registered the job {running} for deletion",
        f"{user} has deleted job {held}",
    ]
    _wait_gone(cluster, running)
    missing = cluster.run("qdel", "999999")
    assert missing.returncode == 1 and missing.stdout == 'denied: job "999999" does not exist\n'


def _whoami() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def test_sync_reports_exit_code(cluster: Cluster) -> None:
    proc = cluster.run("qsub", "-sync", "y", "-o", "/dev/null", "-b", "y", "/bin/sh", "-c", "exit 3")
    lines = proc.stdout.splitlines()
    assert re.fullmatch(r'Your job (\d+) \("sh"\) has been submitted', lines[0]), proc.stdout
    job_id = lines[0].split()[2]
    assert lines[1] == f"Job {job_id} exited with exit code 3."
    assert proc.returncode == 3


def test_bad_option_and_bad_queue_change_nothing(cluster: Cluster) -> None:
    bad = cluster.run("qsub", "-bogus", "-b", "y", "/bin/true")
    assert bad.returncode == 2 and bad.stderr == 'qsub: invalid option argument "-bogus"\n'
    queue = cluster.run("qsub", "-q", "nosuch.q", "-b", "y", "/bin/true")
    assert queue.returncode == 1
    assert queue.stderr == 'Unable to run job: Job was rejected because job requests unknown queue "nosuch.q"\nExiting.\n'
    assert cluster.jobs() == []


def test_qstat_shows_jobs_in_grid_engine_layout(cluster: Cluster) -> None:
    job_id = _submit(cluster, "-h", "-N", "waiting", "-b", "y", "/bin/true")
    out = cluster.run("qstat").stdout.splitlines()
    assert out[0].startswith("job-ID  prior   name       user         state submit/start at     queue")
    assert out[1] == "-" * 113
    fields = out[2].split()
    assert fields[0] == str(job_id) and fields[2] == "waiting" and fields[4] == "hqw"
    detail = cluster.run("qstat", "-j", str(job_id))
    assert detail.returncode == 0 and f"job_number:                 {job_id}" in detail.stdout
    gone = cluster.run("qstat", "-j", "999999")
    assert gone.returncode == 1 and gone.stderr == "Following jobs do not exist: \n999999\n"


def test_now_y_refuses_when_full(cluster: Cluster) -> None:
    ids = [_submit(cluster, "-b", "y", "sleep", "30") for _ in range(cluster.slots)]
    wait_until(lambda: sum(1 for r in cluster.jobs() if r.state == "r") == len(ids), 20, "slots to fill")
    refused = cluster.run("qsub", "-now", "y", "-b", "y", "/bin/true")
    assert refused.returncode == 1
    assert "could not be scheduled" in refused.stderr
    assert {r.job_id for r in cluster.jobs()} == set(ids)
    cluster.run("qdel", *map(str, ids))


def test_exit_99_reruns_and_100_is_error_state(cluster: Cluster, tmp_path: Path) -> None:
    marker = tmp_path / "ran-once"
    rerun = _submit(cluster, "-o", "/dev/null", "-b", "y", "/bin/sh", "-c",
                    f"if [ -e {marker} ]; then exit 0; else touch {marker}; exit 99; fi")
    _wait_gone(cluster, rerun)
    assert marker.exists()
    failed = _submit(cluster, "-o", "/dev/null", "-b", "y", "/bin/sh", "-c", "exit 100")
    wait_until(lambda: any(r.job_id == failed and r.state == "Eqw" for r in cluster.jobs()), 20,
               "the job to enter error state")


def test_h_rt_kills_the_job(cluster: Cluster) -> None:
    job_id = _submit(cluster, "-l", "h_rt=1", "-o", "/dev/null", "-b", "y", "sleep", "30")
    _wait_gone(cluster, job_id, timeout=20)
    acct = (cluster.root / "default" / "common" / "accounting").read_text().splitlines()
    fields = [line.split(":") for line in acct if not line.startswith("#") and line.split(":")[5] == str(job_id)][0]
    assert int(fields[13]) < 10  # ru_wallclock: killed long before 30 s
