"""The shepherd run for real on a task directory built from a Launch (personal mode)."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from execd.spool import Spool, TaskDir
from qsys.launch import Launch, PeHostEntry
from tests import REFERENCE

REFERENCE_ENV = (REFERENCE / "env_batch_job.txt")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def area(qsys_root: Path) -> Path:
    """A directory every user can traverse (conftest's qsys_root)."""
    return qsys_root


def make_launch(area: Path, job_id: int = 12, task_id: int = 1, **spec: Any) -> Launch:
    me = pwd.getpwuid(os.getuid())
    full: dict[str, Any] = {"command": "job.sh", "args": [], "binary": False, "script": b"true\n",
                            "shell": None, "name": "", "cwd": str(area), "stdout_paths": [],
                            "stderr_paths": [], "stdin_path": None, "join": False, "env": {},
                            "account": "sge", "tasks": None,
                            "submit_env": {"HOME": me.pw_dir, "LOGNAME": me.pw_name, "PATH": "/usr/bin:/bin",
                                           "SHELL": "/bin/bash", "HOST": "subhost", "WORKDIR": str(area)}}
    full.update(spec)
    return Launch(job_id=job_id, task_id=task_id, is_array=full["tasks"] is not None, spec=full,
                  owner=me.pw_name, uid=me.pw_uid, group="", gid=os.getgid(), queue="all.q", host="node7",
                  slots=1, total_slots=1, tmpdir_base=str(area), qsys_root="/opt/qsysroot",
                  binary_path="/opt/qsys/bin")


def run_shepherd(area: Path, launch: Launch, conf: dict[str, Any] | None = None,
                 timeout: float = 60.0) -> tuple[dict[str, Any], TaskDir]:
    spool = Spool(area / "spool")
    spool.ensure()
    tdir = spool.create_task(launch, conf or {"execd_mode": "personal"})
    subprocess.run([sys.executable, "-m", "execd.shepherd", str(tdir.path)], check=True, timeout=timeout,
                   cwd=REPO)
    report = tdir.exit_report()
    assert report is not None
    return report, tdir


def script(text: str) -> bytes:
    return text.encode()


def test_environment_has_grid_engines_variables(area: Path) -> None:
    launch = make_launch(area, binary=True, command="/usr/bin/env", script=None, name="envjob")
    report, _ = run_shepherd(area, launch)
    assert report["failed"] == 0 and report["exit_status"] == 0
    lines = (area / "envjob.o12").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines)
    reference = {line.split("=", 1)[0] for line in REFERENCE_ENV.read_text().splitlines() if "=" in line}
    assert set(env) == reference | {"QSYS_ROOT", "QSYS_CELL"}  # qsys's additions: the job's commands find the cell
    assert env["JOB_ID"] == "12" and env["JOB_NAME"] == "envjob" and env["REQNAME"] == "envjob"
    assert env["SGE_TASK_ID"] == "undefined" and env["NSLOTS"] == "1" and env["QUEUE"] == "all.q"
    assert env["HOSTNAME"] == "node7" and env["ENVIRONMENT"] == "BATCH"
    assert env["SGE_O_HOST"] == "subhost" and env["SGE_O_WORKDIR"] == str(area)
    assert env["TMPDIR"] == str(area / "12.1.all.q") and env["TMP"] == env["TMPDIR"]
    assert env["PATH"] == f"{env['TMPDIR']}:/opt/qsys/bin:/usr/local/bin:/usr/bin:/bin"  # TMPDIR first, as in SGE
    assert env["SGE_STDOUT_PATH"] == str(area / "envjob.o12")
    assert env["SGE_STDERR_PATH"] == str(area / "envjob.e12")
    assert env["SGE_ROOT"] == "/opt/qsysroot" and env["PWD"] == str(area)


