"""Peers that never authenticate, against a real master process: a frame announcing 200 MB,
1,100 idle TCP connections, a host name of megabytes. The master's memory stays flat, the
owner's commands on the Unix socket still answer, its log stays small, and a personal master
listens on loopback only."""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest

from qsys import protocol
from qsys.paths import Cell
from tests.clusterlib import Cluster, listening_addresses, wait_until

IDLE_CONNECTIONS = 1100
DESCRIPTORS = 1024  # the master's limit of open files in these tests (a common default)


class LimitedCluster(Cluster):
    """A personal cluster whose master runs with at most DESCRIPTORS open files."""

    def start_master(self) -> None:
        import subprocess

        argv = ["prlimit", f"--nofile={DESCRIPTORS}:{DESCRIPTORS}", "--",
                sys.executable, "-m", "qsys.master.main", "--foreground"]
        log = open(self.root / "master.out", "ab")  # noqa: SIM115
        self.master_proc = subprocess.Popen(argv, env=self.env, stdout=log, stderr=log, cwd="/")
        wait_until(self._master_answers, 20, "the master to answer")


@pytest.fixture
def limited(qsys_root: Path) -> Iterator[Cluster]:
    with LimitedCluster(qsys_root / "cell", hosts=["node1"], slots=2) as cluster:
        yield cluster


def _pid(cluster: Cluster) -> int:
    assert cluster.master_proc is not None
    return int((cluster.cell.master_spool / "master.pid").read_text().split()[0])


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _port(cluster: Cluster) -> int:
    return int(cluster.cell.bootstrap()["master_port"])


