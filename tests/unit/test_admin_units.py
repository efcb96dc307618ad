"""Pure parts of administration: attribute edits, references between objects, calendars,
qconf's option table, and the ClusterConfig lookups built on qsys.objects."""

from __future__ import annotations

import pytest

from qsys.cli.qconf import _parse
from qsys.cli.qconf_table import OPERATIONS
from qsys.errors import InvalidRequest, UsageError
from qsys.grammar.calendar import parse_calendar
from qsys.master.attrs import edit_attribute
from qsys.master.config import ClusterConfig
from qsys.master.hostview import _topology
from qsys.master.refs import check_refs, referrers
from qsys.objects import Calendar, ExecHost, HostGroup, Queue, UserSet, default_queue, format_text, validate


def test_mattr_sets_a_value_or_a_host_override() -> None:
    queue = default_queue(slots=4)
    one = edit_attribute(queue, "mattr", "slots", "1")
    assert one.slots == 1 and queue.slots == 4
    host = edit_attribute(one, "mattr", "slots", "8", "node1")
    assert host.slots == 1 and host.overrides == {"slots": {"node1": 8}}
    assert "slots                 1,[node1=8]\n" in format_text(host)
    whole = edit_attribute(host, "mattr", "slots", "2,[@big=6]")
    assert whole.slots == 2 and whole.overrides == {"slots": {"@big": 6}}


def test_list_and_map_edits() -> None:
    queue = default_queue()
    assert edit_attribute(queue, "aattr", "pe_list", "par").pe_list == ["make", "smp", "mpi", "par"]
    assert edit_attribute(queue, "dattr", "pe_list", "smp").pe_list == ["make", "mpi"]
    assert edit_attribute(queue, "rattr", "pe_list", "smp").pe_list == ["smp"]
    with pytest.raises(InvalidRequest, match="already in"):
        edit_attribute(queue, "aattr", "pe_list", "smp")
    with pytest.raises(InvalidRequest, match="is not in"):
        edit_attribute(queue, "dattr", "pe_list", "nope")
    host = ExecHost(hostname="n1", complex_values={"a": "1"})
    assert edit_attribute(host, "mattr", "complex_values", "b=2").complex_values == {"a": "1", "b": "2"}
    assert edit_attribute(host, "dattr", "complex_values", "a=1").complex_values == {}
    with pytest.raises(InvalidRequest, match="can be changed"):
        edit_attribute(host, "mattr", "load_values", "x=1")
    with pytest.raises(InvalidRequest, match="no per-host values"):
        edit_attribute(HostGroup("@g", ["n1"]), "mattr", "hostlist", "n2", "n1")
    with pytest.raises(InvalidRequest, match="is not a number"):
        edit_attribute(queue, "mattr", "slots", "many")


def test_mattr_on_an_instance_starts_empty_and_says_what_it_adds() -> None:
    """Grid Engine 8.1.9's answers on its cell (all.q, host vm), line for line."""
    queue = edit_attribute(default_queue(), "rattr", "user_lists", "arusers")
    notes: list[str] = []
    instance = edit_attribute(queue, "mattr", "user_lists", "deadlineusers", "vm", notes)
    assert "user_lists            arusers,[vm=deadlineusers]\n" in format_text(instance)  # not arusers deadlineusers
    assert notes == ['"user_lists" of "all.q" is empty - Adding new element(s).']
    notes.clear()
    both = edit_attribute(queue, "mattr", "user_lists", "deadlineusers", "", notes)
    assert both.user_lists == ["arusers", "deadlineusers"]
    assert notes == ['Unable to find "deadlineusers" in "user_lists" of "all.q" - Adding new element.']
    notes.clear()
    loads = edit_attribute(queue, "mattr", "load_thresholds", "np_load_avg=3", "vm", notes)
    loads = edit_attribute(loads, "mattr", "load_thresholds", "np_load_avg=4,load_avg=3", "vm", notes)
    assert "load_thresholds       NONE,[vm=np_load_avg=4,load_avg=3]\n" in format_text(loads)
    assert notes == ['"load_thresholds" of "all.q" is empty - Adding new element(s).',
                     'Unable to find "load_avg" in "load_thresholds" of "all.q" - Adding new element.']
    notes.clear()
    edit_attribute(ExecHost(hostname="vm"), "mattr", "complex_values", "h_vmem=1G", "", notes)
    assert notes == ['"complex_values" of "exechost" is empty - Adding new element(s).']
    notes.clear()
    edit_attribute(queue, "mattr", "slots", "3", "vm", notes)  # not a list: nothing to say
    assert notes == []


