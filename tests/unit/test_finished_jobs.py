"""Finished jobs (qstat -s z): the rows as Son of Grid Engine 8.1.9 prints its zombies, byte
for byte (captures of jobs 151-153 of user sgeuser on host vm), and the list's rules: tasks
that ended alike share one entry, finished_jobs and finished_jobs_keep_time bound it."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from qsys.cli import formats, xmlout
from qsys.jobspec import JobSpec, TaskRange
from qsys.master.config import ClusterConfig
from qsys.master.finished import FinishedJobs, outcome_ids, record_outcome
from qsys.master.jobs import Job
from qsys.master.status import finished_detail, finished_row
from qsys.master.tasks import describe_ids, describe_runs
from qsys.objects.values import Duration
from qsys.records import JobRow, QueueInstanceRow
from tests.unit.test_formats import reference


def _at(text: str) -> float:
    return time.mktime(time.strptime(text, "%m/%d/%Y %H:%M:%S"))


def _zombies() -> list[JobRow]:
    t25, t28 = _at("12/01/2026 23:21:25"), _at("12/01/2026 23:21:28")
    return [JobRow(151, 0.0, "hostname", "sgeuser", "z", t25, None, "", 1, ""),
            JobRow(152, 0.0, "fin1", "sgeuser", "z", t28, None, "", 1, ""),
            JobRow(153, 0.0, "fin2", "sgeuser", "z", t28, None, "", 1, "1-3:1", is_array=True)]


def test_plain_ext_tasks_and_full_listings_match_sge() -> None:
    rows = _zombies()
    assert formats.qstat_jobs(rows) == reference("qstat_s_z.txt")
    assert formats.qstat_jobs_ext(rows[:1]) == reference("qstat_ext_s_z.txt")
    assert formats.qstat_jobs_tasks(rows[:2]) == reference("qstat_t_s_z.txt")
    queues = [QueueInstanceRow("all.q@vm", "BIPC", 0, 0, 4, 7.39, "lx-amd64", ""),
              QueueInstanceRow("pzq.q@vm", "BI", 0, 0, 1, 7.39, "lx-amd64", "")]
    assert formats.qstat_full(queues, rows) == reference("qstat_f_s_z.txt")


def test_xml_lists_them_as_zombies_like_sge() -> None:
    head = reference("qstat_s_z_xml_head.txt")
    assert xmlout.qstat_xml(_zombies()).startswith(head)


def _array_job(job_id: int = 7, tasks: TaskRange | None = TaskRange(1, 9, 2)) -> Job:
    from qsys.master.tasks import TaskSet

    spec = JobSpec(command="/bin/true", binary=True, name="arr", tasks=tasks, script=b"#!/bin/sh\n")
    return Job(job_id, spec, "alice", 1001, "alice", 1001, 100.0, "vm", TaskSet(tasks or TaskRange(1, 1, 1)))


def test_tasks_that_ended_alike_share_one_entry_of_ranges() -> None:
    job = _array_job()
    for task_id in (5, 1, 9, 3):
        record_outcome(job, [(task_id, task_id)], exit_status=0, start_time=200.0 + task_id, end_time=300.0 + task_id)
    record_outcome(job, [(7, 7)], exit_status=3, start_time=210.0, end_time=320.0)
    ok, failed = job.outcomes
    assert ok["ranges"] == [[1, 5], [9, 9]] and outcome_ids(ok, 2) == [1, 3, 5, 9]
    assert (ok["start"], ok["end"]) == (201.0, 309.0)
    assert failed["key"] == [3, 0, 0, False] and failed["ranges"] == [[7, 7]]
    record_outcome(job, [(7, 7)], exit_status=0, end_time=330.0)  # a task id joins its neighbours
    assert job.outcomes[0]["ranges"] == [[1, 9]]
    assert describe_ids([1, 2], pairs=False) == "1,2" and describe_ids([1, 2, 3], pairs=False) == "1-3:1"


def test_runs_of_ids_join_what_they_overlap_or_touch() -> None:
    job = _array_job(tasks=TaskRange(1, 99, 2))
    for run in ((11, 15), (1, 3), (31, 31), (7, 7)):
        record_outcome(job, [run], end_time=1.0)
    assert job.outcomes[0]["ranges"] == [[1, 3], [7, 7], [11, 15], [31, 31]]
    record_outcome(job, [(5, 29)], end_time=2.0)  # fills the gaps up to 31's neighbour
    assert job.outcomes[0]["ranges"] == [[1, 31]] and job.outcomes[0]["end"] == 2.0


def test_qdel_of_a_pending_million_task_array_records_one_run() -> None:
    from qsys.master.tasks import TaskSet

    tasks = TaskSet(TaskRange(1, 1_000_000, 1))
    for started in (1, 2, 500_000):
        tasks.remove(started)
    assert tasks.id_runs() == [(3, 499_999), (500_001, 1_000_000)]
    job = _array_job(tasks=TaskRange(1, 1_000_000, 1))
    record_outcome(job, tasks.clear(), deleted=True, end_time=5.0)
    assert job.outcomes[0]["ranges"] == [[3, 499_999], [500_001, 1_000_000]]
    assert not tasks and tasks.id_runs() == []


def _listed(ids: list[int], pairs: bool) -> str:
    """The id listing walked id by id (greedy: the longest stretch of equal gaps from each
    id), the reference for the walk over runs."""
    parts, i = [], 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] - ids[j] == ids[i + 1] - ids[i]:
            j += 1
        if j - i >= 2 or (pairs and j == i + 1 and ids[j] - ids[i] == 1):
            parts.append(f"{ids[i]}-{ids[j]}:{ids[i + 1] - ids[i]}")
            i = j + 1
        else:
            parts.append(str(ids[i]))
            i += 1
    return ",".join(parts)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.integers(0, 60)), st.integers(1, 4), st.booleans())
def test_runs_are_described_as_their_ids_are(positions: list[int], step: int, pairs: bool) -> None:
    """A finished array's task list is printed from its runs, never by listing every id."""
    job = _array_job(tasks=TaskRange(1, 1 + 60 * step, step))
    for pos in positions:
        record_outcome(job, [(1 + pos * step, 1 + pos * step)], end_time=1.0)
    ranges = job.outcomes[0]["ranges"] if job.outcomes else []
    ids = outcome_ids({"ranges": ranges}, step)
    assert describe_runs(ranges, step, pairs) == _listed(ids, pairs) == describe_ids(ids, pairs)
    assert describe_ids(sorted(set(positions)), pairs) == _listed(sorted(set(positions)), pairs)


