"""A joined host's credential signer: how its users' commands prove who they are to the master.

On a host that joined the cell only root can read the host secret, so a user's command cannot
sign its own credential. It asks the signer on the host's Unix socket
(``common/signer.sock``, mode 0666) instead, sending the nonce the master challenged it
with; the signer takes the caller's uid from the kernel (SO_PEERCRED, as MUNGE does), never
from the request, and answers with a credential for that uid on this host, signed with the
host secret. The master accepts it only for this host, and only while it is a submit host.
The exec daemon serves the signer on an exec host, ``qsys-authd`` on a submit-only host.

:func:`credential` is the client side every TCP command uses: the cluster key when the
caller can read it (the master host), the host secret when it can (root on a joined host),
else the signer.
"""

from __future__ import annotations

import os

from qsys import auth, protocol
from qsys.errors import AuthenticationError, QsysError, error_from_wire

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    from typing import Any

    from qsys.paths import Cell

REQUEST_TIMEOUT = 5.0
MAX_REQUEST = 1024  # a SignRequest is a nonce: anything larger is not one


def short_hostname() -> str:
    return os.environ.get("QSYS_HOST") or os.uname().nodename.split(".")[0]


def credential(cell: Cell, boot: dict[str, str], nonce: bytes, act_as: int | None = None) -> dict[str, Any]:
    """A credential for the caller (or for ``act_as``, by a holder of the cluster key) over
    the master's ``nonce``."""
    if act_as is not None or os.access(cell.key_file, os.R_OK):
        key = auth.load_key(cell.key_file)
        return auth.sign_credential(key, nonce, os.getuid() if act_as is None else act_as, short_hostname())
    host = boot.get("host_name") or short_hostname()
    if os.access(cell.host_secret, os.R_OK):
        return auth.sign_credential(auth.load_key(cell.host_secret), nonce, os.getuid(), host)
    return ask(str(cell.signer_socket), nonce)


def ask(path: str, nonce: bytes, timeout: float = REQUEST_TIMEOUT) -> dict[str, Any]:
    """The signer's credential for the caller."""
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
        except OSError as exc:
            raise AuthenticationError(f"error: cannot sign a credential for the master: no signer at {path} "
                                      f"({exc.strerror}; qsys-execd or qsys-authd signs on a joined host)") from None
        protocol.send_sync(sock, protocol.SignRequest(nonce))
        reply = protocol.recv_sync(sock)
    except OSError as exc:
        raise AuthenticationError(f"error: the credential signer at {path} failed: {exc}") from None
    finally:
        sock.close()
    if isinstance(reply, protocol.Fail):
        raise error_from_wire(reply.kind, reply.message)
    if not isinstance(reply, protocol.SignedCredential):
        raise AuthenticationError(f"error: the credential signer answered {type(reply).__name__}")
    return reply.credential


class Signer:
    """The server side: one Unix socket, one request per connection."""

    def __init__(self, path: str, host: str, secret: bytes) -> None:
        self.path = path
        self.host = host
        self.secret = secret
        self.server: asyncio.AbstractServer | None = None
        self.signed = 0

    async def start(self) -> None:
        import asyncio

        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.server = await asyncio.start_unix_server(self._serve, path=self.path)
        os.chmod(self.path, 0o666)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        try:
            os.unlink(self.path)
        except OSError:
            pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import asyncio
        import struct

        try:
            _pid, uid, _gid = auth.peer_credentials(writer.get_extra_info("socket"))
            header = await asyncio.wait_for(reader.readexactly(4), REQUEST_TIMEOUT)
            (length,) = struct.unpack(">I", header)
            if length > MAX_REQUEST:
                return
            msg = protocol.decode(await asyncio.wait_for(reader.readexactly(length), REQUEST_TIMEOUT))
            if not isinstance(msg, protocol.SignRequest):
                reply: Any = protocol.Fail("protocol", f"the signer signs credentials, not {type(msg).__name__}")
            else:
                try:
                    reply = protocol.SignedCredential(auth.sign_credential(self.secret, msg.nonce, uid, self.host))
                    self.signed += 1
                except AuthenticationError as exc:
                    reply = protocol.Fail(exc.kind, exc.message)
            protocol.write_message(writer, reply)
            await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, QsysError):
            pass
        finally:
            writer.close()
