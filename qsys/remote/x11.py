"""X11 forwarding of the builtin method (``qrsh -X``/``qlogin -X``), the parts both ends share.

The remote end listens on a display of its own (``localhost:N``, TCP port 6000+N) and gives
the session a *fake* MIT-MAGIC-COOKIE-1 in a private Xauthority file. Every connection an X
program opens there becomes a channel over the session connection (X11_OPEN, X11_DATA,
X11_CLOSE frames); the client connects each channel to the local display and, in the first
packet (the X connection setup), swaps the fake cookie for the real one from the local
Xauthority, the way OpenSSH does. A connection that does not present the fake cookie is
closed, so the real cookie never leaves this host and other users of the exec host cannot
reach the display.
"""

from __future__ import annotations

import os
import socket
import struct

PROTO = "MIT-MAGIC-COOKIE-1"
FAMILY_INTERNET = 0
FAMILY_LOCAL = 256


def channel_payload(channel: int, data: bytes = b"") -> bytes:
    return struct.pack(">I", channel) + data


def split_channel(payload: bytes) -> tuple[int, bytes]:
    return struct.unpack_from(">I", payload)[0], payload[4:]


def fake_cookie() -> bytes:
    return os.urandom(16)


# ---------------------------------------------------------------- the client's display


def parse_display(display: str) -> tuple[str, int]:
    """``:0`` / ``unix:0.0`` -> ("", 0) (Unix socket); ``host:10.0`` -> ("host", 10)."""
    host, sep, rest = display.rpartition(":")
    if not sep:
        raise ValueError(f"not an X display: {display!r}")
    number = int(rest.split(".")[0])
    return ("" if host in ("", "unix") else host), number


def connect_display(display: str) -> socket.socket:
    host, number = parse_display(display)
    if not host:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(f"/tmp/.X11-unix/X{number}")
        except OSError:
            sock.close()
            raise
        return sock
    return socket.create_connection((host, 6000 + number), timeout=10)


def real_cookie(display: str) -> bytes | None:
    """The local display's MIT cookie from ``xauth list`` (None: no xauth or no entry)."""
    import subprocess

    try:
        out = subprocess.run(["xauth", "list", display], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == PROTO:
            try:
                return bytes.fromhex(parts[2])
            except ValueError:
                continue
    return None


def _pad(n: int) -> int:
    return (n + 3) & ~3


def rewrite_setup(packet: bytes, fake: bytes, real: bytes | None) -> bytes | None:
    """The X connection setup with the real cookie instead of the fake one; None when the
    packet is not complete yet; ValueError when it does not carry the fake cookie."""
    if len(packet) < 12:
        return None
    order = "<" if packet[0:1] == b"l" else ">"
    name_len, data_len = struct.unpack_from(order + "HH", packet, 6)
    end = 12 + _pad(name_len) + _pad(data_len)
    if len(packet) < end:
        return None
    name = packet[12:12 + name_len].decode(errors="replace")
    data = packet[12 + _pad(name_len):12 + _pad(name_len) + data_len]
    if name != PROTO or data != fake:
        raise ValueError("X11 connection without the session's cookie")
    if real is None:  # the local display needs no cookie
        head = packet[:6] + struct.pack(order + "HH", 0, 0) + packet[10:12]
        return head + packet[end:]
    head = packet[:6] + struct.pack(order + "HH", name_len, len(real)) + packet[10:12]
    body = name.encode().ljust(_pad(name_len), b"\0") + real.ljust(_pad(len(real)), b"\0")
    return head + body + packet[end:]


# ---------------------------------------------------------------- the session's Xauthority


def _field(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def xauthority_entries(number: int, cookie: bytes, hostname: str) -> bytes:
    """Xauthority records for ``localhost:number`` (local family by host name, and 127.0.0.1)."""
    out = b""
    for family, address in ((FAMILY_LOCAL, hostname.encode()), (FAMILY_INTERNET, bytes([127, 0, 0, 1]))):
        out += struct.pack(">H", family) + _field(address) + _field(str(number).encode())
        out += _field(PROTO.encode()) + _field(cookie)
    return out


def open_display(first: int = 10, last: int = 1000) -> tuple[socket.socket, int]:
    """A listener on the first free ``localhost:N`` display."""
    for number in range(first, last):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", 6000 + number))
            sock.listen(16)
            return sock, number
        except OSError:
            sock.close()
    raise OSError("no free X display number")


def write_xauthority(path: str, number: int, cookie: bytes, uid: int | None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, xauthority_entries(number, cookie, socket.gethostname()))
        if uid is not None:
            os.fchown(fd, uid, -1)
    finally:
        os.close(fd)