def _challenged(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    assert isinstance(protocol.recv_sync(sock), protocol.Challenge)
    return sock


def _log_size(cluster: Cluster) -> int:
    return (cluster.cell.master_spool / "messages").stat().st_size + (cluster.root / "master.out").stat().st_size


def test_a_frame_announcing_200_mb_is_cut_off_before_authentication(cluster: Cluster) -> None:
    pid, port = _pid(cluster), _port(cluster)
    before = _rss_kb(pid)
    log_before = _log_size(cluster)
    chunk = b"\0" * (1 << 20)
    max_sent = 0
    for _ in range(4):
        sock = _challenged(port)
        sock.sendall(struct.pack(">I", 200 * 1024 * 1024))
        sent, answer = 0, b""
        try:  # send the body as an attacker would; the master stops reading after the header
            while sent < 200 * (1 << 20):
                sent += sock.send(chunk)
        except OSError as exc:
            assert exc.errno in (errno.ECONNRESET, errno.EPIPE)
        try:
            answer = sock.recv(1 << 16)
        except ConnectionResetError:
            pass
        sock.close()
        max_sent = max(max_sent, sent)
        assert sent < 64 * (1 << 20)  # cut off long before the 200 MB it announced
        if answer:
            assert b"too large" in answer
    after = _rss_kb(pid)
    print(f"\n4 frames announcing 200 MB: master RSS {before / 1024:.0f} -> {after / 1024:.0f} MB, "
          f"at most {max_sent / (1 << 20):.1f} MB of a body sent before the cut")
    assert after - before < 50 * 1024  # was +470 MB per connection
    # and an authenticated client on the Unix socket may not send more than MAX_REQUEST
    with socket.socket(socket.AF_UNIX) as unix:
        unix.settimeout(10)
        unix.connect(str(cluster.cell.master_socket))
        assert isinstance(protocol.recv_sync(unix), protocol.Challenge)
        protocol.send_sync(unix, protocol.Hello())
        assert isinstance(protocol.recv_sync(unix), protocol.Welcome)
        unix.sendall(struct.pack(">I", protocol.MAX_REQUEST + 1))
        reply = protocol.recv_sync(unix)
        assert isinstance(reply, protocol.Fail) and "too large" in reply.message
    assert cluster.run("qstat").returncode == 0
    assert _log_size(cluster) - log_before < 64 * 1024


def test_idle_connections_never_lock_the_owner_out(limited: Cluster) -> None:
    pid, port = _pid(limited), _port(limited)
    log_before = _log_size(limited)
    idle: list[socket.socket] = []
    try:
        for i in range(IDLE_CONNECTIONS):  # from 55 loopback addresses, 20 each
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((f"127.0.1.{1 + i % 55}", 0))
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            idle.append(sock)
        qstat = limited.run("qstat", timeout=60)
        assert qstat.returncode == 0, qstat.stderr
        assert limited.run("qsub", "-h", "-b", "y", "true", timeout=60).returncode == 0
        fds = _fds(pid)
        print(f"\n{IDLE_CONNECTIONS} idle TCP connections: master holds {fds} of {DESCRIPTORS} descriptors, "
              "qstat and qsub on the Unix socket answered")
        assert fds < DESCRIPTORS
        # the master closes connections that do not authenticate in time
        first = idle[0]
        first.setblocking(True)
        first.settimeout(60)
        assert isinstance(protocol.recv_sync(first), protocol.Challenge)
        assert first.recv(10) == b""
    finally:
        for sock in idle:
            sock.close()
    assert _log_size(limited) - log_before < 64 * 1024


def test_one_peer_may_hold_only_so_many_unauthenticated_connections(cluster: Cluster) -> None:
    port = _port(cluster)
    held = [_challenged(port, "127.0.2.1") for _ in range(64)]
    try:
        extra = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.2.1", 0))
        assert extra.recv(10) == b""  # closed at once: no challenge
        extra.close()
        other = _challenged(port, "127.0.2.2")  # another peer still gets in
        other.close()
    finally:
        for sock in held:
            sock.close()

    def room_again() -> bool:
        try:
            _challenged(port, "127.0.2.1").close()
            return True
        except protocol.PeerClosed:
            return False

    wait_until(room_again, 10, "room for the peer again")


def test_a_megabyte_host_name_makes_no_long_log_line(cluster: Cluster) -> None:
    port = _port(cluster)
    sock = _challenged(port)
    credential = {"uid": 0, "user": "root", "host": "h" * 60000, "sig": b"forged"}
    body = msgpack.packb({"t": "hello", "credential": credential}, use_bin_type=True)
    sock.sendall(struct.pack(">I", len(body)) + body)
    reply = protocol.recv_sync(sock)
    assert isinstance(reply, protocol.Fail) and reply.kind == "auth"
    sock.close()
    sock = _challenged(port)
    body = msgpack.packb({"t": "execd_hello", "host": "x" * 50_000_000, "proof": b"", "nonce": b""})
    sock.sendall(struct.pack(">I", len(body)))
    assert "too large" in protocol.recv_sync(sock).message
    sock.close()
    lines = (cluster.cell.master_spool / "messages").read_text(errors="replace").splitlines()
    assert lines and max(len(line) for line in lines) < 10_000


def test_a_personal_master_listens_on_loopback_only(cluster: Cluster) -> None:
    port = _port(cluster)
    listening = listening_addresses(port)
    assert listening
    loopback = {"0100007F", "00000000000000000000000001000000"}
    assert set(listening) <= loopback, listening


def test_one_user_may_hold_only_so_many_open_connections(qsys_root: Path) -> None:
    """Authenticated connections have no idle deadline (qsub -sync, qrsh and DRMAA wait on
    theirs); a user who leaves them open is bounded by their number (Limits.per_user), and
    a closed one makes room again (the cap lowered from its 1024 for the test)."""
    from qsys.admission import Limits
    from tests.inprocess import MasterThread, handshake

    cap = 16

    def hello(cell: Cell) -> object:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(str(cell.master_socket))
        assert isinstance(protocol.recv_sync(sock), protocol.Challenge)
        protocol.send_sync(sock, protocol.Hello())
        reply = protocol.recv_sync(sock)
        sock.close()
        return reply

    with MasterThread(qsys_root) as master:
        master.call(lambda daemon: setattr(daemon.server, "limits", Limits(per_user=cap)))
        held = [handshake(master.cell) for _ in range(cap)]
        try:
            refused = hello(master.cell)
            assert isinstance(refused, protocol.Fail) and refused.kind == "denied"
            assert refused.message == (f"user root has {cap} connections to qmaster open already (the most one "
                                       "user may hold): close some")
            held.pop().close()
            wait_until(lambda: isinstance(hello(master.cell), protocol.Welcome), 10, "room for the user again")
        finally:
            for sock in held:
                sock.close()
        assert master.command("qstat").returncode == 0
