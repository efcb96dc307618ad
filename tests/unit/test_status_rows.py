"""qstat's listing after a change is made from what changed (``pending_rows.RowMaker``,
``pending_rows.Listing``): a changed job's pending rows and texts are made again, an unchanged
job's are those of the last listing, and whatever the changes, the listing is byte for byte
a listing made from nothing. A real master's state (``build_master``, not started),
changed through its own methods (``add_job``, ``job_change``, ``drop_job``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qsys import protocol
from qsys.jobspec import JobSpec, TaskRange
from qsys.master import rendering
from qsys.master.jobs import Assignment, Job, Task
from qsys.master.main import MasterDaemon, build_master
from qsys.master.pending_rows import PendingRows
from qsys.master.status import StatusRequests, job_listing, job_rows, queue_rows
from qsys.record import replace
from qsys.records import JobRow
from qsys.testing.clock import FakeClock
from tests.inprocess import new_test_cell

QUERIES = [protocol.JobsStatus(["*"], brief=True), protocol.JobsStatus(["*"]), protocol.JobsStatus(["alice"]),
           protocol.JobsStatus(["*"], states="p")]
FORMS = [("", []), ("xml", []), ("ext", []), ("requested", []), ("tasks", []), ("xml", ["ext", "requested"])]


class Cell:
    """A master's state and the status requests over it."""

    def __init__(self, root: Path) -> None:
        self.clock = FakeClock(1_800_000_000.0)
        self.daemon: MasterDaemon = build_master(new_test_cell(root), clock=self.clock, port=None)
        self.state = self.daemon.state
        self.status = StatusRequests(self.state, self.daemon.qstates, self.daemon.dispatcher,
                                     self.daemon.dispatcher.policies)
        self.next_id = 1

    def submit(self, name: str = "job", owner: str = "alice", hold: bool = False, tasks: int = 0) -> Job:
        spec = JobSpec(command="/bin/true", binary=True, name=name, hold=hold,
                       tasks=TaskRange(1, tasks, 1) if tasks else None)
        job = Job.new(self.next_id, spec, owner, 1000, "users", 1000, self.clock.now(), "node1")
        self.next_id += 1
        self.state.add_job(job)
        return job

    def change(self, job: Job) -> None:
        self.state.job_change(job)

    def start(self, job: Job) -> None:
        """The first pending task of ``job`` runs (as a dispatch leaves it)."""
        task_id = next(iter(job.pending))
        job.pending.remove(task_id)
        job.tasks[task_id] = Task(task_id, "r", [Assignment("all.q", "node1", 1)], self.clock.now(),
                                  start_time=self.clock.now())
        self.change(job)

    def text(self, query: protocol.JobsStatus, form: str = "", xml_forms: list[str] | None = None,
             full: bool = False) -> str:
        msg = protocol.StatusText(query, full, form, xml_forms or [], "", rendering.master_zone())
        answer = asyncio.run(self.status.text(None, msg))  # type: ignore[arg-type]
        assert isinstance(answer, protocol.StatusReply)
        return answer.text

    def fresh_text(self, query: protocol.JobsStatus, form: str = "", xml_forms: list[str] | None = None,
                   full: bool = False) -> str:
        """The same listing made from nothing (no rows or texts kept)."""
        msg = protocol.StatusText(query, full, form, xml_forms or [], "", rendering.master_zone())
        policies = self.daemon.dispatcher.policies
        if full:
            queues = queue_rows(self.state, self.daemon.qstates, policies)
            return rendering.full_text(queues, job_rows(self.state, self.daemon.qstates, query, policies), msg)
        return rendering.jobs_text(job_rows(self.state, self.daemon.qstates, query, policies), msg)

    def listing(self, query: protocol.JobsStatus) -> list[PendingRows]:
        """The kept pending rows of a listing."""
        return job_listing(self.state, self.daemon.qstates, query, self.daemon.dispatcher.policies,
                           self.status.rows)[1].entries


@pytest.fixture
def cell(tmp_path: Path) -> Iterator[Cell]:
    made = Cell(tmp_path)
    yield made
    made.daemon.store.close()


def _by_job(entries: list[PendingRows]) -> dict[int, PendingRows]:
    return {entry.job.job_id: entry for entry in entries}


def test_a_changed_job_is_made_again_and_an_unchanged_one_is_not(cell: Cell) -> None:
    first, second = cell.submit("one"), cell.submit("two")
    query = protocol.JobsStatus(["*"], brief=True)
    before = _by_job(cell.listing(query))
    made: list[int] = []

    def render(row: JobRow) -> str:
        made.append(row.job_id)
        return f"{row.job_id} {row.state}\n"

    assert [before[j.job_id].text("form", render) for j in (first, second)] == ["1 qw\n", "2 qw\n"]
    second.set_holds({"u"})
    cell.change(second)
    after = _by_job(cell.listing(query))
    assert after[first.job_id] is before[first.job_id]
    assert after[second.job_id] is not before[second.job_id]
    assert [after[j.job_id].text("form", render) for j in (first, second)] == ["1 qw\n", "2 hqw\n"]
    assert made == [1, 2, 2]  # the unchanged job's text was made once


