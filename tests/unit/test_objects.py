"""Configuration objects: Grid Engine text formats, defaults, overrides, validation, wire."""

from __future__ import annotations

import math

import msgpack
import pytest

from qsys.errors import InvalidRequest
from qsys.objects import (
    KINDS,
    ComplexDef,
    ComplexList,
    Conf,
    ConfigObject,
    Duration,
    ExecHost,
    HostGroup,
    Memory,
    ParallelEnvironment,
    Queue,
    SchedulerConfig,
    UserSet,
    default_complexes,
    default_global_config,
    default_objects,
    default_pes,
    default_queue,
    default_scheduler_config,
    default_usersets,
    effective_config,
    format_text,
    from_wire,
    groups_of,
    keep_readonly,
    kind_class,
    parse_text,
    resolve_hosts,
    to_wire,
    validate,
    value_for,
)
from tests import REFERENCE

REF = REFERENCE

REFERENCES = [
    (Conf, "qconf_sconf.txt"),
    (Queue, "qconf_sq_all.q.txt"),
    (ExecHost, "qconf_se.txt"),
    (ParallelEnvironment, "qconf_sp_smp.txt"),
    (ParallelEnvironment, "qconf_sp_mpi.txt"),
    (ComplexList, "qconf_sc.txt"),
    (UserSet, "qconf_su_arusers.txt"),
    (SchedulerConfig, "qconf_ssconf.txt"),
]


def ref(name: str) -> str:
    return (REF / name).read_text()


@pytest.mark.parametrize(("cls", "name"), REFERENCES)
def test_reference_round_trip(cls: type[ConfigObject], name: str) -> None:
    text = ref(name)
    obj = parse_text(cls, text)
    validate(obj)
    assert format_text(obj) == text


@pytest.mark.parametrize(("cls", "name"), REFERENCES)
def test_wire_round_trip(cls: type[ConfigObject], name: str) -> None:
    obj = parse_text(cls, ref(name))
    wire = msgpack.unpackb(msgpack.packb(to_wire(obj)))
    again = from_wire(cls.kind, wire)
    assert again == obj
    assert format_text(again) == ref(name)


def test_parsed_values_are_typed() -> None:
    queue = parse_text(Queue, ref("qconf_sq_all.q.txt"))
    assert queue.qname == "all.q" and queue.hostlist == ["vm"] and queue.slots == 4
    assert queue.pe_list == ["make", "smp", "mpi"] and queue.qtype == ["BATCH", "INTERACTIVE"]
    assert queue.notify.seconds == 60 and queue.h_rt.infinite and queue.h_vmem.infinite
    assert queue.prolog is None and queue.rerun is False
    host = parse_text(ExecHost, ref("qconf_se.txt"))
    assert host.processors == 2 and host.load_values["num_proc"] == "2"
    assert host.load_values["np_load_long"] == "0.307129" and len(host.load_values) == 25
    conf = parse_text(Conf, ref("qconf_sconf.txt"))
    assert conf.name == "global" and conf.min_uid == 1000
    assert conf.reporting_params == {"accounting": "true", "reporting": "false",
                                     "flush_time": "00:00:15", "joblog": "false",
                                     "sharelog": "00:00:00"}
    assert conf.login_shells == ["bash", "sh", "ksh", "csh", "tcsh"]
    sconf = parse_text(SchedulerConfig, ref("qconf_ssconf.txt"))
    assert sconf.schedule_interval.seconds == 1 and sconf.weight_deadline == 3600000.0
    complexes = parse_text(ComplexList, ref("qconf_sc.txt")).by_name()
    assert complexes["s"].name == "slots" and complexes["slots"].is_consumable
    assert complexes["slots"].urgency == 1000 and not complexes["mem_free"].is_consumable


# ---------------------------------------------------------------- defaults


def test_default_queue_equals_reference() -> None:
    assert format_text(default_queue("all.q", hostlist="vm", slots=4)) == ref("qconf_sq_all.q.txt")


def test_default_queue_covers_all_hosts() -> None:
    queue = default_queue(slots=2)
    assert queue.hostlist == ["@allhosts"] and queue.slots == 2
    assert "hostlist              @allhosts\n" in format_text(queue)


def test_default_pes_equal_references() -> None:
    pes = {pe.pe_name: pe for pe in default_pes()}
    assert set(pes) == {"smp", "mpi", "make"}
    assert format_text(pes["smp"]) == ref("qconf_sp_smp.txt")
    assert format_text(pes["mpi"]) == ref("qconf_sp_mpi.txt")
    assert pes["make"].allocation_rule == "$round_robin"


