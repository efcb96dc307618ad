"""A real full disk (a small tmpfs filled up), under the cell and under an exec spool.

Cell: SQLite says "database or disk is full"; a refused submission is answered as Grid
Engine answers a job it cannot spool and leaves no trace; every acknowledged job runs and
is accounted once after space returns; the logs keep whole lines only and go on.
Exec spool: a job that cannot start for want of space puts its queue instance in ``E``,
``qstat -explain E`` says why, ``qmod -c all.q`` clears it, and it clears by itself once
the spool has room again.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.clusterlib import Cluster, wait_until
from tests.diskfull import small_disk
from tests.faultlib import Stream, check_exactly_once
from tests.hostfaults import queue_states, set_global_conf

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def _whole_lines(path: Path) -> None:
    text = path.read_text()
    assert text.endswith("\n")
    cut = [line for line in text.splitlines() if not LOG_LINE.match(line) and not line.startswith("\t")]
    assert not cut, f"{path.name}: lines cut short: {cut[:3]}"


def test_the_cell_on_a_full_disk(qsys_root: Path) -> None:
    log = qsys_root / "ran.log"  # on the test's own disk: jobs may write while the cell's is full
    with small_disk(qsys_root / "cell") as disk:
        cluster = Cluster(qsys_root / "cell", hosts=["node1"], slots=2)
        try:
            cluster.start()
            stream = Stream(cluster, log).start()
            try:
                wait_until(lambda: len(stream.acked) >= 30, 120, "30 acknowledged jobs")
                disk.fill()
                wait_until(lambda: len(stream.refused) >= 5, 120, "submissions refused on the full disk")
                refused = cluster.run("qsub", "-b", "y", "-N", "full", "/bin/true")
                assert refused.returncode == 1, refused
                assert re.fullmatch(r"Unable to run job: job \d+ was rejected cause it can't be written: "
                                    r"database or disk is full\nExiting\.\n", refused.stderr), refused.stderr
                assert cluster.run("qstat", "-u", "*").returncode == 0  # reads go on
                names = {r["name"] for r in cluster.jobs()}
                assert not names & set(stream.refused), "a refused job is visible"
                disk.free_up()
                freed = time.monotonic()
                during = len(stream.acked)
                wait_until(lambda: len(stream.acked) > during, 120, "a submission accepted again")
                accepted_after = time.monotonic() - freed
                wait_until(lambda: len(stream.acked) >= during + 30, 120, "submissions accepted again")
            finally:
                stream.stop()
            cluster.wait_idle(300)
            assert cluster.master_proc is not None and cluster.master_proc.poll() is None
            messages = cluster.cell.master_spool / "messages"
            wait_until(lambda: "log lines were lost: the disk had no room for them" in messages.read_text(), 30,
                       "the master to say it lost log lines, once it can write again")
            _whole_lines(messages)
            _whole_lines(cluster.cell.execd_spool("node1") / "messages")
            check_exactly_once(cluster, stream, start_failures=True)
            print(f"\ncell disk full: first submission accepted {accepted_after:.2f}s after space returned; "
                  f"{len(stream.acked)} acknowledged, {len(stream.refused)} refused, none of those ran")
        finally:
            cluster.teardown()


def test_a_full_exec_spool_puts_the_queue_in_error_until_there_is_room(qsys_root: Path) -> None:
    cluster = Cluster(qsys_root / "cell", hosts=["node1"], slots=1)
    cluster.init()
    with small_disk(cluster.cell.execd_spool("node1"), megabytes=48) as disk:
        try:
            cluster.start_master()
            cluster.start_execd("node1")
            cluster.wait_hosts()
            set_global_conf(cluster, qsys_root, {"load_report_time": "00:00:01"})
            disk.fill()
            out = qsys_root / "out"
            done = cluster.run("qsub", "-terse", "-o", str(out), "-j", "y", "-b", "y", "/bin/echo", "ran",
                               check=True)
            job = int(done.stdout)
            wait_until(lambda: "E" in queue_states(cluster).get("all.q@node1", ""), 30, "all.q@node1 in E")
            explained = cluster.run("qstat", "-explain", "E", check=True).stdout.splitlines()
            at = explained.index(next(line for line in explained if line.startswith("all.q@node1")))
            assert explained[at + 1:at + 3] == [
                f"\tqueue all.q marked QERROR as result of job {job}'s failure at host node1",
                "\tno space left in the exec spool of host node1: the error state clears by itself when there "
                "is room again"]
            assert [r["state"] for r in cluster.jobs() if r["job_id"] == job] in (["qw"], ["Rq"])  # pending again
            cleared = cluster.run("qmod", "-c", "all.q", check=True)
            assert cleared.stdout.endswith('changed state of "all.q@node1" (no error)\n'), cleared.stdout
            # the spool is still full: the job fails to start again and the instance is in E again
            wait_until(lambda: "E" in queue_states(cluster).get("all.q@node1", ""), 30, "all.q@node1 in E again")
            disk.free_up()
            freed = time.monotonic()
            wait_until(lambda: "E" not in queue_states(cluster).get("all.q@node1", "E"), 30,
                       "the error state to clear by itself")
            print(f"\nexec spool full: E cleared by itself {time.monotonic() - freed:.2f}s after space returned")
            cluster.wait_idle(60)
            assert out.read_text() == "ran\n"
            messages = (cluster.cell.master_spool / "messages").read_text()
            assert "queue instance all.q@node1: error state cleared, the exec spool has room again" in messages
        finally:
            cluster.teardown()
