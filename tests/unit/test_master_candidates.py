"""Where commands look for the master of a cell with several master hosts: the bootstrap's
candidates (act_qmaster's first), and the client's one candidate loop over real sockets."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from qsys import protocol
from qsys.client import _Unreachable, connect_master
from qsys.paths import master_candidates


def test_candidates_from_the_bootstrap() -> None:
    assert master_candidates({}) == [("127.0.0.1", 7444)]
    assert master_candidates({"master_host": "qm", "master_port": "7000"}) == [("qm", 7000)]
    boot = {"master_candidates": "qm1:7001, qm2 ,[::1]:7003", "master_port": "7000", "master_host": "x"}
    assert master_candidates(boot) == [("qm1", 7001), ("qm2", 7000), ("::1", 7003)]
    assert master_candidates(boot, active="qm2") == [("qm2", 7000), ("qm1", 7001), ("::1", 7003)]
    assert master_candidates(boot, active="elsewhere") == master_candidates(boot)


class Greeter:
    """A listener on loopback that greets every connection with ``first`` (or says nothing)."""

    def __init__(self, first: object | None) -> None:
        self.first = first
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._conns.append(conn)
            if self.first is not None:
                protocol.send_sync(conn, self.first)

    def close(self) -> None:
        self.sock.close()
        for conn in self._conns:
            conn.close()


@pytest.fixture
def greeters() -> Iterator[list[Greeter]]:
    made: list[Greeter] = []
    yield made
    for g in made:
        g.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_the_active_master_is_found_behind_a_dead_host_and_a_shadow(greeters: list[Greeter]) -> None:
    active = Greeter(protocol.Challenge(b"n" * 16, 4, 5.0))
    shadow = Greeter(protocol.NotActive(f"127.0.0.1:{active.port}", 4))
    greeters += [active, shadow]
    # the active master is not even a candidate: the shadow's answer names it
    sock, challenge = connect_master([("127.0.0.1", closed_port()), ("127.0.0.1", shadow.port)], 5.0, several=True)
    try:
        assert challenge.epoch == 4 and sock.getpeername()[1] == active.port
        assert sock.gettimeout() == 5.0  # the conversation has the caller's timeout again
    finally:
        sock.close()


def test_a_silent_candidate_is_given_up_for_the_next(greeters: list[Greeter]) -> None:
    silent = Greeter(None)  # accepts (a stopped process: the kernel does) and never greets
    active = Greeter(protocol.Challenge(b"n" * 16))
    greeters += [silent, active]
    import qsys.client as client

    old = client.GREETING_TIMEOUT
    client.GREETING_TIMEOUT = 0.2
    try:
        sock, _ = connect_master([("127.0.0.1", silent.port), ("127.0.0.1", active.port)], 5.0, several=True)
    finally:
        client.GREETING_TIMEOUT = old
    sock.close()
    assert silent.accepted == 1 and active.accepted == 1


def test_none_answering_says_why_for_each(greeters: list[Greeter]) -> None:
    dead = closed_port()
    shadow = Greeter(protocol.NotActive("", 0))  # a shadow that knows no active master
    greeters.append(shadow)
    with pytest.raises(_Unreachable) as failed:
        connect_master([("127.0.0.1", dead), ("127.0.0.1", shadow.port)], 5.0, several=True)
    assert failed.value.reason == (f"127.0.0.1:{dead}: connection refused; "
                                   f"127.0.0.1:{shadow.port}: not the active qmaster (that is unknown)")
    assert failed.value.again  # a takeover may be under way: worth another attempt
    with pytest.raises(_Unreachable, match="not the active qmaster"):
        connect_master([("127.0.0.1", shadow.port)], 5.0)
