"""The master killed with SIGKILL again and again while a stream of jobs is submitted and run:
no acknowledged job is lost, none runs twice, none is accounted twice, no job number is
given twice. 1,000 jobs by default; the long run: ``QSYS_KILL_LOOP_JOBS=10000``."""

from __future__ import annotations

import os
from pathlib import Path

from tests.clusterlib import Cluster, wait_until
from tests.faultlib import Stream, check_exactly_once

TOTAL = int(os.environ.get("QSYS_KILL_LOOP_JOBS", "1000"))
KILLS = int(os.environ.get("QSYS_KILL_LOOP_KILLS", "8"))


def test_kill_9_loop_under_a_job_stream(qsys_root: Path) -> None:
    log = qsys_root / "ran.log"
    step = max(50, TOTAL // (KILLS + 1))
    with Cluster(qsys_root / "cell", hosts=["node1"], slots=4) as cluster:
        stream = Stream(cluster, log, total=TOTAL).start()
        try:
            for kill in range(1, KILLS + 1):
                wanted = kill * step
                wait_until(lambda wanted=wanted: len(stream.acked) >= wanted, 600, f"{wanted} acknowledged jobs")
                cluster.kill_master()
                cluster.start_master()
            stream.join(timeout=60 + TOTAL * 0.5)
        finally:
            stream.stop()
        cluster.wait_idle(timeout=120 + TOTAL * 0.2)
        assert len(stream.acked) == TOTAL
        check_exactly_once(cluster, stream)
        ran_unknown = sum(1 for line in log.read_text().splitlines() if line.split(" ", 1)[1] in stream.unknown)
        print(f"kill loop: {TOTAL} acknowledged, {KILLS} kills, {len(stream.unknown)} answers lost "
              f"({ran_unknown} of those ran, once each)")
