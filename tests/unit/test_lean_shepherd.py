"""The lean shepherd (qsys-shepherd) on task directories the exec daemon's code writes, beside
the Python shepherd: the same job gives the same output, files and report."""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from execd import lean
from execd.spool import Spool, TaskDir
from qsys.launch import Launch
from tests import leanlib
from tests.clusterlib import ensure_user, wait_until
from tests.unit.test_shepherd import make_launch, run_shepherd, script

PERSONAL = {"execd_mode": "personal"}
SERVICE = {"execd_mode": "service", "min_uid": 1000, "min_gid": 100}
JOB_USER = "qsys_t1"


@pytest.fixture(scope="module")
def binary() -> str:
    built = leanlib.build()
    assert built is not None, "no C compiler for execd/shepherd_lean.c"
    return str(built)


@pytest.fixture
def area(qsys_root: Path) -> Path:
    return qsys_root


def start_lean(binary: str, area: Path, launch: Launch, conf: dict[str, Any] | None = None) -> tuple[int, TaskDir]:
    """The task started as the exec daemon starts it: spool directory, plan, spawn."""
    conf = conf or PERSONAL
    spool = Spool(area / "spool")
    spool.ensure()
    tdir = spool.create_task(launch, conf)
    prepared = lean.prepare(tdir, launch, conf)
    assert prepared is not None, "the Python shepherd's task"
    return lean.spawn(binary, tdir, prepared[0]), tdir


def run_lean(binary: str, area: Path, launch: Launch,
             conf: dict[str, Any] | None = None) -> tuple[dict[str, Any], TaskDir]:
    pid, tdir = start_lean(binary, area, launch, conf)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    report = tdir.exit_report()
    assert report is not None
    return report, tdir


def both(binary: str, area: Path, make: Any, conf: dict[str, Any] | None = None) -> dict[str, tuple[dict[str, Any], Path]]:
    """Each shepherd on its own copy of a launch (``make(area)``), in a directory of its own."""
    out = {}
    for kind in ("python", "lean"):
        where = area / kind
        where.mkdir()
        os.chmod(where, 0o755)
        launch = make(where)
        report, _ = run_lean(binary, where, launch, conf) if kind == "lean" else run_shepherd(where, launch, conf)
        out[kind] = (report, where)
    return out


def same_files(a: Path, b: Path) -> None:
    """The jobs' files (the spool aside) have the same names and, the directory named alike, contents
    (an environment's variables in any order)."""
    names = sorted(p.name for p in a.iterdir() if p.name != "spool")
    assert names == sorted(p.name for p in b.iterdir() if p.name != "spool")
    for name in names:
        if (a / name).is_file():
            texts = [(d / name).read_text().replace(str(d), "AREA") for d in (a, b)]
            if name.startswith("envjob."):
                texts = [sorted(t.splitlines()) for t in texts]  # type: ignore[misc]
            assert texts[0] == texts[1], name


# ---------------------------------------------------------------- the plan file


def test_plan_file_round_trip() -> None:
    plan = lean.LeanPlan(task="7.3", user="alice", cwd="/home/a b", exe="/bin/sh",
                         args=["-sh", "-c", "echo 'x\ny'", ""], env=["A=1=2", "EMPTY=", "U=\u00fc\udcff"],
                         stdin="/dev/null", stdout="/o", stderr=None, tmpdir="/tmp/7.3.all.q", uid=1001, gid=100,
                         groups=["100", "20001"], search=True, fallback=["/bin/sh", "s"], chown=["/spool/script"],
                         sample=20001, h_rt=90.5, s_rt=60.0, rlimits=["as:1024:-1", "cpu:5:10"])
    data = plan.to_bytes()
    assert data.endswith(b"\0") and b"joined=1\0" in data
    assert lean.LeanPlan.from_bytes(data) == plan
    minimal = lean.LeanPlan(task="1.1", user="u", cwd="/", exe="/bin/true", args=["/bin/true"], env=[],
                            stdin="/dev/null", stdout="/o", stderr="/e", tmpdir="/tmp/x")
    assert lean.LeanPlan.from_bytes(minimal.to_bytes()) == minimal


def test_only_the_plain_batch_case_goes_lean(area: Path) -> None:
    assert lean.eligible(make_launch(area))
    for change in ({"session": {"method": "builtin"}}, {"pe": "mpi"}, {"pe_start": "start"}, {"pe_stop": "stop"},
                   {"checkpoint": {"name": "ck"}}, {"prolog": "echo"}, {"epilog": "echo"}, {"pe_task_id": "1.n"}):
        launch = make_launch(area)
        for key, value in change.items():
            setattr(launch, key, value)
        assert not lean.eligible(launch), change


