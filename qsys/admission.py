"""Who gets a connection before anyone knows who they are: the limits of a listening daemon.

A peer that has not proved who it is costs the daemon a descriptor and a little memory, and
nothing more: it may hold a connection only for ``handshake_timeout`` seconds, send at most
a small hello (the caller reads it with ``protocol.MAX_HELLO``), and only ``per_peer`` such
connections from one address (or uid, on a Unix socket) and ``total`` in all may wait at
once. An authenticated connection has no deadline (a client may wait on it as long as its
jobs run); the master bounds instead how many one user holds open (``per_user``). At the
total cap a listener stops accepting (the kernel's backlog holds the rest) until
one of them has authenticated or gone. A TCP listener also keeps ``reserve`` descriptors free
for the Unix socket, the store and the logs, so a flood of TCP peers never locks out the
owner's commands on the Unix socket. Out of descriptors (EMFILE) a listener pauses briefly
and says so once in a while, not once per attempt.

This is independent of what the stream carries: :class:`Listener` hands a plain socket to
its ``serve`` callback, which wraps it (streams, TLS) as it likes and calls
:meth:`Ticket.authenticated` once the peer is known.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import resource
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("qsys.admission")

OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
PAUSE_WHEN_OUT = 0.25  # seconds an out-of-descriptors listener waits before accepting again


@dataclass(frozen=True)
class Limits:
    handshake_timeout: float = 10.0  # seconds from accept to authenticated
    per_peer: int = 64  # unauthenticated connections from one address (or uid) at once
    total: int = 512  # unauthenticated connections at once, all peers
    reserve: int = 64  # descriptors a TCP listener leaves to the Unix socket, store and logs
    per_user: int = 1024  # open authenticated client connections of one user (they have no deadline)


def raise_descriptor_limit() -> int:
    """Lift the soft limit of open files to the hard one (a daemon serves many peers); the
    limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
    return soft


class Every:
    """At most one log line per ``seconds`` for one kind of event; the rest are counted."""

    def __init__(self, seconds: float = 10.0) -> None:
        self.seconds = seconds
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def warn(self, key: str, text: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -self.seconds) < self.seconds:
            self._skipped[key] = self._skipped.get(key, 0) + 1
            return
        skipped = self._skipped.pop(key, 0)
        self._last[key] = now
        log.warning(text + (f" ({skipped} more like it not logged)" if skipped else ""), *args)


