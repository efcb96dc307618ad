"""A whole master built in the test's own process (``build_master``), over its real sockets:
typed messages are checked on arrival, and the master takes the clock it is given."""

from __future__ import annotations

import asyncio
import socket
import struct
from pathlib import Path

import msgpack

from qsys import protocol
from qsys.client import Client
from qsys.cluster import new_cell
from qsys.jobspec import JobSpec
from qsys.master.main import build_master
from qsys.paths import Cell
from qsys.testing import FakeClock


def _cell(root: Path) -> Cell:
    cell = Cell(root, "default")
    new_cell(cell, hosts=1, slots=2, port=0, store_url=None)
    return cell


def _raw_request(cell: Cell, body: dict[str, object]) -> object:
    """Send ``body`` as one frame after the handshake; the master's reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(cell.master_socket))
        assert isinstance(protocol.recv_sync(sock), protocol.Challenge)
        protocol.send_sync(sock, protocol.Hello())
        assert isinstance(protocol.recv_sync(sock), protocol.Welcome)
        payload = msgpack.packb(body, use_bin_type=True)
        sock.sendall(struct.pack(">I", len(payload)) + payload)
        return protocol.recv_sync(sock)


def _submit(cell: Cell) -> tuple[int, list[object]]:
    with Client(cell) as client:
        job = client.submit(JobSpec(command="/bin/true", binary=True, name="true", hold=True))
        return job.job_id, list(client.jobs(["*"]))


def test_a_wrongly_typed_field_is_a_clear_fail_and_the_master_serves_on(qsys_root: Path) -> None:
    cell = _cell(qsys_root)

    async def run() -> None:
        daemon = build_master(cell, port=None)
        await daemon.start()
        try:
            reply = await asyncio.to_thread(_raw_request, cell, {"t": "submit", "spec": {"priority": "high"}})
            assert isinstance(reply, protocol.Fail) and reply.kind == "protocol"
            assert "submit.spec.priority: expected int, got str" in reply.message
            reply = await asyncio.to_thread(_raw_request, cell, {"t": "jobs_status", "colour": "red"})
            assert isinstance(reply, protocol.Fail) and "unknown field 'colour'" in reply.message
            job_id, rows = await asyncio.to_thread(_submit, cell)
            assert job_id == 1 and [(r.job_id, r.state) for r in rows] == [(1, "hqw")]  # type: ignore[attr-defined]
        finally:
            await daemon.stop()

    asyncio.run(run())


def test_the_master_keeps_the_time_of_the_clock_it_is_given(qsys_root: Path) -> None:
    cell = _cell(qsys_root)
    clock = FakeClock(1_900_000_000.0)

    async def run() -> None:
        daemon = build_master(cell, clock=clock, port=None)
        await daemon.start()
        try:
            _, rows = await asyncio.to_thread(_submit, cell)
            assert [r.submit_time for r in rows] == [clock.now()]  # type: ignore[attr-defined]
        finally:
            await daemon.stop()

    asyncio.run(run())
