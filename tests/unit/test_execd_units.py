"""Pure parts of the exec daemon: path rules, identity policy, timers, load, usage, spool."""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest

from execd import identity
from execd.daemon import parse_hms
from execd.load import LoadSampler, topology
from execd.spool import Spool, proc_start_time
from execd.usage import decode_status, empty_report, report_from_wait
from qsys import output_paths as outputs
from qsys.launch import Launch


def ctx(tmp_path: Path, is_array: bool = False) -> outputs.PathContext:
    return outputs.PathContext(job_id=7, task_id=2, is_array=is_array, job_name="jn", home="/home/u",
                               user="u", hostname="node1", cwd=str(tmp_path))


def test_expand_pseudo_variables(tmp_path: Path) -> None:
    c = ctx(tmp_path)
    assert outputs.expand("$HOME/$USER/$JOB_NAME.$JOB_ID.$TASK_ID@$HOSTNAME", c) == "/home/u/u/jn.7.undefined@node1"
    assert outputs.expand("$TASK_ID $JOB_IDX $OTHER", ctx(tmp_path, True)) == "2 $JOB_IDX $OTHER"


def test_pick_prefers_this_host_then_no_host() -> None:
    assert outputs.pick(["a:/x", "/y", "node1:/z"], "node1") == "/z"
    assert outputs.pick(["a:/x", "/y"], "node1.example.org") == "/y"
    assert outputs.pick(["a:/x"], "node1") is None
    assert outputs.pick(["node1.example.org:/q"], "node1") == "/q"


def test_resolve_defaults_relative_and_directories(tmp_path: Path) -> None:
    c = ctx(tmp_path)
    assert outputs.resolve([], "o", c) == str(tmp_path / "jn.o7")
    assert outputs.resolve([], "e", ctx(tmp_path, True)) == str(tmp_path / "jn.e7.2")
    assert outputs.resolve(["rel/$JOB_ID"], "o", c) == str(tmp_path / "rel" / "7")
    (tmp_path / "d").mkdir()
    assert outputs.resolve(["d"], "e", c) == str(tmp_path / "d" / "jn.e7")


def test_plan_join_and_stdin(tmp_path: Path) -> None:
    p = outputs.plan(["out"], ["err"], None, True, ctx(tmp_path))
    assert p.stdout == p.stderr == str(tmp_path / "out") and p.stdin == "/dev/null"
    p = outputs.plan([], [], "in.$JOB_ID", False, ctx(tmp_path))
    assert p.stdin == str(tmp_path / "in.7") and p.stderr == str(tmp_path / "jn.e7")


def _launch(owner: str = "root") -> Launch:
    return Launch(job_id=1, task_id=1, is_array=False, spec={}, owner=owner, uid=0, group="", gid=0,
                  queue="all.q", host="h", slots=1, total_slots=1)


def test_policy_from_conf() -> None:
    pol = identity.IdentityPolicy.from_conf({"execd_mode": "service", "min_uid": "500", "min_gid": "x",
                                             "execd_deny_users": "a, b", "execd_allow_users": "NONE",
                                             "execd_identity": "log_only"})
    assert (pol.mode, pol.min_uid, pol.min_gid, pol.deny, pol.allow, pol.log_only) == \
        ("service", 500, 0, ["a", "b"], [], True)
    assert identity.IdentityPolicy.from_conf(pol.to_conf()) == pol


def test_personal_mode_runs_as_the_daemons_user() -> None:
    ident = identity.decide(identity.IdentityPolicy(), _launch("somebody_else"))
    assert ident.uid == os.getuid() and ident.switch is False


def test_service_mode_refuses_root_and_unknown_users() -> None:
    with pytest.raises(identity.IdentityRefused, match="root"):
        identity.decide(identity.IdentityPolicy(mode="service"), _launch("root"))
    with pytest.raises(identity.IdentityRefused, match="does not exist"):
        identity.decide(identity.IdentityPolicy(mode="service"), _launch("no_such_user_qsys"))


