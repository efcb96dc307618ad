"""``qsub``/``qrsh`` ``-w e|w|n|v|p`` on a real cluster, each answer compared with Son of Grid
Engine 8.1.9's (tests/reference/sge-8.1.9/q*_w_*.txt, the host and job ids put in place)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusterlib import Cluster

REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "sge-8.1.9"


def sge(name: str, host: str, *job_ids: int) -> str:
    """SGE's capture with its host ("vm") and job ids replaced by ours, in order."""
    text = REFERENCE.joinpath(f"{name}.txt").read_text().replace('host "vm"', f'host "{host}"')
    ids = iter(job_ids)
    return re.sub(r"(?<=Job )\d+|(?<=Your job )\d+", lambda _m: str(next(ids)), text)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("verify") / "cell", hosts=["node1"], slots=2)
    c.start()
    yield c
    c.stop()


def _held(cluster: Cluster) -> int:
    out = cluster.run("qsub", "-terse", "-h", "-b", "y", "/bin/true", check=True)
    return int(out.stdout.strip())


def test_w_v_and_w_e_refuse_with_sge_words_and_consume_an_id(cluster: Cluster) -> None:
    before = _held(cluster)
    found = cluster.run("qsub", "-w", "v", "-b", "y", "/bin/true")
    assert (found.returncode, found.stdout) == (0, sge("qsub_w_v_found", "node1"))
    never = cluster.run("qsub", "-w", "v", "-l", "arch=nosuch", "-b", "y", "/bin/true")
    assert (never.returncode, never.stdout) == (1, "")
    assert never.stderr == sge("qsub_w_v_arch", "node1", before + 2)
    refused = cluster.run("qsub", "-w", "e", "-l", "arch=nosuch", "-b", "y", "/bin/true")
    assert (refused.returncode, refused.stderr) == (1, sge("qsub_w_e_arch", "node1"))
    poked = cluster.run("qsub", "-w", "p", "-b", "y", "/bin/true")
    assert (poked.returncode, poked.stdout) == (0, sge("qsub_w_v_found", "node1"))
    held = cluster.run("qsub", "-w", "v", "-h", "-b", "y", "/bin/true")  # a hold changes nothing
    assert (held.returncode, held.stdout) == (0, sge("qsub_w_v_held", "node1"))
    after = _held(cluster)
    assert after == before + 6  # as in Grid Engine, each verified or refused job used its number
    assert {job.job_id for job in cluster.jobs()} >= {before, after}
    assert not {before + 1, before + 2, before + 3, before + 4} & {job.job_id for job in cluster.jobs()}
    cluster.run("qdel", str(before), str(after), check=True)


def test_w_w_warns_and_submits_w_n_does_not_check(cluster: Cluster) -> None:
    warned = cluster.run("qsub", "-h", "-N", "true", "-w", "w", "-l", "arch=nosuch", "-b", "y", "/bin/true")
    job_id = int(warned.stdout.split("Your job ")[1].split()[0])
    assert (warned.returncode, warned.stdout) == (0, sge("qsub_w_w_arch", "node1", job_id))
    terse = cluster.run("qsub", "-terse", "-h", "-w", "w", "-l", "arch=nosuch", "-b", "y", "/bin/true")
    assert terse.stdout == f"{job_id + 1}\n"  # -terse: the id alone, as Grid Engine prints it
    plain = cluster.run("qsub", "-h", "-w", "n", "-l", "arch=nosuch", "-b", "y", "/bin/true")
    assert plain.returncode == 0 and "warning" not in plain.stdout
    cluster.run("qdel", str(job_id), str(job_id + 1), str(job_id + 2), check=True)


def test_qrsh_w_v_answers_without_qsub_framing(cluster: Cluster) -> None:
    def qrsh(*args: str) -> subprocess.CompletedProcess[str]:
        return cluster.run("qrsh", *args)
    base = _held(cluster)
    found = qrsh("-w", "v", "/bin/true")
    assert (found.returncode, found.stdout) == (0, sge("qsub_w_v_found", "node1"))
    never = qrsh("-w", "v", "-l", "arch=nosuch", "/bin/true")
    assert (never.returncode, never.stderr) == (1, sge("qrsh_w_v_arch", "node1", base + 2))
    cluster.run("qdel", str(base), check=True)


# qsub -verify's values that come from who submits where (SGE's capture: sgeuser on "vm")
_SUBMITTER_FIELDS = ("sge_o_home", "sge_o_log_name", "sge_o_path", "sge_o_shell", "sge_o_workdir",
                     "sge_o_host", "mail_list", "env_list")


def _submitter_blind(text: str) -> list[str]:
    return [line.split(":")[0] if line.split(":")[0] in _SUBMITTER_FIELDS else line for line in text.splitlines()]


def test_verify_lists_the_would_be_job_as_sge_does_and_submits_nothing(cluster: Cluster) -> None:
    before = {job.job_id for job in cluster.jobs()}
    args = ["-verify", "-b", "y", "-q", "all.q", "-r", "y", "-S", "/bin/sh", "-t", "1-3", "-pe", "smp", "2",
            "-P", "x", "/bin/echo", "hi"]
    shown = cluster.run("qsub", *args)
    assert shown.returncode == 0, shown.stderr
    assert _submitter_blind(shown.stdout) == _submitter_blind(REFERENCE.joinpath("qsub_verify.txt").read_text())
    assert {job.job_id for job in cluster.jobs()} == before
    next_id = _held(cluster)
    cluster.run("qdel", str(next_id), check=True)
    assert next_id not in before and "Your job" not in shown.stdout
