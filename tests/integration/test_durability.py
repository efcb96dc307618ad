"""Nothing is visible before it is durable, and a change the store refuses leaves no trace.

The master runs in the test's process (tests/inprocess.py) so its memory can be compared
with what its store holds after each refused change; the store refuses as SQLite does when
the disk is full. The real full disk is tests/integration/test_disk_full.py.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from qsys.store import AddAccounting, PutObject, PutTask
from tests.clusterlib import wait_until
from tests.inprocess import DISK_FULL, MasterThread, RefusingStore, memory_matches_store


def _rows(master: MasterThread) -> list[tuple[int, str, str]]:
    return master.call(lambda d: sorted((j.job_id, j.name, j.pending_state() if j.pending else "r")
                                        for j in d.state.jobs.values()))


def _traceless(master: MasterThread) -> None:
    diff = master.call(memory_matches_store)
    assert not diff, diff


def test_a_refused_submission_leaves_no_trace_and_its_number_is_not_used(qsys_root: Path) -> None:
    with MasterThread(qsys_root) as master:
        refusing = master.call(RefusingStore)
        refusing.refuse = lambda changes: True
        done = master.command("qsub", "-b", "y", "-N", "refused", "/bin/true")
        assert done.returncode == 1
        assert done.stderr == (f"Unable to run job: job 1 was rejected cause it can't be written: {DISK_FULL}\n"
                               "Exiting.\n")
        many = master.command("qsub", "-b", "y", "-t", "1-3", "/bin/true")
        assert many.returncode == 1 and "rejected" in many.stderr
        assert _rows(master) == []
        assert master.command("qstat").stdout == ""
        _traceless(master)
        refusing.refuse = lambda changes: False
        ok = master.command("qsub", "-b", "y", "-h", "-N", "kept", "/bin/true")
        assert ok.stdout == 'Your job 1 ("kept") has been submitted\n'
        assert _rows(master) == [(1, "kept", "hqw")]
        _traceless(master)


def test_every_change_the_store_refuses_is_undone(qsys_root: Path) -> None:
    """qhold, qrls, qalter, qdel, qmod -d/-s, qconf: refused, memory stays as stored."""
    with MasterThread(qsys_root) as master:
        refusing = master.call(RefusingStore)
        for name in ("one", "two"):
            assert master.command("qsub", "-b", "y", "-h", "-N", name, "/bin/true").returncode == 0
        before = _rows(master)
        queue_before = master.command("qconf", "-sq", "all.q").stdout
        refusing.refuse = lambda changes: True
        attempts = [
            ("qrls", "1"), ("qhold", "-h", "o", "2"), ("qalter", "-N", "renamed", "1"), ("qdel", "1", "2"),
            ("qmod", "-d", "all.q"), ("qmod", "-s", "all.q"),
            ("qconf", "-mattr", "queue", "slots", "7", "all.q"), ("qconf", "-am", "nobody"),
        ]
        for argv in attempts:
            done = master.command(*argv)
            assert done.returncode != 0 and DISK_FULL in done.stdout + done.stderr, (argv, done)
            assert _rows(master) == before, argv
            _traceless(master)
        assert master.command("qconf", "-sq", "all.q").stdout == queue_before
        assert "nobody" not in master.command("qconf", "-sm").stdout
        assert master.call(lambda d: dict(d.qstates.manual)) == {}
        refusing.refuse = lambda changes: False
        assert master.command("qdel", "1").returncode == 0
        assert _rows(master) == [(2, "two", "hqw")]
        _traceless(master)


def test_qdel_of_a_held_job_ends_qsub_sync(qsys_root: Path) -> None:
    with MasterThread(qsys_root) as master:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qsys.cli.qsub", "-sync", "y", "-h", "-b", "y", "/bin/true"],
            env=master.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: _rows(master), 20, "the held job")
            assert master.command("qdel", "1").returncode == 0
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        assert out == 'Your job 1 ("true") has been submitted\nUnable to run job 1.\n'


def test_refused_orders_put_the_tasks_back_and_a_refused_end_is_told_again(qsys_root: Path) -> None:
    """No task stays in ``t`` holding slots when its orders were not stored; an end the store
    refused is not lost and is accounted once."""
    with MasterThread(qsys_root) as master:
        refusing = master.call(RefusingStore)
        master.start_execd()
        wait_until(lambda: master.call(lambda d: bool(d.state.hosts.get("node1") and d.state.hosts["node1"].up)),
                   30, "the exec host")
        refusing.refuse = lambda changes: any(isinstance(c, PutTask) for c in changes)
        assert master.command("qsub", "-b", "y", "-o", "/dev/null", "-j", "y", "/bin/sh", "-c", "exit 3").returncode == 0
        wait_until(lambda: refusing.refused >= 1, 20, "a refused dispatch")
        wait_until(lambda: _rows(master) == [(1, "sh", "qw")], 10, "the task back to pending, holding no slot")
        _traceless(master)
        refusing.refuse = lambda changes: any(isinstance(c, AddAccounting) for c in changes)
        wait_until(lambda: refusing.refused >= 2, 30, "the refused end of the job")
        wait_until(lambda: _rows(master) == [(1, "sh", "r")], 10, "the job still running (its end not stored)")
        _traceless(master)
        refusing.refuse = lambda changes: False
        # the job leaves memory when its end is committed (the commit may still be running)
        wait_until(lambda: not _rows(master) and not master.call(memory_matches_store), 30,
                   "the end, stored at last")
        lines = [line for line in master.cell.accounting_file.read_text().splitlines() if not line.startswith("#")]
        assert len(lines) == 1 and lines[0].split(":")[12] == "3"


def test_a_refused_queue_error_state_is_undone(qsys_root: Path) -> None:
    with MasterThread(qsys_root) as master:
        refusing = master.call(RefusingStore)
        refusing.refuse = lambda changes: any(isinstance(c, PutObject) and c.kind == "qinstance_state"
                                              for c in changes)

        def mark(daemon: object) -> list[object]:
            return daemon.qstates.mark_error("all.q", "node1", "test")  # type: ignore[attr-defined, no-any-return]

        changes = master.call(mark)
        failed = threading.Event()

        async def commit(daemon: object) -> None:
            try:
                await daemon.state.commit(changes)  # type: ignore[attr-defined]
            except Exception:
                failed.set()

        master.run(commit(master.daemon))
        assert failed.is_set()
        assert master.call(lambda d: dict(d.qstates.manual)) == {}
        _traceless(master)
