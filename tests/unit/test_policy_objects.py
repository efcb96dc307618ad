"""The policy objects: projects, users, checkpointing interfaces, the share tree, resource
quota sets and resource maps, in Grid Engine's text formats (compared with real SGE 8.1.9
output in tests/reference) and with their refusals naming the line and the reason."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qsys.errors import InvalidRequest
from qsys.grammar.values import parse_resource_map, parse_value
from qsys.objects import (
    KINDS,
    Checkpoint,
    ComplexList,
    ConfigObject,
    ExecHost,
    Project,
    ResourceQuotaSet,
    ShareNode,
    ShareTree,
    User,
    UserSet,
    default_complexes,
    department_of,
    format_text,
    from_wire,
    parse_quota_sets,
    parse_text,
    to_wire,
    validate,
)
from qsys.objects.quota import build_rule, parse_dynamic
from qsys.objects.resource_map import normalize_maps
from qsys.objects.sharetree import parse_node_shares, split_path
from qsys.objects.userset import check_departments
from tests import REFERENCE


def ref(name: str) -> str:
    return (REFERENCE / name).read_text()


@pytest.mark.parametrize(("cls", "name"), [(Project, "qconf_sprj.txt"), (Checkpoint, "qconf_sckpt.txt"),
                                           (ShareTree, "qconf_sstree.txt")])
def test_reference_round_trips(cls: type[ConfigObject], name: str) -> None:
    obj = parse_text(cls, ref(name))
    validate(obj)
    assert format_text(obj) == ref(name)
    again = from_wire(cls.kind, msgpack.unpackb(msgpack.packb(to_wire(obj))))
    assert again == obj and format_text(again) == ref(name)


def test_new_objects_print_the_templates_grid_engine_opens() -> None:
    assert format_text(Project("template")) == "name template\noticket 0\nfshare 0\nacl NONE\nxacl NONE\n"
    assert format_text(User("template")) == (
        "name template\noticket 0\nfshare 0\ndelete_time 0\ndefault_project NONE\n")
    assert format_text(ResourceQuotaSet(name="template")) == (
        "{\n   name         template\n   description  NONE\n   enabled      FALSE\n"
        "   limit        to slots=0\n}\n")
    assert format_text(ShareTree()) == "id=0\nname=Root\ntype=0\nshares=1\nchildnodes=NONE\n"
    ckpt = format_text(Checkpoint("ck1"))
    assert ckpt == ref("qconf_sckpt.txt")


def test_registry_serves_the_new_kinds() -> None:
    for kind in ("project", "user", "ckpt", "sharetree", "rqs"):
        cls = KINDS[kind]
        assert cls.kind == kind
        obj = cls(**{cls.key: "x"}) if cls.key else cls()
        assert from_wire(kind, to_wire(obj), name="x") == obj


def test_project_and_checkpoint_refusals() -> None:
    with pytest.raises(InvalidRequest, match=r"^line 2: oticket: 'abc' is not a number$"):
        parse_text(Project, "name p2\noticket abc\n")
    with pytest.raises(InvalidRequest, match=r"^line 3: fshare: -1 is below 0$"):
        parse_text(Project, "name p3\noticket 0\nfshare -1\n")
    with pytest.raises(InvalidRequest, match="unknown attribute 'bogus'"):
        parse_text(Project, "name p7\nbogus 1\n")
    with pytest.raises(InvalidRequest, match="is not a valid project name"):
        validate(Project("a b"))
    with pytest.raises(InvalidRequest, match="^line 2: interface: 'bogus' is not one of"):
        parse_text(Checkpoint, "ckpt_name ck2\ninterface bogus\n")
    with pytest.raises(InvalidRequest, match=r"^line 2: when: 'q' is not made"):
        parse_text(Checkpoint, "ckpt_name ck3\nwhen q\n")
    with pytest.raises(InvalidRequest, match='"BOGUS" is not a signal string'):
        parse_text(Checkpoint, "ckpt_name sig\nsignal BOGUS\n")


def test_checkpoint_values_as_grid_engine_keeps_them() -> None:
    ckpt = parse_text(Checkpoint, "ckpt_name ck4\ninterface USERDEFINED\nckpt_command /bin/ck $job_id\n"
                                  "signal USR2\nwhen smxr\n")
    text = format_text(ckpt)
    assert "interface          USERDEFINED\n" in text  # kept as written
    assert "when               xsmr\n" in text  # letters in Grid Engine's order
    assert "ckpt_command       /bin/ck $job_id\n" in text
    for when, shown in (("rm", "mr"), ("ms", "sm"), ("mx", "xm"), ("rs", "sr"), ("n", "n")):
        assert parse_text(Checkpoint, f"ckpt_name c\nwhen {when}\n").when == shown
    assert parse_text(Checkpoint, "ckpt_name c\nsignal 12\n").signal == "12"


def test_project_access_lists() -> None:
    sets = {"staff": UserSet("staff", entries=["alice", "@wheel"]), "bad": UserSet("bad", entries=["mallory"])}
    prj = Project("p", acl=["staff"], xacl=["bad"])
    assert prj.admits("alice", (), sets) and prj.admits("bob", ("wheel",), sets)
    assert not prj.admits("carol", (), sets)
    assert Project("open", xacl=["bad"]).admits("carol", (), sets)
    assert not Project("open", xacl=["bad"]).admits("mallory", (), sets)


def test_departments() -> None:
    sets = [UserSet("defaultdepartment", ["DEPT"]), UserSet("physics", ["DEPT"], entries=["alice", "@phys"]),
            UserSet("staff", ["ACL"], entries=["bob"])]
    assert department_of("alice", (), sets) == "physics"
    assert department_of("carol", ("phys",), sets) == "physics"
    assert department_of("bob", (), sets) == "defaultdepartment"
    check_departments(sets)
    with pytest.raises(ValueError, match='"alice" is already in department "physics"'):
        check_departments([*sets, UserSet("chem", ["DEPT"], entries=["alice"])])


# ---------------------------------------------------------------- share tree


def test_share_tree_views_as_qconf_prints_them() -> None:
    tree = parse_text(ShareTree, ref("qconf_sstree.txt"))
    assert tree.formatted() == ref("qconf_sst.txt")
    assert tree.node_lines("/grp") + tree.node_lines("/projA/sgeuser") == ref("qconf_sstnode.txt").split()
    assert tree.node_lines("/")[0] == "/=1"
    with pytest.raises(InvalidRequest) as error:
        tree.node_lines("/nope")
    assert error.value.message == ref("qconf_sstnode_missing.stderr.txt").strip()


def test_share_tree_reads_any_record_order_and_renumbers() -> None:
    # children listed before their parents, ids far apart: printed depth first, 0..n
    text = ("id=7\nname=Root\ntype=0\nshares=1\nchildnodes=9,3\n"
            "id=3\nname=b\ntype=0\nshares=2\nchildnodes=NONE\n"
            "id=9\nname=grp\ntype=0\nshares=5\nchildnodes=4\n"
            "id=4\nname=a\ntype=0\nshares=1\nchildnodes=NONE\n")
    tree = parse_text(ShareTree, text)
    assert tree.formatted() == "Root=1\n   grp=5\n      a=1\n   b=2\n"
    assert format_text(tree).startswith("id=0\nname=Root\ntype=0\nshares=1\nchildnodes=1,3\nid=1\nname=grp\n")


@pytest.mark.parametrize(("text", "message"), [
    ("id=0\nname=Root\nshares=1\nchildnodes=1,2\nid=1\nname=a\nshares=3\nchildnodes=NONE\n",
     "found reference to node 2 but no specification"),
    ("id=0\nname=Root\nshares=1\nchildnodes=1\nid=1\nname=a\nshares=abc\n", "line 7: shares: 'abc' is not a number"),
    ("id=0\nname=Root\nshares=1\nchildnodes=1\nid=1\nname=a\nshares=-3\n", "line 7: shares: -3 is below 0"),
    ("id=0\nname=Root\nfoo=3\n", "line 3: unknown attribute 'foo'"),
    ("name=Root\nshares=1\n", "line 1: name: comes before the first id"),
    ("", "required attribute 'id' is missing"),
    ("id=0\nname=Root\nshares=1\nchildnodes=1,2\nid=1\nname=a\nshares=3\nid=2\nname=a\nshares=1\n",
     'denied: found node "a" twice under node "Root"'),
    ("id=0\nname=Root\nshares=1\nchildnodes=NONE\nid=1\nname=lost\nshares=3\n", "line 5: node 1 (lost) is not below the root"),
    ("id=0\nname=Root\nshares=1\nchildnodes=1\nid=1\nname=a\nshares=3\nchildnodes=1\n",
     "line 5: node 1 has more than one parent"),
])
def test_share_tree_refusals(text: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        parse_text(ShareTree, text)
    assert error.value.message == message


def test_share_tree_node_commands() -> None:
    tree = ShareTree()
    tree.add_node("/projA", 30)
    tree.add_node("/projA/default", 20)
    tree.add_node("/sgeuser", 50)
    tree.set_shares("/sgeuser", 15)
    assert tree.formatted() == "Root=1\n   projA=30\n      default=20\n   sgeuser=15\n"
    with pytest.raises(InvalidRequest, match="Unable to locate /grp in sharetree"):
        tree.add_node("/grp/sgeuser2", 5)
    with pytest.raises(InvalidRequest, match='found node "projA" twice'):
        tree.add_node("/projA", 1)
    with pytest.raises(InvalidRequest, match="^can't delete nodes with children$"):
        tree.remove_node("projA")
    tree.remove_node("/projA/default")
    tree.remove_node("projA")
    assert tree.formatted() == "Root=1\n   sgeuser=15\n"
    assert parse_node_shares("/A=10,/A/B=5") == [("/A", 10), ("/A/B", 5)]
    with pytest.raises(InvalidRequest, match="^/sgeuser=abc is not a valid argument, see node_shares_list format$"):
        parse_node_shares("/sgeuser=abc")
    assert split_path("projA.default") == ["projA", "default"] and split_path("/") == []


def test_share_tree_against_users_and_projects() -> None:
    tree = parse_text(ShareTree, ref("qconf_sstree.txt"))
    tree.resolve({"sgeuser", "sgeuser2"}, {"projA"})
    assert tree.find("/projA").type == 1 and tree.find("/grp").type == 0
    with pytest.raises(InvalidRequest, match='unknown user/project "grp"'):
        ShareTree(ShareNode("Root", 1, children=[ShareNode("grp", 5)])).resolve(set(), set())
    nested = ShareTree(ShareNode("Root", 1, children=[ShareNode("projA", 1, children=[ShareNode("projB", 1)])]))
    with pytest.raises(InvalidRequest, match='found project "projB" in project "projA" sub-tree of share tree'):
        nested.resolve(set(), {"projA", "projB"})


# ---------------------------------------------------------------- resource quota sets


def test_quota_sets_print_as_grid_engine_including_wrapping() -> None:
    sets = parse_quota_sets(ref("qconf_srqs.txt"))
    assert [s.name for s in sets] == ref("qconf_srqsl.txt").split()
    assert "".join(format_text(s) for s in sets) == ref("qconf_srqs.txt")
    for qset in sets:
        assert from_wire("rqs", msgpack.unpackb(msgpack.packb(to_wire(qset)))) == qset
        assert parse_text(ResourceQuotaSet, format_text(qset)) == qset


def test_quota_rules_normalise_as_grid_engine() -> None:
    rule = build_rule("limit hosts {vm} name r2 users !sgeuser,sgeuser2 to slots=$num_proc*2, h_vmem=2G")
    assert rule.text() == "name r2 users sgeuser2,!sgeuser hosts {vm} to slots=$num_proc*2,h_vmem=2G"
    assert build_rule("limit users {*} to").text() == "users {*} to NONE"
    assert build_rule("LIMIT users {a, b} pes !* to slots=1").text() == "users {a,b} pes !* to slots=1"
    terms = parse_dynamic("$num_proc*2+1-$mem_total*0.5")
    assert [(t.weight, t.complex) for t in terms] == [(2.0, "num_proc"), (1.0, None), (-0.5, "mem_total")]


@pytest.mark.parametrize(("rule", "message"), [
    ("limit users {*} queues to slots=2", 'cannot read the rule at "slots=2"'),
    ("limit users * users x to slots=1", 'attribute "users" appears more than once'),
    ("limit projects {p} to slots=$num_proc*2", "dynamic limits are only supported for per host rules"),
    ("limit hosts {*} to slots=2*$num_proc",
     '"dynamical_limit" uses "$num_proc" as weighting factor (only numbers are allowed)'),
    ("limit hosts {*} to slots=$num_proc/4", '"dynamical_limit" references not existing complex attribute "num_proc/4"'),
    ("limit to slots=1,slots=2", 'limit "slots" is given twice'),
])
def test_quota_rule_refusals(rule: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        build_rule(rule)
    assert message in error.value.message


@pytest.mark.parametrize(("text", "message"), [
    ("{\n name bad5\n enabled true\n}\n", "line 1: resource quota set has no rules"),
    ("{\n name bad3\n enabled maybe\n limit to slots=1\n}\n", "line 3: enabled: 'maybe' is not TRUE or FALSE"),
    ("{\n name b\n foo bar\n}\n", "line 3: unknown attribute 'foo'"),
    ("{\n name b\n limit users * users x to slots=1\n}\n", 'line 3: attribute "users" appears more than once'),
    ("{\n name b\n limit to slots=1\n", "line 1: resource quota set is not closed with '}'"),
    ("name b\n", "line 1: 'name' outside a resource quota set"),
])
def test_quota_set_refusals_name_the_line(text: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        parse_text(ResourceQuotaSet, text)
    assert message in error.value.message


def test_quota_set_checks() -> None:
    for bad, message in ((ResourceQuotaSet(name="bad 11"), "is not a valid name"),
                         (ResourceQuotaSet(name="x", rules=[]), "has no rules"),
                         (ResourceQuotaSet(name="x", rules=[build_rule("limit name a to slots=1"),
                                                            build_rule("limit name a to slots=2")]),
                          'rule name "a" is used twice')):
        with pytest.raises(InvalidRequest, match=message):
            validate(bad)
    complexes = default_complexes()
    good = parse_quota_sets(ref("qconf_srqs.txt"))
    for qset in good:
        qset.check_complexes(complexes)
    for rule, message in (("limit users * to nosuch=1", 'not existing complex attribute "nosuch"'),
                          ("limit users * to slots=abc", 'attribute "slots" is not a integer value'),
                          ("limit hosts {*} to slots=$nosuch*2", 'not existing complex attribute "nosuch"')):
        with pytest.raises(InvalidRequest, match=message):
            ResourceQuotaSet(name="x", rules=[build_rule(rule)]).check_complexes(complexes)
    assert good[1].rule_id(0) == "maxslots/1" and good[0].rule_id(1) == "long/r2"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["users", "projects", "pes", "queues", "hosts"]), unique=True),
       st.lists(st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True), min_size=1, max_size=4),
       st.booleans(), st.integers(0, 10**6))
def test_quota_rules_print_and_read_back(kinds: list[str], names: list[str], expanded: bool, slots: int) -> None:
    items = ",".join(names[:-1] + ["!" + names[-1]] if len(names) > 1 else names)
    filters = " ".join(f"{kind} {'{' + items + '}' if expanded else items}" for kind in kinds)
    rule = build_rule(f"limit {filters} to slots={slots}")
    assert build_rule("limit " + rule.text()) == rule


# ---------------------------------------------------------------- resource maps


def test_resource_map_values() -> None:
    assert parse_resource_map("2(0 1)") == ["0", "1"]
    assert parse_resource_map("4") == ["0", "1", "2", "3"]
    assert parse_resource_map("5(gpu0 2-4 gpu0)") == ["gpu0", "2", "3", "4", "gpu0"]
    assert parse_value("RSMAP", "2(a b)") == 2.0 and parse_value("RSMAP", "1") == 1.0
    for bad, message in (("3(0 1)", "amount 3 but 2 ids"), ("x(0)", "is not an amount"), ("2(0 1", "expected"),
                         ("1(a=b)", "is not an id"), ("600", "explicitly")):
        with pytest.raises(InvalidRequest, match=message):
            parse_resource_map(bad)


def test_resource_maps_in_complexes_and_hosts() -> None:
    text = ref("qconf_sc.txt").replace("#---", "gpu                 gpu        RSMAP     <=    YES         YES        0        0\n#---", 1)
    complexes = parse_text(ComplexList, text)
    validate(complexes)
    host = parse_text(ExecHost, "hostname node1\ncomplex_values gpu=2(0 1),slots=4\n")
    assert host.complex_values == {"gpu": "2(0 1)", "slots": "4"}
    assert "complex_values        gpu=2(0 1),slots=4\n" in format_text(host)
    assert normalize_maps({"gpu": "4", "slots": "4"}, complexes) == {"gpu": "4(0 1 2 3)", "slots": "4"}
    with pytest.raises(ValueError, match="cannot be attached to a queue"):
        normalize_maps({"gpu": "2"}, complexes, queue=True)
    with pytest.raises(ValueError, match="amount 2 but 1 ids"):
        normalize_maps({"gpu": "2(0)"}, complexes)
    bad = text.replace("gpu                 gpu        RSMAP     <=    YES         YES",
                       "gpu                 gpu        RSMAP     ==    YES         NO ", 1)
    with pytest.raises(InvalidRequest, match="must be consumable with relop <="):
        validate(parse_text(ComplexList, bad))
