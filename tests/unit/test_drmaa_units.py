"""The pure parts of the DRMAA library: templates to JobSpecs, start times, states, outcomes,
the helper's framing."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qsys.drmaa import wire
from qsys.drmaa.backend import JobView
from qsys.drmaa.codes import DrmaaError, Errno, State
from qsys.drmaa.session import STAT_ABORTED, STAT_EXITED, STAT_SIGNALED, Outcome, drmaa_state, parse_job_id
from qsys.drmaa.template import Caller, JobTemplate, build_spec, bulk_range, parse_start_time
from qsys.jobspec import TaskRange


@pytest.fixture
def caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Caller:
    """A caller in tmp_path whose home is tmp_path/home; no cluster sge_request file."""
    monkeypatch.setenv("QSYS_ROOT", str(tmp_path / "root"))
    home = tmp_path / "home"
    home.mkdir()
    return Caller(cwd=str(tmp_path), environ={"HOME": str(home), "PATH": "/bin", "FOO": "foo"},
                  home=str(home))


def template(**scalars: str) -> JobTemplate:
    jt = JobTemplate()
    for name, value in scalars.items():
        jt.set(f"drmaa_{name}", value)
    return jt


def code_of(call, *args) -> Errno:  # type: ignore[no-untyped-def]
    with pytest.raises(DrmaaError) as info:
        call(*args)
    return info.value.code


# --------------------------------------------------------------------------- templates


def test_setting_checks_names_and_choices() -> None:
    jt = JobTemplate()
    assert code_of(jt.set, "drmaa_no_such", "x") == Errno.INVALID_ARGUMENT
    assert code_of(jt.set, "drmaa_js_state", "bogus") == Errno.INVALID_ATTRIBUTE_VALUE
    assert code_of(jt.set, "drmaa_join_files", "maybe") == Errno.INVALID_ATTRIBUTE_VALUE
    assert code_of(jt.get, "drmaa_wd") == Errno.INVALID_ATTRIBUTE_VALUE  # not set
    assert code_of(jt.set_vector, "drmaa_v_env", ["NOEQUALS"]) == Errno.INVALID_ATTRIBUTE_FORMAT
    jt.set("drmaa_join_files", "y")
    jt.set_vector("drmaa_v_argv", ["a b", ""])
    assert jt.get("drmaa_join_files") == "y"
    assert jt.get_vector("drmaa_v_argv") == ["a b", ""]


def test_a_plain_job_is_a_binary_without_shell_in_the_home_directory(caller: Caller) -> None:
    jt = template(remote_command="/bin/echo")
    jt.set_vector("drmaa_v_argv", ["a,b", "two words"])
    spec = build_spec(jt, caller)
    assert (spec.command, spec.args, spec.binary, spec.use_shell) == ("/bin/echo", ["a,b", "two words"], True, False)
    assert spec.cwd is None and spec.name == "echo" and not spec.hold
    assert spec.submit_cwd == caller.cwd


def test_missing_command_is_denied(caller: Caller) -> None:
    assert code_of(build_spec, template(job_name="x"), caller) == Errno.DENIED_BY_DRM


def test_native_specification_goes_through_qsub_options(caller: Caller) -> None:
    jt = template(remote_command="/bin/true", native_specification="-N native -l h_vmem=1G -q all.q -h -cwd")
    spec = build_spec(jt, caller)
    assert spec.name == "native" and spec.hold and spec.cwd == caller.cwd
    assert spec.hard_resources == {"h_vmem": "1G"} and spec.hard_queues == ["all.q"]
    jt.set("drmaa_job_name", "template")  # the template's attributes win, as in Grid Engine
    jt.set("drmaa_js_state", "drmaa_active")
    spec = build_spec(jt, caller)
    assert spec.name == "template" and not spec.hold


@pytest.mark.parametrize("native, message", [
    ("-frob", 'invalid option argument "-frob"'),
    ("-N ok stray", 'invalid option argument "stray"'),
    ("-N 'unbalanced", "No closing quotation"),
])
def test_bad_native_specification(caller: Caller, native: str, message: str) -> None:
    with pytest.raises(DrmaaError) as info:
        build_spec(template(remote_command="/bin/true", native_specification=native), caller)
    assert message in info.value.diagnosis


def test_bad_job_name_uses_qsubs_check(caller: Caller) -> None:
    with pytest.raises(DrmaaError) as info:
        build_spec(template(remote_command="/bin/true", job_name="a/b"), caller)
    assert info.value.code == Errno.DENIED_BY_DRM
    assert info.value.diagnosis.strip() == "argument to -N option must not contain /"  # qsub's words


def test_script_mode_reads_directives(caller: Caller, tmp_path: Path) -> None:
    (tmp_path / "job.sh").write_text("#!/bin/sh\n#$ -N fromscript\necho $1\n")
    spec = build_spec(template(remote_command="job.sh", native_specification="-b n"), caller)
    assert not spec.binary and spec.name == "fromscript" and spec.script and b"echo" in spec.script


def test_paths_placeholders_and_host(caller: Caller) -> None:
    jt = template(remote_command="/bin/true", wd="$drmaa_hd_ph$/work",
                  output_path="node1:$drmaa_wd_ph$/out.$drmaa_incr_ph$",
                  error_path=":$drmaa_hd_ph$/err", input_path=":/dev/null", join_files="y")
    jt.set_vector("drmaa_v_env", ["A=1,2", "B=x=y"])
    spec = build_spec(jt, caller, bulk_range(1, 4, 2))
    assert spec.cwd == f"{caller.home}/work"
    assert spec.stdout_paths == [f"node1:{caller.home}/work/out.$TASK_ID"]
    assert spec.stderr_paths == ["$HOME/err"] and spec.stdin_path == "/dev/null" and spec.join
    assert spec.env["A"] == "1,2" and spec.env["B"] == "x=y"
    assert spec.tasks == TaskRange(1, 3, 2)


def test_path_without_colon_is_refused(caller: Caller) -> None:
    jt = template(remote_command="/bin/true", output_path="/tmp/x")
    assert code_of(build_spec, jt, caller) == Errno.INVALID_ARGUMENT


def test_increment_placeholder_only_for_bulk_jobs(caller: Caller) -> None:
    jt = template(remote_command="/bin/true", output_path=":out.$drmaa_incr_ph$")
    assert code_of(build_spec, jt, caller) == Errno.DENIED_BY_DRM
    jt.set_vector("drmaa_v_argv", ["$drmaa_incr_ph$"])  # arguments are no paths: kept as given
    spec = build_spec(jt, caller, bulk_range(1, 2, 1))
    assert spec.args == ["$drmaa_incr_ph$"] and spec.stdout_paths == ["out.$TASK_ID"]


def test_bulk_range_checks() -> None:
    assert bulk_range(2, 10, 3) == TaskRange(2, 8, 3)
    for bad in ((0, 3, 1), (3, 2, 1), (1, 3, 0)):
        assert code_of(bulk_range, *bad) == Errno.INVALID_ARGUMENT


def test_job_category_from_qtask_files(caller: Caller, tmp_path: Path) -> None:
    cluster, user = tmp_path / "qtask", tmp_path / "user_qtask"
    cluster.write_text("# categories\nbig -l h_vmem=8G\n!locked -q fixed.q\n")
    user.write_text("big -l h_vmem=16G\nlocked -q mine.q\n")
    files = (str(cluster), str(user))
    assert build_spec(template(remote_command="/bin/true", job_category="big"), caller,
                      qtask_files=files).hard_resources == {"h_vmem": "16G"}
    assert build_spec(template(remote_command="/bin/true", job_category="locked"), caller,
                      qtask_files=files).hard_queues == ["fixed.q"]
    jt = template(remote_command="/bin/true", job_category="nocat")
    with pytest.raises(DrmaaError) as info:
        build_spec(jt, caller, qtask_files=files)
    assert (info.value.code, info.value.diagnosis) == (Errno.DENIED_BY_DRM, "Unknown job category")


NOW = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("text, expected", [
    ("13:30 +00:00", datetime(2026, 3, 10, 13, 30, tzinfo=UTC)),
    ("11:00 +00:00", datetime(2026, 3, 11, 11, 0, tzinfo=UTC)),  # past: tomorrow
    ("9 11:00:05 +00:00", datetime(2026, 4, 9, 11, 0, 5, tzinfo=UTC)),  # past: next month
    ("2027/01/02 03:04 +01:00", datetime(2027, 1, 2, 2, 4, tzinfo=UTC)),
])
def test_start_time(text: str, expected: datetime) -> None:
    assert parse_start_time(text, NOW) == expected.timestamp()


def test_bad_start_time() -> None:
    assert code_of(parse_start_time, "garbage") == Errno.DENIED_BY_DRM


# --------------------------------------------------------------------------- states and outcomes


@pytest.mark.parametrize("text, running, waits, state", [
    ("qw", False, False, State.QUEUED_ACTIVE),
    ("Rq", False, False, State.QUEUED_ACTIVE),
    ("hqw", False, False, State.USER_ON_HOLD),
    ("hqw", False, True, State.SYSTEM_ON_HOLD),
    ("Eqw", False, False, State.FAILED),
    ("r", True, False, State.RUNNING),
    ("t", True, False, State.RUNNING),
    ("dr", True, False, State.RUNNING),
    ("s", True, False, State.USER_SUSPENDED),
    ("S", True, False, State.SYSTEM_SUSPENDED),
    ("T", True, False, State.SYSTEM_SUSPENDED),
])
def test_grid_engine_state_mapping(text: str, running: bool, waits: bool, state: State) -> None:
    assert drmaa_state(text, running, waits) == state


def test_job_view_finds_tasks() -> None:
    view = JobView(is_array=True, running={2: "r"})
    view.add_pending("4-8:2,11", "hqw", [])
    assert view.task_state(2) == ("r", True) and view.task_state(6) == ("hqw", False)
    assert view.task_state(11) == ("hqw", False)
    assert view.task_state(5) is None and view.task_state(3) is None


def test_job_ids() -> None:
    assert parse_job_id("12") == (12, None) and parse_job_id("12.3") == (12, 3)
    for bad in ("abc", "1.", "1.2.3", ""):
        assert code_of(parse_job_id, bad) == Errno.INVALID_ARGUMENT


RECORD = {"exit_status": 0, "failed": 0, "cpu": 1.5, "mem": 0.25, "io": 0.01, "iow": 0.0,
          "maxvmem": 1024.0, "ru_wallclock": 3, "submission_time": 100, "start_time": 101,
          "end_time": 104, "priority": 0}


def report(status: int = 0, sig: int = 0, failed: int = 0, deleted: bool = False) -> dict[str, object]:
    return {"exit_status": status, "signal": sig, "failed": failed, "deleted": deleted}


def test_outcome_of_a_normal_exit() -> None:
    outcome = Outcome.of(report(3), dict(RECORD, exit_status=3))
    assert outcome.stat == STAT_EXITED | 3 and outcome.state == State.DONE
    assert outcome.rusage is not None
    names = [entry.split("=")[0] for entry in outcome.rusage]
    assert names[:4] == ["io", "iow", "mem", "cpu"] and names[-1] == "acct_maxvmem"
    assert "cpu=1.5000" in outcome.rusage and "acct_cpu=1.5000" in outcome.rusage
    assert "exit_status=3.0000" in outcome.rusage and "ru_wallclock=3.0000" in outcome.rusage


def test_outcome_of_a_signal_and_of_qdel() -> None:
    killed = Outcome.of(report(137, 9), dict(RECORD, exit_status=137))
    assert killed.stat == STAT_SIGNALED | 9 << 8 and killed.rusage and "signal=910.0000" in killed.rusage
    deleted = Outcome.of(report(137, 9, 100, deleted=True), dict(RECORD, exit_status=137, failed=100))
    assert deleted.stat == STAT_ABORTED and deleted.state == State.FAILED
    never = Outcome.of(report(0, 0, 0, deleted=True), None)  # deleted while pending
    assert never.aborted and never.rusage is None


def test_outcome_from_the_accounting_record_alone() -> None:
    assert Outcome.of(None, dict(RECORD, exit_status=130)).stat == STAT_SIGNALED | 2 << 8
    assert Outcome.of(None, dict(RECORD, failed=26)).aborted  # failed before the job started
    assert Outcome.of(None, dict(RECORD, exit_status=5)).stat == STAT_EXITED | 5
    assert Outcome.of(None, None).aborted


def test_wire_round_trip() -> None:
    left, right = socket.socketpair()
    with left, right:
        items = ["run", "", "é", "x" * 70000, "\udcff"]
        wire.write_message(left, items)
        assert wire.read_message(right) == items
        left.close()
        assert wire.read_message(right) is None