def test_a_spec_replaced_makes_the_row_again(cell: Cell) -> None:
    job = cell.submit("old")
    query = protocol.JobsStatus(["*"])
    assert [r.name for r in cell.listing(query)[0].rows()] == ["old"]
    job.spec = replace(job.spec, name="new")  # (qalter -N)
    cell.change(job)
    assert [r.name for r in cell.listing(query)[0].rows()] == ["new"]


def test_nothing_changed_is_the_same_listing_and_text(cell: Cell) -> None:
    for i in range(5):
        cell.submit(f"j{i}")
    query = protocol.JobsStatus(["*"], brief=True)
    entries = cell.listing(query)
    assert cell.listing(query) is entries
    text = cell.text(query)
    assert cell.text(query) is text  # (the kept text itself: not made again)
    cell.submit("more")
    assert cell.listing(query) is not entries
    assert "more" in cell.text(query)


def test_the_entries_of_jobs_gone_go(cell: Cell) -> None:
    jobs = [cell.submit(f"j{i}") for i in range(200)]
    query = protocol.JobsStatus(["*"], brief=True)
    kept = cell.listing(query)
    assert kept and cell.status.rows.kept() == 200
    for job in jobs:
        cell.state.drop_job(job)
    assert cell.status.rows.kept() == 0, "a job's entries go with it, not at the next listing"
    assert cell.listing(query) == []


def _apply(cell: Cell, op: tuple[Any, ...]) -> None:
    jobs = list(cell.state.jobs.values())
    kind = op[0]
    if kind == "submit":
        cell.submit(op[1], op[2], op[3], op[4])
        return
    if kind == "tick":
        cell.clock.advance(op[1])
        return
    if not jobs:
        return
    job = jobs[op[1] % len(jobs)]
    if kind == "hold":
        job.set_holds({"u"})
    elif kind == "release":
        job.set_holds(set())
    elif kind == "rename":
        job.spec = replace(job.spec, name=op[2])
    elif kind == "priority":
        job.spec = replace(job.spec, priority=op[2])
    elif kind == "error":
        job.error = "failed" if not job.error else ""
    elif kind == "start":
        if not job.pending:
            return
        cell.start(job)
        return
    elif kind == "delete":
        cell.state.drop_job(job)
        return
    cell.change(job)


OPS = st.one_of(
    st.tuples(st.just("submit"), st.sampled_from(["a", "bb", "long_name_x"]), st.sampled_from(["alice", "bob"]),
              st.booleans(), st.sampled_from([0, 0, 3])),
    st.tuples(st.sampled_from(["hold", "release", "error", "start", "delete"]), st.integers(0, 50)),
    st.tuples(st.just("rename"), st.integers(0, 50), st.sampled_from(["x", "renamed"])),
    st.tuples(st.just("priority"), st.integers(0, 50), st.integers(-100, 100)),
    st.tuples(st.just("tick"), st.sampled_from([0.0, 1.0, 60.0])),
)


def test_after_any_changes_the_listing_is_one_made_from_nothing(tmp_path: Path) -> None:
    cell = Cell(tmp_path)
    try:
        @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(st.lists(st.lists(OPS, max_size=6), min_size=1, max_size=6), st.sampled_from(QUERIES),
               st.sampled_from(FORMS), st.booleans())
        def check(steps: list[list[tuple[Any, ...]]], query: protocol.JobsStatus,
                  form: tuple[str, list[str]], full: bool) -> None:
            name, extra = form
            full = full and name in ("", "xml")
            for ops in steps:
                for op in ops:
                    _apply(cell, op)
                assert cell.text(query, name, extra, full) == cell.fresh_text(query, name, extra, full)

        check()
    finally:
        cell.daemon.store.close()


def test_more_changes_than_jobs_drop_every_entry(cell: Cell) -> None:
    query = protocol.JobsStatus(["*"], brief=True)
    kept = cell.submit("kept")
    assert [e.job.job_id for e in cell.listing(query)] == [kept.job_id]
    for job in [cell.submit(f"gone{i}") for i in range(100)]:
        cell.state.drop_job(job)
    kept.set_holds({"u"})  # (its change is among too many to be told one by one)
    cell.change(kept)
    assert cell.text(query) == cell.fresh_text(query)
    assert "hqw" in cell.text(query) and cell.status.rows.kept() == 1