def test_default_usersets_scheduler_and_complexes_equal_references() -> None:
    sets = {s.name: s for s in default_usersets()}
    assert sorted(sets) == ref("qconf_sul.txt").split()
    assert format_text(sets["arusers"]) == ref("qconf_su_arusers.txt")
    assert sets["defaultdepartment"].type == ["DEPT"]
    assert format_text(default_scheduler_config()) == ref("qconf_ssconf.txt")
    assert format_text(default_complexes()) == ref("qconf_sc.txt")


def test_default_global_config_differs_only_where_documented() -> None:
    ours = format_text(default_global_config()).splitlines()
    theirs = ref("qconf_sconf.txt").splitlines()
    assert len(ours) == len(theirs)
    differing = {a.split()[0] for a, b in zip(ours, theirs, strict=True) if a != b}
    assert differing == {"execd_spool_dir", "load_report_time", "gid_range"}
    assert default_global_config().gid_range == "20000-20100"


def test_every_default_object_validates_and_crosses_the_wire() -> None:
    objects = default_objects(slots=3)
    assert {obj.kind for obj in objects} == {"conf", "queue", "pe", "complex", "userset", "sconf"}
    for obj in objects:
        validate(obj)
        again = from_wire(obj.kind, msgpack.unpackb(msgpack.packb(to_wire(obj))))
        assert again == obj
        assert parse_text(type(obj), format_text(obj)) == obj


# ---------------------------------------------------------------- per-host overrides


QUEUE_TEXT = "qname big.q\nhostlist @a node9\nslots 1,[node1=4],[@gpu=8],[@a=2]\npe_list smp,[node1=make mpi]\n"


def test_per_host_override_resolution() -> None:
    queue = parse_text(Queue, QUEUE_TEXT)
    assert queue.slots == 1
    assert value_for(queue, "slots", "node1", ["gpu"]) == 4  # the host itself wins
    assert value_for(queue, "slots", "node2", ["a", "gpu"]) == 8  # first group in the text
    assert value_for(queue, "slots", "node3", ["@a"]) == 2
    assert value_for(queue, "slots", "node4") == 1
    assert value_for(queue, "pe_list", "node1") == ["make", "mpi"]
    assert value_for(queue, "pe_list", "node2") == ["smp"]
    assert value_for(queue, "tmpdir", "node1") == "/tmp"


def test_per_host_override_formats_and_round_trips() -> None:
    queue = parse_text(Queue, QUEUE_TEXT)
    text = format_text(queue)
    assert "slots                 1,[node1=4],[@gpu=8],[@a=2]\n" in text
    assert "pe_list               smp,[node1=make mpi]\n" in text
    assert parse_text(Queue, text) == queue
    assert from_wire("queue", to_wire(queue)) == queue


def test_bad_override_is_reported() -> None:
    with pytest.raises(InvalidRequest, match=r"^line 3: slots: 'x' is not a number$"):
        parse_text(Queue, "qname q\nhostlist NONE\nslots 1,[node1=x]\n")
    with pytest.raises(InvalidRequest, match=r"line 2: slots: .*'node1' is given twice"):
        parse_text(Queue, "qname q\nslots 1,[node1=2],[node1=3]\n")
    with pytest.raises(InvalidRequest, match=r"^line 2: hostlist: '\[b=c\]' is not a name$"):
        parse_text(Queue, "qname q\nhostlist a,[b=c]\n")  # the host list has no overrides


def test_override_validation() -> None:
    queue = default_queue()
    queue.overrides = {"slots": {"node1": -3}}
    with pytest.raises(InvalidRequest, match=r"slots: \[node1=\.\.\.\]: -3 is below 0"):
        validate(queue)


# ---------------------------------------------------------------- parse and validation errors