def test_starts_that_fail_before_the_job_are_the_python_shepherds(area: Path) -> None:
    spool = Spool(area / "spool")
    spool.ensure()
    no_shell = make_launch(area, shell="/no/such/shell")
    assert lean.prepare(spool.create_task(no_shell, PERSONAL), no_shell, PERSONAL) is None
    taken = make_launch(area, job_id=13)
    (area / "13.1.all.q").mkdir()  # its TMPDIR's name: the Python shepherd picks another
    assert lean.prepare(spool.create_task(taken, PERSONAL), taken, PERSONAL) is None
    refused = make_launch(area, job_id=14)
    refused.owner = "root"
    assert lean.prepare(spool.create_task(refused, SERVICE), refused, SERVICE) is None


def test_the_binary_is_found_and_python_can_be_chosen(binary: str, monkeypatch: pytest.MonkeyPatch,
                                                      area: Path) -> None:
    monkeypatch.setenv(lean.ENV_BINARY, binary)
    assert lean.binary() == binary
    monkeypatch.setenv(lean.ENV_CHOICE, "python")
    assert lean.binary() is None
    monkeypatch.delenv(lean.ENV_CHOICE)
    monkeypatch.setenv(lean.ENV_BINARY, str(area / "missing" / "qsys-shepherd"))
    assert lean.binary() is None


# ---------------------------------------------------------------- beside the Python shepherd

JOBS = {
    "env": lambda a: make_launch(a, binary=True, command="/usr/bin/env", script=None, name="envjob",
                                 env={"FOO": "bar baz", "PATH": "/mine:/usr/bin:/bin"}),
    "argv": lambda a: make_launch(a, binary=True, command="printf", args=["%s|", "a b", "", "$HOME"], script=None,
                                  name="argv"),
    "script": lambda a: make_launch(a, name="s", args=["one", "two words"],
                                    script=script('echo "$0 $# $1|$2"; echo err >&2; pwd; exit 3\n')),
    "array": lambda a: make_launch(a, job_id=40, task_id=3, name="arr", tasks={"first": 1, "last": 5, "step": 2},
                                   stdout_paths=["o_$USER.$JOB_ID.$TASK_ID"], join=True,
                                   script=script('echo "$SGE_TASK_ID"; echo err >&2\n')),
    "unix_behavior": lambda a: make_launch(a, name="ub", script=script("#!/bin/sh\necho ran $0\n")),
    "stdin": lambda a: make_launch(a, name="in", stdin_path="input.txt", script=script("cat\n")),
}


def _unix_behavior(launch: Launch) -> Launch:
    launch.shell_start_mode = "unix_behavior"
    return launch


@pytest.mark.parametrize("job", sorted(JOBS))
def test_same_output_and_report_as_the_python_shepherd(binary: str, area: Path, job: str) -> None:
    def make(where: Path) -> Launch:
        (where / "input.txt").write_text("from stdin\n")
        launch = JOBS[job](where)
        return _unix_behavior(launch) if job == "unix_behavior" else launch

    runs = both(binary, area, make)
    (py, py_dir), (lr, lean_dir) = runs["python"], runs["lean"]
    same_files(py_dir, lean_dir)
    assert sorted(py) == sorted(lr)  # the same fields,
    assert {k: type(v) for k, v in py.items()} == {k: type(v) for k, v in lr.items()}  # of the same types
    for key in ("exit_status", "signal", "failed", "error", "rerun", "error_state", "killed"):
        assert py[key] == lr[key], key


def test_the_report_is_what_json_dumps_writes(binary: str, area: Path) -> None:
    """exit.json byte for byte as execd.spool writes it (key order, separators, floats, escapes)."""
    cwd = area / "d\u00fc \"q\"\t\\"
    report, tdir = run_lean(binary, area, make_launch(area, cwd=str(cwd)))
    assert report["failed"] == 28 and str(cwd) in report["error"]
    raw = tdir.file("exit.json").read_text()
    assert raw == json.dumps(json.loads(raw), sort_keys=True)
    report, tdir = run_lean(binary, area, make_launch(area, job_id=13, script=script("echo x\n")))
    raw = tdir.file("exit.json").read_text()
    assert report["failed"] == 0 and raw == json.dumps(report, sort_keys=True)


@pytest.mark.parametrize(("code", "rerun", "error_state"), [(0, False, False), (3, False, False),
                                                            (99, True, False), (100, False, True)])
def test_exit_status_rerun_and_error_state(binary: str, area: Path, code: int, rerun: bool, error_state: bool) -> None:
    report, tdir = run_lean(binary, area, make_launch(area, script=script(f"exit {code}\n")))
    assert report["exit_status"] == code and report["signal"] == 0 and report["failed"] == 0
    assert report["rerun"] is rerun and report["error_state"] is error_state
    assert report["end_time"] >= report["start_time"] > 0 and report["cpu"] >= 0
    assert tdir.job_pid() is not None and tdir.shepherd_pid() is not None


