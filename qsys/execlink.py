"""The exec side of the link to the master: connecting and the handshake, in one place for
exec daemons and simulated exec hosts alike.

Connect: the master's Unix socket (same machine: plain, the kernel vouches), or its TCP port,
with TLS when the cell has it (the master's certificate verified against the cell CA and
the name connected to; this host's certificate presented). Handshake: the master's
Challenge, then ExecdHello with a proof of the host's key over the challenge and the
master's certificate, then Register; the master answers with the host's configuration
(returned, for the caller to handle as every later message), or with Fail (the reason: an
unknown or revoked host), raised here as its error.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from qsys import auth, protocol
from qsys.errors import ConnectionFailed, ProtocolError, error_from_wire
from qsys.paths import Cell

MasterAddress = tuple[str, int] | Path  # TCP (host, port) or a Unix socket path


async def connect(address: MasterAddress, cell: Cell | None, use_tls: bool, joined: bool = False
                  ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    """(reader, writer, binding): ``binding`` is what the proof covers of the master's
    certificate (empty on a Unix socket or plain TCP). A ``joined`` host presents its client
    certificate."""
    if isinstance(address, Path):
        reader, writer = await asyncio.open_unix_connection(str(address))
        return reader, writer, b""
    host, port = address
    if port <= 0:
        raise ConnectionRefusedError(f"the master has not published its port yet ({host})")
    if not use_tls or cell is None:
        reader, writer = await asyncio.open_connection(host, port)
        return reader, writer, b""
    from qsys import tls

    reader, writer = await asyncio.open_connection(host, port, ssl=tls.client_context(cell, with_certificate=joined), server_hostname=host,
                                                   ssl_handshake_timeout=tls.HANDSHAKE_TIMEOUT)
    return reader, writer, tls.peer_binding(writer.get_extra_info("ssl_object"))


async def handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, key: bytes,
                    register: protocol.Register, binding: bytes = b"", challenge: Any = None) -> Any:
    """Prove ``key`` as ``host`` and register (``challenge``: the master's, when the caller has
    read it already). Returns the master's first message after that (its HostConfig; None for
    a malformed frame, which the link skips as any other), for the caller to handle as every
    later one; a refusal (Fail) is raised as its error."""
    if challenge is None:
        challenge = await _next(reader)
    if not isinstance(challenge, protocol.Challenge):
        raise ProtocolError(f"expected a challenge, got {type(challenge).__name__}")
    proof = auth.execd_proof(key, challenge.nonce, host, binding)
    protocol.write_message(writer, protocol.ExecdHello(host, proof, challenge.nonce))
    protocol.write_message(writer, register)
    await writer.drain()
    try:
        return await _next(reader)
    except protocol.MalformedMessage:
        return None


async def _next(reader: asyncio.StreamReader) -> Any:
    msg = await protocol.read_message(reader)
    if msg is None:
        raise ConnectionFailed("the master closed the link during the handshake")
    if isinstance(msg, protocol.Fail):
        raise error_from_wire(msg.kind, msg.message)
    return msg
