"""Queue states and the operator commands on a real cluster: qmod, qalter, qselect,
qstat -g c / -urg / -pri, calendars, load thresholds, subordinates and access lists."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.clusterlib import Cluster, wait_until


def _start(root: Path, queue: dict[str, str] | None = None, objects: Sequence[tuple[str, str, dict[str, Any]]] = (),
           queues: dict[str, dict[str, str]] | None = None, mode: str = "personal",
           slots: int = 2) -> Cluster:
    """A cluster configured through qconf: ``objects`` (calendars, user sets) added from files,
    ``queues`` made from all.q's text (all.q itself kept only when named), attributes set."""
    cluster = Cluster(root / "cell", hosts=["node1"], slots=slots, mode=mode)
    cluster.start()
    option = {"calendar": "-Acal", "userset": "-Au"}
    for kind, _name, attrs in objects:
        path = root / f"{kind}-{_name}.txt"
        path.write_text("".join(f"{k} {v}\n" for k, v in attrs.items()))
        _qconf(cluster, option[kind], str(path))
    wanted = queues or {"all.q": queue or {}}
    template = _qconf(cluster, "-sq", "all.q")
    for name in wanted:
        if name != "all.q":
            path = root / f"queue-{name}.txt"
            path.write_text(template.replace("qname                 all.q", f"qname                 {name}", 1))
            _qconf(cluster, "-Aq", str(path))
    if "all.q" not in wanted:
        _qconf(cluster, "-dq", "all.q")
    for name, overrides in wanted.items():
        for attr, value in {"slots": str(slots), **overrides}.items():
            _qconf(cluster, "-mattr", "queue", attr, value, name)
    return cluster


def _qconf(cluster: Cluster, *args: str) -> str:
    proc = cluster.run("qconf", *args)
    assert proc.returncode == 0, f"qconf {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


@pytest.fixture
def started() -> Iterator[list[Cluster]]:
    """Clusters a test starts with _start, stopped at its end."""
    clusters: list[Cluster] = []
    yield clusters
    for cluster in clusters:
        cluster.__exit__(None, None, None)


def _submit(cluster: Cluster, *args: str, user: str | None = None) -> int:
    if user is not None:  # keep the test users' homes free of job output files
        args = ("-o", "/dev/null", "-j", "y", *args)
    proc = cluster.run("qsub", "-terse", *args, user=user)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip().split(".")[0])


def _state(cluster: Cluster, job_id: int) -> str:
    for row in cluster.jobs():
        if row.job_id == job_id:
            return str(row.state)
    return ""


def _passed_over(cluster: Cluster, job_id: int, why: str) -> str:
    """``qstat -j`` of a job once a scheduling pass considered it and said ``why`` it did not
    start it (the pass's reason: evidence that a pass ran, not just that time went by)."""
    def considered() -> str:
        detail = cluster.run("qstat", "-j", str(job_id)).stdout
        return detail if why in detail.partition("scheduling info:")[2] else ""

    return wait_until(considered, 30, f"a scheduling pass to pass job {job_id} over ({why})")


def _queue_states(cluster: Cluster, name: str = "all.q@node1") -> str:
    with cluster.client() as client:
        for row in client.queues(["*"]).queues:
            if row.name == name:
                return str(row.states)
    raise AssertionError(f"no queue instance {name}")


