"""Pure pieces of the master: compact task sets, accounting lines, job records."""

from __future__ import annotations

from pathlib import Path

from qsys.accounting_file import ACCOUNTING_FIELDS, format_line, parse_line
from qsys.jobspec import JobSpec, PeRequest, TaskRange
from qsys.master.accounting import build_record
from qsys.master.jobs import Assignment, Job, Task
from qsys.master.tasks import TaskSet, describe_ids
from tests import REFERENCE


def test_taskset_is_compact_and_tracks_what_left() -> None:
    tasks = TaskSet(TaskRange(1, 75000, 1))
    assert len(tasks) == 75000 and tasks.removed == set()
    assert tasks.first(3) == [1, 2, 3]
    assert tasks.remove(1) and not tasks.remove(1)
    assert 1 not in tasks and 2 in tasks and len(tasks) == 74999
    tasks.add_back(1)
    assert 1 in tasks and len(tasks) == 75000
    assert TaskSet.from_wire(tasks.to_wire()).describe() == "1-75000:1"


def test_taskset_with_step() -> None:
    tasks = TaskSet(TaskRange(1, 9, 2))
    assert list(tasks) == [1, 3, 5, 7, 9]
    assert not tasks.remove(2)
    tasks.remove(3)
    assert tasks.describe() == "1,5-9:2"


def test_describe_ids() -> None:
    assert describe_ids([]) == ""
    assert describe_ids([7]) == "7"
    assert describe_ids([1, 2, 3]) == "1-3:1"
    assert describe_ids([2, 3, 10, 20, 30]) == "2-3:1,10-30:10"


def _job() -> Job:
    spec = JobSpec(command="/bin/true", binary=True, name="acctjob", hard_resources={"h_rt": "60"},
                   pe=PeRequest("smp", 2, 2))
    return Job.new(11, spec, "sgeuser", 1001, "sgeuser", 1001, 1795277718.0, "vm")


def test_accounting_line_has_45_fields_in_grid_engine_order() -> None:
    job = _job()
    task = Task(1, "r", [Assignment("all.q", "vm", 2)], 1795277718.0, start_time=1795277718.0, pe="smp")
    report = {"exit_status": 3, "end_time": 1795277719.0, "ru_utime": 0.008057, "ru_stime": 0.005825,
              "ru_maxrss": 5028, "ru_minflt": 555}
    record = build_record(job, task, report, 1795277719.0)
    line = format_line(record)
    fields = line.split(":")
    assert len(fields) == 45 == len(ACCOUNTING_FIELDS)
    parsed = parse_line(line)
    assert parsed["qname"] == "all.q" and parsed["hostname"] == "vm" and parsed["job_number"] == "11"
    assert parsed["exit_status"] == "3" and parsed["granted_pe"] == "smp" and parsed["slots"] == "2"
    assert parsed["ru_utime"] == "0.008057" and parsed["ru_maxrss"] == "5028.000000"
    assert parsed["task_number"] == "0"  # not an array job
    assert parsed["ru_wallclock"] == "1"
    assert parsed["category"] == "-l h_rt=60 -pe smp 2"


def test_lines_already_written_are_found_for_a_restarted_master(tmp_path: Path) -> None:
    from qsys.master.accounting import AccountingWriter

    writer = AccountingWriter(tmp_path / "accounting")
    job = _job()
    task = Task(1, "r", [Assignment("all.q", "vm", 1)], 0.0, start_time=1795277718.0)
    writer.write(build_record(job, task, {"end_time": 1795277719.0}, 0.0))  # task_number 0 in the file
    writer.close()
    found = writer.written_keys({(job.job_id, 1), (99, 1)})
    assert found == {(job.job_id, 1, 1795277718)}


def test_accounting_line_matches_the_reference_layout() -> None:
    raw = (REFERENCE / "accounting_raw_line.txt").read_text().strip()
    ref = parse_line(raw)
    job = Job.new(11, JobSpec(command="/bin/true", binary=True, name="acctjob"), "sgeuser", 1001, "sgeuser",
                  1001, float(ref["submission_time"]), "vm")
    task = Task(1, "r", [Assignment("all.q", "vm", 1)], 0.0, start_time=float(ref["start_time"]))
    report = {k: float(ref[k]) for k in ("ru_utime", "ru_stime", "ru_maxrss", "cpu", "mem", "io", "iow", "maxvmem")}
    report.update({k: int(ref[k]) for k in ("exit_status", "failed", "ru_minflt", "ru_oublock", "ru_nvcsw",
                                            "ru_nivcsw")})
    report["end_time"] = float(ref["end_time"])
    ours = format_line(build_record(job, task, report, 0.0))
    assert ours == raw


def test_job_record_round_trip() -> None:
    job = _job()
    job.set_holds({"u"})
    job.set_predecessors({3})
    job.pending.remove(1)
    again = Job.from_record(job.job_id, job.to_record())
    assert again.to_record() == job.to_record()
    assert again.pending_state() == "hqw"


def test_a_job_keeps_its_spec_sparse_and_starts_with_the_whole_of_it() -> None:
    spec = JobSpec(command="/bin/sleep", args=["1"], binary=True, name="sparse", env={"A": "b\udcff"},
                   hard_resources={"h_rt": "60"}, pe=PeRequest("smp", 2, 4), tasks=TaskRange(1, 9, 2),
                   script=b"\xff", sync=True, context={"k": "v"})
    job = Job.new(12, spec, "sgeuser", 1001, "sgeuser", 1001, 1795277718.0, "vm")
    whole = spec.to_wire()
    assert job.spec_map() == whole, "a start order gets every field"
    assert job.spec_map()["args"] is not job.spec_map()["args"], "each start order its own lists"
    again = Job.from_record(job.job_id, job.to_record())
    assert again.spec.to_wire() == whole and not again.spec.sync, "client-only options are not kept"
    plain = Job.new(13, JobSpec(command="/bin/true"), "sgeuser", 1001, "sgeuser", 1001, 1.0, "vm")
    assert len(plain.to_record()["spec"]) < 40, "only what differs from the defaults is stored"