@pytest.mark.parametrize(("text", "seconds"), [("00:00:40", 40), ("01:02:03", 3723), ("7", 7), ("x", 40),
                                               ("00:00:00", 40)])
def test_parse_hms(text: str, seconds: float) -> None:
    assert parse_hms(text) == seconds


def test_load_sample_has_grid_engine_names() -> None:
    values = LoadSampler().sample()
    for name in ("load_avg", "np_load_avg", "num_proc", "mem_free", "mem_total", "swap_total", "cpu",
                 "virtual_free", "load_short", "load_medium", "load_long"):
        assert isinstance(values[name], float)
    assert values["mem_total"] >= values["mem_free"] > 0
    assert values["num_proc"] == os.cpu_count()
    topo = topology()
    assert topo.processors >= 1 and topo.threads >= topo.cores >= 1 <= topo.sockets


def test_usage_report_from_wait() -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(99)
    _, status, ru = os.wait4(pid, 0)
    report = report_from_wait(status, ru, 100.0, 103.5)
    assert report["exit_status"] == 99 and report["rerun"] is True and report["error_state"] is False
    assert report["ru_wallclock"] == 3.5 and set(empty_report()) == set(report)
    assert report["cpu"] == pytest.approx(report["ru_utime"] + report["ru_stime"])
    assert isinstance(ru, resource.struct_rusage)
    pid = os.fork()
    if pid == 0:
        os.kill(os.getpid(), 9)
    _, status = os.waitpid(pid, 0)
    assert decode_status(status) == (137, 9)


