"""A hung exec daemon (SIGSTOP): after max_unheard its host and queue instances are ``u`` and
get no new jobs; after reschedule_unknown its rerunnable jobs run elsewhere (accounted with
failed 25), the others wait for ``qmod -f -rj``; when it wakes up the copies that were
moved away are killed there, so no job ever runs twice at the end."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusterlib import Cluster, wait_until
from tests.hostfaults import FAST_UNHEARD, copies, job_states, queue_states, set_global_conf


@pytest.fixture
def two_hosts(qsys_root: Path) -> Iterator[Cluster]:
    cluster = Cluster(qsys_root / "cell", hosts=["node1", "node2"], slots=1)
    stopped: list[int] = []
    cluster.stopped = stopped  # type: ignore[attr-defined]
    try:
        cluster.start()
        yield cluster
    finally:
        for pid in stopped:  # never leave a stopped process behind
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        cluster.teardown()


def _submit(cluster: Cluster, *args: str) -> int:
    done = cluster.run("qsub", "-terse", "-o", "/dev/null", "-j", "y", *args, check=True)
    return int(done.stdout.split(".")[0])


def test_a_hung_exec_daemon_makes_its_host_unknown_and_its_jobs_move(two_hosts: Cluster, qsys_root: Path) -> None:
    cluster = two_hosts
    set_global_conf(cluster, qsys_root, FAST_UNHEARD)
    cluster.run("qconf", "-mattr", "queue", "slots", "2", "all.q@node1", check=True)
    cluster.run("qmod", "-d", "all.q@node2", check=True)
    marker_r, marker_n = f"36{os.getpid() % 100:02d}1", f"36{os.getpid() % 100:02d}2"
    rerun = _submit(cluster, "-r", "y", "-b", "y", "/bin/sleep", marker_r)
    plain = _submit(cluster, "-r", "n", "-b", "y", "/bin/sleep", marker_n)
    wait_until(lambda: job_states(cluster).get(rerun) == ("r", "all.q@node1") and
               job_states(cluster).get(plain) == ("r", "all.q@node1"), 30, "both jobs on node1")
    cluster.run("qmod", "-e", "all.q@node2", check=True)
    wait_until(lambda: copies(marker_r) == 1 and copies(marker_n) == 1, 30, "the jobs' processes")

    execd = cluster.execd_procs["node1"].pid
    os.kill(execd, signal.SIGSTOP)
    stopped_at = time.monotonic()
    cluster.stopped.append(execd)  # type: ignore[attr-defined]
    wait_until(lambda: "u" in queue_states(cluster).get("all.q@node1", ""), 30, "all.q@node1 in state u")
    unknown_after = time.monotonic() - stopped_at
    table = cluster.run("qhost", check=True).stdout.splitlines()
    node1 = next(line.split() for line in table if line.startswith("node1"))
    assert node1[table[0].split().index("LOAD")] == "-", table  # no load for an unknown host, as Grid Engine
    fresh = _submit(cluster, "-b", "y", "/bin/true")

    # after reschedule_unknown the rerunnable job runs on node2; the other one stays
    wait_until(lambda: job_states(cluster).get(rerun) == ("Rr", "all.q@node2"), 60,
               "the rerunnable job to run again, on node2")
    rerun_after = time.monotonic() - stopped_at
    assert job_states(cluster).get(plain) == ("r", "all.q@node1")
    wait_until(lambda: fresh not in job_states(cluster), 30, "the new job to run (on node2)")
    fields = _records(cluster, rerun)
    assert [(f[1], f[11], f[12], f[9], f[10]) for f in fields] == [("node1", "25", "0", "0", "0")]
    fresh_host = _records(cluster, fresh)[0][1]
    assert fresh_host == "node2", "nothing is dispatched to an unknown host"

    forced = cluster.run("qmod", "-f", "-rj", str(plain), check=True)
    assert forced.stdout == f"Forced rescheduling of job {plain} on host node1\n"
    wait_until(lambda: job_states(cluster).get(plain, ("", ""))[1] == "all.q@node2" or
               job_states(cluster).get(plain, ("", ""))[0] == "Rq", 30, "the forced job rescheduled")

    # the host wakes up: the copies moved away are killed there
    os.kill(execd, signal.SIGCONT)
    cluster.stopped.remove(execd)  # type: ignore[attr-defined]
    woke_at = time.monotonic()
    wait_until(lambda: "u" not in queue_states(cluster).get("all.q@node1", "u"), 30, "node1 known again")
    known_after = time.monotonic() - woke_at
    wait_until(lambda: copies(marker_r) == 1, 30, "one copy of the rerunnable job")
    print(f"\nSIGSTOP of the exec daemon ({FAST_UNHEARD}): u after {unknown_after:.2f}s, the -r y job running "
          f"on node2 after {rerun_after:.2f}s; after SIGCONT known again after {known_after:.2f}s, the moved "
          f"copy killed after {time.monotonic() - woke_at:.2f}s")
    wait_until(lambda: copies(marker_n) <= 1, 30, "at most one copy of the forced job")
    messages = (cluster.cell.master_spool / "messages").read_text()
    assert f"host=node1 job={rerun}.1 runs here but not for the master any more: killing it" in messages
    assert copies(marker_r) == 1
    cluster.run("qdel", str(rerun), str(plain), check=True)
    cluster.wait_idle(60)
    assert copies(marker_r) == 0 and copies(marker_n) == 0


def _records(cluster: Cluster, job_id: int) -> list[list[str]]:
    path = cluster.cell.accounting_file
    return [line.split(":") for line in path.read_text().splitlines()
            if not line.startswith("#") and line.split(":")[5] == str(job_id)]
