"""Service mode: jobs run as their owners; identities come from the kernel or a signed
credential, never from what a client says."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusterlib import Cluster, wait_until


@pytest.fixture
def service(qsys_root: Path, users: tuple[str, str]) -> Iterator[Cluster]:
    with Cluster(qsys_root / "cell", hosts=["node1"], slots=4, mode="service") as c:
        yield c


def _submit_as(cluster: Cluster, user: str, *args: str) -> int:
    proc = cluster.run("qsub", "-terse", *args, user=user, cwd="/tmp")
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip())


def test_job_runs_as_its_owner(service: Cluster, users: tuple[str, str]) -> None:
    alice = users[0]
    home = Path(pwd.getpwnam(alice).pw_dir)
    for old in home.glob("whoami.o*"):  # output files are appended to, as in Grid Engine
        old.unlink()
    job_id = _submit_as(service, alice, "-N", "whoami", "-b", "y", "/bin/sh", "-c", "id -un; id -u; echo $HOME")
    wait_until(lambda: not service.jobs(), 30, "the job to end")
    out = home / f"whoami.o{job_id}"
    assert out.read_text().split() == [alice, str(pwd.getpwnam(alice).pw_uid), str(home)]
    assert out.stat().st_uid == pwd.getpwnam(alice).pw_uid
    out.unlink()


def test_user_cannot_delete_another_users_job(service: Cluster, users: tuple[str, str]) -> None:
    alice, bob = users
    job_id = _submit_as(service, alice, "-h", "-b", "y", "/bin/true")
    refused = service.run("qdel", str(job_id), user=bob)
    assert refused.returncode == 1
    assert refused.stdout == f'{bob} - you do not have the necessary privileges to delete the job "{job_id}"\n'
    assert [r.job_id for r in service.jobs()] == [job_id]
    ok = service.run("qdel", str(job_id), user=alice)
    assert ok.returncode == 0 and ok.stdout == f"{alice} has deleted job {job_id}\n"


_FORGER = textwrap.dedent("""
    import socket, sys
    from qsys import protocol
    from qsys.paths import Cell
    victim_uid, victim, job, transport, port = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    cell = Cell.current()
    if transport == "unix":
        s = socket.socket(socket.AF_UNIX); s.connect(str(cell.master_socket))
    else:
        s = socket.create_connection(("127.0.0.1", port))
    ch = protocol.recv_sync(s)
    forged = {"uid": victim_uid, "user": victim, "host": "node1", "sig": b"x" * 32}
    protocol.send_sync(s, protocol.Hello(credential=forged, client=victim))
    reply = protocol.recv_sync(s)
    if isinstance(reply, protocol.Fail):
        print("HELLO-REFUSED", reply.message); sys.exit(0)
    protocol.send_sync(s, protocol.JobAction("delete", [job]))
    print("ACTION", protocol.recv_sync(s))
""")


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_a_client_cannot_claim_another_identity(service: Cluster, users: tuple[str, str], transport: str) -> None:
    alice, bob = users
    job_id = _submit_as(service, alice, "-h", "-b", "y", "/bin/true")
    port = service.cell.bootstrap()["master_port"]
    argv = [sys.executable, "-c", _FORGER, str(pwd.getpwnam(alice).pw_uid), alice, str(job_id), transport, port]
    proc = subprocess.run(service._as_user(argv, bob), env=service.env, capture_output=True, text=True, cwd="/tmp")
    assert proc.returncode == 0, proc.stderr
    if transport == "tcp":
        assert proc.stdout.startswith("HELLO-REFUSED"), proc.stdout
    else:
        assert "you do not have the necessary privileges" in proc.stdout and bob in proc.stdout, proc.stdout
    assert [r.job_id for r in service.jobs()] == [job_id], "the job must survive"


def test_root_jobs_do_not_run_as_root(service: Cluster) -> None:
    assert os.geteuid() == 0
    job_id = int(service.run("qsub", "-terse", "-o", "/dev/null", "-b", "y", "/bin/true", user="root").stdout)
    wait_until(lambda: any(r.job_id == job_id and r.state == "Eqw" for r in service.jobs()), 30,
               "the root job to be refused")
    detail = service.run("qstat", "-j", str(job_id), user="root").stdout
    assert "min_uid" in detail or "root" in detail