def test_parse_errors_name_line_and_reason() -> None:
    text = "pe_name            smp\nslots              999\n# a comment\nslots_x            1\n"
    with pytest.raises(InvalidRequest, match=r"^line 4: unknown attribute 'slots_x'$"):
        parse_text(ParallelEnvironment, text)
    with pytest.raises(InvalidRequest, match=r"^line 4: slots: 'x' is not a number$"):
        parse_text(Queue, "qname q\nhostlist h\n\nslots x\n")
    with pytest.raises(InvalidRequest, match=r"^line 2: allocation_rule: '\$bogus' is not"):
        parse_text(ParallelEnvironment, "pe_name p\nallocation_rule $bogus\n")
    with pytest.raises(InvalidRequest, match=r"^line 2: rerun: 'maybe' is not TRUE or FALSE$"):
        parse_text(Queue, "qname q\nrerun maybe\n")
    with pytest.raises(InvalidRequest, match=r"^line 2: h_rt: '1:x' is not a time"):
        parse_text(Queue, "qname q\nh_rt 1:x\n")
    with pytest.raises(InvalidRequest, match=r"^line 2: complex_values: 'mem_free' is not name=value$"):
        parse_text(Queue, "qname q\ncomplex_values mem_free\n")
    with pytest.raises(InvalidRequest, match=r"^line 3: slots: given twice$"):
        parse_text(Queue, "qname q\nslots 1\nslots 2\n")
    with pytest.raises(InvalidRequest, match=r"^line 2: slots: missing value$"):
        parse_text(Queue, "qname q\nslots\n")
    with pytest.raises(InvalidRequest, match=r"^missing attribute 'qname'$"):
        parse_text(Queue, "slots 2\n")


def test_continuation_lines_keep_the_first_line_number() -> None:
    text = "hostname h\nload_values a=1, \\\n  b=2\nprocessors x\n"
    with pytest.raises(InvalidRequest, match=r"^line 4: processors"):
        parse_text(ExecHost, text)
    assert parse_text(ExecHost, text.replace(" x", " 2")).load_values == {"a": "1", "b": "2"}


def test_complex_table_errors() -> None:
    header = "#name shortcut type relop requestable consumable default urgency\n"
    with pytest.raises(InvalidRequest, match=r"^line 2: expected 8 fields, got 3$"):
        parse_text(ComplexList, header + "foo f INT\n")
    with pytest.raises(InvalidRequest, match=r"^line 2: type: 'WORD' is not one of"):
        parse_text(ComplexList, header + "foo f WORD <= YES NO 0 0\n")
    table = parse_text(ComplexList, header + "foo f STRING == YES YES NONE 0\n")
    with pytest.raises(InvalidRequest, match="foo: a STRING complex cannot be consumable"):
        validate(table)
    table = default_complexes()
    table.complexes.append(ComplexDef("gpu", "s", "INT", "<=", "YES", "YES", "0", 0))
    with pytest.raises(InvalidRequest, match="gpu: name or shortcut 's' is used twice"):
        validate(table)
    table.complexes[-1] = ComplexDef("gpu", "gpu", "INT", "<=", "YES", "YES", "lots", 0)
    with pytest.raises(InvalidRequest, match="gpu: default 'lots' is not a INT value"):
        validate(table)
    table.complexes[-1] = ComplexDef("gpu", "gpu", "INT", "<=", "YES", "YES", "0", 0)
    validate(table)
    assert format_text(table).splitlines()[-2] == (
        "gpu                 gpu        INT       <=    YES         YES        0        0")


def test_validation_of_objects_built_in_code() -> None:
    pe = default_pes()[0]
    pe.slots = -1
    with pytest.raises(InvalidRequest, match=r"^slots: -1 is below 0$"):
        validate(pe)
    with pytest.raises(InvalidRequest, match="group_name: 'hosts' does not start with @"):
        validate(HostGroup("hosts", ["a"]))
    queue = default_queue()
    queue.slots = "4"  # type: ignore[assignment]
    with pytest.raises(InvalidRequest, match="^slots: "):
        validate(queue)
    queue = default_queue("bad name")
    with pytest.raises(InvalidRequest, match="qname: 'bad name' is not a valid queue name"):
        validate(queue)
    conf = default_global_config()
    conf.gid_range = "300-200"
    with pytest.raises(InvalidRequest, match="gid_range: '300-200' is not a range"):
        validate(conf)
    sconf = default_scheduler_config()
    sconf.policy_hierarchy = "OFX"
    with pytest.raises(InvalidRequest, match="policy_hierarchy"):
        validate(sconf)


def test_from_wire_rejects_unknown_attributes_and_kinds() -> None:
    with pytest.raises(InvalidRequest, match="unknown attribute 'color'"):
        from_wire("queue", {"qname": "q", "color": "red"})
    with pytest.raises(InvalidRequest, match="unknown object kind 'widget'"):
        from_wire("widget", {})
    with pytest.raises(InvalidRequest, match="^slots: 'many' is not a number$"):
        from_wire("queue", {"slots": "many"}, name="q")


def test_from_wire_fills_the_name_and_defaults() -> None:
    queue = from_wire("queue", {"slots": "3", "hostlist": "@allhosts"}, name="all.q")
    assert queue == default_queue(slots=3)
    host = from_wire("exechost", {}, name="node1")
    assert host.hostname == "node1" and format_text(host).startswith("hostname              node1\n")


