"""qrsh/qlogin through the builtin method on both ends, against a real cluster."""

from __future__ import annotations

import os
import signal
import socket
import subprocess

import pexpect
import pytest

from qsys import protocol
from qsys.remote import wire
from qsys.startup import builtin
from tests.clusterlib import BIN, Cluster, wait_until
from tests.startuplib import check_pty_login

PROMPT = r"[#$] "


def spawn(cluster: Cluster, *argv: str, rows: int = 24, cols: int = 80) -> pexpect.spawn:
    env = cluster.env
    env["TERM"] = "xterm"
    env["PS1"] = "PROMPT$ "
    return pexpect.spawn(str(BIN / argv[0]), list(argv[1:]), env=env, cwd="/tmp", timeout=20,
                         dimensions=(rows, cols), encoding="utf-8", codec_errors="replace")


def test_command_exit_status_and_separate_stderr(cluster: Cluster) -> None:
    proc = cluster.run("qrsh", "echo out; echo err >&2; exit 7")
    assert (proc.returncode, proc.stdout, proc.stderr) == (7, "out\n", "err\n")


def test_stdin_reaches_the_command_and_ends(cluster: Cluster) -> None:
    proc = cluster.run("qrsh", "tr a-z A-Z", input=b"hello\nworld\n")
    assert (proc.returncode, proc.stdout) == (0, "HELLO\nWORLD\n")
    proc = cluster.run("qrsh", "-nostdin", "cat; echo done", input=b"ignored\n")
    assert proc.stdout == "done\n"


def test_signal_exit_and_noshell_arguments(cluster: Cluster) -> None:
    proc = cluster.run("qrsh", "-noshell", "/bin/sh", "-c", "kill -TERM $$")
    assert proc.returncode == 128 + signal.SIGTERM
    proc = cluster.run("qrsh", "-noshell", "printf", "[%s]", "a b", "c")
    assert proc.stdout == "[a b][c]"


def test_session_environment_and_job_name(cluster: Cluster) -> None:
    proc = cluster.run("qrsh", "-N", "renamed", "env")
    env = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    assert env["JOB_NAME"] == "renamed" and env["JOB_SCRIPT"] == "QRSH"
    assert env["QRSH_COMMAND"] == "env" and env["QRSH_PORT"].startswith("node1:")
    assert env["JOB_ID"].isdigit() and env["TMPDIR"] == env["PATH"].split(":")[0]
    assert env["SGE_STDOUT_PATH"] == "/dev/null"
    proc = cluster.run("qrsh", "-v", "QTEST=42", "echo $QTEST $JOB_NAME")
    assert proc.stdout == "42 echo\n"
    proc = cluster.run("qrsh", "-cwd", "pwd", cwd="/usr")
    assert proc.stdout == "/usr\n"


def test_login_shell_with_pty_and_window_size(cluster: Cluster) -> None:
    check_pty_login(spawn(cluster, "qrsh", rows=30, cols=100))


def test_qlogin_announces_and_runs_a_login_shell(cluster: Cluster) -> None:
    child = spawn(cluster, "qlogin")
    child.expect(r'Your job (\d+) \("QLOGIN"\) has been submitted')
    child.expect("waiting for interactive job to be scheduled")
    child.expect(r"Your interactive job \d+ has been successfully scheduled.")
    child.expect("Establishing builtin session to host node1")
    child.expect(PROMPT)
    child.sendline("echo NAME=$JOB_NAME; exit")
    child.expect("NAME=QLOGIN")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_ctrl_c_reaches_the_remote_program(cluster: Cluster) -> None:
    script = "trap 'echo GOT-INT; exit 9' INT; echo READY; while :; do sleep 0.05; done"
    for pty in ("y", "n"):
        child = spawn(cluster, "qrsh", "-pty", pty, script)
        child.expect("READY")
        child.sendintr()
        child.expect("GOT-INT")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 9, pty


