"""PostgreSQL stopped and started again under load: the master keeps answering reads, refuses
changes with Grid Engine's message while the store is away, and resumes by itself when it
is back -- no job left in ``t`` holding slots, every acknowledged job run and accounted once."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusterlib import Cluster, wait_until
from tests.faultlib import Stream, check_exactly_once
from tests.pg import PostgresServer, PostgresUnavailable, find_bindir, postgres_server

OUTAGE_SECONDS = float(os.environ.get("QSYS_OUTAGE_SECONDS", "8"))


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of this test's own: it is stopped and started while the test runs."""
    try:
        find_bindir()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    with postgres_server() as server:
        yield server


@pytest.mark.postgres
def test_store_stopped_and_started_under_load(qsys_root: Path, own_postgres: PostgresServer) -> None:
    url = own_postgres.new_database()
    log = qsys_root / "ran.log"
    with Cluster(qsys_root / "cell", hosts=["node1"], slots=4, store_url=url) as cluster:
        assert cluster.master_proc is not None
        master_pid = cluster.master_proc.pid
        stream = Stream(cluster, log, seconds=0.3).start()
        try:
            wait_until(lambda: len(stream.acked) >= 40, 120, "40 acknowledged jobs")
            own_postgres.halt()
            try:
                # reads go on; changes are refused at once, as Grid Engine refuses a job it
                # cannot spool (exit 1)
                refused = cluster.run("qsub", "-b", "y", "-N", "during", "/bin/true", timeout=30)
                assert refused.returncode == 1, refused
                assert refused.stderr.startswith("Unable to run job: job ") and \
                    "was rejected cause it can't be written: " in refused.stderr, refused.stderr
                held = cluster.run("qdel", "-u", "*", timeout=30)
                assert held.returncode == 1 and "store" in held.stdout + held.stderr, held
                deadline = time.monotonic() + OUTAGE_SECONDS
                while time.monotonic() < deadline:  # the outage lasts; qstat answers all along
                    shown = cluster.run("qstat", "-u", "*", timeout=30)
                    assert shown.returncode == 0, shown
                during = len(stream.acked)
            finally:
                own_postgres.resume()
                resumed = time.monotonic()
            wait_until(lambda: len(stream.acked) > during, 120, "a submission accepted again")
            first_accepted = time.monotonic() - resumed
            wait_until(lambda: len(stream.acked) >= during + 40, 120, "submissions accepted again")
        finally:
            stream.stop()
        cluster.wait_idle(timeout=300)
        assert cluster.master_proc is not None and cluster.master_proc.pid == master_pid
        assert cluster.master_proc.poll() is None, "the master recovered without a restart"
        messages = (cluster.cell.master_spool / "messages").read_text()
        assert "refusing changes until it answers again" in messages
        assert "the store answers again after" in messages
    assert stream.refused, "submissions during the outage were refused, not held"
    print(f"\nstore away {OUTAGE_SECONDS:g}s and more: the first submission accepted {first_accepted:.2f}s after "
          f"the server was back; {len(stream.acked)} acknowledged, {len(stream.refused)} refused")
    check_exactly_once(cluster, stream)
