"""Pure parts of the master's policy wiring: share usage records, qquota's and qacct -ar's
layouts."""

from __future__ import annotations

from qsys.acct import Selection, grouped
from qsys.cli import acctout, qquota
from qsys.master.policies import sched_params
from qsys.master.shareusage import ShareUsage
from qsys.records import QuotaRow


def test_share_usage_charges_decays_and_restores_from_its_store_record() -> None:
    usage = ShareUsage()
    put = usage.charge("alice", None, {"cpu": 100.0, "mem": 2.0, "io": 0.0}, now=0.0, halftime_hours=1)
    assert put.name == "alice\t" and put.record["cpu"] == 100.0
    later = usage.decayed(3600.0, 1)
    assert abs(later[("alice", None)]["cpu"] - 50.0) < 1e-6  # one halftime later: half
    again = ShareUsage()
    again.restore(put.name, put.record)
    assert again.entries == usage.entries
    again.restore(put.name, None)  # the store never had it: gone
    assert again.entries == {}


def test_sched_params_reads_duration_offset() -> None:
    assert sched_params("MONITOR=1,duration_offset=120") == {"MONITOR": "1", "DURATION_OFFSET": "120"}
    assert sched_params("none") == {}


def test_qquota_layouts_follow_grid_engine() -> None:
    rows = [QuotaRow("maxslots/1", [["slots", "2", "2"]], [["users", "sgeuser", "sgeuser"], ["queues", "all.q", "all.q"]])]
    assert qquota.format_text(rows) == (
        "resource quota rule limit                filter\n" + "-" * 80 + "\n"
        "maxslots/1         slots=2/2            users sgeuser queues all.q\n")
    assert qquota.format_text([]) == ""
    xml = qquota.format_xml(rows)
    assert " <qquota_rule name='maxslots/1'>\n   <users>sgeuser</users>\n   <queues>all.q</queues>\n" \
           "   <limit resource='slots' limit='2' value='2'/>\n </qquota_rule>\n" in xml


def _record(arid: int, wallclock: float) -> dict[str, float]:
    return {"arid": arid, "ru_wallclock": wallclock, "ru_utime": 0.0, "ru_stime": 0.0, "cpu": 0.0, "mem": 0.0,
            "io": 0.0, "iow": 0.0}


def test_qacct_ar_sums_per_reservation_in_grid_engines_columns() -> None:
    records = [_record(0, 1031), _record(4, 15), _record(14, 85), _record(4, 1)]
    rows = grouped(records, ["ar"])
    text = acctout.summary(["ar"], rows, {})
    lines = text.splitlines()
    assert lines[0].startswith("AR        WALLCLOCK")
    assert lines[2].startswith("    0          1031") and lines[3].startswith("    4            16")
    assert acctout.summary(["ar"], [], {}).startswith("AR       WALLCLOCK")
    assert Selection(ar=4).matches({**_record(4, 1), **_FILLER}) and not Selection(ar=5).matches(
        {**_record(4, 1), **_FILLER})


_FILLER = {"owner": "u", "group": "g", "project": "NONE", "department": "d", "account": "sge",
           "granted_pe": "NONE", "hostname": "h", "qname": "all.q", "slots": 1, "start_time": 1, "category": "",
           "task_number": 0}
