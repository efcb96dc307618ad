"""qstat/qhost/qsub output against real SGE 8.1.9 captures, byte for byte.

The records below carry the values of the reference run (jobs 2..10 of user sgeuser on host
vm, submitted at 16:15:08/16:15:10 local time on 11/21/2026), so the formatters must print
exactly what SGE printed.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from qsys.cli import formats, xmlout
from qsys.jobspec import JobSpec, PeRequest, TaskRange
from qsys.records import HostRow, JobDetail, JobRow, QueueInstanceRow, TaskDetail, TaskEnd
from tests import REFERENCE

REFERENCE = REFERENCE
T8 = time.mktime((2026, 11, 21, 16, 15, 8, 0, 0, -1))
T10 = time.mktime((2026, 11, 21, 16, 15, 10, 0, 0, -1))
GIB, MIB = 1024.0**3, 1024.0**2
SUBMIT_ENV = {
    "HOME": "/home/sgeuser", "LOGNAME": "sgeuser", "SHELL": "/bin/bash", "WORKDIR": "/tmp",
    "HOST": "localhost",
    "PATH": "/root/.cargo/bin:/root/.cargo/bin:/root/.pyenv/plugins/pyenv-virtualenv/shims:"
            "/root/.pyenv/shims:/root/.pyenv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
}


def reference(name: str) -> str:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"reference capture {name} not available")
    return path.read_text()


def running(job_id: int, name: str, usage: dict[str, float] | None = None) -> JobRow:
    return JobRow(job_id, 0.5, name, "sgeuser", "r", T8, T8, "all.q@vm", 1, "",
                  master_queue="all.q@vm", usage=usage)


def pending(job_id: int, name: str, submit: float, slots: int = 1, tasks: str = "",
            pe: str | None = None) -> JobRow:
    return JobRow(job_id, 0.0, name, "sgeuser", "hqw", submit, None, "", slots, tasks,
                  is_array=bool(tasks), requested_pe=pe)


def rows() -> list[JobRow]:
    return [
        running(2, "sleeper"),
        running(3, "sleeper2", usage={"cpu": 0.0, "mem": 0.0, "io": 0.00004}),
        pending(4, "arr", T8, tasks="1-3:1"),
        pending(5, "arr2", T8, tasks="1-3:1"),
        pending(9, "pejob", T10, slots=2, pe="smp 2"),
        pending(10, "heldjob", T10),
    ]


def queue(used: int) -> QueueInstanceRow:
    return QueueInstanceRow("all.q@vm", "BIP", 0, used, 4, 0.470703, "lx-amd64", "")


def host(**extra: object) -> HostRow:
    return HostRow("vm", "lx-amd64", 2, 1, 2, 2, 0.470703, int(23.541 * GIB), int(214.094 * MIB),
                   0, 0, **extra)  # type: ignore[arg-type]


def sleeper_detail() -> JobDetail:
    spec = JobSpec(command="sleep", args=["120"], binary=True, name="sleeper", env={"TERM": ""},
                   mail_list=["sgeuser@vm"], submit_env=dict(SUBMIT_ENV))
    usage = {"cpu": 0.0, "mem": 0.0, "io": 0.0}
    return JobDetail(2, spec.to_wire(), "sgeuser", 1001, "sgeuser", 1001, T8, "r",
                     tasks=[TaskDetail(1, "r", "all.q@vm", T8, usage)])


def array_detail() -> JobDetail:
    spec = JobSpec(command="/bin/true", binary=True, name="arr", env={"TERM": ""}, hold=True,
                   tasks=TaskRange(1, 3, 1), mail_list=["sgeuser@vm"], submit_env=dict(SUBMIT_ENV))
    return JobDetail(4, spec.to_wire(), "sgeuser", 1001, "sgeuser", 1001, T8, "hqw",
                     pending_tasks="1-3:1", scheduling_info=["Job is in hold state"])


# ----------------------------------------------------------------------------- byte for byte


@pytest.mark.parametrize(("capture", "render"), [
    ("qstat_default.txt", lambda: formats.qstat_jobs(rows())),
    ("qstat_r.txt", lambda: formats.qstat_jobs_requested(rows())),
    ("qstat_t.txt", lambda: formats.qstat_jobs_tasks(rows())),
    ("qstat_ext.txt", lambda: formats.qstat_jobs_ext(rows())),
    ("qstat_s_p.txt", lambda: formats.qstat_jobs([r for r in rows() if not r.queue])),
    ("qstat_f.txt", lambda: formats.qstat_full([queue(2)], rows())),
    ("qstat_j.txt", lambda: formats.qstat_job_details([sleeper_detail()])),
    ("qstat_j_array.txt", lambda: formats.qstat_job_details([array_detail()])),
    ("qhost.txt", lambda: formats.qhost_table([host()])),
    ("qhost_j.txt", lambda: formats.qhost_table([host()], jobs=[])),
    ("qhost_q.txt", lambda: formats.qhost_table([host(queues=[queue(0)])], queues=True)),
    ("qstat_xml.txt", lambda: xmlout.qstat_xml(rows())),
    ("qstat_f_xml.txt", lambda: xmlout.qstat_full_xml([queue(2)], rows())),
    ("qstat_j_xml.txt", lambda: xmlout.qstat_job_details_xml([sleeper_detail()])),
    ("qhost_xml.txt", lambda: xmlout.qhost_xml([host()])),
])
def test_matches_sge_capture(capture: str, render: object) -> None:
    # qstat -j -xml prints raw epochs: the capture's 16:15:08 was 1795277708 in its timezone
    expected = reference(capture).replace(">1795277708<", f">{int(T8)}<")
    assert render() == expected  # type: ignore[operator]


def test_qhost_resources_match_capture() -> None:
    values = {
        "load_avg": "0.470703", "load_short": "0.509277", "load_medium": "0.470703",
        "load_long": "0.614258", "arch": "lx-amd64", "num_proc": "2",
        "mem_free": str(23.332 * GIB), "swap_free": "0", "virtual_free": str(23.332 * GIB),
        "mem_total": str(23.541 * GIB), "swap_total": "0", "virtual_total": str(23.541 * GIB),
        "mem_used": str(214.094 * MIB), "swap_used": "0", "virtual_used": str(214.094 * MIB),
        "cpu": "100", "m_topology": "SCC", "m_topology_inuse": "SCC", "m_socket": "1",
        "m_core": "2", "m_thread": "2", "np_load_avg": "0.235351", "np_load_short": "0.254638",
        "np_load_medium": "0.235351", "np_load_long": "0.307129",
    }
    assert formats.qhost_table([host(load_values=values)], resources=True) == reference("qhost_F.txt")


def test_qsub_messages_match_captures() -> None:
    assert formats.submitted_message(2, "sleeper", None) == reference("qsub_normal.txt")
    assert formats.submitted_message(4, "arr", TaskRange(1, 3, 1)) == reference("qsub_array.txt")
    assert formats.terse_message(3, None) == reference("qsub_terse.txt")
    assert formats.terse_message(5, TaskRange(1, 3, 1)) == reference("qsub_array_terse.txt")
    report = TaskEnd(8, 1)
    synced = formats.submitted_message(8, "true", None) + formats.sync_exit_message(report)
    assert synced == reference("qsub_sync.txt")


def test_unknown_job_message_matches_capture() -> None:
    assert formats.job_not_found_message(["999999"]) == reference("qstat_bad_job.stderr.txt")


@pytest.mark.parametrize("render", [
    lambda: xmlout.qstat_xml(rows()),
    lambda: xmlout.qstat_full_xml([queue(2)], rows()),
    lambda: xmlout.qstat_job_details_xml([sleeper_detail(), array_detail()]),
    lambda: xmlout.qhost_xml([host()]),
])
def test_xml_parses(render: object) -> None:
    ET.fromstring(render())  # type: ignore[operator]


# ----------------------------------------------------------------------------- behaviour


def test_no_jobs_prints_nothing() -> None:
    assert formats.qstat_jobs([]) == ""
    assert formats.qstat_jobs_requested([]) == ""
    assert formats.qstat_jobs_ext([]) == ""
    assert formats.qstat_full([], []) == ""


def test_long_values_are_cut_to_sge_widths() -> None:
    row = JobRow(1234567, 0.25, "averyveryverylongname", "someverylonguser", "r", T8, T8,
                 "long.queue.name@some.very.long.hostname.example", 1, "")
    line = formats.qstat_jobs([row]).splitlines()[2]
    assert " averyveryv someverylong r " in line
    assert " long.queue.name@some.very.long     1 " in line  # 30 characters of the queue
    assert line.startswith("1234567 0.25000 ")
    assert len(line) == len(formats.qstat_jobs([running(2, "x")]).splitlines()[2])


def test_pending_rows_show_submit_time_running_rows_start_time() -> None:
    row = running(7, "j")
    row.submit_time, row.start_time = T8, T10
    assert formats.format_datetime(T10) in formats.qstat_jobs([row])
    waiting = pending(8, "w", T10)
    waiting.start_time = T8  # ignored while the job waits
    assert formats.format_datetime(T10) in formats.qstat_jobs([waiting])


def test_requested_lists_resources_queues_and_predecessors() -> None:
    row = pending(11, "dep", T8)
    row.hard_resources = {"h_rt": "60", "mem_free": "1G"}
    row.soft_resources = {"arch": "lx-amd64"}
    row.hard_queues = ["all.q", "other.q@vm"]
    row.hold_jids = ["2", "sleeper"]
    extra = formats.requested_lines(row)
    assert extra[1:] == [
        "       Hard Resources:   h_rt=60 (0.000000)",
        "                         mem_free=1G (0.000000)",
        "       Soft Resources:   arch=lx-amd64",
        "       Hard requested queues: all.q, other.q@vm",
        "       Predecessor Jobs (request): 2, sleeper",
        "       Binding:          NONE",
    ]


def test_running_parallel_job_shows_granted_pe_and_slave_lines() -> None:
    row = running(12, "mpi")
    row.slots, row.requested_pe, row.granted_pe = 4, "mpi 2-4", "mpi 4"
    row.slave_queues = [{"queue": "all.q@node2", "slots": 2}]
    assert "       Granted PE:       mpi 4" in formats.requested_lines(row)
    tasks = formats.qstat_jobs_tasks([row]).splitlines()
    assert tasks[2].rstrip().endswith("all.q@vm                       MASTER")
    assert tasks[3].strip() == "all.q@node2                    SLAVE".strip()
    node2 = QueueInstanceRow("all.q@node2", "BIP", 0, 2, 4, None, "lx-amd64", "u")
    full = formats.qstat_full([queue(2), node2], [row]).splitlines()
    assert full[3].split()[-1] == "2" and full[6].split()[-1] == "2"  # 2 slots on each host
    assert full[4] == full[1] and full[5].startswith("all.q@node2")  # a rule before each queue
    assert "-NA-" in full[5] and full[5].endswith(" u")


def test_ext_usage_columns() -> None:
    row = running(13, "busy", usage={"cpu": 2 * 86400 + 3 * 3600 + 4 * 60 + 5, "mem": 1.5, "io": 0.25})
    line = formats.qstat_jobs_ext([row]).splitlines()[2]
    assert " 2:03:04:05 1.50000 0.25000 " in line


def test_full_lists_pending_banner_only_with_pending_jobs() -> None:
    assert "PENDING" not in formats.qstat_full([queue(1)], [running(2, "a")])
    assert "PENDING" in formats.qstat_full([queue(0)], [pending(4, "b", T8)])


def test_job_details_optional_fields() -> None:
    spec = JobSpec(command="job.sh", name="job.sh", hard_resources={"h_rt": "60", "mem_free": "1G"},
                   hard_queues=["all.q"], pe=PeRequest("smp", 2, 2), hold_jids=["first"],
                   env={"FOO": "bar"}, cwd="/tmp/w", join=True, stdout_paths=["/tmp/out"],
                   priority=-10, submit_env={"LOGNAME": "u", "HOST": "h1"})
    detail = JobDetail(20, spec.to_wire(), "u", 1, "g", 2, T8, "qw", predecessors=[19],
                       scheduling_info=["first", "second"])
    text = formats.qstat_job_details([detail])
    for line in ["hard resource_list:         h_rt=60,mem_free=1G",
                 "hard_queue_list:            all.q",
                 "parallel environment:  smp range: 2",
                 "jid_predecessor_list (req): first",
                 "jid_predecessor_list:       19",
                 "env_list:                   FOO=bar",
                 "cwd:                        /tmp/w",
                 "merge:                      y",
                 "stdout_path_list:           NONE:NONE:/tmp/out",
                 "priority:                   -10",
                 "mail_list:                  u@h1",
                 "sge_o_log_name:             u",
                 "scheduling info:            first",
                 "                            second"]:
        assert line + "\n" in text
    assert "job_type" not in text and "job_args" not in text and "usage" not in text


def test_memory_and_time_helpers() -> None:
    assert formats.format_memory(23.541 * GIB) == "23.5G"
    assert formats.format_memory(214.094 * MIB) == "214.1M"
    assert formats.format_memory(2048) == "2.0K"
    assert formats.format_memory(0) == "0.0"
    assert formats.format_ctime(T8) == "Sat Nov 21 16:15:08 2026"
    assert formats.format_iso(T10) == "2026-11-21T16:15:10"
    assert formats.format_cpu_clock(3725) == "01:02:05"


def test_unknown_host_values_are_dashes() -> None:
    down = HostRow("node9", "lx-amd64", 4, 1, 4, 4, None, 8 * int(GIB), 0, 0, 0)
    line = formats.qhost_table([down]).splitlines()[3]
    assert line.split() == ["node9", "lx-amd64", "4", "1", "4", "4", "-", "8.0G", "-", "-", "-"]


def test_sync_messages() -> None:
    def report(**kw: Any) -> TaskEnd:
        return TaskEnd(**{"job_id": 8, "task_id": 1, **kw})

    assert formats.sync_exit_message(report(exit_status=3)) == "Job 8 exited with exit code 3.\n"
    assert formats.sync_exit_message(report(is_array=True, task_id=2)) == "Job 8.2 exited with exit code 0.\n"
    killed = report(signal=9, exit_status=137)
    assert formats.sync_exit_message(killed) == "Job 8 exited because of signal SIGKILL.\n"
    assert formats.sync_exit_code(killed) == 1
    assert formats.sync_exit_message(report(task_id=0, deleted=True)) == "Unable to run job 8.\n"
    assert formats.sync_exit_message(8, 5) == "Job 8 exited with exit code 5.\n"
    assert formats.sync_exit_message(8, 0, task_id=3, signal=15) == "Job 8.3 exited because of signal SIGTERM.\n"


def test_xml_escapes_and_array_tasks() -> None:
    row = running(14, "a<b&c")
    row.is_array, row.tasks = True, "2"
    text = xmlout.qstat_xml([row])
    parsed = ET.fromstring(text)
    job = parsed.find("queue_info/job_list")
    assert job is not None and job.findtext("JB_name") == "a<b&c" and job.findtext("tasks") == "2"


def test_job_details_xml_carries_requests_and_messages() -> None:
    spec = JobSpec(command="job.sh", name="j", hard_resources={"h_rt": "60"}, pe=PeRequest("mpi", 2, 4),
                   tasks=TaskRange(1, 5, 2), env={"FOO": "bar"}, submit_env={"HOME": "/h"})
    detail = JobDetail(21, spec.to_wire(), "u", 1, "g", 2, T8, "qw", scheduling_info=["waiting"])
    root = ET.fromstring(xmlout.qstat_job_details_xml([detail]))
    job = root.find("djob_info/element")
    assert job is not None
    assert job.findtext("JB_hard_resource_list/qstat_l_requests/CE_stringval") == "60"
    assert job.findtext("JB_pe") == "mpi" and job.findtext("JB_pe_range/ranges/RN_max") == "4"
    assert job.findtext("JB_ja_structure/task_id_range/RN_step") == "2"
    assert job.findtext("JB_type") == "128"
    names = [e.text for e in job.iter("VA_variable")]
    assert names == ["__SGE_PREFIX__O_HOME", "FOO"]
    assert root.findtext("messages/element/SME_message_list/element/MES_message") == "waiting"


def test_usage_of_a_running_job_matches_sge() -> None:
    """Job 278 of SGE's cell, 5 s of cpu burned: its qstat -j usage line, -ext line and
    -j -xml usage list, from the figures SGE's XML gives."""
    usage = {"cpu": 5.0, "mem": 0.038533, "io": 0.000074, "iow": 0.0, "vmem": 10141696.0, "maxvmem": 10141696.0}
    start = time.mktime((2026, 12, 2, 2, 0, 30, 0, 0, -1))
    row = JobRow(278, 0.5, "v10burn3", "sgeuser", "r", start, start, "pzq.q@vm", 1, "",
                 master_queue="pzq.q@vm", usage=usage)
    assert formats.qstat_jobs_ext([row]) == reference("qstat_ext_usage.txt")
    spec = JobSpec(command="/tmp/v10/burn.sh", name="v10burn3", mail_list=["sgeuser@vm"], submit_env=dict(SUBMIT_ENV))
    detail = JobDetail(278, spec.to_wire(), "sgeuser", 1001, "sgeuser", 1001, start, "r",
                       tasks=[TaskDetail(1, "r", "pzq.q@vm", start, usage)])
    text = formats.qstat_job_details([detail])
    assert [line + "\n" for line in text.splitlines() if line.startswith("usage")] == [reference("qstat_j_usage.txt")]
    xml = xmlout.qstat_job_details_xml([detail])
    block = xml[xml.index("          <JAT_scaled_usage_list>"):xml.index("</JAT_scaled_usage_list>\n") + 25]
    assert block == reference("qstat_j_usage_xml.txt")
