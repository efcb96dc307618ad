"""Advance reservation requests and records: qrsub's options and qrstat's text and XML,
compared with Son of Grid Engine 8.1.9 (tests/reference/sge-8.1.9/qrstat*.txt)."""

from __future__ import annotations

import time

import pytest

from qsys.arspec import (
    ArRecord,
    ArSpec,
    format_details,
    format_missing,
    format_summary,
    format_xml,
    record_for,
)
from qsys.cli.qrsub import parse_qrsub
from qsys.errors import InvalidRequest, UsageError
from tests import REFERENCE


def local(text: str) -> float:
    return time.mktime(time.strptime(text, "%m/%d/%Y %H:%M:%S"))


def reference_records() -> list[ArRecord]:
    """The two reservations of the reference run (AR 7 with a PE, AR 8 for two users)."""
    return [
        ArRecord(7, "root", local("12/01/2026 22:01:25"), local("12/01/2026 23:01:25"), local("12/01/2026 22:01:25"),
                 "r", "pear", "sgeadmin", "sge", {}, [("all.q@vm", 1)], ("smp", 1)),
        ArRecord(8, "root", local("12/02/2026 00:01:00"), local("12/02/2026 00:11:00"), local("12/01/2026 22:01:25"),
                 "w", "later", "sgeadmin", "sge", {"h_rt": "50"}, [("all.q@vm", 1)], None,
                 ["sgeuser2", "sgeuser"]),
    ]


def test_qrstat_formats_as_grid_engine() -> None:
    records = reference_records()
    assert format_summary(records) == (REFERENCE / "qrstat.txt").read_text()
    assert format_details(records) == (REFERENCE / "qrstat_ar.txt").read_text()
    assert format_xml(records) == (REFERENCE / "qrstat_xml.txt").read_text()
    assert format_xml(records[:1], details=True) == (REFERENCE / "qrstat_ar_xml.txt").read_text()
    assert format_missing([999]) == (REFERENCE / "qrstat_ar_missing.txt").read_text()
    assert format_summary([]) == ""
    assert "<ar_unknown>\n      <id>3</id>\n   </ar_unknown>" in format_xml([], missing=[3])


def test_qrsub_options() -> None:
    now = local("12/01/2026 21:00:00")
    spec = parse_qrsub(["-a", "12012300", "-d", "1:00:00", "-pe", "smp", "2", "-l", "h_rt=50", "-q", "all.q",
                        "-u", "sgeuser2,!sgeuser", "-N", "myar", "-A", "proj"], now=now)
    assert spec.pe == ("smp", 2, 2) and spec.resources == {"h_rt": "50"} and spec.queues == ["all.q"]
    assert spec.window(now) == (local("12/01/2026 23:00:00"), local("12/02/2026 00:00:00"))
    record = record_for(12, spec, "root", "sgeadmin", now, [("all.q@vm", 2)], ("smp", 2))
    assert record.state == "w" and record.users == ["sgeuser2"] and record.excluded == ["sgeuser"]
    assert "xacl_list                      sgeuser\n" in format_details([record])
    assert "acl_list                       sgeuser2\n" in format_details([record])