def test_qdel_ends_a_running_session_and_qstat_shows_it(cluster: Cluster) -> None:
    proc = subprocess.Popen([str(BIN / "qrsh"), "sleep 300"], env=cluster.env, cwd="/tmp",
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    jobs = wait_until(lambda: [j for j in cluster.jobs() if j.state == "r"], 20, "the session to run")
    assert jobs[0].name == "sleep"
    qstat = cluster.run("qstat")
    assert " sleep " in qstat.stdout and " r " in qstat.stdout
    cluster.run("qdel", str(jobs[0].job_id), check=True)
    assert proc.wait(20) == 128 + signal.SIGKILL
    cluster.wait_idle(20)
    path = cluster.cell.accounting_file
    wait_until(lambda: path.exists() and f":{jobs[0].job_id}:" in path.read_text(), 10, "the accounting record")
    acct = path.read_text().splitlines()
    assert any(f":{jobs[0].job_id}:" in line and ":sleep:" in line for line in acct)


def test_port_refuses_a_connection_without_the_token(cluster: Cluster) -> None:
    from qsys.jobspec import JobSpec
    from qsys.startup import session

    spec = JobSpec(command="echo", args=["granted"], binary=True, job_type="qrsh", name="echo", now=True)
    with cluster.client() as client:
        job = session.submit(client, spec)
        grant = session.wait(client, job.job_id)
    addresses = list(grant.addresses)
    intruder = builtin.connect(addresses, grant.port)
    intruder.sendall(wire.control(wire.HELLO, {"token": "guessed", "pty": False}))
    answer = intruder.recv(4096)
    assert answer[0] == wire.REFUSE and b"token" in answer
    intruder.close()
    builtin.connect(addresses, grant.port).close()  # no hello at all
    out_r, out_w = os.pipe()
    sock = builtin.connect(addresses, grant.port)
    builtin.handshake(sock, grant.token, False, 0)
    code = builtin.Client(sock, pty=False, nostdin=True, stdout_fd=out_w).run()
    os.close(out_w)
    assert code == 0 and os.read(out_r, 100) == b"granted\n"
    audit = (cluster.cell.dir / "spool" / "node1" / "audit").read_text()
    assert "session_refuse" in audit and audit.count("no valid token") == 2  # the wrong token and the silent one


def test_now_y_refused_when_full_and_now_n_waits(cluster: Cluster) -> None:
    ids = []
    for _ in range(cluster.slots):
        out = cluster.run("qsub", "-terse", "-b", "y", "sleep", "300", check=True).stdout
        ids.append(out.strip())
    wait_until(lambda: len([j for j in cluster.jobs() if j.state == "r"]) == cluster.slots, 20,
               "batch jobs to fill the slots")
    proc = cluster.run("qrsh", "true")
    assert proc.returncode == 1
    assert proc.stderr == 'Your "qrsh" request could not be scheduled, try again later.\n'
    waiting = subprocess.Popen([str(BIN / "qrsh"), "-now", "n", "echo", "finally"], env=cluster.env, cwd="/tmp",
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: any(j.state == "qw" for j in cluster.jobs()), 20, "the session to wait")
    cluster.run("qdel", ids[0], check=True)
    out, err = waiting.communicate(timeout=30)
    assert (waiting.returncode, out) == (0, "finally\n")
    assert "waiting for interactive job to be scheduled ..." in err
    cluster.run("qdel", *ids[1:])


def test_only_the_owner_gets_the_grant(cluster: Cluster, users: tuple[str, str]) -> None:
    from qsys.errors import NotFound
    from qsys.jobspec import JobSpec
    from qsys.startup import session

    with cluster.client() as client:
        with pytest.raises(NotFound):
            client.request(protocol.SessionWait(999))
        spec = JobSpec(command="true", binary=True, job_type="qrsh", name="true", now=True)
        job_id = session.submit(client, spec).job_id
        probe = ("from qsys.client import Client; from qsys import protocol\n"
                 f"try:\n    Client().request(protocol.SessionWait({job_id}))\n"
                 "except Exception as exc:\n    print('refused:', exc)\n")
        proc = cluster.run(str(BIN / "python"), "-c", probe, user=users[0])
        assert f"refused: {users[0]} - job {job_id} is not your session" in proc.stdout, proc.stderr
        grant = session.wait(client, job_id)
        assert grant.token
        client.job_action("delete", [str(job_id)])


def test_session_port_is_tcp(cluster: Cluster) -> None:
    """The grant names a port that a plain TCP client reaches (no master in between)."""
    from qsys.jobspec import JobSpec
    from qsys.startup import session

    spec = JobSpec(command="true", binary=True, job_type="qrsh", name="true", now=True)
    with cluster.client() as client:
        grant = session.wait(client, session.submit(client, spec).job_id)
    with socket.create_connection((grant.addresses[-1], grant.port), timeout=5) as sock:
        builtin.handshake(sock, grant.token, False, 0)
        assert builtin.Client(sock, pty=False, nostdin=True).run() == 0


def test_client_hang_up_ends_the_session(cluster: Cluster) -> None:
    proc = subprocess.Popen([str(BIN / "qrsh"), "echo started; sleep 300"], env=cluster.env, cwd="/tmp",
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"started\n"
    proc.kill()
    proc.wait()
    cluster.wait_idle(30)
    acct = cluster.cell.accounting_file
    wait_until(lambda: acct.exists() and acct.read_text(), 10, "the accounting record")
    assert acct.read_text().splitlines()[-1].split(":")[4] == "echo"