def test_user_variables_and_path_precedence(area: Path) -> None:
    launch = make_launch(area, binary=True, command="/usr/bin/env", script=None, name="v",
                         env={"FOO": "bar baz", "JOB_ID": "spoofed", "PATH": "/mine:/usr/bin"})
    run_shepherd(area, launch)
    env = dict(line.split("=", 1) for line in (area / "v.o12").read_text().splitlines())
    assert env["FOO"] == "bar baz"
    assert env["JOB_ID"] == "12"  # Grid Engine's own variables win
    assert env["PATH"] == f"{env['TMPDIR']}:/mine:/usr/bin"  # but the user's PATH is kept, after TMPDIR


def test_array_task_names_and_variables(area: Path) -> None:
    launch = make_launch(area, job_id=40, task_id=3, name="arr", tasks={"first": 1, "last": 5, "step": 2},
                         script=script('echo "$SGE_TASK_ID $SGE_TASK_FIRST $SGE_TASK_LAST $SGE_TASK_STEPSIZE"\n'))
    run_shepherd(area, launch)
    assert (area / "arr.o40.3").read_text() == "3 1 5 2\n"
    assert (area / "arr.e40.3").exists()


def test_output_path_expansion_directory_and_host_entries(area: Path) -> None:
    outdir = area / "outs"
    outdir.mkdir()
    me = pwd.getpwuid(os.getuid()).pw_name
    launch = make_launch(area, name="exp", script=script("echo out; echo err >&2\n"),
                         stdout_paths=["otherhost:/nowhere/x", "fallback.txt",
                                       "node7:o_$USER.$JOB_ID.$JOB_NAME.$HOSTNAME"],
                         stderr_paths=[str(outdir)])
    run_shepherd(area, launch)
    assert (area / f"o_{me}.12.exp.node7").read_text() == "out\n"
    assert (outdir / "exp.e12").read_text() == "err\n"
    assert not (area / "fallback.txt").exists()


def test_join_puts_stderr_into_stdout(area: Path) -> None:
    launch = make_launch(area, name="j", join=True, stdout_paths=["$TASK_ID.log"],
                         script=script("echo one; echo two >&2; echo three\n"))
    run_shepherd(area, launch)
    assert (area / "undefined.log").read_text() == "one\ntwo\nthree\n"
    assert not (area / "j.e12").exists()


def test_binary_argv_kept_exactly(area: Path) -> None:
    args = ["%s|", "a b", "", "'q\"", "$HOME", "*", "  lead"]
    launch = make_launch(area, binary=True, command="printf", args=args, script=None, name="argv")
    report, _ = run_shepherd(area, launch)
    assert report["exit_status"] == 0
    assert (area / "argv.o12").read_text() == "a b||'q\"|$HOME|*|  lead|"


def test_script_arguments_and_shell_option(area: Path) -> None:
    launch = make_launch(area, name="bash", shell="/bin/bash", args=["x y", ""],
                         script=script('echo "${BASH_VERSION:+bash} $# [$1] [$2]"\n'))
    run_shepherd(area, launch)
    assert (area / "bash.o12").read_text() == "bash 2 [x y] []\n"


def test_unix_behavior_runs_the_scripts_interpreter(area: Path) -> None:
    launch = make_launch(area, name="ub", script=script("#!/usr/bin/python3\nprint('py', 6 * 7)\n"))
    launch.shell_start_mode = "unix_behavior"
    run_shepherd(area, launch)
    assert (area / "ub.o12").read_text() == "py 42\n"


@pytest.mark.parametrize(("code", "rerun", "error_state"), [(0, False, False), (3, False, False),
                                                            (99, True, False), (100, False, True)])
def test_exit_status_rerun_and_error_state(area: Path, code: int, rerun: bool, error_state: bool) -> None:
    report, tdir = run_shepherd(area, make_launch(area, script=script(f"exit {code}\n")))
    assert report["exit_status"] == code and report["signal"] == 0 and report["failed"] == 0
    assert report["rerun"] is rerun and report["error_state"] is error_state
    assert report["end_time"] >= report["start_time"] > 0
    assert tdir.job_pid() is not None