# ---------------------------------------------------------------- configurations


def test_local_configuration_shows_only_its_keys() -> None:
    local = Conf(name="node1", mailer="/bin/true", load_report_time=Duration.parse("00:00:05"))
    text = format_text(local)
    assert text == ("#node1:\n"
                    "mailer                       /bin/true\n"
                    "load_report_time             00:00:05\n\n")
    again = parse_text(Conf, text)
    assert again == local and again.min_uid is None
    assert from_wire("conf", to_wire(local)) == local
    assert from_wire("conf", {"mailer": "/bin/true"}, name="node2").name == "node2"


def test_effective_config_local_overrides_global() -> None:
    glob = default_global_config()
    local = Conf(name="node1", rsh_daemon="/usr/sbin/sshd -i", min_uid=0)
    merged = effective_config(glob, local)
    assert merged["rsh_daemon"] == "/usr/sbin/sshd -i" and merged["min_uid"] == "0"
    assert merged["rsh_command"] == "builtin" and merged["gid_range"] == "20000-20100"
    assert "name" not in merged
    assert effective_config(glob, None)["min_uid"] == "1000"
    assert set(merged) == set(effective_config(glob))


def test_long_values_wrap_at_80_columns_and_parse_back() -> None:
    hosts = [f"node{i:03d}" for i in range(40)]
    queue = default_queue(hostlist=hosts)
    queue.complex_values = {f"res{i}": f"{i}G" for i in range(20)}
    text = format_text(queue)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[1].startswith("hostlist              node000 ") and lines[1].endswith(" \\")
    assert lines[2].startswith(" " * 22 + "node")
    assert parse_text(Queue, text) == queue


def test_exec_host_edit_keeps_reported_values() -> None:
    reported = parse_text(ExecHost, ref("qconf_se.txt"))
    edited = parse_text(ExecHost, "hostname vm\ncomplex_values slots=8\nload_values NONE\n")
    merged = keep_readonly(edited, reported)
    assert merged.complex_values == {"slots": "8"}
    assert merged.load_values == reported.load_values and merged.processors == 2


# ---------------------------------------------------------------- small pieces


def test_memory_and_time_values() -> None:
    assert Memory.parse("4G").bytes == 4 * 1024**3
    assert Memory.parse("4g").bytes == 4 * 1000**3
    assert Memory.parse("23891.457031M").bytes == pytest.approx(23891.457031 * 1024**2)
    assert math.isinf(Memory.parse("infinity").bytes)
    assert Duration.parse("0:7:30").seconds == 450 and Duration.parse("90").seconds == 90
    assert Duration.of(3725).text == "01:02:05"
    for bad in ("4X", "-1", ""):
        with pytest.raises(ValueError):
            Memory.parse(bad)
    with pytest.raises(ValueError):
        Duration.parse("1:2:3:4")


def test_host_groups_resolve_nested() -> None:
    groups = {g.group_name: g for g in (
        HostGroup("@all", ["@rack1", "@rack2"]),
        HostGroup("@rack1", ["n1", "n2"]),
        HostGroup("@rack2", ["n3", "@rack1", "@all"]),  # a cycle is ignored
    )}
    assert resolve_hosts(["@all"], groups) == ["n1", "n2", "n3"]
    assert groups_of("n3", groups) == ["@all", "@rack2"]
    text = format_text(groups["@rack1"])
    assert text == "group_name @rack1\nhostlist n1 n2\n"
    assert parse_text(HostGroup, text) == groups["@rack1"]


def test_userset_membership() -> None:
    users = parse_text(UserSet, "name    staff\ntype    ACL DEPT\nfshare  10\noticket 0\nentries alice,@wheel\n")
    assert users.type == ["ACL", "DEPT"] and users.fshare == 10
    assert users.admits("alice") and users.admits("bob", ["wheel"]) and not users.admits("bob")
    assert "entries alice,@wheel\n" in format_text(users)


def test_registry() -> None:
    assert set(KINDS) == {"conf", "queue", "exechost", "hostgroup", "pe", "complex", "userset",
                          "sconf", "calendar", "project", "user", "ckpt", "sharetree", "rqs"}
    for name, cls in KINDS.items():
        assert kind_class(name) is cls and cls.kind == name
    calendar = from_wire("calendar", {"week": "mon-fri=8-18"}, name="day")
    assert format_text(calendar) == "calendar_name    day\nyear             NONE\nweek             mon-fri=8-18\n"
