"""A service-mode cluster on hosts of their own: ``qsys init`` on the master, ``qsys join`` with
one-time tokens on two exec hosts and a submit host, each host with its private /var/lib/qsys
(tests.hostlab): no file is shared, each host proves its own secret, the links are TLS."""

from __future__ import annotations

import os
import re
import socket
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusterlib import REPO, wait_until
from tests.hostlab import HostLab

pytestmark = pytest.mark.root
COMMON = "/var/lib/qsys/default/common"


@pytest.fixture(scope="module")
def lab(users: tuple[str, str]) -> Iterator[HostLab]:
    tmp = Path(tempfile.mkdtemp(prefix="qsys-lab-", dir="/tmp"))
    with HostLab(["head", "node1", "node2", "login1"], tmp) as lab:
        for host in lab.hosts.values():  # make install's last step (the venv itself is the machine's)
            host.run("/opt/qsys/venv/bin/python -m qsys.install", check=True)
        lab["head"].run("qsys init", check=True)
        for name, options in (("node1", "--host 'node*'"), ("node2", "--host 'node*'"), ("login1", "--host login1")):
            token = lab["head"].run(f"qsys token create {options} --ttl 10m", check=True).stdout.strip()
            lab.notes[name] = token
            submit = " --submit-only" if name == "login1" else ""
            lab[name].run(f"qsys join head --token {token}{submit}", check=True)
        yield lab


@pytest.fixture
def outdir(qsys_root: Path) -> Path:
    """A directory on the file system every host shares (like an NFS home), for job output."""
    path = qsys_root / "out"
    path.mkdir()
    os.chmod(path, 0o1777)
    return path


def _submit(lab: HostLab, host: str, user: str, options: str) -> int:
    proc = lab[host].run(f"qsub -terse {options}", user)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip().split(".")[0])


def _qacct(lab: HostLab, job_id: int) -> dict[str, str]:
    proc = wait_until(lambda: (p := lab["head"].run(f"qacct -j {job_id}")).returncode == 0 and p, 60,
                      f"the accounting record of job {job_id}")
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^(\w+)\s+(.*)$", proc.stdout, re.M)}


def test_jobs_run_as_their_owners_on_the_joined_hosts(lab: HostLab, users: tuple[str, str], outdir: Path) -> None:
    alice, bob = users
    jobs = {
        _submit(lab, "login1", alice, f"-q all.q@node1 -o {outdir}/a.out -j y -b y /bin/sh -c 'id -un; hostname'"):
            (alice, "node1", outdir / "a.out"),
        _submit(lab, "node2", bob, f"-q all.q@node2 -o {outdir}/b.out -j y -b y /bin/sh -c 'id -un; hostname'"):
            (bob, "node2", outdir / "b.out"),
    }
    for job_id, (user, host, out) in jobs.items():
        record = _qacct(lab, job_id)
        assert (record["owner"], record["hostname"], record["exit_status"]) == (user, host, "0")
        assert out.read_text().split() == [user, host]


def test_no_file_is_shared_between_hosts(lab: HostLab) -> None:
    head, node1, node2, login1 = (lab[h] for h in ("head", "node1", "node2", "login1"))
    for host in (node1, node2, login1):
        common = host.path(COMMON)
        assert not (common / "cluster.key").exists() and not (common / "ca.key").exists()
        assert (common / "host.secret").stat().st_mode & 0o777 == 0o600
        assert (common / "ca.pem").read_bytes() == head.path(COMMON).joinpath("ca.pem").read_bytes()
    assert not head.path(COMMON).joinpath("host.secret").exists()
    secrets = {h.name: h.path(COMMON).joinpath("host.secret").read_text() for h in (node1, node2, login1)}
    assert len(set(secrets.values())) == 3
    assert "submit" in login1.path(COMMON).joinpath("bootstrap").read_text()
    # what a joined host keeps: its identity, the master's address and the signer's socket; its
    # configuration stays on the master
    joined = {"bootstrap", "ca.pem", "host.pem", "host.key", "host.secret"}
    for host in (node1, node2, login1):
        assert {p.name for p in host.path(COMMON).iterdir()} <= joined | {"act_qmaster", "signer.sock"}, host.name
        assert joined <= {p.name for p in host.path(COMMON).iterdir()}, host.name
    units = {h.name: sorted(p.name for p in h.path("/etc/systemd/system").iterdir()) for h in (head, node1, login1)}
    assert units == {"head": ["qsys-master.service"], "node1": ["qsys-execd.service"],
                     "login1": ["qsys-authd.service"]}
    assert lab["head"].run("qconf -sel", check=True).stdout.split() == ["node1", "node2"]
    assert set(lab["head"].run("qconf -ss", check=True).stdout.split()) == {"head", "node1", "node2", "login1"}