def test_signal_is_reported(area: Path) -> None:
    report, _ = run_shepherd(area, make_launch(area, script=script("kill -TERM $$\nsleep 5\n")))
    assert report["signal"] == 15 and report["exit_status"] == 128 + 15


def test_h_rt_kills_the_process_group(area: Path) -> None:
    launch = make_launch(area, script=script("sleep 30 &\nsleep 30\n"))
    launch.h_rt = 1.0
    report, _ = run_shepherd(area, launch)
    assert report["signal"] == 9 and report["failed"] == 37
    assert "h_rt" in report["error"]


def test_s_rt_sends_usr1(area: Path) -> None:
    launch = make_launch(area, name="srt", script=script("trap 'echo got usr1; exit 5' USR1\nsleep 30 & wait\n"))
    launch.s_rt = 1.0
    report, _ = run_shepherd(area, launch)
    assert report["exit_status"] == 5
    assert (area / "srt.o12").read_text() == "got usr1\n"


def test_h_vmem_limits_the_address_space(area: Path) -> None:
    code = "x = bytearray(300 * 1024 * 1024); print('allocated')"
    launch = make_launch(area, name="mem", binary=True, command="/usr/bin/python3", args=["-c", code], script=None)
    launch.h_vmem = 150 * 1024 * 1024
    report, _ = run_shepherd(area, launch)
    assert report["exit_status"] != 0
    assert "MemoryError" in (area / "mem.e12").read_text()
    launch.h_vmem = None
    report, _ = run_shepherd(area, launch)
    assert report["exit_status"] == 0


def test_h_cpu_limits_cpu_time(area: Path) -> None:
    launch = make_launch(area, name="cpu", binary=True, command="/usr/bin/python3", args=["-c", "while True: pass"],
                         script=None)
    launch.h_cpu = 1.0
    report, _ = run_shepherd(area, launch)
    assert report["signal"] in (9, 24)  # SIGXCPU at the limit (SIGKILL past the hard one)
    assert report["cpu"] >= 0.5


BOURNE_REPORT = 'echo "$0|$#|$1|$2|$PATH|$-"\n'
CSH_REPORT = 'echo "$#argv|$argv[1]|$argv[2]|$PATH"\n'


@pytest.mark.parametrize(("shell", "report"), [("/bin/bash", BOURNE_REPORT), ("/bin/sh", BOURNE_REPORT),
                                               ("/bin/tcsh", CSH_REPORT)])
def test_login_shell_puts_tmpdir_and_the_commands_first_after_its_profile(area: Path, shell: str,
                                                                         report: str) -> None:
    """/etc/profile sets PATH anew in a login shell; TMPDIR (a PE's rsh wrapper) and the qsys
    commands' directory (SGE_BINARY_PATH) stay first, so the job's qsub is this cluster's."""
    launch = make_launch(area, name="login", shell=shell, args=["a b", "c"], script=script(report),
                         env={"PATH": "/mine:/usr/bin:/bin"})
    launch.pe = "mpi"
    result, tdir = run_shepherd(area, launch)
    assert result["exit_status"] == 0, (area / "login.e12").read_text()
    fields = (area / "login.o12").read_text().strip().split("|")
    tmpdir = str(area / "12.1.all.q")
    if report is BOURNE_REPORT:
        zero, count, first, second, path, _ = fields
        assert zero == str(tdir.script_path) and (count, first, second) == ("2", "a b", "c")
    else:
        count, first, second, path = fields
        assert (count, first, second) == ("2", "a b", "c")
    entries = path.split(":")
    assert entries[:2] == [tmpdir, "/opt/qsys/bin"] and entries.count(tmpdir) == 1
    assert entries.count("/opt/qsys/bin") == 1
    if shell == "/bin/tcsh":
        return  # Debian's /etc/csh.login leaves PATH alone
    assert "/mine" not in entries, "the login shell's profile set PATH anew before the job"
    launch.pe = None  # a job of no PE alike
    run_shepherd(area, launch)
    assert (area / "login.o12").read_text().strip().splitlines()[-1].split("|")[4].split(":")[:2] == \
        [tmpdir, "/opt/qsys/bin"]


