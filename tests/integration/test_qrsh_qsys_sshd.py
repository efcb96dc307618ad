"""The qsys-sshd method: the per-job SSH daemon (asyncssh) and the stock OpenSSH client, on
personal clusters of root and of an ordinary user and on a service-mode cluster. What the
builtin method covers (tests/integration/test_qrsh_builtin.py) holds here too: exit codes and
signals, stdin and its EOF, separate stderr, a pty with window size changes, Ctrl-C, qlogin,
qdel, X11, the job's environment; plus the job's group ID on every process of the session,
a refused wrong key, and the daemon running as the job's user."""

from __future__ import annotations

import os
import pwd
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from execd.startup import descendants
from qsys.jobspec import JobSpec
from qsys.startup import session
from tests.clusterlib import BIN, Cluster, listening_addresses, wait_until
from tests.integration.test_qrsh_x11 import xserver  # noqa: F401 - a fixture
from tests.integration.test_session_usage import HIGH, LOW, _groups, _pids
from tests.startuplib import QSYS_SSHD_CONF, check_pty_login, start_with_conf

PROMPT = r"[#$] "


@pytest.fixture
def sshd_cluster(request: pytest.FixtureRequest, qsys_root: Path,
                 users: tuple[str, str]) -> Iterator[tuple[Cluster, str | None]]:
    """A one-host cluster with every method on qsys-sshd: ``root`` (personal, root),
    ``user`` (the personal cluster of an ordinary user) or ``service`` (root daemons, the
    sessions of an ordinary user). Yields (cluster, the user who runs qrsh or None: root)."""
    kind = getattr(request, "param", "root")
    user = users[0] if kind in ("user", "service") else None
    cluster = Cluster(qsys_root / "cell", hosts=["node1"], slots=4, mode="service" if kind == "service" else "personal",
                      user=user if kind == "user" else None)
    try:
        start_with_conf(cluster, dict(QSYS_SSHD_CONF))
        yield cluster, user
    finally:
        cluster.__exit__(None, None, None)


ALL = pytest.mark.parametrize("sshd_cluster", ["root", "user", "service"], indirect=True)
SERVICE = pytest.mark.parametrize("sshd_cluster", ["service"], indirect=True)


def spawn(cluster: Cluster, user: str | None, *argv: str, rows: int = 24, cols: int = 80) -> pexpect.spawn:
    env = cluster.env
    env["TERM"] = "xterm"
    full = cluster._as_user([str(BIN / argv[0]), *argv[1:]], user)
    return pexpect.spawn(full[0], full[1:], env=env, cwd="/tmp", timeout=30, dimensions=(rows, cols),
                         encoding="utf-8", codec_errors="replace")


@ALL
def test_exit_code_stdin_stderr_and_signals(sshd_cluster: tuple[Cluster, str | None]) -> None:
    cluster, user = sshd_cluster
    proc = cluster.run("qrsh", "tr a-z A-Z; echo err >&2; exit 7", input=b"hello\nworld\n", user=user)
    assert (proc.returncode, proc.stdout, proc.stderr) == (7, "HELLO\nWORLD\n", "err\n")
    proc = cluster.run("qrsh", "-nostdin", "cat; echo done", input=b"ignored\n", user=user)
    assert (proc.returncode, proc.stdout) == (0, "done\n"), proc.stderr
    proc = cluster.run("qrsh", "-noshell", "/bin/sh", "-c", "kill -TERM $$", user=user)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    proc = cluster.run("qrsh", "-noshell", "printf", "[%s]", "a b", "c", user=user)
    assert proc.stdout == "[a b][c]"
    proc = cluster.run("qrsh", "id -un", user=user)
    assert proc.stdout.strip() == (user or "root")


@ALL
def test_login_shell_with_pty_and_window_size(sshd_cluster: tuple[Cluster, str | None]) -> None:
    cluster, user = sshd_cluster
    check_pty_login(spawn(cluster, user, "qrsh", rows=30, cols=100))


@SERVICE
def test_qlogin_runs_a_login_shell(sshd_cluster: tuple[Cluster, str | None]) -> None:
    cluster, user = sshd_cluster
    child = spawn(cluster, user, "qlogin")
    child.expect(r'Your job (\d+) \("QLOGIN"\) has been submitted')
    child.expect("Establishing /usr/bin/ssh session to host node1")
    child.expect(PROMPT)
    child.sendline("echo NAME=$JOB_NAME SCRIPT=$JOB_SCRIPT USER=$(id -un); exit 3")
    child.expect(f"NAME=QLOGIN SCRIPT=QLOGIN USER={user}")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3


