"""The resource map ids a task held, for qacct: Grid Engine's accounting line has no field
for them and stays byte for byte as Grid Engine writes it; the ids go to ``accounting_devices``
beside it, and ``qacct -j --json`` joins them to their task's record (plain ``qacct -j`` prints
what Grid Engine prints)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qsys.accounting_file import HEADER, devices_file, format_line, parse_devices_line, parse_record
from qsys.cli import qacct
from qsys.master.accounting import AccountingWriter, granted_devices
from qsys.master.jobs import Assignment, Task
from tests import REFERENCE


def record(job: int, task: int = 0, start: int = 1700000000, **values: object) -> dict[str, object]:
    found = parse_record((REFERENCE / "accounting_raw_line.txt").read_text())
    assert found is not None
    found.update(job_number=job, task_number=task, start_time=start, **values)
    return found


def test_a_task_s_ids_read_as_qstat_j_shows_them() -> None:
    task = Task(task_id=1, state="r", dispatch_time=0.0, assignments=[Assignment("all.q", "node1", 2, {"gpu": ["0", "1"]}),
                                        Assignment("all.q", "node2", 1, {"gpu": ["3"], "fpga": ["a:0"]})])
    assert granted_devices(task) == "gpu=node1=(0 1), gpu=node2=(3), fpga=node2=(a:0)"
    assert granted_devices(Task(task_id=1, state="r", dispatch_time=0.0, assignments=[Assignment("all.q", "node1", 1)])) == ""


def test_the_accounting_line_stays_grid_engine_s_and_the_ids_go_beside_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "accounting"
    writer = AccountingWriter(path)
    plain = record(7)
    with_ids = record(8, devices="gpu=node1=(0 1)")
    pe_task = record(8, devices="gpu=node1=(0 1)", pe_taskid="1.node1")  # qrsh -inherit: its task has it
    for each in (plain, with_ids, pe_task):
        writer.write(each)
    writer.close()
    assert path.read_text() == HEADER + "".join(format_line(r) + "\n" for r in (plain, record(8), pe_task))
    lines = devices_file(path).read_text().splitlines()
    assert lines == ["8:0:1700000000:gpu=node1=(0 1)"]
    assert parse_devices_line(lines[0]) == ((8, 0, 1700000000), "gpu=node1=(0 1)")
    assert parse_devices_line("8:x:1:gpu") is None and parse_devices_line("8:0") is None

    assert qacct.main(["-f", str(path), "-j", "8", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [r.get("devices") for r in shown] == ["gpu=node1=(0 1)", None]  # the job's own record only
    assert qacct.main(["-f", str(path), "-j", "7", "--json"]) == 0
    assert "devices" not in json.loads(capsys.readouterr().out)[0]
    assert qacct.main(["-f", str(path), "-j", "8"]) == 0
    assert "gpu" not in capsys.readouterr().out  # Grid Engine's block, as it prints it


def test_a_later_run_of_the_same_task_is_told_apart_by_its_start(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "accounting"
    writer = AccountingWriter(path)
    writer.write(record(9, task=2, start=100, devices="gpu=node1=(0)"))
    writer.write(record(9, task=2, start=200, devices="gpu=node2=(1)"))
    writer.close()
    assert qacct.main(["-f", str(path), "-j", "9", "--json"]) == 0
    assert [r["devices"] for r in json.loads(capsys.readouterr().out)] == ["gpu=node1=(0)", "gpu=node2=(1)"]