def test_tmpdir_exists_during_the_job_and_is_removed_after(area: Path) -> None:
    launch = make_launch(area, name="tmp", script=script('test -d "$TMPDIR" && touch "$TMPDIR/f" && echo "$TMPDIR"\n'))
    report, _ = run_shepherd(area, launch)
    assert report["exit_status"] == 0
    tmpdir = (area / "tmp.o12").read_text().strip()
    assert tmpdir == str(area / "12.1.all.q")
    assert not os.path.exists(tmpdir)


def test_a_tmpdir_of_the_same_name_in_use_is_left_alone(area: Path) -> None:
    """Another cluster's job 12.1 on this machine has the name: the job gets its own."""
    theirs = area / "12.1.all.q"
    theirs.mkdir()
    (theirs / "in-use").write_text("x")
    launch = make_launch(area, name="tmp", script=script('echo "$TMPDIR"\n'))
    report, _ = run_shepherd(area, launch)
    assert report["exit_status"] == 0
    ours = (area / "tmp.o12").read_text().strip()
    assert ours != str(theirs) and os.path.basename(ours).startswith("12.1.all.q.")
    assert (theirs / "in-use").read_text() == "x" and not os.path.exists(ours)


def test_bad_working_directory_fails_before_the_job(area: Path) -> None:
    report, tdir = run_shepherd(area, make_launch(area, cwd=str(area / "missing")))
    assert report["failed"] == 28 and report["error_state"] is True
    assert "missing" in report["error"] and "missing" in tdir.error()
    assert tdir.job_pid() is None


def test_unopenable_output_file_fails(area: Path) -> None:
    report, _ = run_shepherd(area, make_launch(area, stdout_paths=["/nonexistent/dir/out"]))
    assert report["failed"] == 26 and "/nonexistent/dir/out" in report["error"]


def test_missing_binary_fails_before_job(area: Path) -> None:
    launch = make_launch(area, binary=True, command="/no/such/program", script=None)
    report, _ = run_shepherd(area, launch)
    assert report["failed"] == 11 and "/no/such/program" in report["error"]


def test_missing_shell_fails(area: Path) -> None:
    report, _ = run_shepherd(area, make_launch(area, shell="/no/such/shell"))
    assert report["failed"] == 27


def test_prolog_and_epilog(area: Path) -> None:
    launch = make_launch(area, name="pe", script=script("echo job\n"))
    launch.prolog = "echo prolog $JOB_ID"
    launch.epilog = "echo epilog"
    report, _ = run_shepherd(area, launch)
    assert report["failed"] == 0
    assert (area / "pe.o12").read_text() == "prolog 12\njob\nepilog\n"
    launch.prolog = "exit 3"
    report, _ = run_shepherd(area, launch)
    assert report["failed"] == 8 and report["error_state"] is True


def test_parallel_job_gets_a_hostfile(area: Path) -> None:
    launch = make_launch(area, name="par", script=script('echo "$PE $NHOSTS"; cat "$PE_HOSTFILE"\n'))
    launch.pe = "mpi"
    launch.total_slots = 3
    launch.hosts = [PeHostEntry("node7", 2, "all.q@node7"), PeHostEntry("node8", 1, "all.q@node8")]
    run_shepherd(area, launch)
    assert (area / "par.o12").read_text() == (
        "mpi 2\nnode7 2 all.q@node7 UNDEFINED\nnode8 1 all.q@node8 UNDEFINED\n")


def test_kill_request_before_start_keeps_the_job_from_running(area: Path) -> None:
    spool = Spool(area / "spool")
    spool.ensure()
    launch = make_launch(area, name="k", script=script("echo ran\n"))
    tdir = spool.create_task(launch, {"execd_mode": "personal"})
    tdir.request_kill(9)
    subprocess.run([sys.executable, "-m", "execd.shepherd", str(tdir.path)], check=True, cwd=REPO)
    report = tdir.exit_report()
    assert report is not None and report["killed"] is True
    assert not (area / "k.o12").exists()
