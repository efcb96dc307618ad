"""Projects and checkpointing interfaces: qconf's generic path (Grid Engine's formats and
messages), -P/-ckpt/-c refused as Grid Engine refuses them, projects/xprojects of queues and
exec hosts and ckpt_list enforced by the scheduler, and what a checkpointing job is given:
its environment, periodic checkpoints, migration on suspension, clean-up."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import REFERENCE
from tests.clusterlib import Cluster, wait_until


@pytest.fixture
def two_hosts(qsys_root: Path) -> Iterator[Cluster]:
    with Cluster(qsys_root / "cell", hosts=["node1", "node2"], slots=2) as c:
        yield c


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _ok(cluster: Cluster, *argv: str) -> str:
    proc = cluster.run(*argv)
    assert proc.returncode == 0, f"{argv}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def _fails(cluster: Cluster, *argv: str, code: int = 1) -> str:
    proc = cluster.run(*argv)
    assert proc.returncode == code, f"{argv}: {proc.returncode} {proc.stdout}{proc.stderr}"
    return proc.stdout + proc.stderr


def _submit(cluster: Cluster, *args: str) -> int:
    return int(_ok(cluster, "qsub", "-terse", *args).strip())


def _info(cluster: Cluster, job_id: int) -> str:
    return cluster.run("qstat", "-j", str(job_id)).stdout


def _checkpoint_lines(cluster: Cluster, job_id: int) -> list[str]:
    return [line for line in _info(cluster, job_id).splitlines() if line.startswith("checkpoint")]


CKPT = ("ckpt_name          {name}\ninterface          userdefined\nckpt_command       {ckpt}\n"
        "migr_command       {migr}\nrestart_command    none\nclean_command      {clean}\n"
        "ckpt_dir           {dir}\nsignal             none\nwhen               {when}\n")


def test_projects_and_interfaces_through_qconf(cluster: Cluster, tmp_path: Path) -> None:
    who = f"{cluster.run('id', '-un').stdout.strip()}@"
    project = (REFERENCE / "qconf_sprj.txt").read_text()
    out = cluster.qconf_answer("-Aprj", _file(tmp_path, "p", project))
    assert out.startswith(who) and out.endswith('added "projA" to project list\n')
    assert _ok(cluster, "qconf", "-sprj", "projA") == project
    assert _ok(cluster, "qconf", "-sprjl") == "projA\n"
    assert _fails(cluster, "qconf", "-Aprj", _file(tmp_path, "p", project)) == 'project "projA" already exists\n'
    proc = cluster.run("qconf", "-sprj", "nope")
    assert (proc.returncode, proc.stderr) == (1, (REFERENCE / "qconf_sprj_missing.stderr.txt").read_text())
    assert _fails(cluster, "qconf", "-dprj", "nope") == 'denied: project "nope" does not exist\n'
    ckpt = (REFERENCE / "qconf_sckpt.txt").read_text()
    out = cluster.qconf_answer("-Ackpt", _file(tmp_path, "c", ckpt))
    assert out.endswith('added "ck1" to checkpoint interface list\n')
    assert _ok(cluster, "qconf", "-sckpt", "ck1") == ckpt
    assert _ok(cluster, "qconf", "-sckptl") == "ck1\n"
    written = (REFERENCE / "qconf_sckpt_app.txt").read_text()  # SGE writes its when letters in its order
    _ok(cluster, "qconf", "-Ackpt", _file(tmp_path, "app", written.replace("xsmr", "smxr")))
    assert _ok(cluster, "qconf", "-sckpt", "v10zz") == written
    assert _ok(cluster, "qconf", "-sckptl") == "ck1\nv10zz\n"
    _ok(cluster, "qconf", "-dckpt", "v10zz")
    assert _fails(cluster, "qconf", "-sckpt", "nope") == "nope is not a checkpointing interface definition\n"
    assert _fails(cluster, "qconf", "-dckpt", "nope") == 'denied: checkpointing environment "nope" does not exist\n'
    assert _fails(cluster, "qconf", "-Mckpt", _file(tmp_path, "c9", ckpt.replace("ck1", "ck9"))) == \
        'denied: checkpoint interface "ck9" does not exist\n'
    _ok(cluster, "qconf", "-aattr", "queue", "ckpt_list", "ck1", "all.q")
    _ok(cluster, "qconf", "-aattr", "queue", "xprojects", "projA", "all.q")
    assert _fails(cluster, "qconf", "-dckpt", "ck1") == 'denied: Ckpt "ck1" is still referenced in queue "all.q".\n'
    assert _fails(cluster, "qconf", "-dprj", "projA") == \
        'denied: project "projA" is still referenced in xprojects of queue "all.q"\n'
    assert " BIPC " in _ok(cluster, "qstat", "-f")  # Grid Engine's qtype of a checkpointing queue
    _ok(cluster, "qconf", "-rattr", "queue", "ckpt_list", "NONE", "all.q")
    assert cluster.qconf_answer("-dckpt", "ck1").endswith('removed "ck1" from checkpointing environment list\n')


def test_options_grid_engine_refuses(cluster: Cluster, tmp_path: Path) -> None:
    _ok(cluster, "qconf", "-Ackpt", _file(tmp_path, "c", CKPT.format(name="ck", ckpt="none", migr="none",
                                                                        clean="none", dir="/tmp", when="sx")))
    refused = {
        ("-P", "nope"): 'job rejected: the requested project "nope" does not exist',
        ("-ckpt", "nope"): 'job rejected: the requested checkpointing environment "nope" does not exist',
        ("-c", "sx"): "checkpointing denied",
        ("-c", "00:01:00"): "checkpointing denied",
        ("-ckpt", "ck", "-c", "nx"): 'job rejected: checkpointing with "-c n" requested',
    }
    for args, message in refused.items():
        assert _fails(cluster, "qsub", *args, "-b", "y", "/bin/true") == f"Unable to run job: {message}\nExiting.\n"
    assert _fails(cluster, "qsub", "-c", "q", "-b", "y", "/bin/true", code=2) == "qsub: -c specifier invalid\n"
    assert _fails(cluster, "qsub", "-c", "0", "-b", "y", "/bin/true", code=2) == "qsub: -c argument invalid\n"
    plain = _submit(cluster, "-h", "-c", "n", "-b", "y", "/bin/true")  # -c n alone is fine (as in SGE)
    timed = _submit(cluster, "-h", "-ckpt", "ck", "-c", "00:00:30", "-b", "y", "/bin/true")
    assert _checkpoint_lines(cluster, plain) == [f"{'checkpoint_attr:':<28}n    "]  # SGE 8.1.9 shows it
    assert _checkpoint_lines(cluster, timed) == [f"{'checkpoint_object:':<28}ck", f"{'checkpoint_attr:':<28}sx    ",
                                                 f"{'checkpoint_interval:':<28}30 seconds"]
    assert "       Checkpoint Env.:  ck\n" in _ok(cluster, "qstat", "-r")
    other = _submit(cluster, "-h", "-b", "y", "/bin/true")
    assert _ok(cluster, "qalter", "-ckpt", "ck", str(other)) == f"modified checkpointing environment of job {other}\n"
    assert _checkpoint_lines(cluster, other) == [f"{'checkpoint_object:':<28}ck"]  # qalter sets no -c letters
    attrs = {job: ET.fromstring(_ok(cluster, "qstat", "-j", str(job), "-xml")).findtext(".//JB_checkpoint_attr")
             for job in (plain, timed, other)}
    assert attrs == {plain: "8", timed: "6", other: "0"}  # n, sx, none: SGE's bits
    assert _fails(cluster, "qalter", "-ckpt", "nope", str(other)) == \
        'denied: checkpointing environment "nope" does not exist\n'


def test_projects_of_queues_and_hosts_decide_where_jobs_go(two_hosts: Cluster, tmp_path: Path) -> None:
    cluster = two_hosts
    for name in ("p1", "p2"):
        _ok(cluster, "qconf", "-Aprj", _file(tmp_path, name, f"name {name}\noticket 0\nfshare 0\nacl NONE\nxacl NONE\n"))
    _ok(cluster, "qconf", "-rattr", "queue", "projects", "p1 p2", "all.q")
    _ok(cluster, "qconf", "-rattr", "exechost", "xprojects", "p1", "node2")
    none = _submit(cluster, "-b", "y", "/bin/true")
    excluded = _submit(cluster, "-P", "p1", "-l", "h=node2", "-b", "y", "/bin/true")
    wait_until(lambda: "(no project) does not have the correct project to run in cluster queue \"all.q\""
               in _info(cluster, none), 30, "the job without a project to be refused by all.q")
    wait_until(lambda: '(project p1) is not allowed to run in host "node2" based on the excluded project list'
               in _info(cluster, excluded), 30, "the p1 job to be kept off node2")
    out = tmp_path / "where"
    _submit(cluster, "-P", "p1", "-o", str(out), "-j", "y", "-b", "y", "/bin/sh", "-c", "echo $HOSTNAME")
    wait_until(lambda: out.exists() and out.read_text().strip(), 60, "the p1 job to run")
    assert out.read_text().split() == ["node1"]
    cluster.run("qdel", str(none), str(excluded), check=True)


def test_a_checkpointing_job_runs_where_its_interface_is_listed(cluster: Cluster, tmp_path: Path) -> None:
    _ok(cluster, "qconf", "-Ackpt", _file(tmp_path, "c", CKPT.format(name="ck", ckpt="none", migr="none",
                                                                        clean="none", dir=str(tmp_path), when="sx")))
    env = tmp_path / "env"
    job_id = _submit(cluster, "-ckpt", "ck", "-o", str(env), "-j", "y", "-b", "y", "/usr/bin/env")
    wait_until(lambda: 'cannot run in queue instance "all.q@node1" because it is not of type checkpointing'
               in _info(cluster, job_id), 30, "the job to wait for a checkpointing queue")
    _ok(cluster, "qconf", "-aattr", "queue", "ckpt_list", "ck", "all.q")
    wait_until(lambda: env.exists() and "SGE_CKPT_DIR" in env.read_text(), 60, "the job to run")
    variables = dict(line.split("=", 1) for line in env.read_text().splitlines() if "=" in line)
    assert (variables["SGE_CKPT_ENV"], variables["SGE_CKPT_DIR"], variables["RESTARTED"]) == ("ck", str(tmp_path), "0")


def test_suspension_migrates_a_checkpointing_job(cluster: Cluster, tmp_path: Path) -> None:
    log = tmp_path / "log"
    finish = tmp_path / "finish"
    record = f"echo \"$0 $@\" >> {log}"
    ckpt = CKPT.format(name="ck", ckpt=f"/bin/sh -c '{record}' ckpt $job_id",
                       migr=f"/bin/sh -c '{record}' migr $job_id $job_pid",
                       clean=f"/bin/sh -c '{record}' clean $job_id", dir=str(tmp_path), when="xm")
    _ok(cluster, "qconf", "-Ackpt", _file(tmp_path, "c", ckpt))
    _ok(cluster, "qconf", "-aattr", "queue", "ckpt_list", "ck", "all.q")
    _ok(cluster, "qconf", "-mattr", "queue", "min_cpu_interval", "00:00:01", "all.q")
    script = f'echo "start $RESTARTED" >> {log}; while [ ! -f {finish} ]; do sleep 0.2; done'
    job_id = _submit(cluster, "-ckpt", "ck", "-o", "/dev/null", "-j", "y", "-b", "y", "/bin/sh", "-c", script)

    def logged() -> list[str]:
        return log.read_text().splitlines() if log.exists() else []

    wait_until(lambda: f"ckpt {job_id}" in logged(), 60, "a checkpoint every min_cpu_interval (when m)")
    _ok(cluster, "qmod", "-sj", str(job_id))
    wait_until(lambda: "start 1" in logged(), 60, "the job to migrate and run again with RESTARTED=1")
    migrated = [line for line in logged() if line.startswith("migr ")]
    assert len(migrated) == 1 and re.fullmatch(rf"migr {job_id} \d+", migrated[0]), logged()
    assert logged().index(migrated[0]) < logged().index("start 1")
    finish.write_text("")
    wait_until(lambda: job_id not in {r["job_id"] for r in cluster.jobs()}, 60, "the job to end")
    wait_until(lambda: f"clean {job_id}" in logged(), 10, "clean_command after the job")
    assert sum(line.startswith("clean ") for line in logged()) == 1  # not after the migrated run


# (option, stdout, stderr, exit status) of an editor session that changes nothing, as SGE 8.1.9
# answers them (EDITOR=true on its cell): the add options of most kinds refuse the bare
# template, -aq/-ahgrp add it, -mq sends the queue anyway.
UNCHANGED = [
    (("-aprj",), "", "file unchanged\n", 1),
    (("-ackpt", "ck2"), "", "file unchanged\n", 1),
    (("-ap", "pe2"), "", "file unchanged\n", 1),
    (("-acal", "cal2"), "", "file unchanged\n", 1),
    (("-ae",), "", "file unchanged\n", 1),
    (("-mckpt", "ck"), "", "file unchanged\n", 1),
    (("-mprj", "projA"), "", "file unchanged\n", 1),
    (("-mp", "smp"), "", "file unchanged\n", 1),
    (("-me", "node1"), "", "file unchanged\n", 1),
    (("-msconf",), "", "file unchanged\n", 1),
    (("-mconf",), "", "configuration unchanged\n", 1),
    (("-mhgrp", "@allhosts"), "", "Object has not been changed\n", 1),
    (("-mu", "arusers"), "file unchanged\n", "", 0),
    (("-mc",), "", "Complex attribute configuration has not been changed\n", 0),
]


def test_an_editor_session_that_changes_nothing(cluster: Cluster, tmp_path: Path) -> None:
    _ok(cluster, "qconf", "-Ackpt", _file(tmp_path, "c", CKPT.format(name="ck", ckpt="none", migr="none",
                                                                        clean="none", dir="/tmp", when="sx")))
    _ok(cluster, "qconf", "-Aprj", _file(tmp_path, "p", (REFERENCE / "qconf_sprj.txt").read_text()))
    before = {kind: cluster.run("qconf", listing).stdout for kind, listing in
              (("ckpt", "-sckptl"), ("prj", "-sprjl"), ("pe", "-spl"), ("cal", "-scall"), ("e", "-sel"))}
    for args, out, err, code in UNCHANGED:
        proc = cluster.run("qconf", *args, env={"EDITOR": "true"})
        assert (proc.stdout, proc.stderr, proc.returncode) == (out, err, code), args
    assert before == {kind: cluster.run("qconf", listing).stdout for kind, listing in
                      (("ckpt", "-sckptl"), ("prj", "-sprjl"), ("pe", "-spl"), ("cal", "-scall"), ("e", "-sel"))}
    proc = cluster.run("qconf", "-mq", "all.q", env={"EDITOR": "true"})
    assert (proc.returncode, proc.stdout) == (0, "") and proc.stderr.endswith('modified "all.q" in cluster queue list\n')
