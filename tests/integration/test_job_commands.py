"""A personal cluster's jobs find its own commands, even in a login shell whose profile resets
PATH (as Grid Engine starts ``-S /bin/bash`` jobs): ``$QSYS_ROOT/bin/<arch>`` (SGE_BINARY_PATH)
comes first again after the profile, and ``QSYS_ROOT`` names the cell."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusterlib import REPO, Cluster, wait_until

SCRIPT = """\
#!/bin/bash
shopt -q login_shell && echo "login shell"
echo "qsub is $(command -v qsub)"
inner=$(qsub -terse -b y -o /dev/null -j y /bin/true) && echo "inner job $inner"
qstat -u '*' > /dev/null && echo "qstat answered"
qrsh -inherit "$HOSTNAME" /bin/echo "task ran on $HOSTNAME"
"""


@pytest.fixture
def own_cluster(qsys_root: Path, users: tuple[str, str]) -> Iterator[Cluster]:
    """The personal cluster of an ordinary user."""
    with Cluster(qsys_root / "cell", hosts=["node1"], slots=4, user=users[0]) as cluster:
        yield cluster


def test_a_login_shell_job_finds_the_clusters_own_commands(own_cluster: Cluster, qsys_root: Path) -> None:
    out = qsys_root / "out"
    out.mkdir()
    os.chmod(out, 0o1777)
    (out / "job.sh").write_text(SCRIPT)
    proc = own_cluster.run("qsub", "-terse", "-S", "/bin/bash", "-pe", "make", "1", "-v", f"PYTHONPATH={REPO}",
                           "-o", str(out / "job.out"), "-j", "y", str(out / "job.sh"))
    assert proc.returncode == 0, proc.stderr
    job_id = int(proc.stdout)
    record = wait_until(lambda: (p := own_cluster.run("qacct", "-j", str(job_id))).returncode == 0 and p.stdout,
                        60, "the job's accounting record")
    text = (out / "job.out").read_text()
    assert re.search(r"^exit_status\s+0\s*$", record, re.M), text
    lines = text.splitlines()
    assert "login shell" in lines and "qstat answered" in lines and "task ran on node1" in lines, lines
    assert f"qsub is {own_cluster.root}/bin/lx-amd64/qsub" in lines, lines  # never /usr/bin/qsub
    inner = int(next(line for line in lines if line.startswith("inner job ")).split()[2])
    wait_until(lambda: own_cluster.run("qacct", "-j", str(inner)).returncode == 0, 60, "the inner job to end")