class Gate:
    """The unauthenticated connections of one daemon, per peer and in all, and its open
    connections against the descriptor limit."""

    def __init__(self, limits: Limits | None = None, descriptors: int | None = None) -> None:
        self.limits = limits or Limits()
        self.descriptors = descriptors if descriptors is not None else raise_descriptor_limit()
        self.waiting: dict[str, int] = {}  # peer -> unauthenticated connections
        self.unauthenticated = 0
        self.open = 0  # every connection accepted and not yet closed
        self.refused = Every()
        self._changed = asyncio.Event()

    def room(self, reserve: int) -> bool:
        """May a listener keeping ``reserve`` descriptors free accept one more?"""
        total = min(self.limits.total, max(1, (self.descriptors - self.limits.reserve) // 2))
        return self.unauthenticated < total and self.open + reserve < self.descriptors

    async def wait_room(self, reserve: int) -> None:
        while not self.room(reserve):
            self._changed.clear()
            await self._changed.wait()

    def admit(self, peer: str) -> Ticket | None:
        """A ticket for one more unauthenticated connection of ``peer``; None at its cap."""
        if self.waiting.get(peer, 0) >= self.limits.per_peer:
            return None
        self.waiting[peer] = self.waiting.get(peer, 0) + 1
        self.unauthenticated += 1
        self.open += 1
        return Ticket(self, peer)

    def _authenticated(self, peer: str) -> None:
        left = self.waiting[peer] - 1
        if left:
            self.waiting[peer] = left
        else:
            del self.waiting[peer]
        self.unauthenticated -= 1
        self._changed.set()

    def _closed(self) -> None:
        self.open -= 1
        self._changed.set()


class Ticket:
    """One accepted connection's place at the gate: unauthenticated until told otherwise."""

    __slots__ = ("gate", "peer", "pending", "_open")

    def __init__(self, gate: Gate, peer: str) -> None:
        self.gate = gate
        self.peer = peer
        self.pending = True
        self._open = True

    def authenticated(self) -> None:
        """The peer proved who it is: it no longer counts against the handshake caps."""
        if self.pending:
            self.pending = False
            self.gate._authenticated(self.peer)

    def close(self) -> None:
        self.authenticated()
        if self._open:
            self._open = False
            self.gate._closed()


Serve = Callable[[socket.socket, Ticket], Awaitable[None]]


class Listener:
    """Accepts connections on one listening socket, within the gate's limits, and runs
    ``serve(sock, ticket)`` for each (the ticket is closed when it returns)."""

    def __init__(self, sock: socket.socket, gate: Gate, serve: Serve, *, reserve: int | None = None,
                 name: str = "") -> None:
        sock.setblocking(False)
        self.sock = sock
        self.gate = gate
        self.serve = serve
        self.unix = sock.family == socket.AF_UNIX
        # the Unix socket keeps a few descriptors for the store and logs; TCP leaves room to it
        self.reserve = reserve if reserve is not None else (8 if self.unix else gate.limits.reserve)
        self.name = name or str(sock.getsockname())
        self._task: asyncio.Task[None] | None = None
        self._conns: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._accept_loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sock.close()
        for task in list(self._conns):
            task.cancel()
        if self._conns:
            await asyncio.gather(*self._conns, return_exceptions=True)

    def _peer(self, conn: socket.socket, address: object) -> str:
        if self.unix:
            try:
                creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
                return f"uid:{int.from_bytes(creds[4:8], 'little')}"
            except OSError:
                return "uid:?"
        return str(address[0]) if isinstance(address, tuple) and address else "?"

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.gate.wait_room(self.reserve)
            try:
                conn, address = await loop.sock_accept(self.sock)
            except OSError as exc:
                if exc.errno in OUT_OF_RESOURCES:
                    self.gate.refused.warn("accept " + self.name, "%s: cannot accept: %s", self.name,
                                           exc.strerror)
                    await asyncio.sleep(PAUSE_WHEN_OUT)
                    continue
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EINTR, errno.EAGAIN):
                    continue
                raise
            peer = self._peer(conn, address)
            ticket = self.gate.admit(peer)
            if ticket is None:
                conn.close()
                self.gate.refused.warn("peer " + self.name, "%s: refused a connection of %s: %d of its "
                                       "connections are not authenticated yet", self.name, peer,
                                       self.gate.limits.per_peer)
                continue
            task = loop.create_task(self._run(conn, ticket))
            self._conns.add(task)
            task.add_done_callback(self._conns.discard)

    async def _run(self, conn: socket.socket, ticket: Ticket) -> None:
        try:
            await self.serve(conn, ticket)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: a connection of %s failed", self.name, ticket.peer)
        finally:
            conn.close()
            ticket.close()


async def streams(conn: socket.socket, *, limit: int = 2 ** 16, tls: Any = None,
                  tls_timeout: float = 10.0) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """asyncio streams over an accepted socket; in TLS with the server context ``tls`` (see
    ``qsys.tls``), whose handshake must end within ``tls_timeout`` seconds."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    extra = {"ssl": tls, "ssl_handshake_timeout": tls_timeout} if tls is not None else {}
    transport, _ = await loop.connect_accepted_socket(lambda: protocol, conn, **extra)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


def tcp_sockets(hosts: list[str], port: int, backlog: int = 128) -> list[socket.socket]:
    """Listening sockets on each address of ``hosts`` ("" or "*": every IPv4 and IPv6
    address), all on one port (port 0: the first gets a free one, the others take it). An
    address family this host lacks is skipped; none at all is an OSError."""
    wanted = [h for host in hosts for h in (("0.0.0.0", "::") if host in ("", "*") else (host,))]
    socks: list[socket.socket] = []
    error: OSError | None = None
    for host in wanted:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as exc:
            error = exc
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host, port))
            sock.listen(backlog)
        except OSError as exc:
            sock.close()
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):  # no such family here
                error = exc
                continue
            for other in socks:
                other.close()
            raise
        socks.append(sock)
        port = sock.getsockname()[1]
    if not socks:
        raise error or OSError(errno.EADDRNOTAVAIL, f"cannot listen on {', '.join(wanted)}")
    return socks