def _proc_states(marker: str) -> list[str]:
    """The /proc state letters of processes whose command line holds ``marker``."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            if marker in cmd and "pytest" not in cmd:
                out.append(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0])
        except OSError:
            continue
    return out


def test_disable_keeps_new_jobs_away_and_enable_lets_them_run(cluster: Cluster) -> None:
    out = cluster.run("qmod", "-d", "all.q")
    assert out.returncode == 0
    assert out.stdout.endswith('changed state of "all.q@node1" (disabled)\n')
    again = cluster.run("qmod", "-d", "all.q@node1")
    assert "already" in again.stdout
    job_id = _submit(cluster, "-b", "y", "/bin/true")
    _passed_over(cluster, job_id, 'queue instance "all.q@node1" dropped because it is disabled')
    assert _state(cluster, job_id) == "qw"
    full = cluster.run("qstat", "-f").stdout
    assert full.splitlines()[2].rstrip().endswith(" d")
    assert cluster.run("qselect", "-qs", "d").stdout == "all.q@node1\n"
    summary = cluster.run("qstat", "-g", "c").stdout.splitlines()
    assert summary[2].split()[2:] == ["0", "0", "0", "4", "0", "4"]
    assert cluster.run("qmod", "-e", "all.q").stdout.endswith("(enabled)\n")
    wait_until(lambda: not cluster.jobs(), 30, "the job to run once the queue is enabled")


def test_disabled_state_survives_a_master_restart(cluster: Cluster) -> None:
    cluster.run("qmod", "-d", "all.q@node1", check=True)
    cluster.kill_master()
    cluster.start_master()
    assert "d" in _queue_states(cluster)


def test_suspend_queue_and_job_stop_and_continue_processes(cluster: Cluster, tmp_path: Path) -> None:
    marker = f"sleep 7{os.getpid() % 1000:03d}"
    job_id = _submit(cluster, "-b", "y", "/bin/sh", "-c", marker)
    wait_until(lambda: _state(cluster, job_id) == "r" and _proc_states(marker), 30, "the job to run")
    out = cluster.run("qmod", "-s", "all.q@node1")
    assert out.stdout.endswith('changed state of "all.q@node1" (suspended)\n')
    wait_until(lambda: set(_proc_states(marker)) == {"T"}, 10, "the processes to stop")
    assert _state(cluster, job_id) == "S"
    assert "s" in _queue_states(cluster)
    cluster.run("qmod", "-us", "all.q@node1", check=True)
    wait_until(lambda: "T" not in _proc_states(marker), 10, "the processes to continue")
    assert _state(cluster, job_id) == "r"
    out = cluster.run("qmod", "-sj", str(job_id))
    assert out.stdout == f"root - suspended job {job_id}\n"
    wait_until(lambda: set(_proc_states(marker)) == {"T"}, 10, "the job's processes to stop")
    assert _state(cluster, job_id) == "s"
    assert cluster.run("qmod", "-usj", str(job_id)).stdout == f"root - unsuspended job {job_id}\n"
    wait_until(lambda: "T" not in _proc_states(marker), 10, "the job's processes to continue")
    cluster.run("qdel", str(job_id), check=True)


def test_calendar_window_suspends_then_releases_an_instance(qsys_root: Path, started: list[Cluster]) -> None:
    cluster = _start(qsys_root)
    started.append(cluster)
    marker = f"sleep 6{os.getpid() % 1000:03d}"
    job_id = _submit(cluster, "-b", "y", "/bin/sh", "-c", marker)
    wait_until(lambda: _state(cluster, job_id) == "r" and _proc_states(marker), 30, "the job to run")
    # the window is set once everything runs (a loaded machine may take long to get there)
    begin = dt.datetime.now() + dt.timedelta(seconds=2)
    end = begin + dt.timedelta(seconds=6)
    if end.date() != begin.date():
        pytest.skip("the window would pass midnight")
    path = qsys_root / "calendar-window.txt"
    path.write_text(f"calendar_name window\nyear NONE\nweek mon-sun={begin:%H:%M:%S}-{end:%H:%M:%S}=suspended\n")
    _qconf(cluster, "-Acal", str(path))
    _qconf(cluster, "-mattr", "queue", "calendar", "window", "all.q")
    wait_until(lambda: "C" in _queue_states(cluster), 15, "the calendar to suspend the instance")
    wait_until(lambda: set(_proc_states(marker)) == {"T"}, 10, "the processes to stop")
    assert _state(cluster, job_id) == "S"
    wait_until(lambda: "C" not in _queue_states(cluster), 15, "the calendar window to close")
    wait_until(lambda: "T" not in _proc_states(marker), 10, "the processes to continue")


def test_calendar_off_disables_an_instance(qsys_root: Path, started: list[Cluster]) -> None:
    cluster = _start(qsys_root, {"calendar": "never"},
                     [("calendar", "never", {"calendar_name": "never", "year": "NONE", "week": "mon-sun"})])
    started.append(cluster)
    assert "D" in _queue_states(cluster)
    job_id = _submit(cluster, "-b", "y", "/bin/true")
    _passed_over(cluster, job_id, 'queue instance "all.q@node1" dropped because it is disabled by calendar')
    assert _state(cluster, job_id) == "qw"


def test_load_threshold_puts_instance_in_alarm_and_stops_dispatch(qsys_root: Path, started: list[Cluster]) -> None:
    cluster = _start(qsys_root, {"load_thresholds": "np_load_avg=0"})
    started.append(cluster)
    wait_until(lambda: "a" in _queue_states(cluster), 10, "the load alarm")
    job_id = _submit(cluster, "-b", "y", "/bin/true")
    _passed_over(cluster, job_id, 'queue instance "all.q@node1" dropped because it is overloaded')
    assert _state(cluster, job_id) == "qw"
    assert cluster.run("qselect", "-qs", "a").stdout == "all.q@node1\n"
    summary = cluster.run("qstat", "-g", "c").stdout.splitlines()[2].split()
    assert summary[2:] == ["0", "0", "0", "2", "2", "0"]


def test_subordinate_queue_is_suspended_while_the_superordinate_is_busy(qsys_root: Path,
                                                                     started: list[Cluster]) -> None:
    cluster = _start(qsys_root, queues={"high.q": {"slots": "1", "subordinate_list": "low.q=1"},
                                         "low.q": {"slots": "1"}})
    started.append(cluster)
    marker = f"sleep 5{os.getpid() % 1000:03d}"
    low = _submit(cluster, "-q", "low.q", "-b", "y", "/bin/sh", "-c", marker)
    wait_until(lambda: _state(cluster, low) == "r" and _proc_states(marker), 30, "the low job to run")
    high = _submit(cluster, "-q", "high.q", "-b", "y", "sleep", "30")
    wait_until(lambda: _state(cluster, high) == "r", 30, "the high job to run")
    wait_until(lambda: "S" in _queue_states(cluster, "low.q@node1"), 10, "low.q to be subordinated")
    wait_until(lambda: set(_proc_states(marker)) == {"T"}, 10, "the low job to stop")
    assert _state(cluster, low) == "S"
    cluster.run("qdel", str(high), check=True)
    wait_until(lambda: "T" not in _proc_states(marker), 15, "the low job to continue")


def test_clear_error_reruns_an_exit_100_job(cluster: Cluster, tmp_path: Path) -> None:
    mark = tmp_path / "ran"
    script = f"if [ -e {mark} ]; then echo second >> {mark}; exit 0; fi; echo first > {mark}; exit 100"
    job_id = _submit(cluster, "-b", "y", "/bin/sh", "-c", script)
    wait_until(lambda: _state(cluster, job_id) == "Eqw", 30, "the job to enter Eqw")
    out = cluster.run("qmod", "-cj", str(job_id))
    assert out.returncode == 0 and out.stdout.endswith(f"cleared error state of job {job_id}\n")
    wait_until(lambda: not cluster.jobs(), 30, "the rerun to finish")
    assert mark.read_text() == "first\nsecond\n"
    assert cluster.run("qmod", "-cj", "99999").returncode == 1


def test_reschedule_reruns_a_running_job(cluster: Cluster, tmp_path: Path) -> None:
    mark = tmp_path / "runs"
    script = f"echo run >> {mark}; if [ $(wc -l < {mark}) -ge 2 ]; then exit 0; fi; sleep 60"
    job_id = _submit(cluster, "-b", "y", "/bin/sh", "-c", script)
    wait_until(lambda: mark.exists(), 30, "the first run")
    refused = cluster.run("qmod", "-rj", str(job_id))
    assert refused.returncode == 1 and "not rerunable" in refused.stdout
    out = cluster.run("qmod", "-f", "-rj", str(job_id))
    # Grid Engine's words (SGE 8.1.9 prints "Pushed rescheduling of job N on host H" without -f)
    assert out.returncode == 0 and out.stdout == f"Forced rescheduling of job {job_id} on host node1\n"
    wait_until(lambda: not cluster.jobs(), 30, "the rerun to finish")
    assert mark.read_text() == "run\nrun\n"


def test_qalter_changes_a_pending_job_and_refuses_where_ge_does(cluster: Cluster) -> None:
    held = _submit(cluster, "-h", "-N", "before", "-b", "y", "/bin/true")
    out = cluster.run("qalter", "-N", "after", "-l", "h_rt=0:10:0", "-p", "-7", str(held))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        f"modified job name of job {held}",
        f"modified hard resource list of job {held}",
        f"root@{_master_host(cluster)} sets scheduling priority of job {held} to -7",
    ]
    detail = cluster.run("qstat", "-j", str(held)).stdout
    assert "job_name:                   after" in detail
    assert "h_rt=600" in detail or "h_rt=0:10:0" in detail
    assert cluster.run("qstat", "-pri").stdout.splitlines()[2].split()[5] == "-7"
    verify = cluster.run("qalter", "-w", "v", "-l", "arch=nosuch", str(held))  # Grid Engine 8.1.9's answer:
    assert verify.returncode == 0 and verify.stdout == "verification: job is already running or is held\n"
    assert "nosuch" not in cluster.run("qstat", "-j", str(held)).stdout
    running = _submit(cluster, "-b", "y", "sleep", "30")
    wait_until(lambda: _state(cluster, running) == "r", 30, "the job to run")
    refused = cluster.run("qalter", "-pe", "smp", "2", str(running))
    assert refused.returncode == 1 and refused.stdout == f"job {running} can't modify running jobs\n"
    released = cluster.run("qalter", "-h", "U", str(held))
    assert released.stdout == f"modified hold of job {held}\n"
    cluster.run("qdel", str(running), check=True)
    wait_until(lambda: not cluster.jobs(), 30, "the jobs to end")


def _master_host(cluster: Cluster) -> str:
    return (cluster.cell.common / "act_qmaster").read_text().strip()


def test_qstat_urgency_columns(cluster: Cluster) -> None:
    _submit(cluster, "-h", "-b", "y", "/bin/true")
    _submit(cluster, "-pe", "smp", "3", "-b", "y", "sleep", "20")
    wait_until(lambda: any(r.state == "r" for r in cluster.jobs()), 30, "the pe job to run")
    lines = cluster.run("qstat", "-urg").stdout.splitlines()
    assert lines[0].startswith("job-ID  prior   nurg    urg      rrcontr  wtcontr  dlcontr  name")
    assert len(lines[1]) == 177
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    # the resource contribution is fixed (slots x 1000); urg adds the waiting time's, which
    # grows while the test runs (weight_waiting_time), so urg is only at least that
    assert [v[4] for v in rows.values()] == ["3000", "1000"]
    assert all(float(v[3]) >= float(v[4]) for v in rows.values()), rows
    cluster.run("qdel", "-u", "root", check=True)


def test_user_cannot_qmod_another_users_job(qsys_root: Path, started: list[Cluster],
                                            users: tuple[str, str]) -> None:
    alice, bob = users
    cluster = _start(qsys_root, mode="service")
    started.append(cluster)
    job_id = _submit(cluster, "-b", "y", "sleep", "30", user=alice)
    wait_until(lambda: _state(cluster, job_id) == "r", 30, "the job to run")
    refused = cluster.run("qmod", "-sj", str(job_id), user=bob)
    assert refused.returncode == 1
    assert refused.stdout == f'{bob} - you have no permission to modify job "{job_id}"\n'
    assert cluster.run("qmod", "-d", "all.q", user=bob).stdout == \
        f'{bob} - you have no permission to modify queue "all.q@node1"\n'
    own = cluster.run("qmod", "-sj", str(job_id), user=alice)
    assert own.returncode == 0 and own.stdout == f"{alice} - suspended job {job_id}\n"
    cluster.run("qdel", str(job_id), check=True)


def test_user_lists_keep_a_user_out_of_a_queue(qsys_root: Path, started: list[Cluster],
                                               users: tuple[str, str]) -> None:
    alice, bob = users
    cluster = _start(qsys_root, {"user_lists": "team"}, [("userset", "team", {
        "name": "team", "type": "ACL", "fshare": 0, "oticket": 0, "entries": alice})], mode="service")
    started.append(cluster)
    kept_out = _submit(cluster, "-b", "y", "/bin/true", user=bob)
    allowed = _submit(cluster, "-b", "y", "/bin/true", user=alice)
    wait_until(lambda: _state(cluster, allowed) == "", 30, "alice's job to run and end")
    assert _state(cluster, kept_out) == "qw"
    # Grid Engine 8.1.9's words, a line of their own (tests/reference/sge-8.1.9/qstat_j_info_access.txt)
    info = cluster.run("qstat", "-j", str(kept_out)).stdout.split("scheduling info:")[1]
    assert 'has no permission for cluster queue "all.q"' in [line.strip() for line in info.splitlines()]


def test_suspend_threshold_suspends_nsuspend_jobs_per_interval(qsys_root: Path, started: list[Cluster]) -> None:
    cluster = _start(qsys_root, {"suspend_thresholds": "np_load_avg=0", "nsuspend": "1",
                                 "suspend_interval": "00:00:01"})
    started.append(cluster)
    wait_until(lambda: "A" in _queue_states(cluster), 10, "the suspend alarm")
    marker = f"sleep 4{os.getpid() % 1000:03d}"
    first = _submit(cluster, "-b", "y", "/bin/sh", "-c", marker)
    second = _submit(cluster, "-b", "y", "/bin/sh", "-c", marker)
    wait_until(lambda: {_state(cluster, first), _state(cluster, second)} == {"T"}, 30,
               "both jobs to be suspended by the threshold")
    assert set(_proc_states(marker)) == {"T"}
    summary = cluster.run("qstat", "-g", "c").stdout.splitlines()[2].split()
    assert summary[2] == "2" and summary[6] == "2"  # used, and counted under aoACDS
    cluster.run("qdel", str(first), str(second), check=True)


def test_a_start_failure_on_the_host_sets_error_state_until_qmod_cq(cluster: Cluster) -> None:
    active = cluster.root / "default" / "spool" / "node1" / "active_jobs"
    (active / "1.1").write_text("not a task directory\n")  # the exec daemon cannot spool job 1
    job_id = _submit(cluster, "-b", "y", "/bin/true")
    assert job_id == 1
    wait_until(lambda: "E" in _queue_states(cluster), 20, "the instance's error state")
    assert _state(cluster, job_id) in ("Rq", "qw")
    assert cluster.run("qselect", "-qs", "E").stdout == "all.q@node1\n"
    (active / "1.1").unlink()
    out = cluster.run("qmod", "-cq", "all.q")
    assert out.stdout.endswith('changed state of "all.q@node1" (no error)\n')
    wait_until(lambda: not cluster.jobs(), 30, "the job to run once the error is cleared")


def test_pe_xuser_lists_keep_a_user_out_of_a_parallel_environment(qsys_root: Path, started: list[Cluster],
                                                                  users: tuple[str, str]) -> None:
    alice, bob = users
    cluster = _start(qsys_root, objects=[("userset", "banned", {"name": "banned", "type": "ACL", "fshare": 0,
                                                                  "oticket": 0, "entries": bob})], mode="service")
    started.append(cluster)
    _qconf(cluster, "-mattr", "pe", "xuser_lists", "banned", "smp")
    kept_out = _submit(cluster, "-pe", "smp", "2", "-b", "y", "/bin/true", user=bob)
    allowed = _submit(cluster, "-pe", "smp", "2", "-b", "y", "/bin/true", user=alice)
    wait_until(lambda: _state(cluster, allowed) == "", 30, "alice's parallel job to run and end")
    assert _state(cluster, kept_out) == "qw"
    assert 'no access to parallel environment "smp"' in cluster.run("qstat", "-j", str(kept_out)).stdout