def test_every_host_has_the_commands_on_its_path_and_the_pages_in_its_manpath(lab: HostLab,
                                                                              users: tuple[str, str]) -> None:
    for name in ("node1", "login1"):
        found = lab[name].run("command -v qsub qsys-execd; man -w qsys.8 qsub", users[0], check=True).stdout.split()
        assert found[:2] == ["/usr/local/bin/qsub", "/usr/local/bin/qsys-execd"], found
        assert [Path(p).name for p in found[2:]] == ["qsys.8", "qsub.1"]  # the links resolved


def test_root_of_a_compute_node_is_no_manager_of_the_cluster(lab: HostLab, users: tuple[str, str]) -> None:
    job_id = _submit(lab, "login1", users[0], "-h -b y /bin/true")
    refused = lab["node1"].run(f"qdel {job_id}")
    assert "root - you do not have the necessary privileges" in refused.stdout, refused.stdout + refused.stderr
    assert "must be manager" in lab["node1"].run("qsys token create").stderr
    assert "has deleted job" in lab["head"].run(f"qdel {job_id}", check=True).stdout


def test_a_used_token_is_refused(lab: HostLab) -> None:
    used = lab.notes["node1"]
    proc = lab["node2"].run(f"qsys join head --token {used} --no-start")
    assert proc.returncode != 0
    assert f"join token {used.split('.')[1]} was used already (by node1" in proc.stderr
    listed = lab["head"].run("qsys token list", check=True).stdout
    assert re.search(rf"^{used.split('.')[1]} .* used by node1 at ", listed, re.M), listed


def test_a_token_admits_only_the_hosts_it_names(lab: HostLab) -> None:
    token = lab["head"].run("qsys token create --host 'gpu*' --ttl 5m", check=True).stdout.strip()
    proc = lab["node1"].run(f"qsys join head --token {token} --no-start")
    assert proc.returncode != 0 and 'is for hosts matching "gpu*", not for "node1"' in proc.stderr
    revoked = lab["head"].run(f"qsys token revoke {token.split('.')[1]}", check=True)
    assert "revoked join token" in revoked.stdout


_CLAIM = textwrap.dedent("""
    import socket
    from qsys import auth, protocol, tls
    from qsys.paths import Cell
    cell = Cell.current()
    secret = auth.load_key(cell.host_secret)  # node1's
    def connect():
        sock = tls.wrap(socket.create_connection(("head", 7444), timeout=20),
                        tls.client_context(cell, with_certificate=True), "head")
        return sock, protocol.recv_sync(sock).nonce
    sock, nonce = connect()
    proof = auth.execd_proof(secret, nonce, "node2", tls.peer_binding(sock))
    protocol.send_sync(sock, protocol.ExecdHello("node2", proof, nonce))
    protocol.send_sync(sock, protocol.Register("node2", "lx-amd64", 1, 0, 0, {}))
    reply = protocol.recv_sync(sock)
    print("execd-as-node2", type(reply).__name__, getattr(reply, "message", ""))
    sock, replayed = connect()  # node1's own proof, made for the challenge of the connection before
    protocol.send_sync(sock, protocol.ExecdHello("node1", auth.execd_proof(secret, nonce, "node1",
                                                                           tls.peer_binding(sock)), nonce))
    reply = protocol.recv_sync(sock)
    print("replayed-proof", type(reply).__name__, getattr(reply, "message", ""))
    for claim in ("node2", "node1"):
        sock, nonce = connect()
        protocol.send_sync(sock, protocol.Hello(credential=auth.sign_credential(secret, nonce, 0, claim)))
        reply = protocol.recv_sync(sock)
        print(f"credential-as-{claim}", type(reply).__name__, getattr(reply, "message", ""))
""")


def test_a_frame_signed_with_one_hosts_secret_claiming_another_is_refused(lab: HostLab) -> None:
    """node1's secret proves node1 only, and each proof only on the connection whose challenge
    it answers: a proof replayed on a new connection is refused like a forged one."""
    out = lab["node1"].run("/opt/qsys/venv/bin/python -", check=True, input=_CLAIM).stdout.splitlines()
    assert out[0] == 'execd-as-node2 Fail exec host "node2" did not prove its secret'
    assert out[1] == 'replayed-proof Fail exec host "node1" did not prove its secret'
    assert out[2] == "credential-as-node2 Fail credential signature does not match"
    assert out[3] == "credential-as-node1 Welcome "  # the same secret, for the host it belongs to
    assert "node2" in lab["head"].run("qhost", check=True).stdout  # node2's own link was not touched


