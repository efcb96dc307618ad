"""A request's cost does not grow with the queue (issue 9, defect 10), shown by what a pass
builds rather than by how long it takes: the scheduler's view of a pending job is built once
and rebuilt only when that job changes, so a pass over 300 waiting jobs after one change
builds one view, not 300. (Fair queuing of requests against passes: tests/unit/
test_resilience_units.py; the figures under 50 clients: bench/load.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qsys.client import Client
from qsys.jobspec import JobSpec
from qsys.master import snapshot
from qsys.master.jobs import Job
from qsys.sched import PendingJob
from tests.inprocess import MasterThread

WAITING = 300


def test_a_pass_builds_the_view_only_of_the_jobs_that_changed(qsys_root: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []
    real = snapshot.pending_snapshot

    def counting(job: Job, *args: Any, **kwargs: Any) -> PendingJob:
        built.append(job.job_id)
        return real(job, *args, **kwargs)

    monkeypatch.setattr(snapshot, "pending_snapshot", counting)
    with MasterThread(qsys_root) as master:  # no exec daemon: every job keeps waiting
        spec = JobSpec(command="/bin/true", binary=True, name="waits", stdout_paths=["/dev/null"], join=True)
        with Client(master.cell) as client:
            client.submit_many([spec] * WAITING)
        assert master.daemon is not None
        dispatcher = master.daemon.dispatcher
        master.run(dispatcher.run_pass())
        assert set(built) >= set(range(1, WAITING + 1))  # each view built once, by some pass
        built.clear()
        master.run(dispatcher.run_pass())
        assert built == []  # nothing changed: nothing rebuilt
        assert master.command("qalter", "-p", "-10", "7").returncode == 0
        assert master.command("qhold", "9").returncode == 0
        master.run(dispatcher.run_pass())  # (the changes may have asked for a pass already)
        master.run(dispatcher.run_pass())
        assert sorted(built) == [7, 9]  # the two changed jobs, once each
