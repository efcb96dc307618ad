"""The Grid Engine submit option parser: every option, precedence, scripts, errors."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qsys.cli.options import (
    SUBMIT_OPTIONS,
    Option,
    ParseState,
    directive_args,
    parse_options,
    parse_submit_args,
    scan,
)
from qsys.errors import QsysError, UsageError
from qsys.jobspec import JobSpec, PeRequest, TaskRange
from tests import REFERENCE

ENV = {"HOME": "/home/u", "PATH": "/bin:/usr/bin", "SHELL": "/bin/sh", "FOO": "foo", "BAR": "b"}


def parse(argv: list[str], tmp_path: Path, *, stdin: bytes = b"echo hi\n", files=()) -> JobSpec:
    """Submit-parse in tmp_path with no sge_request files unless given."""
    return parse_submit_args(
        argv,
        environ=ENV,
        cwd=str(tmp_path),
        stdin=io.BytesIO(stdin),
        request_files=[str(f) for f in files],
    )


def binary(argv: list[str], tmp_path: Path) -> JobSpec:
    return parse(["-b", "y", *argv, "/bin/true"], tmp_path)


def test_import_time() -> None:
    code = (
        "import time; t = time.perf_counter(); import qsys.cli.options; "
        "print(round((time.perf_counter() - t) * 1000, 1))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    print(f"import qsys.cli.options: {out.stdout.strip()} ms")
    modules = subprocess.run(
        [sys.executable, "-c", "import sys, qsys.cli.options; print(' '.join(sys.modules))"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    for heavy in ("lark", "click", "asyncio", "sqlalchemy"):
        assert heavy not in modules


# --------------------------------------------------------------------------- command and script


def test_binary_argv_kept_exactly(tmp_path: Path) -> None:
    args = ["-c", 'echo "a  b" \'c\'', "", " lead", "-N", "x y"]
    spec = parse(["-b", "y", "sh", *args], tmp_path)
    assert spec.binary and spec.command == "sh" and spec.args == args
    assert spec.script is None and spec.name == "sh"


def test_binary_skips_directives(tmp_path: Path) -> None:
    (tmp_path / "tool").write_text("#$ -N fromscript\n")
    spec = parse(["-b", "y", "tool"], tmp_path)
    assert spec.name == "tool" and spec.script is None


def test_script_file_read_with_args(tmp_path: Path) -> None:
    (tmp_path / "job.sh").write_bytes(b"#!/bin/sh\necho $1\n")
    spec = parse(["job.sh", "one", "two words"], tmp_path)
    assert not spec.binary
    assert spec.script == b"#!/bin/sh\necho $1\n"
    assert spec.command == "job.sh" and spec.args == ["one", "two words"]
    assert spec.name == "job.sh"


def test_default_name_is_basename(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "run.sh").write_text("true\n")
    assert parse(["sub/run.sh"], tmp_path).name == "run.sh"


def test_stdin_script(tmp_path: Path) -> None:
    spec = parse([], tmp_path, stdin=b"#$ -N piped\necho hi\n")
    assert spec.command == "STDIN" and spec.script == b"#$ -N piped\necho hi\n"
    assert spec.name == "piped"
    assert parse([], tmp_path).name == "STDIN"


def test_missing_script_file(tmp_path: Path) -> None:
    with pytest.raises(QsysError, match="Unable to read script file.*nosuch.sh"):
        parse(["nosuch.sh"], tmp_path)


def test_binary_needs_command(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        parse(["-b", "y"], tmp_path)


def test_submit_env_and_cwd(tmp_path: Path) -> None:
    spec = binary(["-cwd"], tmp_path)
    assert spec.cwd == str(tmp_path) and spec.submit_cwd == str(tmp_path)
    env = spec.submit_env
    assert set(env) == {"HOME", "LOGNAME", "PATH", "SHELL", "WORKDIR", "HOST"}
    assert env["HOME"] == "/home/u" and env["PATH"] == "/bin:/usr/bin"
    assert env["WORKDIR"] == str(tmp_path) and "." not in env["HOST"] and env["HOST"]
    assert binary([], tmp_path).cwd is None
    assert binary(["-wd", "/scratch"], tmp_path).cwd == "/scratch"


# --------------------------------------------------------------------------- simple options


@pytest.mark.parametrize(
    ("argv", "attr", "expected"),
    [
        (["-N", "myjob"], "name", "myjob"),
        (["-o", "out.txt"], "stdout_paths", ["out.txt"]),
        (["-e", "h1:/e1,h2:/e2"], "stderr_paths", ["h1:/e1", "h2:/e2"]),
        (["-j", "y"], "join", True),
        (["-j", "no"], "join", False),
        (["-S", "/bin/bash"], "shell", "/bin/bash"),
        (["-q", "a.q,b.q@host"], "hard_queues", ["a.q", "b.q@host"]),
        (["-masterq", "m.q"], "master_queues", ["m.q"]),
        (["-tc", "4"], "task_concurrency", 4),
        (["-p", "-1023"], "priority", -1023),
        (["-p", "1024"], "priority", 1024),
        (["-h"], "hold", True),
        (["-hold_jid", "12,build*"], "hold_jids", ["12", "build*"]),
        (["-now", "y"], "now", True),
        (["-r", "n"], "rerunnable", False),
        (["-r", "yes"], "rerunnable", True),
        (["-A", "proj1"], "account", "proj1"),
        (["-P", "physics"], "project", "physics"),
        (["-m", "bea"], "mail_options", "bea"),
        (["-m", "n"], "mail_options", "n"),
        (["-M", "a@x,b@y"], "mail_list", ["a@x", "b@y"]),
        (["-notify"], "notify", True),
        (["-i", "in.txt"], "stdin_path", "in.txt"),
        (["-pty", "y"], "pty", True),
        (["-terse"], "terse", True),
        (["-sync", "y"], "sync", True),
        (["-verify"], "verify", True),
    ],
)
def test_simple_option(tmp_path: Path, argv: list[str], attr: str, expected: object) -> None:
    assert getattr(binary(argv, tmp_path), attr) == expected


@pytest.mark.parametrize(
    "argv",
    [["-ac", "a=1,b"], ["-dc", "a"], ["-sc", "x=y"], ["-ckpt", "blcr"], ["-c", "sx"],
     ["-R", "y"], ["-shell", "n"], ["-js", "10"], ["-w", "e"], ["-hard"], ["-soft"]],
)
def test_accepted_options(tmp_path: Path, argv: list[str]) -> None:
    assert binary(argv, tmp_path).command == "/bin/true"


def test_repeated_options_accumulate_or_replace(tmp_path: Path) -> None:
    spec = binary(["-q", "a.q", "-q", "b.q", "-N", "one", "-N", "two", "-o", "x", "-o", "y"],
                  tmp_path)
    assert spec.hard_queues == ["a.q", "b.q"] and spec.name == "two"
    assert spec.stdout_paths == ["y"]


def test_environment_options(tmp_path: Path) -> None:
    spec = binary(["-v", "FOO,X=1,EMPTY=,UNSET"], tmp_path)
    assert spec.env == {"FOO": "foo", "X": "1", "EMPTY": "", "UNSET": ""}
    assert not spec.export_all
    spec = binary(["-v", "FOO=mine", "-V"], tmp_path)
    assert spec.export_all and spec.env["FOO"] == "mine" and spec.env["BAR"] == "b"
    assert spec.env["PATH"] == "/bin:/usr/bin"


def test_resources_hard_and_soft(tmp_path: Path) -> None:
    spec = binary(
        ["-l", "h_vmem=1G,h_rt=1:00:00", "-soft", "-l", 'arch="lx*|sol*",gpu',
         "-q", "soft.q", "-hard", "-l", "hostname=!node1", "-q", "hard.q"],
        tmp_path,
    )
    assert spec.hard_resources == {"h_vmem": "1G", "h_rt": "1:00:00", "hostname": "!node1"}
    assert spec.soft_resources == {"arch": "lx*|sol*", "gpu": "TRUE"}
    assert spec.soft_queues == ["soft.q"] and spec.hard_queues == ["hard.q"]


def test_resource_value_with_quoted_comma(tmp_path: Path) -> None:
    spec = binary(["-l", "a='x,y',b=2"], tmp_path)
    assert spec.hard_resources == {"a": "x,y", "b": "2"}


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [("4", 4, 4), ("2-8", 2, 8), ("-6", 1, 6), ("3-", 3, 9999999)],
)
def test_pe_ranges(tmp_path: Path, text: str, low: int, high: int) -> None:
    assert binary(["-pe", "mpi*", text], tmp_path).pe == PeRequest("mpi*", low, high)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("5", TaskRange(5, 5, 1)), ("1-10", TaskRange(1, 10, 1)), ("2-10:4", TaskRange(2, 10, 4)),
     ("1-9:3", TaskRange(1, 9, 3)), ("1-4:2", TaskRange(1, 4, 2)), ("1-3:1", TaskRange(1, 3, 1))],
)
def test_task_ranges(tmp_path: Path, text: str, expected: TaskRange) -> None:
    spec = binary(["-t", text], tmp_path)
    assert spec.tasks == expected and spec.is_array


def test_a_task_range_is_shown_as_given_and_holds_the_tasks_its_step_reaches(tmp_path: Path) -> None:
    # SGE 8.1.9: qsub -t 1-4:2 -> "Your job-array 331.1-4:2", qstat -j "job-array tasks: 1-4:2",
    # qstat "1,3", JB_ja_structure RN_max 4
    tasks = binary(["-t", "1-4:2"], tmp_path).tasks
    assert tasks is not None and str(tasks) == "1-4:2" and list(tasks.ids()) == [1, 3] and len(tasks) == 2


def test_start_time(tmp_path: Path) -> None:
    spec = binary(["-a", "203001021530.45"], tmp_path)
    assert spec.start_time == time.mktime((2030, 1, 2, 15, 30, 45, 0, 0, -1))
    short = binary(["-a", "3001021530"], tmp_path).start_time
    assert short == time.mktime((2030, 1, 2, 15, 30, 0, 0, 0, -1))


def test_clear_forgets_earlier_options(tmp_path: Path) -> None:
    spec = binary(["-N", "a", "-l", "x=1", "-soft", "-clear", "-l", "y=2", "-h"], tmp_path)
    assert spec.name == "true" and spec.hard_resources == {"y": "2"} and spec.hold
    # what qsub does with its answer stays (SGE 8.1.9: qsub -terse -clear prints the bare id, -sync y waits)
    spec = binary(["-terse", "-sync", "y", "-verify", "-N", "a", "-clear"], tmp_path)
    assert (spec.terse, spec.sync, spec.verify, spec.name) == (True, True, True, "true")


def test_option_file(tmp_path: Path) -> None:
    (tmp_path / "opts").write_text("-N fromfile  # the name\n-l 'a=1,b=two words'\n")
    spec = binary(["-@", "opts", "-h"], tmp_path)
    assert spec.name == "fromfile" and spec.hard_resources == {"a": "1", "b": "two words"}
    assert spec.hold


def test_help_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        binary(["-help"], tmp_path)
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: qsub") and "-pe pe_name" in out


# --------------------------------------------------------------------------- precedence


def test_precedence_files_directives_command_line(tmp_path: Path) -> None:
    cell, home, local = tmp_path / "cell", tmp_path / "home", tmp_path / "local"
    cell.write_text("-N cell -A acct_cell -p 1 -l a=cell,b=cell,c=cell,d=cell\n")
    home.write_text("-N home -p 2 -l b=home,c=home,d=home\n")
    local.write_text("-N local -l c=local,d=local\n")
    (tmp_path / "job.sh").write_text("#!/bin/sh\n#$ -N directive\n#$ -l d=directive\nx\n#$ -j y\n")
    spec = parse(["-p", "5", "job.sh"], tmp_path, files=[cell, home, local])
    assert spec.name == "directive" and spec.account == "acct_cell" and spec.priority == 5
    assert spec.hard_resources == {"a": "cell", "b": "home", "c": "local", "d": "directive"}
    assert spec.join  # a directive after a non-directive line still counts
    spec = parse(["-N", "cli", "job.sh"], tmp_path, files=[cell, home, local])
    assert spec.name == "cli"


def test_soft_ends_with_its_source(tmp_path: Path) -> None:
    request = tmp_path / "request"
    request.write_text("-soft -l a=1\n")
    spec = parse(["-b", "y", "-l", "b=2", "x"], tmp_path, files=[request])
    assert spec.soft_resources == {"a": "1"} and spec.hard_resources == {"b": "2"}
    # nor past one sge_request file into the next (SGE 8.1.9: the cell file's -soft -l arch=x,
    # then ./.sge_request's -l h_vmem=1G gave hard h_vmem=1G)
    local = tmp_path / "local"
    local.write_text("-l c=3\n")
    spec = parse(["-b", "y", "x"], tmp_path, files=[request, local])
    assert spec.soft_resources == {"a": "1"} and spec.hard_resources == {"c": "3"}


def test_missing_request_files_are_skipped(tmp_path: Path) -> None:
    spec = parse(["-b", "y", "/bin/true"], tmp_path, files=[tmp_path / "nope"])
    assert spec.name == "true"


def test_default_file_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, home, work = tmp_path / "root", tmp_path / "home", tmp_path / "work"
    (root / "default" / "common").mkdir(parents=True)
    home.mkdir()
    work.mkdir()
    (root / "default" / "common" / "sge_request").write_text("-A cellacct -N cell\n")
    (home / ".sge_request").write_text("-N home -P homeproj\n")
    (work / ".sge_request").write_text("-N work\n")
    monkeypatch.setenv("QSYS_ROOT", str(root))
    monkeypatch.delenv("QSYS_CELL", raising=False)
    monkeypatch.delenv("SGE_CELL", raising=False)
    spec = parse_submit_args(["-b", "y", "x"], environ={"HOME": str(home)}, cwd=str(work))
    assert (spec.account, spec.project, spec.name) == ("cellacct", "homeproj", "work")


def test_directive_prefix(tmp_path: Path) -> None:
    (tmp_path / "job.sh").write_text("#$ -N dollar\n#PBS -N pbs\n")
    assert parse(["-C", "#PBS", "job.sh"], tmp_path).name == "pbs"
    assert parse(["job.sh"], tmp_path).name == "dollar"
    assert parse(["-C", "", "job.sh"], tmp_path).name == "job.sh"
    assert directive_args(b"#$ -l a=1 # note\n  #$ -N no\n#$-h\n", "#$") == ["-l", "a=1", "-h"]


def test_directive_cannot_name_a_script(tmp_path: Path) -> None:
    (tmp_path / "job.sh").write_text("#$ -N ok other.sh\n")
    with pytest.raises(UsageError, match="other.sh"):
        parse(["job.sh"], tmp_path)


# --------------------------------------------------------------------------- errors


def test_unknown_option_message(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        binary(["-bogus"], tmp_path)
    expected = (REFERENCE / "qsub_bad_option.stderr.txt")
    wanted = expected.read_text().strip() if expected.exists() else 'qsub: invalid option argument "-bogus"'
    assert info.value.message == wanted and info.value.exit_code == 2


def test_missing_argument(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match='-N option must have argument'):
        parse(["-N"], tmp_path)
    with pytest.raises(UsageError, match="-pe option must have argument"):
        parse(["-pe", "smp"], tmp_path)


@pytest.mark.parametrize(
    "argv",
    [["-b", "maybe"], ["-j", "x"], ["-p", "2000"], ["-p", "high"], ["-t", "0"], ["-t", "5-2"],
     ["-t", "1-4:0"], ["-t", "a-b"], ["-pe", "smp", "4-2"], ["-pe", "smp", "x"], ["-pe", "", "2"], ["-m", "bz"],
     ["-m", "bn"], ["-l", "a=1,,b=2"], ["-l", "=3"],
     ["-l", "a="], ["-l", "a='open"], ["-a", "2401"], ["-a", "202413011200"], ["-tc", "-1"],
     ["-q", ""], ["-v", "=x"], ["-w", "q"], ["-js", "x"], ["-R", "1"]],
)
def test_bad_values(tmp_path: Path, argv: list[str]) -> None:
    with pytest.raises(UsageError) as info:
        binary(argv, tmp_path)
    assert info.value.message.startswith(f'qsub: invalid option argument "{argv[0]} ')


def test_program_name_in_messages(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match='^qrsh: invalid option argument "-zz"'):
        parse_submit_args(["-zz"], program="qrsh", environ={}, cwd=str(tmp_path),
                          request_files=[])


# --------------------------------------------------------------------------- reuse


def test_parse_options_with_derived_table() -> None:
    seen: list[str] = []

    def inherit(state: ParseState, name: str, values: list[str]) -> None:
        seen.append(name)

    table = SUBMIT_OPTIONS.derive("qrsh", drop=["-t"], add=[Option("-inherit", "inherit", inherit)])
    spec = JobSpec()
    rest = parse_options(["-inherit", "-N", "n", "host", "cmd", "-t"], table, spec,
                         environ={}, cwd="/")
    assert seen == ["-inherit"] and spec.name == "n" and rest == ["host", "cmd", "-t"]
    with pytest.raises(UsageError, match='"-t"'):
        parse_options(["-t", "1-2"], table, JobSpec(), environ={}, cwd="/")


def test_scan_separates_options_from_command() -> None:
    actions, rest = scan(["-h", "-pe", "a", "2", "cmd", "-h"], SUBMIT_OPTIONS)
    assert [(a.name, a.values) for a in actions] == [("-h", []), ("-pe", ["a", "2"])]
    assert rest == ["cmd", "-h"]


def test_option_file_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match='cannot read option file "missing"'):
        binary(["-@", "missing"], tmp_path)
    (tmp_path / "loop").write_text("-@ loop\n")
    with pytest.raises(UsageError, match="nest too deeply"):
        binary(["-@", "loop"], tmp_path)


def test_directives_cannot_change_prefix_or_binary(tmp_path: Path) -> None:
    (tmp_path / "job.sh").write_text("#$ -C '#PBS'\n#$ -b y\n#PBS -N pbs\n#$ -N kept\n")
    spec = parse(["job.sh"], tmp_path)
    assert spec.name == "kept" and not spec.binary and spec.script is not None


def test_context_reservation_share_and_verify_level_are_kept() -> None:
    spec = parse_submit_args(["-ac", "a=1,b", "-ac", "c=3", "-dc", "b", "-R", "y", "-js", "5", "-ckpt", "ck",
                              "-c", "sx", "-w", "e", "-shell", "n", "-b", "y", "/bin/true"], program="qsub")
    assert spec.context == {"a": "1", "c": "3"}
    assert (spec.reserve, spec.job_share, spec.checkpoint, spec.checkpoint_when) == (True, 5, "ck", "sx")
    assert (spec.verify_level, spec.use_shell) == ("e", False)
    assert parse_submit_args(["-ac", "a=1", "-sc", "z=9", "-b", "y", "/bin/true"], program="qsub").context == {"z": "9"}