@pytest.mark.parametrize(("spec", "message"), [
    (ArSpec(start=2000.0), 'missing value for "end time or duration" in advance reservation request'),
    (ArSpec(duration=0.0), 'missing value for "end time or duration" in advance reservation request'),
    (ArSpec(start=3000.0, end=2000.0), "start time is later than end time"),
    (ArSpec(start=2000.0, end=3000.0, duration=600.0), "difference between end and start time does not correspond to duration"),
    (ArSpec(start=10.0, duration=60.0), "start time is in the past"),
])
def test_qrsub_windows_refused_as_grid_engine(spec: ArSpec, message: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        spec.window(1000.0)
    assert error.value.message == message


def test_qrsub_window_forms() -> None:
    assert ArSpec(duration=100.0).window(1000.0) == (1000.0, 1100.0)
    assert ArSpec(end=5000.0, duration=600.0).window(1000.0) == (4400.0, 5000.0)
    assert ArSpec(end=5000.0).window(1000.0) == (1000.0, 5000.0)


def test_qrsub_refusals() -> None:
    with pytest.raises(UsageError, match="no option argument"):
        parse_qrsub([])
    with pytest.raises(UsageError, match='invalid option argument "-x"'):
        parse_qrsub(["-x"])
    with pytest.raises(UsageError, match='Wrong time format "abc" specified to -d option'):
        parse_qrsub(["-d", "abc"])
    with pytest.raises(InvalidRequest, match='"1abc" is not a valid object name'):
        parse_qrsub(["-d", "100", "-N", "1abc"])


@pytest.mark.parametrize(("argv", "message"), [
    (["-pe"], "qrsub: -pe option must have pe_name argument"),
    (["-d", "10", "-pe", "smp"], "qrsub: -pe option must have range as 2nd argument"),
    (["-q"], "qrsub: -q option must have queue list argument"),
    (["-masterq"], "qrsub: -masterq option must have queue list argument"),
    (["-u"], "qrsub: -u option must have a list usernames"),
    (["-d"], "qrsub: -d option must have argument"),
    (["-a", "xyz"], '\nInvalid format of date/hour-minute field.\nqrsub: Wrong date/time format "xyz" specified to -a option'),
    (["-d", "10", "-xml"], 'qrsub: invalid option argument "-xml"'),
])
def test_qrsub_usage_errors_are_grid_engines(argv: list[str], message: str) -> None:
    # the words and exit code of SGE 8.1.9's qrsub for the same command lines
    with pytest.raises(UsageError) as error:
        parse_qrsub(argv)
    assert error.value.message == message
    assert error.value.exit_code == 1


def test_qrsub_without_options_shows_the_help_from_its_rows() -> None:
    from qsys.cli.qrsub import QRSUB_OPTIONS

    with pytest.raises(UsageError) as error:
        parse_qrsub([])
    assert error.value.message == QRSUB_OPTIONS.usage() + "ERROR! no option argument"
    assert "   [-pe pe_name slot_range]" in error.value.message and error.value.exit_code == 1


def test_qrsub_output_form_and_repeated_lists() -> None:
    from qsys.cli.qrsub import parse_request

    request = parse_request(["--json", "-d", "600", "-q", "a.q", "-q", "b.q", "-l", "h_rt=50", "-l", "mem=1G",
                             "-M", "x@y,z", "-u", "u1", "-u", "!u2"])
    assert request.form == "json" and request.spec.duration == 600.0
    assert request.spec.queues == ["a.q", "b.q"] and request.spec.resources == {"h_rt": "50", "mem": "1G"}
    assert request.spec.mail_users == ["x@y", "z"] and request.spec.users == ["u1", "!u2"]


@pytest.mark.parametrize(("command", "argv", "last_line", "usage_first"), [
    ("qrstat", ["-x"], 'error: invalid option argument "-x"', False),
    ("qrstat", ["-ar"], "error: -ar option must have argument", False),
    ("qrstat", ["-u"], "error: -u option must have a list usernames", False),
    ("qrstat", ["-ar", "abc"], "error: ERROR! invalid id, must be an unsigned integer", False),
    ("qrdel", [], "ERROR! no option argument", True),
    ("qrdel", ["-x"], 'error: invalid option argument "-x"', True),
    ("qquota", ["-x"], 'error: invalid option argument "-x"', True),
])
def test_reservation_and_quota_commands_refuse_as_grid_engine(command: str, argv: list[str], last_line: str,
                                                              usage_first: bool,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    # SGE 8.1.9: "error: ..." (not "qrstat: ..."), qrdel and qquota print their usage first, exit 1
    import importlib

    module = importlib.import_module(f"qsys.cli.{command}")
    assert module.main(argv) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == last_line
    assert err[0].startswith(f"usage: {command} ") == usage_first
    assert (len(err) > 1) == usage_first
