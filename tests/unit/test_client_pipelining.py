"""A client on the master's Unix socket sends its Hello and its first request before it reads
the Challenge: one round trip for the handshake and the request. A stand-in master on a real
Unix socket (in a thread) answers only once both have arrived, which a client that waited for
the Challenge would never see."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from qsys import protocol
from qsys.client import Client
from qsys.errors import ConnectionFailed, PermissionDenied
from qsys.jobspec import JobSpec
from qsys.paths import Cell
from qsys.records import Submitted

Serve = Callable[[socket.socket], None]


@contextmanager
def stand_in_master(tmp_path: Path, serve: Serve, connections: int = 1) -> Iterator[Cell]:
    """A Unix socket where the master's is; ``serve`` handles each of ``connections``."""
    cell = Cell(tmp_path, "default")
    cell.master_socket.parent.mkdir(parents=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(cell.master_socket))
    listener.listen(4)
    failures: list[BaseException] = []

    def run() -> None:
        for _ in range(connections):
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(10)
                try:
                    serve(conn)
                except BaseException as exc:  # noqa: B036 - reported in the test's thread
                    failures.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield cell
    finally:
        thread.join(20)
        listener.close()
    assert not thread.is_alive()
    if failures:
        raise failures[0]


def test_hello_and_request_arrive_before_the_challenge_is_sent(tmp_path: Path) -> None:
    seen: list[object] = []

    def serve(conn: socket.socket) -> None:
        seen.append(protocol.recv_sync(conn))  # the Hello: sent without waiting for the Challenge
        seen.append(protocol.recv_sync(conn))  # and the request right behind it
        for reply in (protocol.Challenge(b"nonce"), protocol.Welcome("alice"), Submitted(7, "true")):
            protocol.send_sync(conn, reply)

    with stand_in_master(tmp_path, serve) as cell, Client(cell, timeout=5, retry=0) as client:
        result = client.submit(JobSpec(command="/bin/true", binary=True))
        assert (result.job_id, client.user) == (7, "alice")
    assert isinstance(seen[0], protocol.Hello) and seen[0].credential is None
    assert isinstance(seen[1], protocol.Submit) and seen[1].spec.command == "/bin/true"


def test_later_requests_on_the_connection_wait_for_their_reply(tmp_path: Path) -> None:
    def serve(conn: socket.socket) -> None:
        protocol.recv_sync(conn)
        assert isinstance(protocol.recv_sync(conn), protocol.HostsStatus)
        for reply in (protocol.Challenge(b"n"), protocol.Welcome("alice"), protocol.HostRows([])):
            protocol.send_sync(conn, reply)
        assert isinstance(protocol.recv_sync(conn), protocol.HostsStatus)  # the second, alone
        protocol.send_sync(conn, protocol.HostRows([]))

    with stand_in_master(tmp_path, serve) as cell, Client(cell, timeout=5, retry=0) as client:
        assert client.hosts() == [] and client.hosts() == []


def test_a_refused_hello_is_the_masters_error_and_the_request_is_not_carried_out(tmp_path: Path) -> None:
    def serve(conn: socket.socket) -> None:
        protocol.recv_sync(conn)
        protocol.send_sync(conn, protocol.Challenge(b"n"))
        protocol.send_sync(conn, protocol.Fail(PermissionDenied.kind, "user alice has 64 connections to qmaster open"))

    with stand_in_master(tmp_path, serve) as cell, Client(cell, timeout=5, retry=0) as client:
        with pytest.raises(PermissionDenied, match="64 connections"):
            client.submit(JobSpec(command="/bin/true", binary=True))


def test_a_connection_lost_before_the_welcome_is_tried_again(tmp_path: Path) -> None:
    # nothing was carried out before the Welcome: even a submission goes again, on a new connection
    submits: list[object] = []

    def serve(conn: socket.socket) -> None:
        protocol.recv_sync(conn)
        submits.append(protocol.recv_sync(conn))
        protocol.send_sync(conn, protocol.Challenge(b"n"))
        if len(submits) == 1:
            return  # closed before the Welcome: a master that stopped
        protocol.send_sync(conn, protocol.Welcome("alice"))
        protocol.send_sync(conn, Submitted(8, "true"))

    with stand_in_master(tmp_path, serve, connections=2) as cell, Client(cell, timeout=5, retry=10) as client:
        assert client.submit(JobSpec(command="/bin/true", binary=True)).job_id == 8
    assert len(submits) == 2


def test_a_submission_lost_after_the_welcome_is_not_sent_again(tmp_path: Path) -> None:
    def serve(conn: socket.socket) -> None:
        protocol.recv_sync(conn)
        protocol.recv_sync(conn)
        protocol.send_sync(conn, protocol.Challenge(b"n"))
        protocol.send_sync(conn, protocol.Welcome("alice"))  # then gone before the reply

    with stand_in_master(tmp_path, serve) as cell, Client(cell, timeout=5, retry=10) as client:
        with pytest.raises(ConnectionFailed, match="may or may not have been carried out"):
            client.submit(JobSpec(command="/bin/true", binary=True))
