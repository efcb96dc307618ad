"""snakemake's DRMAA executor plugin runs a small workflow on a personal cluster through
libdrmaa.so, unchanged. snakemake lives in a venv of its own (``make -C drmaa snakemake``,
made here when missing: about 30 s), so its dependencies stay out of qsys's."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.clusterlib import REPO, Cluster
from tests.drmaalib import drmaa_env

SNAKEMAKE_VENV = Path(os.environ.get("QSYS_SNAKEMAKE_VENV", "/opt/qsys/snakemake"))

SNAKEFILE = """
SAMPLES = ["a", "b"]

rule all:
    input: "report.txt"

rule count:
    output: "counts/{sample}.txt"
    params: n=lambda wildcards: 3 if wildcards.sample == "a" else 4
    shell: "seq 1 {params.n} > {output} && echo $JOB_ID $RULE_NAME > {output}.job"

rule report:
    input: expand("counts/{sample}.txt", sample=SAMPLES)
    output: "report.txt"
    shell: "cat {input} | awk '{{s += $1}} END {{print s}}' > {output}"
"""


@pytest.fixture(scope="session")
def snakemake() -> Path:
    binary = SNAKEMAKE_VENV / "bin" / "snakemake"
    if not binary.exists():
        subprocess.run(["make", "-s", "-C", str(REPO / "drmaa"), "snakemake",
                        f"SNAKEMAKE_VENV={SNAKEMAKE_VENV}"], check=True, timeout=600)
    return binary


def test_snakemake_drmaa_executor_runs_a_workflow(cluster: Cluster, libdrmaa: Path, workdir: Path,
                                                  snakemake: Path) -> None:
    (workdir / "Snakefile").write_text(textwrap.dedent(SNAKEFILE))
    proc = subprocess.run(
        [str(snakemake), "--executor", "drmaa", "--jobs", "2", "--drmaa-log-dir", str(workdir / "logs"),
         "--drmaa-args=-v RULE_NAME={rule}", "--seconds-between-status-checks", "1",
         "--latency-wait", "10", "--quiet", "rules"],
        env=drmaa_env(cluster, libdrmaa), cwd=workdir, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    assert (workdir / "report.txt").read_text() == "16\n"  # 1+2+3 + 1+2+3+4
    seen = [(workdir / "counts" / f"{s}.txt.job").read_text().split() for s in ("a", "b")]
    assert [rule for _, rule in seen] == ["count", "count"]  # --drmaa-args reached the jobs
    job_ids = {job_id for job_id, _ in seen}
    assert len(job_ids) == 2 and all(j.isdigit() for j in job_ids)  # two jobs of the cluster
    logs = sorted(p.name for p in (workdir / "logs").iterdir())  # ":<log dir>": a directory
    assert sum(name.startswith("snakejob.count.") and ".o" in name for name in logs) == 2
    accounted = cluster.run("qacct", "-j", check=True).stdout
    assert accounted.count("jobname      snakejob.") == 3 and "exit_status  1" not in accounted