def test_ctrl_c(sshd_cluster: tuple[Cluster, str | None]) -> None:
    """With a pty Ctrl-C is the remote terminal's interrupt; without one ssh ends, and the
    daemon hangs the session up."""
    cluster, _ = sshd_cluster
    script = "trap 'echo GOT-INT; exit 9' INT; echo READY; while :; do sleep 0.05; done"
    child = spawn(cluster, None, "qrsh", "-pty", "y", script)
    child.expect("READY")
    child.sendintr()
    child.expect("GOT-INT")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 9
    child = spawn(cluster, None, "qrsh", "-pty", "n", script)
    child.expect("READY")
    wait_until(lambda: [j for j in cluster.jobs() if j.state == "r"], 20, "the session to run")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus != 0
    cluster.wait_idle(30)


def test_environment_is_the_builtin_one(sshd_cluster: tuple[Cluster, str | None], tmp_path: Path) -> None:
    cluster, _ = sshd_cluster
    sshd = _env(cluster.run("qrsh", "-N", "probe", "env", check=True).stdout)
    conf = cluster.run("qconf", "-sconf", check=True).stdout
    builtin_conf = re.sub(r"^((?:rsh|rlogin|qlogin)_(?:command|daemon))\s+.*$", r"\1 builtin", conf, flags=re.M)
    (tmp_path / "global").write_text(builtin_conf)
    cluster.run("qconf", "-Mconf", str(tmp_path / "global"), check=True)
    builtin = _env(cluster.run("qrsh", "-N", "probe", "env", check=True).stdout)
    assert sorted(sshd) == sorted(builtin)
    varying = {"JOB_ID", "QRSH_PORT", "TMPDIR", "TMP", "PATH", "SGE_JOB_SPOOL_DIR", "QSYS_ADD_GRP_ID"}
    assert {k: v for k, v in sshd.items() if k not in varying} == {k: v for k, v in builtin.items() if k not in varying}
    assert sshd["JOB_SCRIPT"] == "QRSH" and sshd["QRSH_COMMAND"] == "env" and sshd["JOB_NAME"] == "probe"
    assert sshd["PATH"].split(":")[0] == sshd["TMPDIR"]


def _env(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


@SERVICE
def test_every_process_carries_the_group_and_qdel_ends_them(sshd_cluster: tuple[Cluster, str | None]) -> None:
    cluster, user = sshd_cluster
    assert user is not None
    marker = f"qsys-sshd-{os.getpid()}"
    log = cluster.root / "execd-node1.out"
    wait_until(lambda: "forkserver preload execd.sshd: ok" in log.read_text(), 30, "the forkserver to preload qsys-sshd")
    argv = cluster._as_user([str(BIN / "qrsh"), f"(setsid bash -c 'exec -a {marker}-orphan sleep 300' &); "
                                                f"exec -a {marker} sleep 300"], user)
    proc = subprocess.Popen(argv, env=cluster.env, cwd="/tmp", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until(lambda: _pids(marker) and _pids(f"{marker}-orphan"), 30, "the remote sleeps to run")
    [job] = cluster.jobs()
    shepherd = int((cluster.cell.execd_spool("node1") / "active_jobs" / f"{job.job_id}.1" / "shepherd.pid")
                   .read_text().split()[0])
    tree = descendants(shepherd)
    daemon = [pid for pid in tree if Path(f"/proc/{pid}/comm").read_text().strip() == "qsys-sshd"]
    assert len(daemon) == 1, [(_cmdline(p)) for p in tree]
    assert "execd.forkserver" in _cmdline(daemon[0]), "forked ready from the preloaded forkserver"
    assert _status(daemon[0], "Uid").split()[0] == str(pwd.getpwnam(user).pw_uid), "the daemon runs as the user"
    session = [*tree, *_pids(f"{marker}-orphan")]
    assert len(session) >= 3
    gids = {pid: set(_groups(pid)) for pid in session}
    [extra] = {g for g in gids[daemon[0]] if LOW <= g <= HIGH}
    assert all(extra in groups for groups in gids.values()), gids
    cluster.run("qdel", str(job.job_id), check=True)
    proc.wait(30)
    cluster.wait_idle(30)
    wait_until(lambda: not _pids(marker) and not _pids(f"{marker}-orphan"), 20, "the session's processes to end")


def test_the_session_port_listens_only_where_its_client_comes_from(sshd_cluster: tuple[Cluster, str | None]) -> None:
    """A daemon method's per-job port, like builtin's, is bound to the address facing the
    client's host (loopback here), not to every address of the exec host."""
    cluster, _ = sshd_cluster
    spec = JobSpec(command="true", binary=True, job_type="qrsh", name="bound", now=True)
    with cluster.client() as client:
        grant = session.wait(client, session.submit(client, spec).job_id)
    try:
        assert grant.daemon == "qsys-sshd"
        assert grant.addresses == ["127.0.0.1"]
        assert listening_addresses(grant.port) == ["0100007F"]
    finally:
        cluster.run("qdel", str(grant.job_id), check=True)
    cluster.wait_idle(30)


def test_a_wrong_key_or_user_is_refused(sshd_cluster: tuple[Cluster, str | None], tmp_path: Path) -> None:
    from qsys.jobspec import JobSpec
    from qsys.remote import sshkeys
    from qsys.startup import session, sshclient

    cluster, _ = sshd_cluster
    wrong = tmp_path / "wrong"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)], check=True)

    def attempt(key: Path | None, extra: str) -> subprocess.CompletedProcess[str]:
        spec = JobSpec(command="echo", args=["in"], binary=True, job_type="qrsh", name="echo", now=True)
        with cluster.client() as client:
            grant = session.wait(client, session.submit(client, spec).job_id)
        good = tmp_path / "good"
        good.write_bytes(sshkeys.private_openssh(grant.token, sshkeys.CLIENT_LABEL))
        good.chmod(0o600)
        known = tmp_path / "known_hosts"
        known.write_text(sshkeys.known_hosts_line(grant.token))
        argv = sshclient.ssh_argv(f"/usr/bin/ssh {extra}", "rsh", grant.addresses[-1], grant.port,
                                  str(key or good), str(known), ["echo", "in"])
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)

    assert attempt(None, "").stdout == "in\n"
    for key, extra in ((wrong, ""), (None, "-l nobody")):
        proc = attempt(key, extra)
        assert proc.returncode == 255 and "Permission denied" in proc.stderr, proc.stderr
        cluster.wait_idle(30)  # one connection: the refused session ends its job


