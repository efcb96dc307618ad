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


def _messages_built_in(*patterns: str) -> set[type]:
    """The message types the sources matching ``patterns`` construct: ``protocol.Name(...)``,
    or ``Name(...)`` with ``Name`` imported from qsys.protocol."""
    import ast

    from tests.inprocess import REPO

    found: set[type] = set()
    for pattern in patterns:
        for path in sorted(REPO.glob(pattern)):
            tree = ast.parse(path.read_text())
            imported = {alias.asname or alias.name: alias.name for node in ast.walk(tree)
                        if isinstance(node, ast.ImportFrom) and node.module == "qsys.protocol"
                        for alias in node.names}
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "protocol":
                    name = func.attr
                elif isinstance(func, ast.Name) and func.id in imported:
                    name = imported[func.id]
                else:
                    continue
                kind = getattr(protocol, name, None)
                if isinstance(kind, type) and _is_message(kind):
                    found.add(kind)
    return found


def _is_message(kind: type) -> bool:
    try:
        protocol.message_name(kind)
    except KeyError:
        return False
    return True


def test_every_request_and_report_sent_to_the_master_has_its_one_handler(qsys_root: Path) -> None:
    """The master's two tables (filled in main.build_master) take every request the client
    library, qrsh/qlogin and qsys token send after the handshake and every message an exec
    daemon sends after its registration; and the
    simulated exec host answers what the real exec daemon answers, less migration and beats."""
    from execd.daemon import MASTER_MESSAGES as EXECD_TABLE
    from qsys.testing.simhost import MASTER_MESSAGES as SIM_TABLE
    from tests.inprocess import master_thread

    requests = _messages_built_in("qsys/client.py", "qsys/startup/*.py", "qsys/hostcmds.py") - {protocol.Hello}
    reports = _messages_built_in("execd/*.py") - {protocol.Register, protocol.ExecdHello}
    assert {protocol.Submit, protocol.JobsStatus, protocol.SessionSubmit, protocol.TokenCreate} <= requests
    assert {protocol.LoadReport, protocol.JobFinished, protocol.PeTaskFinished} <= reports
    with master_thread(_cell(qsys_root)) as daemon:
        assert sorted(k.__name__ for k in requests if k not in daemon.requests) == []
        assert sorted(k.__name__ for k in reports if k not in daemon.execd_messages) == []
    told = {kind for kind in _messages_built_in("qsys/master/*.py") if kind in EXECD_TABLE}
    assert {protocol.StartJob, protocol.KillJob, protocol.HostConfig} <= told
    assert sorted(k.__name__ for k in told if k not in SIM_TABLE) == ["MasterBeat", "MigrateJob"]
