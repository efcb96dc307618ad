"""Parallel environments on three exec hosts: allocation rules, PE_HOSTFILE, the PE's
procedures, slave hosts and their kill."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusterlib import Cluster, wait_until
from tests.integration.test_pe_usage import _foreign, _gone

HOSTS = ["node1", "node2", "node3"]
WRAPPERS = Path(__file__).resolve().parents[2] / "wrappers"


def put_objects(cluster: Cluster, objects: list[tuple[str, str, dict[str, str]]]) -> None:
    """Store configuration objects before the master starts (as qconf would store them)."""
    from qsys.store import PutObject, Store

    store = Store(cluster.cell.bootstrap()["store_url"])
    store.create()
    store.apply([PutObject(kind, name, {"attrs": attrs}) for kind, name, attrs in objects])
    store.close()


PES = {
    "rr": {"slots": "99", "allocation_rule": "$round_robin", "control_slaves": "TRUE", "job_is_first_task": "FALSE"},
    "fill": {"slots": "99", "allocation_rule": "$fill_up", "control_slaves": "TRUE", "job_is_first_task": "TRUE"},
    "smp": {"slots": "99", "allocation_rule": "$pe_slots", "control_slaves": "FALSE", "job_is_first_task": "TRUE"},
    "one": {"slots": "99", "allocation_rule": "1", "control_slaves": "TRUE", "job_is_first_task": "TRUE"},
    "small": {"slots": "3", "allocation_rule": "$fill_up", "control_slaves": "TRUE", "job_is_first_task": "TRUE"},
}


@pytest.fixture
def pe_cluster(qsys_root: Path) -> Iterator[Cluster]:
    cluster = Cluster(qsys_root / "cell", hosts=HOSTS, slots=2)
    cluster.init()
    script = qsys_root / "pe_start.sh"
    script.write_text(f'#!/bin/sh\necho "$@" > {qsys_root}/pe_args.$4\ncp "$1" {qsys_root}/pe_hostfile.$4\n')
    script.chmod(0o755)
    pes = dict(PES)
    pes["procs"] = {"slots": "99", "allocation_rule": "$round_robin", "control_slaves": "TRUE",
                    "start_proc_args": f"{script} $pe_hostfile $host $job_owner $job_id $job_name $pe "
                                       "$pe_slots $processors $queue",
                    "stop_proc_args": "/bin/true"}
    pes["broken"] = {"slots": "99", "allocation_rule": "$pe_slots", "start_proc_args": "/bin/false"}
    pes["catch"] = {"slots": "99", "allocation_rule": "$round_robin", "control_slaves": "TRUE",
                    "job_is_first_task": "TRUE", "start_proc_args": f"{WRAPPERS}/startmpi.sh -catch_rsh $pe_hostfile",
                    "stop_proc_args": f"{WRAPPERS}/stopmpi.sh"}
    tmpdirs = qsys_root / "tmp"  # job numbers repeat between clusters on one machine
    tmpdirs.mkdir(mode=0o1777)
    tmpdirs.chmod(0o1777)
    queue = {"hostlist": "@allhosts", "slots": "2", "pe_list": " ".join(sorted(pes)), "qtype": "BATCH INTERACTIVE",
             "tmpdir": str(tmpdirs)}
    objects = [("pe", name, attrs) for name, attrs in pes.items()]
    objects.append(("queue", "all.q", queue))
    objects.append(("conf", "global", {"min_uid": "0", "min_gid": "0", "login_shells": "bash,sh,ksh,csh,tcsh"}))
    # several exec daemons share this machine: give each its own part of the ID range
    objects += [("conf", host, {"gid_range": f"{21000 + 100 * i}-{21099 + 100 * i}"}) for i, host in enumerate(HOSTS)]
    put_objects(cluster, objects)
    cluster.start_master()
    for host in HOSTS:
        cluster.start_execd(host)
    cluster.wait_hosts()
    try:
        yield cluster
    finally:
        cluster.teardown()


def _run_pe(cluster: Cluster, tmp: Path, *pe: str) -> tuple[int, list[list[str]], dict[str, str]]:
    out = tmp / f"out.{'_'.join(pe)}"
    script = 'cat "$PE_HOSTFILE"; echo "NSLOTS=$NSLOTS NHOSTS=$NHOSTS NQUEUES=$NQUEUES PE=$PE"'
    proc = cluster.run("qsub", "-terse", "-pe", *pe, "-o", str(out), "-j", "y", "-b", "y", "/bin/sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    job_id = int(proc.stdout.strip())
    _gone(cluster, job_id)
    lines = out.read_text().splitlines()
    facts = dict(item.split("=", 1) for item in lines[-1].split())
    return job_id, [line.split() for line in lines[:-1]], facts


@pytest.mark.parametrize(("pe", "slots", "expected"), [
    ("rr", "4", [2, 1, 1]),
    ("fill", "4", [2, 2]),
    ("f*", "3", [2, 1]),
    ("smp", "2", [2]),
    ("one", "3", [1, 1, 1]),
    ("small", "2-6", [2, 1]),
])
def test_allocation_rules(pe_cluster: Cluster, tmp_path: Path, pe: str, slots: str, expected: list[int]) -> None:
    _, hostfile, facts = _run_pe(pe_cluster, tmp_path, pe, slots)
    assert sorted((int(line[1]) for line in hostfile), reverse=True) == expected
    for host, _, queue, processors in hostfile:
        assert host in HOSTS and queue == f"all.q@{host}" and processors == "UNDEFINED"
    assert len({line[0] for line in hostfile}) == len(hostfile)
    assert facts["NSLOTS"] == str(sum(expected))
    assert facts["NHOSTS"] == facts["NQUEUES"] == str(len(expected))
    assert facts["PE"] == pe.replace("f*", "fill")


def test_start_proc_args_substitutions(pe_cluster: Cluster, tmp_path: Path) -> None:
    job_id, hostfile, facts = _run_pe(pe_cluster, tmp_path, "procs", "3")
    root = pe_cluster.root.parent
    args = (root / f"pe_args.{job_id}").read_text().split()
    master_host = hostfile[0][0]
    assert args[1:] == [master_host, "root", str(job_id), "sh", "procs", "3", "UNDEFINED", "all.q"]
    assert args[0].endswith("/pe_hostfile")
    assert (root / f"pe_hostfile.{job_id}").read_text().split("\n")[0].split() == hostfile[0]


def test_failing_start_proc_args_puts_the_job_in_error(pe_cluster: Cluster) -> None:
    proc = pe_cluster.run("qsub", "-terse", "-pe", "broken", "1", "-o", "/dev/null", "-b", "y", "/bin/true")
    job_id = int(proc.stdout.strip())
    wait_until(lambda: any(r.job_id == job_id and "E" in r.state for r in pe_cluster.jobs()), 30,
               "the job to be in error state")
    pe_cluster.run("qdel", str(job_id), check=True)


def test_slave_hosts_know_the_job_and_qdel_kills_there(pe_cluster: Cluster) -> None:
    proc = pe_cluster.run("qsub", "-terse", "-pe", "one", "3", "-o", "/dev/null", "-b", "y", "sleep", "600")
    job_id = int(proc.stdout.strip())
    records: dict[str, dict[str, object]] = {}

    def slaves() -> bool:
        for host in HOSTS:
            path = pe_cluster.cell.execd_spool(host) / "pe_slaves" / f"{job_id}.1" / "job.json"
            if path.exists():
                records[host] = json.loads(path.read_text())
        return len(records) == 2

    wait_until(slaves, 30, "two slave hosts to record the job")
    gids = {host: int(rec["extra_gid"]) for host, rec in records.items()}  # type: ignore[call-overload]
    assert len(set(gids.values())) == 2
    foreign = [_foreign(gid, "sleep", "600") for gid in gids.values()]
    try:
        pe_cluster.run("qdel", str(job_id), check=True)
        for p in foreign:
            wait_until(lambda p=p: p.poll() is not None, 30, "a process on a slave host to be killed")
        _gone(pe_cluster, job_id)
        for host in records:
            path = pe_cluster.cell.execd_spool(host) / "pe_slaves" / f"{job_id}.1"
            wait_until(lambda path=path: not path.exists(), 30, "the slave record to go")
    finally:
        for p in foreign:
            if p.poll() is None:
                p.kill()
            p.wait()
    assert os.path.exists("/proc/self")


def test_qrsh_inherit_runs_tasks_on_granted_hosts_only(pe_cluster: Cluster, tmp_path: Path) -> None:
    from tests.clusterlib import REPO

    out = tmp_path / "inherit.out"
    script = (
        'for h in $(cut -d" " -f1 "$PE_HOSTFILE"); do '
        '  qrsh -inherit -nostdin "$h" echo task on \\$HOSTNAME \\$QSYS_PE_TASK_ID from $JOB_ID; echo "rc=$?"; '
        "done; "
        'first=$(head -1 "$PE_HOSTFILE" | cut -d" " -f1); '
        'qrsh -inherit "$first" "exit 7"; echo "exit=$?"; '
        'echo input | qrsh -inherit "$first" cat; '
        "qrsh -inherit node9 true 2>&1; echo \"refused=$?\""
    )
    proc = pe_cluster.run("qsub", "-terse", "-pe", "rr", "4", "-v", f"PYTHONPATH={REPO}", "-o", str(out), "-j", "y",
                          "-b", "y", "/bin/sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    job_id = int(proc.stdout.strip())
    _gone(pe_cluster, job_id)
    lines = out.read_text().splitlines()
    tasks = [line for line in lines if line.startswith("task on")]
    assert sorted(t.split()[2] for t in tasks) == HOSTS, lines
    for t in tasks:
        _, _, host, pe_task_id, _, job = t.split()
        assert pe_task_id.endswith(f".{host}") and job == str(job_id)
    assert lines.count("rc=0") == 3
    assert "exit=7" in lines
    assert "input" in lines
    assert any('host "node9" is not granted' in line for line in lines), lines
    assert "refused=0" not in lines
    from tests.integration.test_pe_usage import _records

    records = _records(pe_cluster, job_id, count=6)
    pe_tasks = sorted(r["pe_taskid"] for r in records if r["pe_taskid"] != "NONE")
    assert len(pe_tasks) == 5 and all("." in t for t in pe_tasks)
    assert {r["hostname"] for r in records if r["pe_taskid"] != "NONE"} == set(HOSTS)


def test_qrsh_inherit_refused_without_control_slaves(pe_cluster: Cluster, tmp_path: Path) -> None:
    from tests.clusterlib import REPO

    out = tmp_path / "smp.out"
    proc = pe_cluster.run("qsub", "-terse", "-pe", "smp", "2", "-v", f"PYTHONPATH={REPO}", "-o", str(out), "-j", "y",
                          "-b", "y", "/bin/sh", "-c", 'qrsh -inherit "$HOSTNAME" true; echo "rc=$?"')
    job_id = int(proc.stdout.strip())
    _gone(pe_cluster, job_id)
    text = out.read_text()
    assert "control_slaves TRUE" in text and "rc=0" not in text


def test_catch_rsh_wrapper_is_first_in_path_of_a_login_shell_and_reaches_our_qrsh(pe_cluster: Cluster,
                                                                                   tmp_path: Path) -> None:
    """startmpi.sh -catch_rsh links rsh into $TMPDIR: a bash login shell (whose profile sets PATH
    anew, /usr/bin first: the system's rsh and Debian's Grid Engine qrsh) still finds it first,
    and it starts the task with qsys's qrsh -inherit."""
    from tests.clusterlib import REPO

    out = tmp_path / "catch.out"
    job = tmp_path / "catch.sh"
    job.write_text(
        'shopt -q login_shell && echo "login shell"\n'
        'echo "rsh is $(command -v rsh)"\n'
        'echo "first in PATH ${PATH%%:*}"\n'
        'other=$(awk -v me="$HOSTNAME" \'$1 != me {print $1; exit}\' "$PE_HOSTFILE")\n'
        'rsh -n "$other" \'echo remote on $HOSTNAME for $JOB_ID\'\n'
        'echo "rsh exit $?"\n'
    )
    proc = pe_cluster.run("qsub", "-terse", "-pe", "catch", "2", "-S", "/bin/bash", "-v", f"PYTHONPATH={REPO}",
                          "-o", str(out), "-j", "y", str(job))
    assert proc.returncode == 0, proc.stderr
    job_id = int(proc.stdout.strip())
    _gone(pe_cluster, job_id)
    lines = out.read_text().splitlines()
    tmpdir = next(line.split()[-1] for line in lines if line.startswith("first in PATH"))
    assert "login shell" in lines, lines
    assert f"rsh is {tmpdir}/rsh" in lines, lines
    assert any(line.startswith("remote on node") and line.endswith(f"for {job_id}") for line in lines), lines
    assert "rsh exit 0" in lines, lines