def test_tls_is_on_the_wire(lab: HostLab, users: tuple[str, str]) -> None:
    # a plain-text client never gets the master's challenge
    with socket.create_connection((lab["head"].address, 7444), timeout=20) as plain:
        plain.sendall(b"\x00\x00\x00\x05\x81\xa1t\xa1x")  # a qsys frame, not a TLS record
        answer = plain.recv(64)
    assert answer == b"" or answer[0] == 0x15, answer  # closed, or a TLS alert
    # what a command of a joined host sends first is a TLS ClientHello
    listener = socket.create_server((f"{lab.net.subnet}.1", 0))
    seen: list[bytes] = []

    def accept() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(20)
            seen.append(conn.recv(3))

    thread = threading.Thread(target=accept)
    thread.start()
    port = listener.getsockname()[1]
    lab["node1"].run("qstat", users[0], env={"QSYS_MASTER": f"{lab.net.subnet}.1:{port}"}, timeout=60)
    thread.join(30)
    listener.close()
    assert seen and seen[0][0] == 0x16 and seen[0][1] == 0x03, seen  # handshake record, TLS


def test_a_command_on_the_master_host_imports_no_ssl(lab: HostLab, users: tuple[str, str]) -> None:
    """On the head node qstat asks over the master's Unix socket and keeps its start-up budget:
    no ssl; on a joined host it goes over TCP, and TLS is imported there."""
    timed = "/opt/qsys/venv/bin/python -X importtime -m qsys.cli.qstat"
    local = lab["head"].run(timed, users[0], check=True).stderr
    remote = lab["node1"].run(timed, users[0], check=True).stderr
    imported = [{line.rsplit("|", 1)[1].strip() for line in text.splitlines() if "|" in line}
                for text in (local, remote)]
    assert "qsys.client" in imported[0] and not {"ssl", "_ssl"} & imported[0], sorted(imported[0])
    assert "ssl" in imported[1]


def test_a_hosts_configuration_reaches_it_at_once(lab: HostLab) -> None:
    head = lab["head"]
    head.run("printf 'load_report_time 00:00:07\\n' > /tmp/qsys-node1.conf", check=True)
    try:
        head.run("qconf -Aconf /tmp/qsys-node1.conf node1 || qconf -Mconf /tmp/qsys-node1.conf node1", check=True)
    finally:
        head.run("rm -f /tmp/qsys-node1.conf")
    log = lab["node1"].path("/var/lib/qsys/default/spool/node1/messages")
    wait_until(lambda: "load_report_time=00:00:07" in log.read_text(), 30, "node1 to get its new configuration")
    head.run("qconf -dconf node1", check=True)


BATCH = """\
#!/bin/bash
shopt -q login_shell && echo "login shell"
echo "qsub is $(command -v qsub)"
qsub -terse -b y -o /dev/null -j y /bin/true && echo "inner submitted"
qstat > /dev/null && echo "qstat answered"
qrsh -inherit "$HOSTNAME" /bin/echo "task ran on $HOSTNAME"
"""


def test_a_batch_script_in_a_login_shell_finds_this_clusters_commands(lab: HostLab, users: tuple[str, str],
                                                                      outdir: Path) -> None:
    """Grid Engine starts bash jobs as login shells, whose profile resets PATH: qsub, qstat and
    qrsh -inherit are found all the same, and they are this cluster's (never /usr/bin/qsub)."""
    alice = users[0]
    (outdir / "job.sh").write_text(BATCH)
    job_id = _submit(lab, "login1", alice, f"-S /bin/bash -pe make 1 -q all.q@node1 -v PYTHONPATH={REPO} "
                                           f"-o {outdir}/job.out -j y {outdir}/job.sh")
    assert _qacct(lab, job_id)["exit_status"] == "0", (outdir / "job.out").read_text()
    lines = (outdir / "job.out").read_text().splitlines()
    assert "login shell" in lines and "inner submitted" in lines and "qstat answered" in lines, lines
    assert "task ran on node1" in lines, lines
    qsub = next(line.split(" is ", 1)[1] for line in lines if line.startswith("qsub is "))
    assert qsub == "/var/lib/qsys/bin/lx-amd64/qsub", lines  # SGE_BINARY_PATH, first again after the profile


