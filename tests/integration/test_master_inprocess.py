"""A whole master built in the test's own process (``build_master``), over its real sockets:
typed messages are checked on arrival, and the master takes the clock it is given."""

from __future__ import annotations

import asyncio
import socket
import struct
from pathlib import Path

import msgpack
import pytest

from qsys import protocol
from qsys.client import Client
from qsys.cluster import new_cell
from qsys.errors import InvalidRequest
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


def test_the_master_refuses_job_names_grid_engine_refuses(qsys_root: Path) -> None:
    """qsub refuses these names before it sends anything; a client that speaks the protocol
    directly (DRMAA, the REST daemon, a script on qsys.client) meets the same rule and
    message in the master: nothing is accepted and qalter cannot rename a job to them."""
    cell = _cell(qsys_root)
    refused = {
        "1st": 'denied: "1st" is not a valid object name (cannot start with a digit)',
        "a/b": "Slash ('/') not allowed in objectname",
        "a:b": "Colon (':') not allowed in objectname",
        "line\nbreak": "Return not allowed in objectname",
        "none": 'Keyword ("NONE") not allowed as objectname',
        "x" * 512: "job name too long, maximum allowed length is 512 characters",
        "": "job rejected cause there is no job_name in the request",
        "rtl\u202eexe": "Character U+202E not allowed in objectname",
    }

    def attempts() -> None:
        with Client(cell) as client:
            for name, message in refused.items():
                with pytest.raises(InvalidRequest) as caught:
                    client.submit(JobSpec(command="/bin/true", binary=True, name=name, hold=True))
                assert caught.value.message == message, name
                with pytest.raises(InvalidRequest):
                    client.submit_many([JobSpec(command="/bin/true", binary=True, name="ok", hold=True),
                                        JobSpec(command="/bin/true", binary=True, name=name, hold=True)])
            with pytest.raises(InvalidRequest) as caught:
                client.submit(JobSpec(command="/bin/true", binary=True, name="ok", account="a@b", hold=True))
            assert caught.value.message == "At ('@') not allowed in objectname"
            assert client.jobs(["*"]) == []  # nothing was accepted, not even the good half of a batch
            job = client.submit(JobSpec(command="/bin/true", binary=True, name="ok", hold=True))
            answer = client.alter([str(job.job_id)], {"name": "a*b"})
            assert answer.exit == 1 and answer.lines == ["Asterisk ('*') not allowed in objectname"], answer
            assert [r.name for r in client.jobs(["*"])] == ["ok"]

    async def run() -> None:
        daemon = build_master(cell, port=None)
        await daemon.start()
        try:
            await asyncio.to_thread(attempts)
        finally:
            await daemon.stop()

    asyncio.run(run())
