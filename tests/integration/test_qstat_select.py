"""qstat -q and -l select queue instances and the jobs shown with them, as Son of Grid Engine
8.1.9 does (compared by hand on its cell: queues all.q and pzq.q, jobs with and without -q
and -l requests): a running job shows with the queue it runs in, a pending job with every
queue it could in principle run in (a full queue still counts), nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from tests.clusterlib import Cluster, wait_until


def _submit(cluster: Cluster, *args: str) -> int:
    proc = cluster.run("qsub", "-terse", "-o", "/dev/null", "-j", "y", *args)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout)


def _listed(cluster: Cluster, *args: str) -> list[int]:
    proc = cluster.run("qstat", *args)
    assert proc.returncode == 0, (args, proc.stderr)
    return [int(line.split()[0]) for line in proc.stdout.splitlines() if re.match(r" *\d+ ", line)]


def test_queues_and_resources_select_what_qstat_shows(cluster: Cluster, tmp_path: Path) -> None:
    queue = tmp_path / "pzq"
    text = cluster.run("qconf", "-sq", "all.q", check=True).stdout
    queue.write_text(re.sub(r"^slots .*$", "slots 1", re.sub(r"^qname .*$", "qname pzq.q", text, flags=re.M),
                            flags=re.M))
    cluster.run("qconf", "-Aq", str(queue), check=True)
    in_pzq = _submit(cluster, "-q", "pzq.q", "-b", "y", "sleep", "600")
    in_all = _submit(cluster, "-q", "all.q", "-b", "y", "sleep", "600")
    wait_until(lambda: {r.job_id: r.state for r in cluster.jobs()} == {in_pzq: "r", in_all: "r"}, 60,
               "both jobs to run")
    only_all = _submit(cluster, "-h", "-q", "all.q", "-b", "y", "/bin/true")
    never = _submit(cluster, "-h", "-l", "arch=nonesuch", "-b", "y", "/bin/true")
    anywhere = _submit(cluster, "-h", "-b", "y", "/bin/true")
    try:
        assert _listed(cluster) == [in_pzq, in_all, only_all, never, anywhere]
        assert _listed(cluster, "-q", "pzq.q") == [in_pzq, anywhere]  # pzq.q is full: pending jobs still show
        assert _listed(cluster, "-q", "all.q@*") == [in_all, only_all, anywhere]
        assert _listed(cluster, "-l", "arch=lx-amd64") == [in_pzq, in_all, only_all, anywhere]
        assert _listed(cluster, "-l", "arch=lx-amd64", "-q", "pzq.q") == [in_pzq, anywhere]
        assert _listed(cluster, "-l", "arch=solaris") == []
        full = cluster.run("qstat", "-f", "-q", "pzq.q").stdout
        assert re.findall(r"^(\S+@\S+) ", full, re.M) == ["pzq.q@node1"], full
        assert [int(n) for n in re.findall(r"^ +(\d+) ", full, re.M)] == [in_pzq, anywhere]
        for args in (["-q", "nope.q"], ["-l", "nonesuch=1"]):  # as SGE's qstat: no output, exit status 1
            proc = cluster.run("qstat", *args)
            assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", ""), args
    finally:
        cluster.run("qdel", str(in_pzq), str(in_all))