def test_qsys_down_and_up_restart_the_daemons_of_each_host(lab: HostLab) -> None:
    """Where no systemd runs, root restarts a host's own daemons with qsys down and qsys up: the
    master on the head node, the exec daemon on a compute node, qsys-authd on a submit host (never
    a new personal cell)."""
    for name, stopped, started in (("head", "master", "master"), ("node1", "node1", "execd node1"),
                                   ("login1", "authd", "authd")):
        host = lab[name]
        down = host.run("qsys down --keep-jobs", check=True).stdout
        assert re.search(rf"^stopped {stopped} \(pid \d+\)$", down, re.M), down
        up = host.run("qsys up", check=True).stdout
        assert "cell /var/lib/qsys/default exists: starting what it has that does not run" in up, up
        assert re.search(rf"^started {started} \(pid \d+\)$", up, re.M), up
        assert not host.path("/root/.qsys").exists()
    wait_until(lambda: re.search(r"^node1 .* \d+\.\d+ ", lab["head"].run("qhost").stdout, re.M), 30,
               "node1 to report its load again")


def test_a_revoked_host_cannot_reconnect(lab: HostLab, users: tuple[str, str]) -> None:
    head, node2 = lab["head"], lab["node2"]
    wait_until(lambda: "node2" not in head.run("qstat -s r -u '*'").stdout, 60, "node2 to be idle")
    removed = head.run("qconf -de node2", check=True)
    assert 'removed "node2" from exechost list' in removed.stderr  # Grid Engine's qconf answers on stderr
    log = node2.path("/var/lib/qsys/default/spool/node2/messages")
    wait_until(lambda: 'refused by the master: host "node2" was removed from the cell (qconf -de' in log.read_text(),
               30, "node2's exec daemon to be refused")
    assert head.run("qconf -sel", check=True).stdout.split() == ["node1"]
    refused = node2.run("qstat", users[0])
    assert refused.returncode != 0 and 'host "node2" was removed from the cell' in refused.stderr


def test_master_hosts_named_after_a_join_reach_the_joined_exec_host(lab: HostLab) -> None:
    """master_candidates added to the master's bootstrap after a host joined reach that host's
    own bootstrap with its configuration (at its next registration or configuration change),
    and so does their removal."""
    head, node1 = lab["head"], lab["node1"]
    boot, theirs = head.path(COMMON) / "bootstrap", node1.path(COMMON) / "bootstrap"
    original = boot.read_text()
    conf = head.path("/var/lib/qsys/node1.conf")
    assert "master_candidates" not in theirs.read_text()
    try:
        boot.write_text(original + "master_candidates    head,spare-master\n")
        conf.write_text("#node1:\nload_report_time             00:00:39\n")
        head.run("qconf -Aconf /var/lib/qsys/node1.conf || qconf -Mconf /var/lib/qsys/node1.conf node1", check=True)
        wait_until(lambda: re.search(r"^master_candidates\s+head,spare-master$", theirs.read_text(), re.M),
                   30, "node1's bootstrap to name the master hosts")
    finally:
        boot.write_text(original)
    conf.write_text("#node1:\nload_report_time             00:00:40\n")
    head.run("qconf -Mconf /var/lib/qsys/node1.conf node1", check=True)
    wait_until(lambda: "master_candidates" not in theirs.read_text(), 30, "node1's bootstrap to name none")
    assert re.search(r"^host_name\s+node1$", theirs.read_text(), re.M)


def test_a_host_that_joins_a_cell_with_failover_writes_its_master_candidates(lab: HostLab,
                                                                           users: tuple[str, str]) -> None:
    """The master hosts of a failover cell (master_candidates in the master's bootstrap) reach
    a joining host's own bootstrap: no hand edit for failover on joined hosts. (Last in the
    module: it joins login1 again.)"""
    head, login1 = lab["head"], lab["login1"]
    boot = head.path(COMMON) / "bootstrap"
    original = boot.read_text()
    try:
        boot.write_text(original + "master_candidates    head,spare-master\n")  # read at the join
        token = head.run("qsys token create --host login1 --ttl 10m", check=True).stdout.strip()
        login1.run(f"qsys join head --token {token} --submit-only", check=True)
    finally:
        boot.write_text(original)
    joined = login1.path(COMMON).joinpath("bootstrap").read_text()
    assert re.search(r"^master_candidates\s+head,spare-master$", joined, re.M), joined
    assert re.search(r"^host_name\s+login1$", joined, re.M), joined
    answered = login1.run("qstat -f", users[0])  # through the candidates: head, the first, answers
    assert answered.returncode == 0, answered.stderr
