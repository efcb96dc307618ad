"""The framing between libdrmaa.c and the helper: a message is a list of byte strings.

``u32 count`` then, for each item, ``u32 length`` and its bytes (big-endian). A request is
``[operation, arguments...]``; a reply is ``[error code, diagnosis, results...]``.
"""

from __future__ import annotations

import socket
import struct

MAX_ITEMS = 1 << 22
MAX_BYTES = 1 << 26
_U32 = struct.Struct(">I")


def _exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_message(sock: socket.socket) -> list[str] | None:
    """The next message as text (undecodable bytes kept as surrogates); None at end of file."""
    head = _exactly(sock, 4)
    if head is None:
        return None
    (count,) = _U32.unpack(head)
    if count > MAX_ITEMS:
        raise ValueError(f"message of {count} items")
    items: list[str] = []
    for _ in range(count):
        size = _exactly(sock, 4)
        if size is None:
            return None
        (length,) = _U32.unpack(size)
        if length > MAX_BYTES:
            raise ValueError(f"message item of {length} bytes")
        data = _exactly(sock, length) if length else b""
        if data is None:
            return None
        items.append(data.decode("utf-8", "surrogateescape"))
    return items


def write_message(sock: socket.socket, items: list[str]) -> None:
    parts = [_U32.pack(len(items))]
    for item in items:
        data = item.encode("utf-8", "surrogateescape")
        parts.append(_U32.pack(len(data)))
        parts.append(data)
    sock.sendall(b"".join(parts))
