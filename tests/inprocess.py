"""A master built in the test's process (``build_master``) and run in a thread of its own, on
its real Unix socket: for tests that send it thousands of requests (hypothesis) without a
process per request."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qsys import protocol
from qsys.cluster import new_cell
from qsys.master.main import MasterDaemon, build_master
from qsys.paths import Cell


def new_test_cell(root: Path, hosts: int = 1) -> Cell:
    cell = Cell(root, "default")
    new_cell(cell, hosts=hosts, slots=2, port=0, store_url=None)
    return cell


@contextmanager
def master_thread(cell: Cell) -> Iterator[MasterDaemon]:
    """The cell's master serving on its Unix socket (no TCP) until the block ends."""
    loop = asyncio.new_event_loop()
    daemon = build_master(cell, port=None)
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(daemon.start())
        except BaseException as exc:  # noqa: B036 - handed to the test thread
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_until_complete(daemon.state.stopping.wait())
        loop.run_until_complete(daemon.stop())

    thread = threading.Thread(target=run, name="master", daemon=True)
    thread.start()
    started.wait(30)
    if failure:
        raise failure[0]
    try:
        yield daemon
    finally:
        loop.call_soon_threadsafe(daemon.state.stopping.set)
        thread.join(30)
        loop.close()


def handshake(cell: Cell, timeout: float = 10.0) -> socket.socket:
    """A Unix connection to the master past its handshake (the kernel names the caller)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(str(cell.master_socket))
    assert isinstance(protocol.recv_sync(sock), protocol.Challenge)
    protocol.send_sync(sock, protocol.Hello())
    assert isinstance(protocol.recv_sync(sock), protocol.Welcome)
    return sock


def send_frame(sock: socket.socket, payload: bytes, length: int | None = None) -> None:
    """``payload`` as one frame (``length``: what the header claims, to lie about it)."""
    sock.sendall(struct.pack(">I", len(payload) if length is None else length) + payload)


def recv_reply(sock: socket.socket) -> Any:
    return protocol.recv_sync(sock)
