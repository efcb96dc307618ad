"""Typed messages and rows: what travels is checked against the record's annotations."""

from __future__ import annotations

import msgpack
import pytest

from qsys import protocol
from qsys.errors import ProtocolError
from qsys.jobspec import JobSpec, PeRequest
from qsys.record import ShapeError, from_map, to_map
from qsys.records import HostRow, JobRow, QueueInstanceRow


def _frame_body(msg: object) -> dict[str, object]:
    return msgpack.unpackb(protocol.encode(msg)[4:], raw=False)


def _decode(body: dict[str, object]) -> object:
    return protocol.decode(msgpack.packb(body, use_bin_type=True))


def test_a_message_travels_with_only_the_fields_off_their_defaults() -> None:
    spec = JobSpec(command="sleep", args=["1"], pe=PeRequest("smp", 2, 4))
    body = _frame_body(protocol.Submit(spec))
    assert body == {"t": "submit", "spec": {"command": "sleep", "args": ["1"],
                                            "pe": {"name": "smp", "min_slots": 2, "max_slots": 4}}}
    assert protocol.decode(protocol.encode(protocol.Submit(spec))[4:]) == protocol.Submit(spec)


def test_nested_rows_come_back_as_records() -> None:
    queue = QueueInstanceRow("all.q@node1", "BIP", 0, 1, 4, 0.25, "lx-amd64", "")
    host = HostRow("node1", "lx-amd64", 4, 1, 4, 4, 0.25, 1 << 30, 0, 0, 0, queues=[queue])
    reply = protocol.decode(protocol.encode(protocol.HostRows([host]))[4:])
    assert isinstance(reply, protocol.HostRows)
    assert reply.hosts == [host] and isinstance(reply.hosts[0].queues[0], QueueInstanceRow)


@pytest.mark.parametrize(("body", "expected"), [
    ({"t": "submit", "spec": {"priority": "high"}}, "submit.spec.priority: expected int, got str"),
    ({"t": "submit", "spec": {"pe": {"name": "smp", "min_slots": 1}}}, "submit.spec.pe: missing field 'max_slots'"),
    ({"t": "submit", "spec": {"env": {"A": 1}}}, "submit.spec.env['A']: expected str, got int"),
    ({"t": "submit", "spec": [1, 2]}, "submit.spec: expected a map, got list"),
    ({"t": "submit"}, "submit: missing field 'spec'"),
    ({"t": "job_action", "action": "delete", "force": 1}, "job_action.force: expected bool, got int"),
    ({"t": "kill_job", "job_id": 1, "task_id": 1, "signal": 9, "all": True}, "kill_job: unknown field 'all'"),
    ({"t": "job_finished", "job_id": 1, "task_id": 1, "report": {"exit_status": "0"}},
     "job_finished.report.exit_status: expected int, got str"),
    ({"t": "register", "host": "n", "arch": "a", "processors": 1, "mem_total": 0, "swap_total": 0,
      "load": {}, "jobs": [{"job_id": 1}]}, "register.jobs[0]: missing field 'task_id'"),
    ({"t": "ar_submit", "spec": {"pe": [[1]]}}, "ar_submit.spec.pe: expected a list of 3, got list"),
    ({"t": "ar_submit", "spec": {"pe": []}}, "ar_submit.spec.pe: expected a list of 3, got list"),
    ({"t": "ar_submit", "spec": {"pe": ["smp", "1", 2]}}, "ar_submit.spec.pe[1]: expected int, got str"),
    ({"t": "no_such_thing"}, "unknown message type 'no_such_thing'"),
    ({"spec": {}}, "unknown message type None"),
])
def test_a_message_of_the_wrong_shape_is_a_protocol_error_naming_the_field(body: dict[str, object],
                                                                         expected: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        _decode(body)
    assert expected in caught.value.message


def test_a_tuple_of_known_length_arrives_as_a_tuple() -> None:
    msg = _decode({"t": "ar_submit", "spec": {"pe": ["smp", 1, 4], "duration": 60}})
    assert isinstance(msg, protocol.ArSubmit) and msg.spec.pe == ("smp", 1, 4)


def test_a_row_reads_like_the_map_it_travels_as() -> None:
    row = JobRow(7, 0.5, "sleep", "alice", "qw", 1.0, None, "", 1, "")
    assert row["job_id"] == 7 and row.get("queue") == "" and row.get("nothing", "x") == "x"
    assert "state" in row and "nothing" not in row and dict(row)["owner"] == "alice"
    with pytest.raises(KeyError):
        row["nothing"]


def test_rows_from_a_newer_peer_drop_its_extra_fields() -> None:
    data = {**to_map(JobRow(7, 0.5, "sleep", "alice", "qw", 1.0, None, "", 1, "")), "colour": "red"}
    assert from_map(JobRow, data).job_id == 7
    with pytest.raises(ShapeError):
        from_map(JobRow, data, strict=True)


def test_an_exit_report_keeps_what_fits_of_a_damaged_report_file() -> None:
    report = protocol.exit_report({"exit_status": 3, "cpu": "a lot", "error": "boom", "extra": 1})
    assert (report.exit_status, report.cpu, report.error) == (3, 0.0, "boom")


def test_a_handler_table_answers_the_types_it_was_given_and_refuses_the_rest() -> None:
    table: protocol.HandlerTable[str] = protocol.HandlerTable("test")
    table.add(protocol.JobsStatus, "jobs")
    table.add(protocol.HostsStatus, "hosts")
    assert table.lookup(protocol.HostsStatus()) == "hosts" and len(table) == 2
    assert protocol.JobsStatus in table and protocol.Submit not in table
    with pytest.raises(ProtocolError, match="unexpected Submit on a test link"):
        table.lookup(protocol.Submit(JobSpec(command="true")))
    with pytest.raises(ValueError, match="JobsStatus handled twice"):
        table.add(protocol.JobsStatus, "again")
    with pytest.raises(ValueError, match="JobSpec is not a message type"):
        table.add(JobSpec, "spec")
    assert table.lookup(protocol.JobsStatus()) == "jobs"  # the refused additions changed nothing
