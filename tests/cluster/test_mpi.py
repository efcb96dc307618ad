"""Real MPI across two exec hosts in network namespaces, inside PE jobs: Open MPI (which
finds Grid Engine in the job's environment and starts its daemons with qrsh -inherit) and
MPICH's hydra (``-launcher sge``). All ranks run, are accounted per pe task, and die with qdel."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusterlib import BIN, REPO, Cluster, wait_until
from tests.integration.test_pe import put_objects
from tests.integration.test_pe_usage import _gone, _records
from tests.netns import NetnsLab, start_execd

HOSTS = ["node1", "node2"]
SOURCE = REPO / "tests" / "helpers" / "mpi_hello.c"
WRAPPERS = REPO / "wrappers"
BURN = 1.0

pytestmark = pytest.mark.skipif(shutil.which("mpicc.openmpi") is None or shutil.which("mpicc.mpich") is None,
                                reason="needs openmpi-bin, libopenmpi-dev and mpich (make test-deps)")


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("mpi")
    os.chmod(out, 0o755)
    built = {}
    for flavour, cc in (("ompi", "mpicc.openmpi"), ("mpich", "mpicc.mpich")):
        exe = out / f"hello_{flavour}"
        subprocess.run([cc, "-O1", "-o", str(exe), str(SOURCE)], check=True)
        built[flavour] = exe
    return built


@pytest.fixture
def mpi_cluster(qsys_root: Path) -> Iterator[tuple[Cluster, NetnsLab]]:
    with NetnsLab(HOSTS) as lab:
        cluster = Cluster(qsys_root / "cell", hosts=HOSTS, slots=2)
        cluster.init()
        tmpdirs = qsys_root / "tmp"
        tmpdirs.mkdir(mode=0o1777)
        tmpdirs.chmod(0o1777)
        pe = {"slots": "99", "allocation_rule": "$round_robin", "control_slaves": "TRUE",
              "job_is_first_task": "FALSE", "start_proc_args": f"{WRAPPERS}/startmpi.sh -catch_rsh $pe_hostfile",
              "stop_proc_args": f"{WRAPPERS}/stopmpi.sh"}
        summary = dict(pe, accounting_summary="TRUE")
        put_objects(cluster, [
            ("pe", "mpi", pe), ("pe", "mpisum", summary),
            # TMPDIRs of this cluster's own (job numbers repeat between clusters on one machine)
            ("queue", "all.q", {"hostlist": "@allhosts", "slots": "2", "pe_list": "mpi mpisum",
                                "tmpdir": str(tmpdirs)}),
            ("conf", "global", {"min_uid": "0", "min_gid": "0"}),
            *[("conf", h, {"gid_range": f"{22000 + 100 * i}-{22099 + 100 * i}"}) for i, h in enumerate(HOSTS)],
        ])
        cluster.start_master()
        for host in HOSTS:
            start_execd(cluster, host, lab.ns(host))
        cluster.wait_hosts()
        # Open MPI looks for Grid Engine's qrsh in $SGE_ROOT/bin/$ARC: the exec daemons provide it
        assert (cluster.root / "bin" / "lx-amd64" / "qrsh").resolve() == (BIN / "qrsh").resolve()
        try:
            yield cluster, lab
        finally:
            cluster.teardown()


JOB_ENV = ",".join([f"PYTHONPATH={REPO}", "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
                    "OMPI_MCA_plm_rsh_no_tree_spawn=1"])


def _submit(cluster: Cluster, out: Path, pe: str, command: str) -> int:
    proc = cluster.run("qsub", "-terse", "-pe", pe, "4", "-v", JOB_ENV, "-o", str(out), "-j", "y",
                       "-b", "y", "/bin/sh", "-c", command)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip())


def _ranks(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.startswith("rank ")]


LAUNCHERS = {
    "ompi": "mpirun -np 4 {exe} {burn}",
    "mpich": "mpiexec.hydra -launcher sge -n 4 {exe} {burn}",
}


@pytest.mark.parametrize("flavour", ["ompi", "mpich"])
def test_mpi_program_runs_across_hosts_and_is_accounted(mpi_cluster: tuple[Cluster, NetnsLab],
                                                        programs: dict[str, Path], tmp_path: Path,
                                                        flavour: str) -> None:
    cluster, _ = mpi_cluster
    out = tmp_path / "mpi.out"
    job_id = _submit(cluster, out, "mpi", LAUNCHERS[flavour].format(exe=programs[flavour], burn=BURN))
    _gone(cluster, job_id, timeout=180)
    text = out.read_text()
    ranks = _ranks(text)
    assert sorted(int(r[1]) for r in ranks) == [0, 1, 2, 3], text
    assert {r[5] for r in ranks} == set(HOSTS), text  # ranks ran on both hosts
    assert all(r[7] == "6" for r in ranks), text  # the allreduce saw every rank
    burned = sum(float(r[9]) for r in ranks)
    records = wait_until(lambda: _pe_records(cluster, job_id), 60, "the pe task records")
    master = [r for r in records if r["pe_taskid"] == "NONE"]
    pe_tasks = [r for r in records if r["pe_taskid"] != "NONE"]
    assert len(master) == 1
    # the launcher starts the ranks of its own host itself, those of the other host in pe tasks
    assert {r["hostname"] for r in pe_tasks} == set(HOSTS) - {master[0]["hostname"]}
    assert all(r["pe_taskid"].endswith("." + r["hostname"]) for r in pe_tasks)
    recorded = sum(float(r["cpu"]) for r in records)
    print(f"{flavour}: ranks burned {burned:.3f}s, recorded {recorded:.3f}s over {len(records)} records "
          f"({100 * recorded / burned:.1f}%)")
    assert recorded >= 0.99 * burned


def _pe_records(cluster: Cluster, job_id: int) -> list[dict[str, str]] | None:
    records = _records(cluster, job_id)
    master = [r["hostname"] for r in records if r["pe_taskid"] == "NONE"]
    hosts = {r["hostname"] for r in records if r["pe_taskid"] != "NONE"}
    return records if master and hosts >= set(HOSTS) - set(master) else None


def test_qdel_kills_every_rank(mpi_cluster: tuple[Cluster, NetnsLab], programs: dict[str, Path],
                               tmp_path: Path) -> None:
    cluster, _ = mpi_cluster
    out = tmp_path / "forever.out"
    exe = programs["ompi"]
    job_id = _submit(cluster, out, "mpi", f"mpirun -np 4 {exe} -1")
    wait_until(lambda: len(_running(exe)) == 4, 120, "four ranks to run")
    assert cluster.run("qdel", str(job_id)).returncode == 0
    wait_until(lambda: not _running(exe), 60, "every rank to be killed")
    _gone(cluster, job_id, timeout=60)


def test_accounting_summary_gives_one_record(mpi_cluster: tuple[Cluster, NetnsLab], programs: dict[str, Path],
                                             tmp_path: Path) -> None:
    cluster, _ = mpi_cluster
    out = tmp_path / "summary.out"
    job_id = _submit(cluster, out, "mpisum", f"mpirun -np 4 {programs['ompi']} {BURN}")
    _gone(cluster, job_id, timeout=180)
    burned = sum(float(r[9]) for r in _ranks(out.read_text()))
    [record] = _records(cluster, job_id)
    assert record["pe_taskid"] == "NONE" and record["granted_pe"] == "mpisum"
    assert float(record["cpu"]) >= 0.99 * burned


def _running(exe: Path) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink(f"/proc/{name}/exe") == str(exe):
                    found.append(int(name))
            except OSError:
                pass
    return found