def test_spool_round_trip(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s")
    spool.ensure()
    launch = _launch()
    launch.spec = {"script": b"echo hi\n", "binary": False}
    tdir = spool.create_task(launch, {"execd_mode": "personal"})
    assert tdir.script_path.read_bytes() == b"echo hi\n"
    assert os.stat(tdir.script_path).st_mode & 0o777 == 0o700  # the shepherd hands it to the job user
    assert tdir.launch().spec["script"] is None and tdir.execd_conf() == {"execd_mode": "personal"}
    assert [t.key for t in spool.tasks()] == [(1, 1)]
    tdir.write_shepherd_pid(os.getpid())
    assert tdir.shepherd_alive()
    assert proc_start_time(os.getpid()) == tdir.shepherd_pid()[1]  # type: ignore[index]
    tdir.write_exit({"exit_status": 1})
    assert tdir.exit_report() == {"exit_status": 1}
    tdir.remove()
    assert list(spool.tasks()) == []


def test_forkserver_preloads_only_what_it_may_and_again_after_a_restart() -> None:
    from execd.forkserver import ForkServerClient

    forks = ForkServerClient()
    forks.start()
    try:
        assert forks.preload("os").startswith("error: os is not preloadable")
        assert forks.preload("execd.sshd") == "ok"
        assert forks.proc is not None
        maps = Path(f"/proc/{forks.proc.pid}/maps").read_text()
        assert "cryptography" in maps  # asyncssh's crypto is loaded in the forkserver
        forks.stop()
        forks.start()  # a restarted forkserver gets its preloads again
        assert forks.proc is not None and "cryptography" in Path(f"/proc/{forks.proc.pid}/maps").read_text()
    finally:
        forks.stop()


def _wait_for(check, what: str, seconds: float = 20.0):  # type: ignore[no-untyped-def]
    from qsys.testing.waiting import wait_until

    return wait_until(check, seconds, what, interval=0.01)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def test_forkserver_starts_a_batch_task_on_a_spare_shepherd(tmp_path: Path) -> None:
    from execd.forkserver import SPARES, ForkServerClient

    forks = ForkServerClient()
    forks.start()
    try:
        task = tmp_path / "5.1"  # no job.json: the shepherd fails "before job" and says so
        task.mkdir()
        forks._collect_spares(every=True)
        spares = forks.spare_pids
        assert len(spares) == SPARES and all(not _gone(pid) for pid in spares)  # forked ahead, waiting
        pid = forks.fork(str(task))
        assert pid == spares[0]  # no fork on request: the first spare took it
        report = _wait_for(lambda: (task / "exit.json").exists() and (task / "exit.json").read_text(), "its report")
        assert '"failed": 1' in report
        forks.refill()
        forks._collect_spares(every=True)
        assert len(forks.spare_pids) == SPARES and pid not in forks.spare_pids
    finally:
        forks.stop()


def test_a_spare_starts_its_task_while_a_process_spawned_after_it_lives(tmp_path: Path) -> None:
    """A process the daemon spawns without closing descriptors (a lean spare, posix_spawn)
    must not hold a Python spare's pipe open: the spare reads its task to EOF."""
    import signal

    from execd.forkserver import ForkServerClient

    forks = ForkServerClient()
    forks.start()
    bystander = 0
    try:
        forks._collect_spares(every=True)
        spares = forks.spare_pids
        assert spares
        bystander = os.posix_spawn("/bin/sleep", ["sleep", "60"], dict(os.environ))  # inherits what is inheritable
        task = tmp_path / "7.1"
        task.mkdir()
        assert forks.fork(str(task)) == spares[0]
        report = _wait_for(lambda: (task / "exit.json").exists() and (task / "exit.json").read_text(), "its report")
        assert '"failed": 1' in report
    finally:
        if bystander:
            os.kill(bystander, signal.SIGKILL)
            os.waitpid(bystander, 0)
        forks.stop()


def test_a_killed_spare_is_passed_over_and_stop_leaves_no_spare(tmp_path: Path) -> None:
    import signal

    from execd.forkserver import ForkServerClient

    forks = ForkServerClient()
    forks.start()
    try:
        forks._collect_spares(every=True)
        spares = forks.spare_pids
        for pid in spares:
            os.kill(pid, signal.SIGKILL)
        _wait_for(lambda: all(_gone(pid) for pid in spares), "the spares to die")
        task = tmp_path / "6.1"
        task.mkdir()
        pid = forks.fork(str(task))
        assert pid not in spares  # forked on request instead
        _wait_for(lambda: (task / "exit.json").exists(), "its report")
        forks.refill()
        forks._collect_spares(every=True)
        left = forks.spare_pids
        assert left
    finally:
        forks.stop()
    _wait_for(lambda: all(_gone(pid) for pid in left), "the spares to exit at EOF")


def test_a_retired_task_directory_leaves_the_spool_at_once_and_for_good(tmp_path: Path) -> None:
    from execd.reaper import shepherd_pids
    from execd.spool import RETIRED, remove_retired

    spool = Spool(tmp_path / "spool")
    spool.ensure()
    tdir = spool.task_dir(3, 1)
    tdir.path.mkdir()
    tdir.write_shepherd_pid(os.getpid())
    retired = tdir.retire()
    assert retired is not None and retired.name.startswith(RETIRED) and not tdir.path.exists()
    assert list(spool.tasks()) == [] and shepherd_pids(spool.root) == set()  # no task's any more
    left = spool.task_dir(4, 1).retire()  # a daemon stopped before it removed one
    assert left is None  # (nothing to rename: nothing left either)
    spool.ensure()  # the next start removes what was retired and not removed
    assert not retired.exists()
    remove_retired(None)


def test_the_end_takes_the_last_samples_carriers_as_its_first_round(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from execd import procs, reaper

    scans: list[int] = []
    monkeypatch.setattr(procs, "carriers", lambda gid: scans.append(gid) or [])
    job = subprocess.Popen(["/bin/true"], process_group=0)
    job.wait()
    reaper.end_all(job.pid, 20001, carried_after_job=[])
    assert scans == []  # none carried the ID after the job: nothing can now, no scan
    stray = subprocess.Popen(["sleep", "30"], process_group=0)
    reaper.end_all(job.pid, 20001, carried_after_job=[stray.pid])
    assert _gone(stray.pid) and scans and set(scans) == {20001}  # killed and reaped, then scans: none left
    stray.returncode = -9  # reaped by end_all already
