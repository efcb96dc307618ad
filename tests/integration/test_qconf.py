"""qconf over the generic object path on a real cluster: every kind round-trips, bad input
changes nothing, only managers configure, and a change takes effect at once."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests import REFERENCE
from tests.clusterlib import Cluster, wait_until

REF = REFERENCE  # the repository's copy of the reference output


def _ok(cluster: Cluster, *argv: str, user: str | None = None, env: dict[str, str] | None = None) -> str:
    proc = cluster.run(*argv, user=user, env=env)
    assert proc.returncode == 0, f"{argv}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def _fails(cluster: Cluster, *argv: str, user: str | None = None, env: dict[str, str] | None = None) -> str:
    proc = cluster.run(*argv, user=user, env=env)
    assert proc.returncode != 0, f"{argv} should fail: {proc.stdout}"
    return proc.stdout + proc.stderr


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o644)
    return str(path)


# (show option, name of the first object, option that modifies from a file)
MODIFY = [("-sq", "all.q", "-Mq"), ("-sp", "smp", "-Mp"), ("-su", "arusers", "-Mu"), ("-se", "node1", "-Me")]
# (show option, add-from-file option, text of a new object)
ADD = [
    ("-sq", "-Aq", "qname                 new.q\nhostlist              node1\nslots                 2,[node1=3]\n"),
    ("-sp", "-Ap", "pe_name            par\nslots              8\nallocation_rule    2\n"),
    ("-su", "-Au", "name    team\ntype    ACL DEPT\nfshare  0\noticket 0\nentries alice,@staff\n"),
    ("-shgrp", "-Ahgrp", "group_name @rack1\nhostlist node1\n"),
    ("-scal", "-Acal", "calendar_name    night\nyear             24.12.2026=off\nweek             mon-fri=6-20=off\n"),
    ("-se", "-Ae", "hostname              node2\ncomplex_values        gpu=2\n"),
]


def test_every_kind_round_trips(cluster: Cluster, tmp_path: Path) -> None:
    _ok(cluster, "qconf", "-Mc", _file(tmp_path, "c", _ok(cluster, "qconf", "-sc")
                                       + "gpu                 gpu        INT       <=    YES         YES        0        0\n"))
    for show, name, modify in MODIFY:
        text = _ok(cluster, "qconf", show, name)
        out = cluster.qconf_answer(modify, _file(tmp_path, name, text))
        assert "modified" in out, out
        assert _ok(cluster, "qconf", show, name) == text
    for show, add, text in ADD:
        name = text.split()[1]
        out = cluster.qconf_answer(add, _file(tmp_path, name, text))
        assert re.fullmatch(rf'\S+@\S+ added "{name}" to [a-z ]+ list\n', out), out
        shown = _ok(cluster, "qconf", show, name)
        # the text shown adds the defaults; adding it again elsewhere shows the same
        again = shown.replace(name, name + "x") if show != "-shgrp" else shown.replace(name, "@rack2")
        _ok(cluster, "qconf", add, _file(tmp_path, name + ".2", again))
        assert _ok(cluster, "qconf", show, again.split()[1]) == again
        for line in text.splitlines():
            assert line.split()[1] in shown
    for show, modify in (("-sconf", "-Mconf"), ("-ssconf", "-Msconf"), ("-sc", "-Mc")):
        text = _ok(cluster, "qconf", show)
        _ok(cluster, "qconf", modify, _file(tmp_path, modify, text))
        assert _ok(cluster, "qconf", show) == text
    local = "#node1:\nprolog                       /bin/true\nload_report_time             00:00:05\n\n"
    assert "added" in cluster.qconf_answer("-Aconf", _file(tmp_path, "local", local))
    assert _ok(cluster, "qconf", "-sconf", "node1") == local
    assert _ok(cluster, "qconf", "-sconfl") == "node1\n"
    assert json.loads(_ok(cluster, "qconf", "-sq", "new.q", "--json"))["data"]["slots"] == "2,[node1=3]"


def test_defaults_match_the_references(cluster: Cluster) -> None:
    for argv, ref in ((["-sp", "smp"], "qconf_sp_smp"), (["-sp", "mpi"], "qconf_sp_mpi"), (["-sc"], "qconf_sc"),
                      (["-su", "arusers"], "qconf_su_arusers"), (["-sul"], "qconf_sul"), (["-spl"], "qconf_spl"),
                      (["-sql"], "qconf_sql")):
        assert _ok(cluster, "qconf", *argv) == (REF / f"{ref}.txt").read_text(), argv
    shown = _ok(cluster, "qconf", "-sq", "all.q").replace("@allhosts", "vm")
    assert shown == (REF / "qconf_sq_all.q.txt").read_text().replace("slots                 4", "slots                 4")
    se = _ok(cluster, "qconf", "-se", "node1")
    ref = (REF / "qconf_se.txt").read_text()
    names = lambda text: re.findall(r"([a-z_]+)=", text.split("load_values", 1)[1].split("processors")[0])  # noqa: E731
    assert names(se) == names(ref)
    assert [line.split()[0] for line in se.splitlines() if not line.startswith(" ")] == \
           [line.split()[0] for line in ref.splitlines() if not line.startswith(" ")]
    assert _fails(cluster, "qconf", "-so") == "no operator defined\n"
    assert _fails(cluster, "qconf", "-sconf", "nohost") == "configuration nohost not defined\n"


def test_bad_input_is_rejected_with_the_reason_and_changes_nothing(cluster: Cluster, tmp_path: Path) -> None:
    before = _ok(cluster, "qconf", "-sq", "all.q")
    bad = before.replace("slots                 4", "slots                 four")
    assert "line 15: slots: 'four' is not a number" in _fails(cluster, "qconf", "-Mq", _file(tmp_path, "q", bad))
    bad = before.replace("pe_list               make smp mpi", "pe_list               make nope")
    assert 'parallel environment "nope"' in _fails(cluster, "qconf", "-Mq", _file(tmp_path, "q2", bad))
    assert "unknown attribute 'slotz'" in _fails(cluster, "qconf", "-Mq", _file(tmp_path, "q3", before + "slotz 1\n"))
    assert _fails(cluster, "qconf", "-mattr", "queue", "slots", "-3", "all.q") == "slots: -3 is below 0\n"
    assert 'week: cannot parse "someday=off"' in _fails(
        cluster, "qconf", "-Acal", _file(tmp_path, "cal", "calendar_name c\nyear NONE\nweek someday=off\n"))
    assert "would contain itself" in _fails(
        cluster, "qconf", "-Ahgrp", _file(tmp_path, "g", "group_name @a\nhostlist @a\n"))
    assert _ok(cluster, "qconf", "-sq", "all.q") == before
    assert _fails(cluster, "qconf", "-scal", "c") == "c is not a calendar\n"
    assert "still referenced" in _fails(cluster, "qconf", "-dp", "smp")


def test_non_manager_cannot_configure_but_an_operator_manages_jobs(cluster: Cluster, users: tuple[str, str],
                                                                   tmp_path: Path) -> None:
    alice, bob = users
    qfile = _file(cluster.root.parent, "alice.q", _ok(cluster, "qconf", "-sq", "all.q").replace("all.q", "alice.q"))
    denied = f'denied: "{alice}" must be manager for this operation\n'
    attempts = [["-Aq", qfile], ["-mattr", "queue", "slots", "1", "all.q"], ["-am", alice], ["-ao", alice],
                ["-dq", "all.q"], ["-Mconf", qfile], ["-ah", "evil"], ["-as", "evil"], ["-dp", "smp"]]
    for argv in attempts:
        assert _fails(cluster, "qconf", *argv, user=alice) == denied, argv
    assert _ok(cluster, "qconf", "-sql", user=alice) == "all.q\n"
    _ok(cluster, "qconf", "-ao", alice)
    job = _ok(cluster, "qsub", "-terse", "-h", "-b", "y", "/bin/true", user=bob).strip()
    assert "has deleted job" in _ok(cluster, "qdel", job, user=alice)
    for argv in attempts[:3]:
        assert _fails(cluster, "qconf", *argv, user=alice) == denied, argv
    assert _ok(cluster, "qconf", "-sq", "all.q").count("alice.q") == 0


def test_queue_change_affects_scheduling_at_once(cluster: Cluster) -> None:
    assert "modified" in _ok(cluster, "qconf", "-mattr", "queue", "slots", "1", "all.q")
    assert "0/0/1" in _ok(cluster, "qstat", "-f")
    for _ in range(3):
        _ok(cluster, "qsub", "-b", "y", "/bin/sleep", "30")
    wait_until(lambda: any(j.state == "r" for j in cluster.jobs()), 20, "a job to start")
    states = sorted(j.state for j in cluster.jobs())
    assert states == ["qw", "qw", "r"], states
    _ok(cluster, "qconf", "-mattr", "queue", "slots", "3", "all.q@node1")
    wait_until(lambda: [j.state for j in cluster.jobs()].count("r") == 3, 20, "three jobs to run")
    _ok(cluster, "qdel", "-u", "*")


def test_complex_and_host_values_steer_scheduling(cluster: Cluster, tmp_path: Path) -> None:
    assert _fails(cluster, "qsub", "-l", "lic=1", "-b", "y", "/bin/true")
    table = _ok(cluster, "qconf", "-sc")
    _ok(cluster, "qconf", "-Mc", _file(tmp_path, "c", table.replace(
        "\nload_avg ", "\nlic                 lic        INT       <=    YES         YES        0        0\nload_avg ")))
    _ok(cluster, "qconf", "-aattr", "exechost", "complex_values", "lic=1", "node1")
    assert "lic=1" in _ok(cluster, "qconf", "-se", "node1")
    assert 'complex "lic" is still referenced in exechost "node1"' in _fails(
        cluster, "qconf", "-Mc", _file(tmp_path, "c0", table))
    for _ in range(2):
        _ok(cluster, "qsub", "-l", "lic=1", "-b", "y", "/bin/sleep", "30")
    wait_until(lambda: any(j.state == "r" for j in cluster.jobs()), 20, "a job to start")
    assert sorted(j.state for j in cluster.jobs()) == ["qw", "r"]
    _ok(cluster, "qdel", "-u", "*")


def test_local_configuration_reaches_the_exec_host_at_once(cluster: Cluster, tmp_path: Path) -> None:
    marker = tmp_path / "prolog.ran"
    prolog = _file(tmp_path, "prolog.sh", f"#!/bin/sh\necho $JOB_ID > {marker}\n")
    Path(prolog).chmod(0o755)
    local = f"#node1:\nprolog {prolog}\nload_report_time 00:00:02\n"
    _ok(cluster, "qconf", "-Aconf", _file(tmp_path, "local", local))
    log = cluster.root / "execd-node1.out"
    wait_until(lambda: "load_report_time=00:00:02" in log.read_text(), 10, "the exec host to get its conf")
    job = _ok(cluster, "qsub", "-terse", "-o", "/dev/null", "-j", "y", "-b", "y", "/bin/true").strip()
    cluster.wait_idle()
    assert marker.read_text().strip() == job
    assert "removed" in cluster.qconf_answer("-dconf", "node1")
    wait_until(lambda: "load_report_time=00:00:10" in log.read_text(), 10, "the global conf back")


def test_configuration_survives_a_master_restart(cluster: Cluster, tmp_path: Path) -> None:
    _ok(cluster, "qconf", "-mattr", "queue", "slots", "2,[node1=3]", "all.q")
    _ok(cluster, "qconf", "-Ahgrp", _file(tmp_path, "g", "group_name @g\nhostlist node1\n"))
    _ok(cluster, "qconf", "-ao", "daemon")
    before = [_ok(cluster, "qconf", *a) for a in (["-sq", "all.q"], ["-shgrp", "@g"], ["-so"], ["-sh"])]
    cluster.kill_master()
    cluster.start_master()
    assert [_ok(cluster, "qconf", *a) for a in (["-sq", "all.q"], ["-shgrp", "@g"], ["-so"], ["-sh"])] == before


@pytest.mark.parametrize("option", ["qsub", "qconf"])
def test_tcp_clients_need_a_submit_or_admin_host(cluster: Cluster, option: str) -> None:
    port = cluster.cell.bootstrap()["master_port"]
    env = {"QSYS_MASTER": f"127.0.0.1:{port}", "QSYS_HOST": "outsider"}
    argv = ["qsub", "-b", "y", "/bin/true"] if option == "qsub" else ["qconf", "-ao", "daemon"]
    kind = "submit" if option == "qsub" else "admin"
    assert f'denied: host "outsider" is no {kind} host\n' in _fails(cluster, *argv, env=env)
    _ok(cluster, "qconf", "-as" if option == "qsub" else "-ah", "outsider")
    _ok(cluster, *argv, env=env)


def test_configuration_survives_a_restart_on_postgresql(qsys_root: Path, postgres_url: str) -> None:
    with Cluster(qsys_root / "cell", hosts=["node1"], slots=2, store_url=postgres_url) as cluster:
        _ok(cluster, "qconf", "-mattr", "queue", "slots", "1,[node1=3]", "all.q")
        _ok(cluster, "qconf", "-au", "daemon", "staff")
        shown = [_ok(cluster, "qconf", *a) for a in (["-sq", "all.q"], ["-su", "staff"], ["-sm"])]
        cluster.kill_master()
        cluster.start_master()
        assert [_ok(cluster, "qconf", *a) for a in (["-sq", "all.q"], ["-su", "staff"], ["-sm"])] == shown
        assert "0/0/3" in _ok(cluster, "qstat", "-f")


# Son of Grid Engine 8.1.9's answers (run on its cell): the message, on stderr, and exit 1
UNKNOWN = [
    (["-sp", "nope"], "nope is not a parallel environment"),
    (["-scal", "nope"], "nope is not a calendar"),
    (["-su", "nope"], 'denied: access list "nope" does not exist'),
    (["-sq", "nope"], 'No cluster queue or queue instance matches the phrase "nope"'),
    (["-shgrp", "@nope"], 'Host group "@nope" does not exist'),
    (["-mp", "nope"], "nope is not a parallel environment"),
    (["-mcal", "nope"], "nope is not a calendar"),
    (["-dp", "nope"], 'denied: parallel environment "nope" does not exist'),
    (["-dq", "nope"], 'denied: cluster queue "nope" does not exist'),
    (["-dhgrp", "@nope"], 'denied: host group "@nope" does not exist'),
    (["-dcal", "nope"], 'denied: calendar "nope" does not exist'),
    (["-dul", "nope"], 'denied: userset "nope" does not exist'),
    (["-dckpt", "nope"], 'denied: checkpointing environment "nope" does not exist'),
    (["-dprj", "nope"], 'denied: project "nope" does not exist'),
    (["-du", "someone", "nope"], 'access list "nope" doesn\'t exist'),
    (["-mattr", "pe", "slots", "5", "nope"], 'denied: parallel environment "nope" does not exist'),
    (["-mattr", "calendar", "year", "NONE", "nope"], 'denied: calendar "nope" does not exist'),
    (["-mattr", "queue", "slots", "5", "nope"], 'denied: cluster queue "nope" does not exist'),
    (["-aattr", "queue", "slots", "5", "nope"], 'denied: cluster queue "nope" does not exist'),
    (["-rattr", "pe", "slots", "5", "nope"], 'denied: parallel environment "nope" does not exist'),
    (["-mattr", "hostgroup", "hostlist", "node1", "@nope"], 'denied: host group "@nope" does not exist'),
    (["-mattr", "userset", "fshare", "1", "nope"], 'denied: userset "nope" does not exist'),
    (["-mattr", "ckpt", "when", "s", "nope"], 'denied: checkpoint interface "nope" does not exist'),
    (["-mattr", "project", "oticket", "1", "nope"], 'denied: project "nope" does not exist'),
    (["-purge", "queue", "slots", "nope@node1"], 'error: Cluster queue entry "nope" does not exist'),
]


def test_unknown_objects_are_refused_in_grid_engines_words(cluster: Cluster) -> None:
    answers = {" ".join(argv): cluster.run("qconf", *argv, env={"EDITOR": "/bin/true"}) for argv, _ in UNKNOWN}
    assert {cmd: (p.returncode, p.stdout, p.stderr) for cmd, p in answers.items()} == {
        " ".join(argv): (1, "", text + "\n") for argv, text in UNKNOWN}


def test_changes_are_answered_on_stderr_and_attribute_changes_on_stdout(cluster: Cluster, tmp_path: Path) -> None:
    """Grid Engine's qconf prints the answers of -A*/-a*/-M*/-d* on stderr, those of
    -mattr and its kin on stdout (their refusals on stderr)."""
    pe = _file(tmp_path, "pe", "pe_name streams\nslots 4\n")
    who = re.escape(cluster.run("id", "-un").stdout.strip())
    assert re.fullmatch(rf'{who}@\S+ added "streams" to parallel environment list\n', cluster.qconf_answer("-Ap", pe))
    assert cluster.qconf_answer("-Mp", pe).endswith(' modified "streams" in parallel environment list\n')
    changed = cluster.run("qconf", "-mattr", "pe", "slots", "6", "streams,nope")
    assert (changed.returncode, changed.stderr) == (1, 'denied: parallel environment "nope" does not exist\n')
    assert changed.stdout.endswith(' modified "streams" in parallel environment list\n'), changed.stdout
    assert cluster.qconf_answer("-dp", "streams").endswith(' removed "streams" from parallel environment list\n')
    assert cluster.qconf_answer("-am", "nobody").endswith('added "nobody" to manager list\n')
    assert cluster.qconf_answer("-dm", "nobody").endswith('removed "nobody" from manager list\n')
