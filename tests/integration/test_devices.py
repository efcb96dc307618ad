"""Device resources (RSMAP) on a real cluster: a complex whose host value lists ids, granted
to jobs one by one, exported as SGE_HGR_<name> and CUDA_VISIBLE_DEVICES (batch jobs and
qrsh), shown by qstat -j and qhost -F, and never granted twice. No GPU is needed: the ids
are what matters."""

from __future__ import annotations

import json
from pathlib import Path

from qsys import acct
from tests.clusterlib import Cluster, wait_until

GPU_LINE = "gpu                 gpu        RSMAP       <=    YES         YES        0        0\n"


def _qconf(cluster: Cluster, *args: str) -> str:
    proc = cluster.run("qconf", *args)
    assert proc.returncode == 0, f"qconf {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def _state(cluster: Cluster, job: int) -> str:
    return next((row.state for row in cluster.jobs() if row.job_id == job), "")


def test_gpu_ids_are_granted_once_each_and_exported_to_the_job(cluster: Cluster, qsys_root: Path) -> None:
    table = _qconf(cluster, "-sc")
    (qsys_root / "complexes").write_text(table.replace("#---", GPU_LINE + "#---", 1)
                                         if "#---" in table else table + GPU_LINE)
    _qconf(cluster, "-Mc", str(qsys_root / "complexes"))
    _qconf(cluster, "-mattr", "exechost", "complex_values", "gpu=2(0 1)", "node1")
    work = qsys_root / "work"
    work.mkdir()
    work.chmod(0o777)
    jobs = []
    for i in range(3):
        out = cluster.run("qsub", "-terse", "-l", "gpu=1", "-o", "/dev/null", "-j", "y", "-b", "y", "/bin/sh", "-c",
                          f'echo "$SGE_HGR_gpu|$CUDA_VISIBLE_DEVICES" > {work}/{i}.tmp && mv {work}/{i}.tmp '
                          f"{work}/{i}; while [ ! -e {work}/go ]; do sleep 0.2; done", check=True)
        jobs.append(int(out.stdout))
    wait_until(lambda: (work / "0").exists() and (work / "1").exists(), 60, "two gpu jobs started")
    seen = sorted((work / f"{i}").read_text().strip() for i in range(2))
    assert seen == ["0|0", "1|1"]
    assert _state(cluster, jobs[2]) == "qw" and not (work / "2").exists()  # both ids are taken
    detail = cluster.run("qstat", "-j", str(jobs[0])).stdout
    assert any(line.startswith("resource map    1:") and "gpu=node1=(" in line for line in detail.splitlines())
    hosts = cluster.run("qhost", "-F").stdout
    assert "   hc:gpu=0" in hosts.splitlines(), hosts
    assert "<resourcevalue name='gpu' dominance='hc'>0</resourcevalue>" in cluster.run("qhost", "-F", "-xml").stdout
    (work / "go").touch()
    wait_until(lambda: (work / "2").exists(), 60, "the third job on a freed id")
    assert (work / "2").read_text().strip() in ("0|0", "1|1")
    cluster.wait_idle()
    free = cluster.run("qhost", "-F").stdout
    assert "   hc:gpu=2(0 1)" in free.splitlines(), free
    # accounting: Grid Engine's line has no field for the ids; qacct -j --json has them
    granted = (work / "0").read_text().strip().split("|")[0]
    accounted = json.loads(cluster.run("qacct", "-j", str(jobs[0]), "--json", check=True).stdout)
    assert [r.get("devices") for r in accounted] == [f"gpu=node1=({granted})"], accounted
    assert "gpu=node1" not in cluster.run("qacct", "-j", str(jobs[0]), check=True).stdout
    with cluster.client() as client:  # what qacct on a joined host (no files of its own) reads
        remote = acct.devices_joined(acct.records_of(client.accounting_lines()),
                                     acct.granted_devices(client.accounting_lines(devices=True)))
        assert [r.get("devices") for r in remote if r["job_number"] == jobs[0]] == [f"gpu=node1=({granted})"]
    session = cluster.run("qrsh", "-l", "gpu=1", 'echo "$SGE_HGR_gpu|$CUDA_VISIBLE_DEVICES"')
    assert session.returncode == 0 and session.stdout.strip() in ("0|0", "1|1"), session