def test_a_finished_job_keeps_its_row_and_details_without_the_script() -> None:
    retained, config = FinishedJobs(), ClusterConfig()
    job = _array_job(tasks=TaskRange(1, 2, 1))
    record_outcome(job, [(1, 1)], exit_status=0, start_time=200.0, end_time=250.0)
    record_outcome(job, [(2, 2)], exit_status=3, start_time=200.0, end_time=260.0)
    changes = retained.add(job, 261.0, config, slots=1)
    assert [type(c).__name__ for c in changes] == ["PutObject"]
    entry = retained.get(7, 262.0, config)
    assert entry is not None and "script" not in entry.spec
    row = finished_row(entry)
    assert (row.state, row.tasks, [o.exit_status for o in row.outcomes]) == ("z", "1,2", [0, 3])
    text = formats.job_detail_lines(finished_detail(entry))
    assert f"{'exit_status 1:':<28}0" in text and f"{'exit_status 2:':<28}3" in text
    assert any(line.startswith("end_time 2:") and line.endswith(time.asctime(time.localtime(260.0)))
               for line in text)


def test_the_xml_of_a_finished_job_carries_each_tasks_exit_status_and_times() -> None:
    """qstat -j -xml: SGE's finished task (JAT_status JFINISHED) with exit_status, signal,
    start_time and end_time in its usage list; a task deleted before it ran has its end only."""
    import xml.etree.ElementTree as ET

    retained, config = FinishedJobs(), ClusterConfig()
    job = _array_job(tasks=TaskRange(1, 5, 2))
    record_outcome(job, [(1, 1)], exit_status=0, start_time=200.0, end_time=250.0)
    record_outcome(job, [(3, 3)], exit_status=3, signal=0, start_time=210.0, end_time=260.0)
    record_outcome(job, [(5, 5)], deleted=True, end_time=270.0)
    retained.add(job, 271.0, config, slots=1)
    entry = retained.get(7, 272.0, config)
    assert entry is not None
    doc = ET.fromstring(xmlout.qstat_job_details_xml([finished_detail(entry)]))
    tasks = {int(t.findtext("JAT_task_number") or 0): t for t in doc.iter("ulong_sublist")
             if t.find("JAT_task_number") is not None}
    assert sorted(tasks) == [1, 3, 5] and {t.findtext("JAT_status") for t in tasks.values()} == {"65536"}

    def usage(task_id: int) -> dict[str, str]:
        return {s.findtext("UA_name") or "": s.findtext("UA_value") or "" for s in tasks[task_id].iter("scaled")}

    assert usage(3) == {"exit_status": "3.000000", "signal": "0.000000", "start_time": "210.000000",
                        "end_time": "260.000000"}
    assert list(usage(1)) == ["exit_status", "signal", "start_time", "end_time"]  # the reaper's order
    assert usage(1)["exit_status"] == "0.000000" and tasks[1].findtext("JAT_start_time") == "200"
    assert usage(5) == {"end_time": "270.000000"} and tasks[5].find("JAT_start_time") is None


def test_finished_jobs_bounds_the_list_and_keep_time_ages_it() -> None:
    retained, config = FinishedJobs(), ClusterConfig()
    config.global_conf.finished_jobs = 2
    for job_id in (1, 2, 3):
        job = _array_job(job_id, tasks=None)
        record_outcome(job, [(1, 1)], end_time=100.0 + job_id)
        changes = retained.add(job, 100.0 + job_id, config, slots=1)
    assert list(retained.jobs) == [2, 3]
    assert [type(c).__name__ for c in changes] == ["PutObject", "DeleteObject"]
    config.global_conf.finished_jobs_keep_time = Duration.parse("00:01:00")
    assert [e.job_id for e in retained.visible(162.5, config)] == [3]  # job 2 ended 60.5 s before
    assert [c.name for c in retained.expire(162.5, config)] == ["2"]
    config.global_conf.finished_jobs = 0  # Grid Engine: keep none
    job = _array_job(9, tasks=None)
    assert [type(c).__name__ for c in retained.add(job, 170.0, config, slots=1)] == ["DeleteObject"]
    assert retained.visible(170.0, config) == []


def test_a_finished_array_job_in_the_task_and_ext_listings_matches_sge() -> None:
    """Job 257 of SGE's cell: an array job 1-3:1 whose tasks all ended."""
    row = JobRow(257, 0.0, "v10fin2", "sgeuser", "z", _at("12/02/2026 01:45:46"), None, "", 1, "1-3:1",
                 is_array=True)
    assert formats.qstat_jobs_tasks([row]) == reference("qstat_t_s_z_array.txt")
    assert formats.qstat_jobs_ext([row]) == reference("qstat_ext_s_z_array.txt")
