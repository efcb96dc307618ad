"""The master's listeners: who is calling, then the client request table or an exec daemon link.

Every connection starts with a Challenge. Exec daemons answer with ExecdHello and are handed
to :mod:`qsys.master.execd_link`; clients answer with Hello and are identified by the kernel
(Unix socket, SO_PEERCRED) or by a credential signed over the challenge (TCP), which
:mod:`qsys.master.membership` checks (as it answers a joining host's requests). A name a
client sends is never trusted. The TCP port speaks TLS when the cell has it (``qsys.tls``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import pwd
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from qsys import auth, protocol
from qsys.errors import AuthenticationError, ProtocolError, QsysError
from qsys.master.identity import Identity, identify

if TYPE_CHECKING:
    from qsys.master.core import Master

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
    def __init__(self, state: Master, requests: protocol.HandlerTable[ClientHandler], execds: ExecdLinks,
                 members: Members) -> None:
        self.state = state
        self.requests = requests
        self.execds = execds
        self.members = members
        self._servers: list[asyncio.AbstractServer] = []
        self._conn_seq = 0

    async def start(self, host: str | None, port: int | None, unix_path: str | None) -> int | None:
        """Listen on TCP (port 0 = any) and on the Unix socket; returns the TCP port."""
        bound_port = None
        tls: dict[str, Any] = {}
        if self.members.ssl is not None:
            from qsys.tls import HANDSHAKE_TIMEOUT

            tls = {"ssl": self.members.ssl, "ssl_handshake_timeout": HANDSHAKE_TIMEOUT}
        if port is not None:
            def serve_tcp(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> Any:
                return self._serve(r, w, unix=False)

            if port == 0 and host is None:
                # one random port for both families (asyncio would pick one per family)
                tcp = await asyncio.start_server(serve_tcp, host="0.0.0.0", port=0, reuse_address=True, **tls)
                bound_port = tcp.sockets[0].getsockname()[1]
                self._servers.append(tcp)
                try:
                    self._servers.append(await asyncio.start_server(serve_tcp, host="::", port=bound_port,
                                                                    reuse_address=True, **tls))
                except OSError:
                    pass  # no IPv6 here
            else:
                tcp = await asyncio.start_server(serve_tcp, host=host, port=port, reuse_address=True, **tls)
                self._servers.append(tcp)
                bound_port = tcp.sockets[0].getsockname()[1]
        if unix_path:
            try:
                os.unlink(unix_path)
            except FileNotFoundError:
                pass
            unix = await asyncio.start_unix_server(lambda r, w: self._serve(r, w, unix=True), path=unix_path)
            os.chmod(unix_path, 0o666 if os.geteuid() == 0 else 0o600)
            self._servers.append(unix)
        return bound_port

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, unix: bool) -> None:
        self._conn_seq += 1
        conn = self._conn_seq
        nonce = auth.new_nonce()
        try:
            protocol.write_message(writer, protocol.Challenge(nonce))
            first = await protocol.read_message(reader)
            if first is None:
                return
            if isinstance(first, protocol.ExecdHello):
                await self.execds.serve(first, nonce, reader, writer)
                return
            if self.members.takes(first):
                await self.members.serve(first, nonce, reader, writer)
                return
            if not isinstance(first, protocol.Hello):
                raise ProtocolError(f"unexpected first message {type(first).__name__}")
            identity = self._identify(first, nonce, writer, unix=unix)
            await self._serve_client(identity, reader, writer, conn)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except QsysError as exc:
            log.warning("conn=%d refused: %s", conn, exc)
            try:
                protocol.write_message(writer, protocol.Fail(exc.kind, exc.message))
                await writer.drain()
            except ConnectionError:
                pass
        except Exception:
            log.exception("conn=%d failed", conn)
        finally:
            writer.close()

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
            msg = await protocol.read_message(reader)
            if msg is None:
                return
            try:
                reply = await self.requests.lookup(msg)(identity, msg)
            except QsysError as exc:
                reply = protocol.Fail(exc.kind, exc.message)
            except Exception as exc:  # a bug: tell the client, keep serving others
                log.exception("conn=%d user=%s %s failed", conn, identity.user, type(msg).__name__)
                reply = protocol.Fail("error", f"internal error: {exc}")
            protocol.write_message(writer, reply)
            await writer.drain()


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def short_hostname() -> str:
    return socket.gethostname().split(".")[0]
