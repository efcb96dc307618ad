"""qacct's reading, selection and layouts against the SGE 8.1.9 captures.

The reference run wrote ``accounting_raw_line.txt`` for job 11 and printed it as
``qacct_j.txt`` (in UTC); the tests feed that very line through our reader and formatter.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qsys import acct
from qsys.accounting_file import ACCOUNTING_FIELDS, HEADER, format_line, parse_record
from qsys.cli import acctout, qacct
from qsys.errors import NotFound, UsageError
from tests import REFERENCE


def reference(name: str) -> str:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"reference capture {name} not available")
    return path.read_text()


@pytest.fixture
def utc() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


def ref_record() -> dict[str, object]:
    record = parse_record(reference("accounting_raw_line.txt"))
    assert record is not None
    return record


def make(job: int, **values: object) -> dict[str, object]:
    record = ref_record()
    record.update(job_number=job, **values)
    return record


def test_reference_line_has_45_fields_and_round_trips() -> None:
    line = reference("accounting_raw_line.txt").rstrip("\n")
    record = ref_record()
    assert len(line.split(":")) == len(ACCOUNTING_FIELDS) == 45
    assert record["job_number"] == 11 and record["ru_maxrss"] == 5028.0 and record["category"] == "NONE"
    assert format_line(record) == line


def test_job_block_matches_capture_except_maxrss_unit(utc: None) -> None:
    expected = reference("qacct_j.txt")
    # Grid Engine prints the kilobytes of ru_maxrss as if they were bytes; we print kilobytes
    assert "ru_maxrss    4.910KB\n" in expected
    expected = expected.replace("ru_maxrss    4.910KB\n", "ru_maxrss    4.910MB\n")
    assert acctout.job_blocks([ref_record()]) == expected


def test_summary_layouts_match_captures() -> None:
    sums = {"ru_wallclock": 18.0, "ru_utime": 0.055, "ru_stime": 0.033, "cpu": 0.088,
            "mem": 0.0, "io": 0.0, "iow": 0.0}
    assert acctout.summary([], [], sums) == reference("qacct_summary.txt")
    assert acctout.summary(["owner"], [(("sgeuser",), sums)], sums) == reference("qacct_o.txt")


def test_failed_line_names_the_failure() -> None:
    lines = acctout.job_block(make(5, failed=100, exit_status=137))
    assert "failed       100 : assumedly after job" in lines
    assert "exit_status  137                 " in lines
    assert "failed       8   : in prolog" in acctout.job_block(make(5, failed=8))


def test_array_task_pe_and_unset_times() -> None:
    lines = acctout.job_block(make(7, task_number=3, granted_pe="smp", slots=2, start_time=0))
    assert f"{'taskid':<13}{'3':<20}" in lines
    assert f"{'granted_pe':<13}{'smp':<20}" in lines
    assert f"{'start_time':<13}{'-/-':<20}" in lines


def test_memory_units() -> None:
    assert acctout.memory_text(0) == "0.000B"
    assert acctout.memory_text(1023) == "1023.000B"
    assert acctout.memory_text(1024) == "1.000KB"
    assert acctout.memory_text(3604480) == "3.438MB"
    assert acctout.memory_text(3 * 1024**3) == "3.000GB"


def test_selection_filters_and_groups() -> None:
    records = [
        make(1, owner="alice", qname="all.q", hostname="h1", category="-l h_rt=60,mem=1G", start_time=1000),
        make(2, owner="bob", qname="fast.q", hostname="h2.example.org", start_time=2000),
        make(3, owner="alice", qname="fast.q", hostname="h2", job_name="other", start_time=3000),
    ]
    ids = lambda sel: [r["job_number"] for r in acct.select(records, sel)]  # noqa: E731
    assert ids(acct.Selection(owner="alice")) == [1, 3]
    assert ids(acct.Selection(owner="a*")) == [1, 3]
    assert ids(acct.Selection(queue="fast.q")) == [2, 3]
    assert ids(acct.Selection(queue="fast.q@h2")) == [2, 3]
    assert ids(acct.Selection(host="h2")) == [2, 3]
    assert ids(acct.Selection(requests={"h_rt": "60"})) == [1]
    assert ids(acct.Selection(requests={"h_rt": "61"})) == []
    assert ids(acct.Selection(begin=1500, end=2500)) == [2]
    assert ids(acct.Selection(job="other")) == [3]
    assert ids(acct.Selection(job="acct*")) == [1, 2]
    groups = acct.grouped(records, ["owner", "queue"])
    assert [key for key, _ in groups] == [("alice", "all.q"), ("alice", "fast.q"), ("bob", "fast.q")]
    total = acct.totals(records)
    assert total["ru_wallclock"] == sum(s["ru_wallclock"] for _, s in groups) == 3.0


def test_unknown_job_errors() -> None:
    with pytest.raises(NotFound, match=r"^error: job id 999999 not found$"):
        acct.select([ref_record()], acct.Selection(job="999999"))
    with pytest.raises(NotFound, match=r"^error: job name nosuch not found$"):
        acct.select([ref_record()], acct.Selection(job="nosuch"))


def test_time_arguments() -> None:
    assert qacct.parse_args(["-b", "202611211615"])[0].begin == time.mktime((2026, 11, 21, 16, 15, 0, 0, 0, -1))
    assert qacct.parse_args(["-e", "2611211615.30"])[0].end == time.mktime((2026, 11, 21, 16, 15, 30, 0, 0, -1))
    assert acct.time_window(None, None, 2, now=10 * 86400) == (8 * 86400, None)
    assert acct.time_window(100.0, None, 1) == (100.0, 100.0 + 86400)
    assert acct.time_window(None, 86400.0 * 3, 1) == (86400.0 * 2, 86400.0 * 3)
    for bad in ("2026", "13011200", "1121161x"):
        with pytest.raises(UsageError):
            qacct.parse_args(["-b", bad])


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "accounting"
    lines = [format_line(make(1, owner="alice", ru_wallclock=5)),
             format_line(make(2, owner="bob", ru_wallclock=7, exit_status=3))]
    path.write_text(HEADER + "\n".join(lines) + "\n")
    assert qacct.main(["-f", str(path), "-j", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count(acctout.SEPARATOR + "\n") == 1 and "exit_status  3 " in out
    assert qacct.main(["-f", str(path), "-j", "999999"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "error: job id 999999 not found\n"
    assert qacct.main(["-f", str(path), "-o", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [(r["owner"], r["ru_wallclock"]) for r in summary["groups"]] == [("alice", 5.0), ("bob", 7.0)]
    assert summary["total"]["ru_wallclock"] == 12.0
    assert qacct.main(["-f", str(path), "-o", "--csv"]) == 0
    table = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert table[0][:2] == ["owner", "ru_wallclock"] and [row[:2] for row in table[1:]] == [["alice", "5.0"],
                                                                                        ["bob", "7.0"]]
    assert qacct.main(["-f", str(path), "-j", "--csv"]) == 0
    table = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert table[0] == list(ACCOUNTING_FIELDS) and [row[5] for row in table[1:]] == ["1", "2"]
    assert qacct.main(["-f", str(path), "-t", "1"]) == 2
    assert "-t option requires -j option" in capsys.readouterr().err
    assert qacct.main(["-f", str(tmp_path / "missing")]) == 1