def test_x_program_reaches_the_local_display(sshd_cluster: tuple[Cluster, str | None],
                                             xserver: dict[str, str]) -> None:  # noqa: F811
    cluster, _ = sshd_cluster
    proc = cluster.run("qrsh", "-X", "echo $DISPLAY; xdpyinfo | grep -c 'screen #0'", env=xserver)
    assert proc.returncode == 0, proc.stderr
    display, screens = proc.stdout.split()
    assert display.startswith("localhost:") and screens == "1"
    proc = cluster.run("qrsh", "echo [$DISPLAY]", env=xserver)
    assert proc.stdout == "[]\n"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _status(pid: int, key: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return line.split(":", 1)[1].strip()
    return ""


@pytest.mark.parametrize("start", ["exec", "forked"])
def test_the_daemon_started_both_ways(start: str, tmp_path: Path) -> None:
    """Exec'ed as a new interpreter, or forked ready (a preloading forkserver), the daemon
    serves the session the same: the connection on stdin/stdout, the plan on fd 3."""
    import json
    import sys

    from execd import sshd
    from execd.startup import open_listener, spawn_daemon
    from qsys.remote import sshkeys
    from qsys.startup import sshclient
    from tests.startuplib import REPO

    token = f"token-{start}"
    key, known = tmp_path / "key", tmp_path / "known_hosts"
    key.write_bytes(sshkeys.private_openssh(token, sshkeys.CLIENT_LABEL))
    key.chmod(0o600)
    known.write_text(sshkeys.known_hosts_line(token))
    plan = {"job": "7.1", "token": token, "users": [pwd.getpwuid(os.getuid()).pw_name], "env": {"PATH": "/usr/bin:/bin"},
            "cwd": str(tmp_path), "exe": "/bin/sh", "argv": ["/bin/sh", "-c", "pwd; cat; exit 6"], "search": False,
            "shell": "/bin/sh", "has_command": True, "xauthority": str(tmp_path / "xauth")}
    plan_fd = os.memfd_create("plan")
    os.write(plan_fd, json.dumps(plan).encode())
    os.lseek(plan_fd, 0, os.SEEK_SET)
    listener = open_listener()
    port = listener.getsockname()[1]
    argv = sshclient.ssh_argv("/usr/bin/ssh", "rsh", "127.0.0.1", port, str(key), str(known), ["ignored"])
    client = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    conn, _ = listener.accept()
    listener.close()
    daemon_argv = [sys.executable, "-s", "-m", "execd.sshd"]
    run = (lambda: sshd.main([])) if start == "forked" else None
    pid = spawn_daemon(conn, daemon_argv, {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}, None,
                       plan_fd=plan_fd, run=run)
    conn.close()
    os.close(plan_fd)
    out, err = client.communicate(b"through stdin\n", timeout=60)
    _, status = os.waitpid(pid, 0)
    assert (client.returncode, out) == (6, f"{tmp_path}\nthrough stdin\n".encode()), err
    assert os.waitstatus_to_exitcode(status) == 6  # the daemon ends as the program did