def test_signal_is_reported(binary: str, area: Path) -> None:
    report, _ = run_lean(binary, area, make_launch(area, script=script("kill -TERM $$\nsleep 5\n")))
    assert report["signal"] == 15 and report["exit_status"] == 128 + 15


def test_h_rt_kills_the_job_and_what_it_left(binary: str, area: Path) -> None:
    launch = make_launch(area, name="h", script=script("setsid sleep 300 & echo $! > left.pid\nsleep 30\n"))
    launch.h_rt = 1.0
    report, _ = run_lean(binary, area, launch)
    assert report["signal"] == 9 and report["failed"] == 37
    assert report["error"] == "job 12.1 exceeded hard wallclock time h_rt"
    left = int((area / "left.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(left, 0)  # killed and reaped (it was re-parented to the shepherd)


def test_s_rt_sends_usr1(binary: str, area: Path) -> None:
    launch = make_launch(area, name="srt", script=script("trap 'echo got usr1; exit 5' USR1\nsleep 30 & wait\n"))
    launch.s_rt = 1.0
    report, _ = run_lean(binary, area, launch)
    assert report["exit_status"] == 5
    assert (area / "srt.o12").read_text() == "got usr1\n"


def test_orphans_are_ended_and_their_usage_counted(binary: str, area: Path) -> None:
    work = "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"
    launch = make_launch(area, name="orph", script=script(f"setsid sh -c '{work}; sleep 300' &\necho $! > o.pid\n"
                                                          "sleep 0.2; exit 0\n"))
    report, _ = run_lean(binary, area, launch)
    assert report["exit_status"] == 0
    with pytest.raises(ProcessLookupError):
        os.kill(int((area / "o.pid").read_text()), 0)
    assert report["cpu"] > 0.0


def test_kill_request_before_start_keeps_the_job_from_running(binary: str, area: Path) -> None:
    spool = Spool(area / "spool")
    spool.ensure()
    launch = make_launch(area, name="k", script=script("echo ran\n"))
    tdir = spool.create_task(launch, PERSONAL)
    tdir.request_kill(9)
    prepared = lean.prepare(tdir, launch, PERSONAL)
    assert prepared is not None
    os.waitpid(lean.spawn(binary, tdir, prepared[0]), 0)
    report = tdir.exit_report()
    assert report is not None and report["killed"] is True and report["failed"] == 11
    assert not (area / "k.o12").exists() and tdir.job_pid() is None


def test_a_kill_during_the_job_is_reported(binary: str, area: Path) -> None:
    pid, tdir = start_lean(binary, area, make_launch(area, script=script("sleep 30\n")))
    wait_until(lambda: tdir.job_pid() is not None, 10, "the job to start")
    tdir.request_kill(signal.SIGKILL)
    os.killpg(tdir.job_pid() or 0, signal.SIGKILL)  # what ExecDaemon.kill does
    os.waitpid(pid, 0)
    report = tdir.exit_report()
    assert report is not None and report["killed"] is True and report["signal"] == 9


@pytest.mark.parametrize("case", ["cwd", "output", "command"])
def test_failures_before_the_job_as_the_python_shepherd_reports_them(binary: str, area: Path, case: str) -> None:
    def make(where: Path) -> Launch:
        if case == "cwd":
            return make_launch(where, cwd=str(where / "missing"))
        if case == "output":
            return make_launch(where, stdout_paths=["/nonexistent/dir/out"])
        return make_launch(where, binary=True, command="/no/such/program", script=None)

    runs = both(binary, area, make)
    (py, py_dir), (lr, lean_dir) = runs["python"], runs["lean"]
    assert lr["failed"] == py["failed"] == {"cwd": 28, "output": 26, "command": 11}[case]
    assert lr["error"].replace(str(lean_dir), "AREA") == py["error"].replace(str(py_dir), "AREA")
    assert lr["error_state"] is py["error_state"] is True
    assert sorted(lr) == sorted(py)
    lean_task = TaskDir(lean_dir / "spool" / "active_jobs" / "12.1")
    assert lean_task.error() and lean_task.job_pid() is None
    assert "shepherd: failed" in lean_task.file("trace").read_text()
    assert not (lean_dir / "12.1.all.q").exists()  # TMPDIR removed


def test_limits_are_set(binary: str, area: Path) -> None:
    launch = make_launch(area, name="lim", script=script("ulimit -v; ulimit -t\n"))
    launch.h_vmem = 512 * 1024 * 1024
    launch.s_cpu = 7
    launch.h_cpu = 9
    report, _ = run_lean(binary, area, launch)
    assert report["exit_status"] == 0
    assert (area / "lim.o12").read_text() == f"{512 * 1024}\n7\n"


def test_missing_plan_is_a_failure_assumedly_before_job(binary: str, area: Path) -> None:
    spool = Spool(area / "spool")
    spool.ensure()
    tdir = spool.create_task(make_launch(area), PERSONAL)
    subprocess.run([binary, str(tdir.path)], check=True)
    report = tdir.exit_report()
    assert report is not None and report["failed"] == 1 and report["error_state"] is False


# ---------------------------------------------------------------- as root: identity, group ID, usage


@pytest.fixture(scope="module")
def job_user() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        pytest.fail("identity tests need root")
    ensure_user(JOB_USER)
    return pwd.getpwnam(JOB_USER)


@pytest.mark.root
def test_job_runs_as_its_owner_with_its_extra_group_id(binary: str, area: Path, job_user: pwd.struct_passwd) -> None:
    os.chown(area, job_user.pw_uid, job_user.pw_gid)
    launch = make_launch(area, name="who", script=script('id -u; id -g; id -G; stat -c %U "$TMPDIR" "$0"\n'))
    launch.owner, launch.uid, launch.gid = job_user.pw_name, job_user.pw_uid, job_user.pw_gid
    launch.extra_gid = 20077
    report, tdir = run_lean(binary, area, launch, SERVICE)
    assert report["failed"] == 0, report["error"]
    out = area / "who.o12"
    uid, gid, groups, *owners = out.read_text().split("\n")[:5]
    assert (uid, gid) == (str(job_user.pw_uid), str(job_user.pw_gid))
    assert "20077" in groups.split() and "0" not in groups.split()
    assert owners == [JOB_USER, JOB_USER]  # TMPDIR and the script handed over
    assert out.stat().st_uid == job_user.pw_uid
    assert tdir.file("usage.json").exists()  # the group ID's carriers are sampled


@pytest.mark.root
def test_usage_of_a_longer_job_is_sampled_as_the_python_shepherd_does(binary: str, area: Path) -> None:
    def make(where: Path) -> Launch:
        launch = make_launch(where, name="u", script=script("sleep 1.2\n"))
        launch.extra_gid = 20078
        return launch

    runs = both(binary, area, make)
    (py, py_dir), (lr, lean_dir) = runs["python"], runs["lean"]
    # the sampled virtual size, not the resident peak (the Python shepherd's job child peaks as
    # a copy of the shepherd before its exec: its ru_maxrss is the interpreter's)
    assert lr["maxvmem"] > lr["ru_maxrss"] * 1024 and lr["mem"] > 0
    assert py["maxvmem"] >= py["ru_maxrss"] * 1024 and py["mem"] > 0
    usage = {kind: json.loads((where / "spool" / "active_jobs" / "12.1" / "usage.json").read_text())
             for kind, where in (("python", py_dir), ("lean", lean_dir))}
    assert sorted(usage["lean"]) == sorted(usage["python"]) == ["cpu", "io", "iow", "maxvmem", "mem", "time"]


def test_the_shepherd_stays_in_a_session_of_its_own(binary: str, area: Path) -> None:
    pid, tdir = start_lean(binary, area, make_launch(area, script=script("sleep 30\n")))
    wait_until(lambda: tdir.job_pid() is not None, 10, "the job to start")
    assert os.getsid(pid) == pid and os.getsid(pid) != os.getsid(0)
    os.killpg(tdir.job_pid() or 0, signal.SIGKILL)
    os.waitpid(pid, 0)
    report = tdir.exit_report()
    assert report is not None and report["signal"] == 9


def test_spares_wait_for_their_task_and_leave_when_discarded(binary: str, area: Path) -> None:
    spares = lean.Spares(count=2)
    spool = Spool(area / "spool")
    spool.ensure()
    try:
        launch = make_launch(area, name="sp", script=script("echo spare\n"))
        tdir = spool.create_task(launch, PERSONAL)
        prepared = lean.prepare(tdir, launch, PERSONAL)
        assert prepared is not None
        lean.write_plan(tdir, prepared[0])
        assert spares.take(binary, str(tdir.path)) is None  # none yet: the worker starts two
        wait_until(lambda: len(spares._ready) == 2, 10, "two spares")
        waiting = [pid for pid, _pipe in spares._ready]
        pid = spares.take(binary, str(tdir.path))
        assert pid == waiting[0]
        os.waitpid(pid, 0)
        report = tdir.exit_report()
        assert report is not None and report["exit_status"] == 0
        assert (area / "sp.o12").read_text() == "spare\n"
        wait_until(lambda: len(spares._ready) == 2, 10, "the spare replaced")
    finally:
        left = [pid for pid, _pipe in spares._ready]
        spares.close()
    for pid in left:  # at EOF without a path a spare exits, having written nothing
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert sorted(p.name for p in spool.active.iterdir()) == ["12.1"]
