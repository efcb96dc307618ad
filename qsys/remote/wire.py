"""Frames of the builtin session protocol (client ``qsys.startup.builtin``, server
``execd.startup``), on the one TCP connection of a session.

A frame is one type byte, a 4-byte big-endian length and the payload. Control payloads are
msgpack; data payloads are raw bytes. The client speaks first with HELLO, which carries the
job's one-time token; the server answers ACCEPT or REFUSE before anything else happens.

==========  =====  ==========================================================
 frame      from   payload
==========  =====  ==========================================================
 HELLO      c      {token, pty, term, rows, cols, x11}  (x11: fake cookie, hex, or "")
 ACCEPT     s      {}
 REFUSE     s      reason (text)
 STDIN      c      bytes for the remote program's standard input
 STDIN_EOF  c      (empty) the local input ended
 WINCH      c      [rows, cols] the local terminal was resized
 SIGNAL     c      signal number to deliver to the remote program
 STDOUT     s      bytes the program wrote on stdout (everything, with a pty)
 STDERR     s      bytes the program wrote on stderr (without a pty)
 EXIT       s      {exit_status, signal}: exit code, 128+n after signal n
 X11_OPEN   s      channel (4 bytes): an X program connected to the session's display
 X11_DATA   c, s   channel + bytes of that X connection
 X11_CLOSE  c, s   channel: that X connection ended (or could not be made)
==========  =====  ==========================================================
"""

from __future__ import annotations

import struct

import msgpack

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HELLO, ACCEPT, REFUSE, STDIN, STDIN_EOF, WINCH, SIGNAL, STDOUT, STDERR, EXIT = range(1, 11)
X11_OPEN, X11_DATA, X11_CLOSE = range(11, 14)
_HEAD = struct.Struct(">BI")
MAX_PAYLOAD = 1 << 20
CHUNK = 65536  # data frames carry at most this much


class FrameError(Exception):
    """The peer sent something that is not a frame of this protocol."""


def frame(kind: int, payload: bytes = b"") -> bytes:
    return _HEAD.pack(kind, len(payload)) + payload


def control(kind: int, value: Any) -> bytes:
    """A frame whose payload is a msgpack value."""
    return frame(kind, msgpack.packb(value, use_bin_type=True))


def load(payload: bytes) -> Any:
    try:
        return msgpack.unpackb(payload, raw=False)
    except (ValueError, msgpack.UnpackException) as exc:
        raise FrameError(f"bad control payload: {exc}") from None


class FrameReader:
    """Collects bytes from a stream and hands out complete frames."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        out: list[tuple[int, bytes]] = []
        while len(self._buf) >= _HEAD.size:
            kind, length = _HEAD.unpack_from(self._buf)
            if not HELLO <= kind <= X11_CLOSE or length > MAX_PAYLOAD:
                raise FrameError(f"not a session frame (type {kind}, length {length})")
            end = _HEAD.size + length
            if len(self._buf) < end:
                break
            out.append((kind, bytes(self._buf[_HEAD.size:end])))
            del self._buf[:end]
        return out

    @property
    def pending(self) -> int:
        return len(self._buf)