def test_references_must_exist_and_keep_their_target() -> None:
    config = ClusterConfig()
    from qsys.objects import default_pes

    for pe in default_pes():
        config.put("pe", pe.pe_name, pe)
    queue = Queue(qname="q", hostlist=["@rack"], pe_list=["smp"])
    with pytest.raises(InvalidRequest, match='host group "@rack"'):
        check_refs(config, "queue", queue)
    config.put("hostgroup", "@rack", HostGroup("@rack", ["n1", "@inner"]))
    with pytest.raises(InvalidRequest, match='host group "@inner"'):
        check_refs(config, "hostgroup", config.hostgroups["@rack"])
    config.put("hostgroup", "@inner", HostGroup("@inner", ["n2"]))
    check_refs(config, "queue", queue)
    config.put("queue", "q", queue)
    assert referrers(config, "pe", "smp") == ['cluster queue "q"']
    assert referrers(config, "hostgroup", "@inner") == ['host group "@rack"']
    with pytest.raises(InvalidRequest, match="would contain itself"):
        check_refs(config, "hostgroup", HostGroup("@inner", ["@rack"]))
    with pytest.raises(InvalidRequest, match='complex "gpu"'):
        check_refs(config, "exechost", ExecHost(hostname="n1", complex_values={"gpu": "1"}))
    with pytest.raises(InvalidRequest, match='userset "staff"'):
        check_refs(config, "queue", Queue(qname="q2", user_lists=["staff"]))
    config.put("userset", "staff", UserSet("staff"))
    check_refs(config, "queue", Queue(qname="q2", user_lists=["staff"]))


def test_cluster_config_resolves_groups_and_overrides() -> None:
    config = ClusterConfig()
    config.put("hostgroup", "@rack", HostGroup("@rack", ["n1", "@inner"]))
    config.put("hostgroup", "@inner", HostGroup("@inner", ["n2"]))
    queue = Queue(qname="q", hostlist=["@rack", "n3"], slots=1, overrides={"slots": {"@inner": 4, "n1": 2}})
    config.put("queue", "q", queue)
    assert config.queue_hosts("q", {}) == ["n1", "n2", "n3"]
    assert [config.queue_attr("q", "slots", h) for h in ("n1", "n2", "n3")] == ["2", "4", "1"]
    config.put("exechost", "n9", ExecHost(hostname="n9"))
    config.put("exechost", "global", ExecHost(hostname="global", complex_values={"lic": "3"}))
    config.put("queue", "all.q", default_queue())
    assert config.queue_hosts("all.q", {}) == ["n9"]  # @allhosts: every exec host, not "global"
    assert config.global_values() == {"lic": "3"}
    assert config.host_config("n1")["login_shells"] == "bash,sh,ksh,csh,tcsh"


def test_calendar_entries() -> None:
    parse_calendar("24.12.2026-26.12.2026=on 1.1.2027", "mon-fri=8-18=off sat,sun=suspended")
    parse_calendar("NONE", None)
    for year, week in (("32.1.2026", None), (None, "mon=25-26"), (None, "funday"), (None, "1.1.2026")):
        with pytest.raises(InvalidRequest):
            parse_calendar(year, week)
    with pytest.raises(InvalidRequest, match="time of day"):
        validate(Calendar("c", None, "mon=8:61-9"))


def test_topology_string() -> None:
    assert _topology(1, 2, 2) == "SCC"
    assert _topology(2, 4, 8) == "SCTTCTTSCTTCTT"


def test_qconf_command_line() -> None:
    request = _parse(["-sq", "-sconf", "node1", "--json", "-mattr", "queue", "slots", "-3", "all.q"])
    assert request.form == "json"
    assert [(o, a) for o, _, a in request.operations] == [("-sq", []), ("-sconf", ["node1"]),
                                               ("-mattr", ["queue", "slots", "-3", "all.q"])]
    assert OPERATIONS["-Mconf"].args == "file [host]" and OPERATIONS["-ss"].kind == "submithost"
    with pytest.raises(UsageError):
        _parse(["-nope"])
    with pytest.raises(UsageError):
        _parse(["-mattr", "queue"])
