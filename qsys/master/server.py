"""The master's listeners: who is calling, then the client request table or an exec daemon link.

Every connection starts with a Challenge. Exec daemons answer with ExecdHello and are handed
to :mod:`qsys.master.execd_link`; clients answer with Hello and are identified by the kernel
(Unix socket, SO_PEERCRED) or by a credential signed over the challenge (TCP), which
:mod:`qsys.master.membership` checks (as it answers a joining host's requests). A name a
client sends is never trusted. The TCP port speaks TLS when the cell has it (``qsys.tls``):
an accepted socket becomes TLS streams in ``admission.streams``, after the admission gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import pwd
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from qsys import admission, auth, protocol
from qsys.errors import AuthenticationError, PermissionDenied, ProtocolError, QsysError
from qsys.master.identity import Identity, identify

if TYPE_CHECKING:
    from qsys.master.core import Master
    from qsys.master.lease import MasterLease

log = logging.getLogger("qsys.master.server")


ClientHandler = Callable[[Identity, Any], Awaitable[Any]]  # a request -> its typed reply


class ExecdLinks(Protocol):
    async def serve(self, hello: protocol.ExecdHello, nonce: bytes, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:
        """Serve one exec daemon's link after its hello."""
        ...


class Members(Protocol):
    @property
    def ssl(self) -> Any:
        """The TCP port's TLS context (None: plain TCP)."""
        ...

    def takes(self, msg: Any) -> bool:
        """Whether ``msg`` is a first message of a host that has no identity yet (joining)."""
        ...

    async def serve(self, msg: Any, nonce: bytes, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None: ...

    def verify_credential(self, credential: Any, nonce: bytes) -> tuple[int, str, str]:
        """(uid, user, host) of a TCP client's credential, or AuthenticationError."""
        ...

    def rights(self, identity: Identity) -> Identity:
        """What a TCP client's identity may do, given the host it calls from."""
        ...


class Server:
    """The listeners and the handshake; requests go to ``requests``, exec links to ``execds``,
    credentials and joins to ``members``. Connection limits before authentication:
    :mod:`qsys.admission`."""

    def __init__(self, state: Master, requests: protocol.HandlerTable[ClientHandler], execds: ExecdLinks,
                 members: Members, limits: admission.Limits | None = None,
                 lease: MasterLease | None = None) -> None:
        self.state = state
        self.requests = requests
        self.execds = execds
        self.members = members
        self.limits = limits or admission.Limits()
        self.lease = lease  # in a failover cell: the Challenge says which master this is
        self._gate: admission.Gate | None = None
        self._listeners: list[admission.Listener] = []
        self._conn_seq = 0
        self._per_user: dict[str, int] = {}  # user -> open client connections

    async def start(self, hosts: list[str] | None, port: int | None, unix_path: str | None) -> int | None:
        """Listen on TCP at ``hosts`` (None: every address; port 0: any free port) and on the
        Unix socket; returns the TCP port."""
        self._gate = gate = admission.Gate(self.limits)
        bound_port = None
        if port is not None:
            for sock in admission.tcp_sockets(hosts or ["*"], port):
                bound_port = sock.getsockname()[1]
                self._listen(sock, unix=False)
        if unix_path:
            try:
                os.unlink(unix_path)
            except FileNotFoundError:
                pass
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(unix_path)
            os.chmod(unix_path, 0o666 if os.geteuid() == 0 else 0o600)
            sock.listen(128)
            self._listen(sock, unix=True)
        log.info("listening: %s (at most %d descriptors)", ", ".join(x.name for x in self._listeners),
                 gate.descriptors)
        return bound_port

    def _listen(self, sock: socket.socket, *, unix: bool) -> None:
        assert self._gate is not None

        async def serve(conn: socket.socket, ticket: admission.Ticket) -> None:
            await self._serve(conn, ticket, unix=unix)

        listener = admission.Listener(sock, self._gate, serve, name="unix" if unix else _address(sock))
        listener.start()
        self._listeners.append(listener)

    async def close(self) -> None:
        for listener in self._listeners:
            await listener.close()
        self._listeners.clear()

    async def _serve(self, conn: socket.socket, ticket: admission.Ticket, *, unix: bool) -> None:
        self._conn_seq += 1
        seq = self._conn_seq
        tls = None if unix else self.members.ssl
        try:
            reader, writer = await admission.streams(conn, tls=tls, tls_timeout=self.limits.handshake_timeout)
        except (OSError, TimeoutError) as exc:  # SSLError too: a plain-text peer on the TLS port
            conn.close()
            self._gate_log("conn tls", "conn=%d from %s: no TLS handshake: %s", seq, ticket.peer, exc)
            return
        nonce = auth.new_nonce()
        try:
            protocol.write_message(writer, self._challenge(nonce))
            try:
                first = await asyncio.wait_for(protocol.read_message(reader, protocol.MAX_HELLO),
                                               self.limits.handshake_timeout)
            except TimeoutError:
                return  # a silent peer: its descriptor is all it ever got
            if first is None:
                return
            if isinstance(first, protocol.ExecdHello):
                ticket.authenticated()  # the link checks the proof before it reads anything else
                await self.execds.serve(first, nonce, reader, writer)
                return
            if self.members.takes(first):  # a joining host: one request, one answer
                await self.members.serve(first, nonce, reader, writer)
                return
            if not isinstance(first, protocol.Hello):
                raise ProtocolError(f"unexpected first message {type(first).__name__}")
            identity = self._identify(first, nonce, writer, unix=unix)
            ticket.authenticated()
            with self._held_by(identity.user):
                await self._serve_client(identity, reader, writer, seq)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except QsysError as exc:
            if ticket.pending or isinstance(exc, (AuthenticationError, PermissionDenied)):  # logged sparingly
                self._gate_log(f"conn refused {exc.kind}", "conn=%d from %s refused: %s", seq, ticket.peer, exc)
            else:
                log.warning("conn=%d refused: %s", seq, exc)
            await _say(writer, protocol.Fail(exc.kind, exc.message))
        finally:
            await _closed(writer)

    @contextlib.contextmanager
    def _held_by(self, user: str) -> Iterator[None]:
        """One more open client connection of ``user``; PermissionDenied at the per-user cap.

        An authenticated connection has no idle deadline (as in Grid Engine: qsub -sync,
        qrsh and DRMAA sessions wait on theirs for as long as their jobs run), so what bounds
        a user who leaves connections open is their number: ``Limits.per_user``."""
        held = self._per_user.get(user, 0)
        if held >= self.limits.per_user:
            raise PermissionDenied(f"user {user} has {held} connections to qmaster open already (the most "
                                   "one user may hold): close some")
        self._per_user[user] = held + 1
        try:
            yield
        finally:
            left = self._per_user[user] - 1
            if left:
                self._per_user[user] = left
            else:
                del self._per_user[user]

    def _gate_log(self, key: str, text: str, *args: object) -> None:
        assert self._gate is not None
        self._gate.refused.warn(key, text, *args)

    def _challenge(self, nonce: bytes) -> protocol.Challenge:
        if self.lease is None:
            return protocol.Challenge(nonce)
        return protocol.Challenge(nonce, self.lease.epoch, self.lease.remaining())

    def _identify(self, hello: protocol.Hello, nonce: bytes, writer: asyncio.StreamWriter, *, unix: bool) -> Identity:
        if unix:
            sock = writer.get_extra_info("socket")
            _pid, uid, _gid = auth.peer_credentials(sock)
            user = _user_name(uid)
            host = self.state.host_name
        else:
            if not hello.credential:
                raise AuthenticationError("a TCP client must present a signed credential")
            uid, user, host = self.members.verify_credential(hello.credential, nonce)
        identity = identify(self.state.config, self.state.owner_uid, uid, user, host)
        if not unix:
            identity = self.members.rights(identity)
            peer = writer.get_extra_info("peername")
            if peer:
                identity = dataclasses.replace(identity, address=str(peer[0]))
        return identity

    async def _serve_client(self, identity: Identity, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter, conn: int) -> None:
        protocol.write_message(writer, protocol.Welcome(identity.user))
        await writer.drain()
        while True:
            try:
                msg = await protocol.read_message(reader)
            except protocol.MalformedMessage as exc:  # the frame was whole: answer, read on
                protocol.write_message(writer, protocol.Fail(exc.kind, exc.message))
                await writer.drain()
                continue
            if msg is None:
                return
            try:
                handler = self.requests.lookup(msg)
                self.state.metrics.request(type(msg))
                reply = await handler(identity, msg)
            except QsysError as exc:
                reply = protocol.Fail(exc.kind, exc.message)
            except Exception as exc:  # a bug: tell the client, keep serving others
                log.exception("conn=%d user=%s %s failed", conn, identity.user, type(msg).__name__)
                reply = protocol.Fail("error", f"internal error: {exc}")
            protocol.write_message(writer, reply)
            await writer.drain()


async def _closed(writer: asyncio.StreamWriter) -> None:
    """Close and wait until the transport has let go of the socket: the listener closes the
    descriptor next, and a transport still closing (TLS says goodbye first) would otherwise
    act on the number the next accepted connection gets."""
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 5.0)
    except (OSError, TimeoutError):
        pass


async def _say(writer: asyncio.StreamWriter, msg: Any) -> None:
    """A last word to a peer that may be gone already."""
    try:
        protocol.write_message(writer, msg)
        await asyncio.wait_for(writer.drain(), 5.0)
    except (ConnectionError, TimeoutError):
        pass


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def short_hostname() -> str:
    return socket.gethostname().split(".")[0]
