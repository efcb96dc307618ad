"""The master's listeners: who is calling, then the client request table or an exec daemon link.

Every connection starts with a Challenge. Exec daemons answer with ExecdHello and are handed
to :mod:`qsys.master.execd_link`; clients answer with Hello and are identified by the kernel
(Unix socket, SO_PEERCRED) or by a credential signed with the cluster key over the challenge
(TCP). A name a client sends is never trusted.
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
    from qsys.master.lease import MasterLease

log = logging.getLogger("qsys.master.server")


ClientHandler = Callable[[Identity, Any], Awaitable[Any]]  # a request -> its typed reply


class ExecdLinks(Protocol):
    async def serve(self, hello: protocol.ExecdHello, nonce: bytes, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:
        """Serve one exec daemon's link after its hello."""
        ...


class Server:
    def __init__(self, state: Master, requests: protocol.HandlerTable[ClientHandler], execds: ExecdLinks,
                 lease: MasterLease | None = None) -> None:
        self.state = state
        self.requests = requests
        self.execds = execds
        self.lease = lease  # in a failover cell: the Challenge says which master this is
        self._servers: list[asyncio.AbstractServer] = []
        self._conn_seq = 0

    async def start(self, host: str | None, port: int | None, unix_path: str | None) -> int | None:
        """Listen on TCP (port 0 = any) and on the Unix socket; returns the TCP port."""
        bound_port = None
        if port is not None:
            def serve_tcp(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> Any:
                return self._serve(r, w, unix=False)

            if port == 0 and host is None:
                # one random port for both families (asyncio would pick one per family)
                tcp = await asyncio.start_server(serve_tcp, host="0.0.0.0", port=0, reuse_address=True)
                bound_port = tcp.sockets[0].getsockname()[1]
                self._servers.append(tcp)
                try:
                    self._servers.append(await asyncio.start_server(serve_tcp, host="::", port=bound_port,
                                                                    reuse_address=True))
                except OSError:
                    pass  # no IPv6 here
            else:
                tcp = await asyncio.start_server(serve_tcp, host=host, port=port, reuse_address=True)
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
            protocol.write_message(writer, self._challenge(nonce))
            first = await protocol.read_message(reader)
            if first is None:
                return
            if isinstance(first, protocol.ExecdHello):
                await self.execds.serve(first, nonce, reader, writer)
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
            uid, user, host = auth.verify_credential(self.state.key, nonce, hello.credential)
        identity = identify(self.state.config, self.state.owner_uid, uid, user, host)
        if not unix:
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
