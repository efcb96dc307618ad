"""Pure parts of the operator commands: calendars, qstat views, qmod/qalter/qselect parsing."""

from __future__ import annotations

import datetime as dt

import pytest

from qsys.cli import qalter, qmod, qselect, qstat_views
from qsys.errors import InvalidRequest, UsageError
from qsys.grammar.calendar import parse_calendar
from qsys.master.queue_states import order_states
from qsys.records import ClusterQueueRow
from tests import REFERENCE

REF = REFERENCE  # the repository's copy of the reference output


def _at(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> float:
    return dt.datetime(y, m, d, hh, mm, ss).timestamp()


def test_week_calendar_states() -> None:
    cal = parse_calendar(None, "mon-fri=6-20 sat-sun=suspended")
    assert cal.state_at(_at(2026, 11, 23, 7)) == "off"  # a Monday, 7:00
    assert cal.state_at(_at(2026, 11, 23, 21)) == "on"
    assert cal.state_at(_at(2026, 11, 21, 12)) == "suspended"  # a Saturday
    change = cal.next_change(_at(2026, 11, 23, 7))
    assert change == _at(2026, 11, 23, 20)


def test_year_wins_over_week_and_ranges_wrap_midnight() -> None:
    cal = parse_calendar("24.12.2026=on 25.dec.2026-26.12.2026", "mon-sun=22-6")
    assert cal.state_at(_at(2026, 12, 24, 23)) == "on"
    assert cal.state_at(_at(2026, 12, 25, 12)) == "off"
    assert cal.state_at(_at(2026, 12, 23, 23)) == "off"
    assert cal.state_at(_at(2026, 12, 23, 3)) == "off"
    assert cal.state_at(_at(2026, 12, 23, 12)) == "on"
    assert cal.next_change(_at(2026, 12, 23, 12)) == _at(2026, 12, 23, 22)


def test_time_with_seconds_and_none() -> None:
    cal = parse_calendar("NONE", "mon-sun=10:00:05-10:00:09=suspended")
    assert cal.state_at(_at(2026, 1, 5, 10, 0, 7)) == "suspended"
    assert cal.next_change(_at(2026, 1, 5, 10, 0, 6)) == _at(2026, 1, 5, 10, 0, 9)
    assert parse_calendar("NONE", "NONE").next_change(_at(2026, 1, 5)) is None


@pytest.mark.parametrize("year,week", [("xx", None), (None, "12.1.2026"), ("mon", None),
                                       ("31.2.2026", None), (None, "mon=25-26")])
def test_malformed_calendars_are_rejected(year: str | None, week: str | None) -> None:
    with pytest.raises(InvalidRequest):
        parse_calendar(year, week)


def test_state_letters_follow_grid_engine_order() -> None:
    assert order_states("uda") == "adu"
    assert order_states({"E", "s", "C"}) == "CsE"


def test_cluster_summary_matches_the_reference() -> None:
    rows = [ClusterQueueRow("all.q", load=0.24, used=2, resv=0, available=2, total=4)]
    assert qstat_views.cluster_summary(rows) == (REF / "qstat_g_c.txt").read_text()


def test_urgency_and_priority_headers_line_up_with_rows() -> None:
    from qsys.records import JobRow

    row = JobRow(job_id=5, priority=0.5, name="job", owner="alice", state="qw", submit_time=0.0,
                 start_time=None, queue="", slots=2, tasks="",
                 urgency={"nurg": 0.5, "urg": 2000, "rrcontr": 2000, "wtcontr": 0, "dlcontr": 0,
                          "npprior": 0.5, "ntckts": 0.0, "ppri": -3})
    urg = qstat_views.urgency_listing([row]).splitlines()
    assert urg[0].index("name") == urg[2].index("job ")
    assert urg[2].split()[:7] == ["5", "0.50000", "0.50000", "2000", "2000", "0", "0"]
    pri = qstat_views.priority_listing([row]).splitlines()
    assert pri[0].index("name") == pri[2].index("job ")
    assert pri[2].split()[5] == "-3"
    assert len(pri[1]) == 148


def test_qmod_arguments() -> None:
    request = qmod.parse_args(["-f", "-d", "all.q@node1,b.q", "-sj", "5", "6"])
    assert request.force and request.form == ""
    assert request.operations == [("disable", False, ["all.q@node1", "b.q"]), ("suspend", True, ["5", "6"])]
    assert qmod.parse_args(["-s", "7"]).operations == [("suspend", None, ["7"])]
    assert qmod.parse_args(["-s", "7", "--json"]).form == "json"
    with pytest.raises(UsageError):
        qmod.parse_args(["-x", "1"])
    with pytest.raises(UsageError):
        qmod.parse_args(["-d"])


def test_qalter_sends_only_what_was_given() -> None:
    targets, changes, users, verify, form = qalter.parse_args(["-N", "x", "-soft", "-l", "arch=a", "-p", "0",
                                                                "7,8"])
    assert targets == ["7", "8"] and users == [] and verify == "" and form == ""
    assert changes == {"name": "x", "soft_resources": {"arch": "a"}, "priority": 0}
    _, changes, users, verify, form = qalter.parse_args(["-w", "v", "-h", "u", "-u", "bob", "--json"])
    assert changes == {"_holds": "u"} and users == ["bob"] and verify == "v" and form == "json"
    with pytest.raises(UsageError):
        qalter.parse_args(["-b", "y", "3"])
    with pytest.raises(UsageError):
        qalter.parse_args(["-N", "x"])


def test_qselect_filters() -> None:
    assert qselect.parse_args(["-q", "all.q", "-l", "arch=lx-amd64,h=node1", "-qs", "du", "-U", "bob"]) == {
        "queues": ["all.q"], "resources": {"arch": "lx-amd64", "h": "node1"}, "states": "du", "users": ["bob"]}
    with pytest.raises(UsageError):
        qselect.parse_args(["-qs", "x"])


def test_urgency_xml_parses_and_adds_the_elements() -> None:
    import xml.etree.ElementTree as ET

    from qsys.cli import xmlout
    from qsys.records import JobRow

    rows = [JobRow(job_id=i, priority=0.5, name="j", owner="bob", state="qw", submit_time=0.0, start_time=None,
                   queue="", slots=1, tasks="", urgency={"nurg": 0.5, "urg": 1000, "rrcontr": 1000,
                                                         "wtcontr": 0, "dlcontr": 0, "npprior": 0.5,
                                                         "ntckts": 0.0, "ppri": i})
            for i in (1, 2)]
    urg = ET.fromstring(qstat_views.with_urgency_xml(xmlout.qstat_xml(rows), rows, pri=False))
    assert [e.text for e in urg.iter("JB_urg")] == ["1000", "1000"]
    pri = ET.fromstring(qstat_views.with_urgency_xml(xmlout.qstat_xml(rows), rows, pri=True))
    assert [e.text for e in pri.iter("JB_priority")] == ["1", "2"]
    summary = ET.fromstring(qstat_views.cluster_summary_xml([
        ClusterQueueRow("all.q", load=None, used=1, resv=0, available=3, total=4)]))
    assert summary.find("cluster_queue_summary/available").text == "3"  # type: ignore[union-attr]
