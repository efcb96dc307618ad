"""``qsys-shadowd``: a shadow master, after Grid Engine's ``sge_shadowd``.

It runs on a master host of a cell with ``master_candidates`` (one of those hosts), watches
the active master's lease in the store and, once the lease has gone unrenewed for longer
than its term, takes it over with the next epoch and becomes the master itself, in this
process (the master's modules are loaded while it waits, so a takeover costs the store's
load, not an interpreter's start). It never takes over from a master that stopped on
purpose (the lease released), nor before any master ran.

While it waits it answers on its candidate's port with ``NotActive`` naming the active
master (in TLS when the cell has it, as the master of this host would), so commands and exec daemons that try this host first go straight there (unless the
master runs on this host too and holds the port: a shadow there restarts a master whose
process died at once, the lease being its own host's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING

from qsys import admission, protocol
from qsys import tls as cell_tls
from qsys.errors import QsysError
from qsys.master.clock import MonotonicClock
from qsys.master.lease import (
    LeaseTimes,
    MasterLease,
    claim,
    claimant,
    is_failover_cell,
    lease_table,
    own_candidate,
)
from qsys.master.main import (
    current_cell,
    daemon_parser,
    listen_addresses,
    master_host_name,
    run_daemon,
    serve,
)
from qsys.paths import Cell
from qsys.store.lease import LeaseRow, LeaseTable

if TYPE_CHECKING:
    import ssl

log = logging.getLogger("qsys.shadowd")


class Standby:
    """The candidate's port while this host is not the master: every connection gets one
    NotActive naming the lease's holder, then is closed. In a TLS cell it is said in TLS,
    with the certificate this host serves as the master with (a client or exec daemon that
    tries this host first then follows the redirect instead of failing a handshake); the
    admission gate bounds what strangers may hold here as on the master's port."""

    def __init__(self, table: LeaseTable, poll: float, tls: ssl.SSLContext | None = None) -> None:
        self.table = table
        self.poll = poll
        self.tls = tls
        self._listeners: list[admission.Listener] = []
        self._row: LeaseRow | None = None
        self._read_at = float("-inf")

    async def start(self, bind: str | None, port: int) -> None:
        """Listen where the master of this host will (``bind`` as the master takes it)."""
        try:
            socks = admission.tcp_sockets(listen_addresses(bind, "service") or ["*"], port)
        except OSError as exc:
            # the master of this very host holds the port: this shadow watches it all the
            # same (and restarts the master here if its process dies)
            log.info("not answering on port %d while waiting: %s", port, exc)
            return
        gate = admission.Gate()
        for sock in socks:
            listener = admission.Listener(sock, gate, self._answer, name=f"standby {sock.getsockname()[:2]}")
            listener.start()
            self._listeners.append(listener)

    @property
    def port(self) -> int:
        """The port answered on (0: none, the master of this host holds it)."""
        return int(self._listeners[0].sock.getsockname()[1]) if self._listeners else 0

    async def close(self) -> None:
        for listener in self._listeners:
            await listener.close()
        self._listeners.clear()

    async def _answer(self, conn: socket.socket, _ticket: admission.Ticket) -> None:
        limit = admission.Limits().handshake_timeout
        try:
            _reader, writer = await admission.streams(conn, tls=self.tls, tls_timeout=limit)
        except (OSError, TimeoutError) as exc:  # SSLError too: a plain-text peer of a TLS cell
            log.debug("standby: no TLS handshake: %s", exc)
            return
        try:
            row = await self._active()
            active = "" if row is None or row.released else row.address
            protocol.write_message(writer, protocol.NotActive(active, row.epoch if row else 0))
            await asyncio.wait_for(writer.drain(), limit)
        except (OSError, TimeoutError, QsysError) as exc:
            log.debug("standby answer failed: %s", exc)
        finally:
            # wait for the transport to let go of the socket (TLS says goodbye first) before
            # the listener closes its descriptor
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), limit)

    async def _active(self) -> LeaseRow | None:
        """The lease row, read at most once per poll interval however many connect."""
        if time.monotonic() - self._read_at >= self.poll:
            self._read_at = time.monotonic()
            try:
                self._row = await asyncio.to_thread(self.table.read)
            except QsysError:
                pass  # keep naming the last holder known
        return self._row


def shadow_port(cell: Cell, boot: dict[str, str], host_name: str) -> int:
    """The port of this host's master candidate; QsysError when there is nothing to shadow."""
    if not is_failover_cell(boot):
        raise QsysError(f"cell {cell.name} lists no master_candidates in {cell.bootstrap_file}")
    mine = own_candidate(boot, host_name)
    if mine is None:
        raise QsysError(f"this host ({host_name}) is not one of the master_candidates {boot['master_candidates']}")
    return mine[1]


def standby_tls(cell: Cell, boot: dict[str, str]) -> ssl.SSLContext | None:
    """The server context of a TLS cell (this host's master certificate); QsysError naming
    the file that cannot be read."""
    if not cell_tls.enabled(boot):
        return None
    try:
        return cell_tls.server_context(cell)
    except OSError as exc:
        raise QsysError(f"the cell says tls yes but {exc.filename or cell.host_cert} cannot be read: "
                        f"{exc.strerror}") from None


async def shadow(cell: Cell, host_name: str, bind: str | None, tls: ssl.SSLContext | None) -> int:
    """Wait as a shadow (``tls``: the standby's server context, see ``standby_tls``); once the
    lease is ours, run the master here. Its exit status."""
    boot = cell.bootstrap()
    port = shadow_port(cell, boot, host_name)
    times = LeaseTimes.from_bootstrap(boot)
    clock = MonotonicClock()
    table = lease_table(boot, times)
    me = claimant(boot, host_name, port, times)
    standby = Standby(table, times.poll, tls)
    await standby.start(bind, port)
    stop = threading.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("shadow master on %s (%s): watching the lease (term %gs, poll %gs)", host_name, me.address,
             times.term, times.poll)
    try:
        holding = await asyncio.to_thread(claim, table, me, times, clock, stop.wait, shadow=True)
    finally:
        await standby.close()
    if holding is None:
        log.info("shadow stopping")
        table.close()
        return 0
    started = time.monotonic()
    lease = MasterLease(table, holding, times, clock)
    log.warning("took over as the master (epoch %d)", holding.epoch)
    return await serve(cell, port, bind, host_name=host_name, lease=lease, took_over_at=started)


def main(argv: list[str] | None = None) -> int:
    args = daemon_parser("qsys-shadowd", "the qsys shadow master").parse_args(argv)
    found = current_cell("qsys-shadowd")
    if found is None:
        return 1
    cell, boot = found
    name = master_host_name(boot, args.host)
    try:
        shadow_port(cell, boot, name)
        tls = standby_tls(cell, boot)
    except QsysError as exc:
        print(f"qsys-shadowd: {exc}", file=sys.stderr)
        return 1
    bind = args.bind or boot.get("master_bind") or None
    return run_daemon(cell, args.foreground, lambda: shadow(cell, name, bind, tls), pid_name="shadowd.pid")


if __name__ == "__main__":
    sys.exit(main())
