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


def _number(sock: socket.socket, limit: int, what: str) -> int | None:
    head = _exactly(sock, 4)
    if head is None:
        return None
    (value,) = _U32.unpack(head)
    if value > limit:
        raise ValueError(f"message of {value} {what}")
    return value


def read_message(sock: socket.socket) -> list[str] | None:
    """The next message as text (undecodable bytes kept as surrogates); None at end of file."""
    count = _number(sock, MAX_ITEMS, "items")
    if count is None:
        return None
    items: list[str] = []
    for _ in range(count):
        length = _number(sock, MAX_BYTES, "bytes in an item")
        data = None if length is None else _exactly(sock, length)
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
