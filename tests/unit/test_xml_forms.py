"""The XML outputs parsed with xml.etree: element structure against the SGE captures, and
the forms no capture covers (-ext, -r, -t, qhost -q/-F/-j) against qstat.xsd's order."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from qsys.cli import csvout, formats, xmlout
from qsys.records import JobRow
from tests.unit.test_formats import T8, host, queue, reference, rows, running, sleeper_detail

# job_list children in qstat.xsd's sequence
JOB_LIST_ORDER = [
    "JB_job_number", "JAT_prio", "JAT_ntix", "JB_nurg", "JB_urg", "JB_rrcontr", "JB_wtcontr",
    "JB_dlcontr", "JB_priority", "JB_name", "JB_owner", "JB_project", "JB_department", "state",
    "JB_submission_time", "JAT_start_time", "JB_deadline", "cpu_usage", "mem_usage", "io_usage",
    "tickets", "JB_override_tickets", "JB_jobshare", "otickets", "ftickets", "stickets", "JAT_share",
    "queue_name", "master", "slots", "tasks", "requested_PE", "granted_PE", "JB_checkpoint_name",
    "hard_request", "def_hard_request", "soft_request", "hard_req_queue", "soft_req_queue",
    "master_hard_req_queue", "predecessor_jobs_req", "predecessor_jobs",
]


def shape(elem: ET.Element, path: str = "") -> list[tuple[str, tuple[str, ...]]]:
    """Every element as (path, sorted attribute names), in document order."""
    here = f"{path}/{elem.tag}"
    found = [(here, tuple(sorted(elem.attrib)))]
    for child in elem:
        found += shape(child, here)
    return found


@pytest.mark.parametrize(("capture", "render"), [
    ("qstat_xml.txt", lambda: xmlout.qstat_xml(rows())),
    ("qstat_f_xml.txt", lambda: xmlout.qstat_full_xml([queue(2)], rows())),
    ("qstat_j_xml.txt", lambda: xmlout.qstat_job_details_xml([sleeper_detail()])),
    ("qhost_xml.txt", lambda: xmlout.qhost_xml([host()])),
])
def test_structure_equals_capture(capture: str, render: object) -> None:
    ours = ET.fromstring(render())  # type: ignore[operator]
    theirs = ET.fromstring(reference(capture))
    assert shape(ours) == shape(theirs)


def _in_schema_order(job_list: ET.Element) -> bool:
    tags = [child.tag for child in job_list]
    positions = [JOB_LIST_ORDER.index(t) for t in tags]
    return positions == sorted(positions)


def _richer_rows() -> list[JobRow]:
    base = rows()
    base[0].granted_pe = "smp 1"
    base[0].hard_resources = {"h_rt": "60"}
    base[0].hard_queues = ["all.q"]
    base[4].hold_jids = ["2"]
    return base


@pytest.mark.parametrize("forms", [{"ext"}, {"requested"}, {"tasks"}, {"ext", "requested", "tasks"}])
def test_extended_forms_follow_the_schema(forms: set[str]) -> None:
    plain = ET.fromstring(xmlout.qstat_xml(_richer_rows()))
    extended = ET.fromstring(xmlout.qstat_xml(_richer_rows(), frozenset(forms)))
    plain_lists, ext_lists = plain.findall(".//job_list"), extended.findall(".//job_list")
    assert len(plain_lists) == len(ext_lists)
    for short, long in zip(plain_lists, ext_lists, strict=True):
        assert _in_schema_order(long), [c.tag for c in long]
        # the extended form only adds elements to what the plain form prints
        tags = [c.tag for c in long]
        assert all(tag in tags for tag in [c.tag for c in short])
    first = ext_lists[0]
    if "ext" in forms:
        assert first.findtext("JB_department") == "defaultdep" and first.findtext("tickets") == "0"
        assert first.find("JAT_ntix") is not None
    if "requested" in forms:
        assert first.find("granted_PE").attrib == {"name": "smp"}  # type: ignore[union-attr]
        assert first.find("hard_request").attrib["name"] == "h_rt"  # type: ignore[union-attr]
        assert first.findtext("hard_req_queue") == "all.q"
        pe_job = ext_lists[4]
        assert pe_job.find("requested_PE").attrib == {"name": "smp"}  # type: ignore[union-attr]
        assert pe_job.findtext("predecessor_jobs_req") == "2"
    if "tasks" in forms:
        assert first.findtext("master") == "MASTER" and ext_lists[2].find("master") is None


def test_full_xml_forms_parse() -> None:
    doc = ET.fromstring(xmlout.qstat_full_xml([queue(2)], _richer_rows(), frozenset({"ext", "requested"})))
    assert all(_in_schema_order(j) for j in doc.iter("job_list"))


def test_qhost_xml_with_queues_resources_and_jobs() -> None:
    running_row = running(2, "sleeper")
    text = xmlout.qhost_xml([host(queues=[queue(1)], load_values={"load_avg": "0.5", "mem_total": "1073741824"})],
                            queues=True, resources=True, jobs=[running_row])
    doc = ET.fromstring(text)
    vm = doc.findall("host")[1]
    kinds = [child.tag for child in vm]
    assert kinds == ["hostvalue"] * 10 + ["resourcevalue"] * 2 + ["queue", "job"]
    assert vm.find("resourcevalue").attrib == {"name": "load_avg", "dominance": "hl"}  # type: ignore[union-attr]
    assert vm.findall("resourcevalue")[1].text == "1.000G"
    q = vm.find("queue")
    assert q.attrib == {"name": "all.q"}  # type: ignore[union-attr]
    values = {v.attrib["name"]: v.text or "" for v in q}  # type: ignore[union-attr]
    assert values == {"qtype_string": "BIP", "slots_used": "1", "slots": "4", "slots_resv": "0", "state_string": ""}
    job = vm.find("job")
    assert job.attrib == {"name": "2"}  # type: ignore[union-attr]
    jv = {v.attrib["name"]: v.text for v in job}  # type: ignore[union-attr]
    assert all(v.attrib["jobid"] == "2" for v in job)  # type: ignore[union-attr]
    assert jv["priority"] == "'0.500000'" and jv["qinstance_name"] == "all.q@vm"
    assert jv["pe_master"] == "MASTER" and jv["start_time"] == str(int(T8)) and jv["job_state"] == "r"


def test_qhost_j_lists_running_tasks_under_their_host() -> None:
    text = formats.qhost_table([host()], jobs=rows())
    lines = text.splitlines()
    assert lines[4] == ("   job-ID  prior   name       user         state submit/start at     "
                        "queue      master ja-task-ID ")
    assert lines[5] == "   " + "-" * 94
    assert lines[6] == f"   {2:>7} 0.50000 sleeper    sgeuser      r     {formats.format_datetime(T8)} all.q@vm   MASTER        "
    assert len(lines) == 8  # the two running jobs; pending jobs are on no host


def test_csv_forms() -> None:
    import csv
    import io

    table = list(csv.reader(io.StringIO(csvout.qstat_jobs_csv(rows()))))
    assert table[0] == csvout.JOB_COLUMNS and [r[0] for r in table[1:]] == ["2", "3", "4", "5", "9", "10"]
    assert table[3][8] == "1-3:1" and table[1][6] == "all.q@vm"
    full = list(csv.reader(io.StringIO(csvout.qstat_full_csv([queue(2)], rows()))))
    assert full[0] == csvout.QUEUE_COLUMNS + csvout.JOB_COLUMNS
    assert [r[0] for r in full[1:3]] == ["all.q@vm", "all.q@vm"] and full[3][0] == "" and len(full) == 7
