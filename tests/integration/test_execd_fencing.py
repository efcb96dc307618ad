"""The exec daemon against fake masters of a failover cell (real daemon, real sockets): it
obeys a leased master only while the announced lease lasts, refuses an older epoch and a
lapsed lease, and follows a waiting shadow's NotActive to the active master (in a TLS cell
through qsys-shadowd's own standby port)."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qsys import auth, protocol, tls
from qsys.cellinit import ensure_tls
from qsys.master.shadow import Standby
from qsys.paths import Cell
from qsys.store.lease import LeaseRow

REPO = Path(__file__).resolve().parents[2]
HOST = "nodef"
DEADLINE = 30.0


@dataclass
class Conn:
    greeting: Any
    registered: bool = False
    closed_by_daemon: bool = False


@dataclass
class FakeMaster:
    """Greets each connection with the next entry of ``plan`` (the last one repeats):
    a Challenge's (epoch, valid_for), or a NotActive."""

    key: bytes
    plan: list[Any]
    conns: list[Conn] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    server: asyncio.AbstractServer | None = None
    tls: ssl.SSLContext | None = None  # a TLS cell's master

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        greeting = self.plan.pop(0) if len(self.plan) > 1 else self.plan[0]
        conn = Conn(greeting)
        self.conns.append(conn)
        nonce = auth.new_nonce()
        if isinstance(greeting, protocol.NotActive):
            protocol.write_message(writer, greeting)
            writer.close()
            return
        epoch, valid_for = greeting
        protocol.write_message(writer, protocol.Challenge(nonce, epoch, valid_for))
        try:
            hello = await protocol.read_message(reader)
            if hello is None:
                conn.closed_by_daemon = True
                return
            await protocol.read_message(reader)  # Register
            conn.registered = True
            self.writers.append(writer)
            protocol.write_message(writer, protocol.HostConfig({"load_report_time": "00:00:01"}))
            while await protocol.read_message(reader) is not None:
                pass
            conn.closed_by_daemon = True
        except Exception:
            conn.closed_by_daemon = True

    async def until(self, predicate: Any, what: str) -> Any:
        """Poll ``predicate`` (the daemon's doings arrive on this loop) up to the deadline."""
        deadline = asyncio.get_running_loop().time() + DEADLINE
        while not (result := predicate()):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; connections {self.conns}")
            await asyncio.sleep(0.05)
        return result


@asynccontextmanager
async def execd(root: Path, candidates: list[int], tls: bool = False) -> AsyncIterator[subprocess.Popen[bytes]]:
    """The real exec daemon of a cell whose master candidates are these loopback ports (in
    TLS with ``tls``)."""
    cell = Cell(root, "default")
    cell.write_bootstrap({"master_candidates": ",".join(f"127.0.0.1:{p}" for p in candidates),
                          **({"tls": "yes"} if tls else {})})
    env = dict(os.environ, QSYS_ROOT=str(root), QSYS_CELL="default", PYTHONPATH=str(REPO))
    log = open(root / "execd.out", "ab")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "execd.main", "--foreground", "--host", HOST], env=env,
                            stdout=log, stderr=log, cwd="/")
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def key_of(root: Path) -> bytes:
    return auth.create_key(Cell(root, "default").key_file)


def test_a_leased_master_is_obeyed_only_while_its_beats_last(qsys_root: Path) -> None:
    async def scenario() -> None:
        master = FakeMaster(key_of(qsys_root), [(5, 1.0)])
        port = await master.start()
        async with execd(qsys_root, [port, 1]):
            await master.until(lambda: master.conns and master.conns[0].registered, "registration")
            for _ in range(4):  # beats keep the link for longer than one announced term
                protocol.write_message(master.writers[0], protocol.MasterBeat(5, 1.0))
                await asyncio.sleep(0.5)
            assert not master.conns[0].closed_by_daemon
            # no more beats: the daemon leaves the link by itself and looks for the master again
            await master.until(lambda: master.conns[0].closed_by_daemon, "the daemon to leave the silent master")
            await master.until(lambda: len(master.conns) >= 2 and master.conns[1].registered, "a new registration")
            # a beat of another epoch on the link: left at once
            protocol.write_message(master.writers[1], protocol.MasterBeat(6, 5.0))
            await master.until(lambda: master.conns[1].closed_by_daemon, "the daemon to leave a foreign beat")
        assert master.server is not None
        master.server.close()

    asyncio.run(scenario())


def test_older_epochs_and_lapsed_leases_are_refused(qsys_root: Path) -> None:
    async def scenario() -> None:
        # epoch 5 first; then a master of epoch 4 (older: refused), one whose lease lapsed
        # (refused), then epoch 6, which is obeyed
        master = FakeMaster(key_of(qsys_root), [(5, 30.0), (4, 30.0), (7, 0.0), (6, 30.0)])
        port = await master.start()
        async with execd(qsys_root, [port, 1]):
            await master.until(lambda: master.conns and master.conns[0].registered, "registration at epoch 5")
            master.writers[0].close()
            await master.until(lambda: len(master.conns) >= 4 and master.conns[3].registered,
                               "registration at epoch 6")
            assert [c.registered for c in master.conns[:4]] == [True, False, False, True]
            assert master.conns[1].closed_by_daemon and master.conns[2].closed_by_daemon
        assert master.server is not None
        master.server.close()

    asyncio.run(scenario())


def test_a_waiting_shadow_sends_the_daemon_to_the_active_master(qsys_root: Path) -> None:
    async def scenario() -> None:
        key = key_of(qsys_root)
        active = FakeMaster(key, [(3, 30.0)])
        active_port = await active.start()
        shadow = FakeMaster(key, [protocol.NotActive(f"127.0.0.1:{active_port}", 3)])
        shadow_port = await shadow.start()
        # the active master is not among the candidates: only the shadow's answer names it
        async with execd(qsys_root, [shadow_port, 1]):
            await active.until(lambda: active.conns and active.conns[0].registered, "registration via the shadow")
            assert shadow.conns and not shadow.conns[0].registered
        for m in (active, shadow):
            assert m.server is not None
            m.server.close()

    asyncio.run(scenario())


class OneLease:
    """The lease table as the standby reads it: always this row."""

    def __init__(self, row: LeaseRow) -> None:
        self.row = row

    def read(self) -> LeaseRow:
        return self.row


def test_a_waiting_shadow_of_a_tls_cell_sends_the_daemon_on_in_tls(qsys_root: Path) -> None:
    """qsys-shadowd's own standby port in a TLS cell: the daemon's handshake succeeds there and
    the NotActive it reads names the active master, where it registers."""
    async def scenario() -> None:
        key = key_of(qsys_root)
        cell = Cell(qsys_root, "default")
        ensure_tls(cell, "default", "127.0.0.1", ["127.0.0.1"], lambda _line: None)
        context = tls.server_context(cell)
        active = FakeMaster(key, [(3, 30.0)], tls=context)
        active_port = await active.start()
        row = LeaseRow(epoch=3, beat=1, holder="m1", address=f"127.0.0.1:{active_port}", pid=1, term=10.0)
        standby = Standby(OneLease(row), poll=1.0, tls=context)  # type: ignore[arg-type]
        await standby.start("127.0.0.1", 0)
        standby_port = standby.port
        assert standby_port
        try:
            # the active master is not among the candidates: only the standby's answer names it
            async with execd(qsys_root, [standby_port, 1], tls=True):
                await active.until(lambda: active.conns and active.conns[0].registered, "registration via the standby")
        finally:
            await standby.close()
            assert active.server is not None
            active.server.close()

    asyncio.run(scenario())
