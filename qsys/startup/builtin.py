"""The builtin session client: what qrsh/qlogin run when both ends are ``builtin``.

It connects to the session port, presents the one-time token (HELLO) and waits for ACCEPT.
Then one select loop moves local stdin to the remote program and its stdout/stderr to ours,
kept apart when there is no pty. With a pty the local terminal goes to raw mode (so Ctrl-C,
Ctrl-Z, ... travel as bytes to the remote line discipline) and SIGWINCH sends the new window
size. SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 that reach this process are
forwarded as SIGNAL frames (through a wake-up pipe: a frame is never cut by a handler).
The return value is the remote exit status (128+n after signal n), 255 when the session was
lost without one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import socket
import struct
import sys
import termios
import tty

from qsys.remote import wire
from qsys.remote.addresses import lookup_name

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a qrsh milliseconds at run time
    from collections.abc import Sequence
    from types import ModuleType
    from typing import Any


def _x11() -> ModuleType:
    """The X11 helpers, imported only by sessions that forward X11."""
    from qsys.remote import x11

    return x11


FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
CONNECT_TIMEOUT = 10.0
LOST = 255


class SessionRefused(Exception):
    """The server refused the token, or no address of the host could be reached."""


def window_size(fd: int) -> tuple[int, int]:
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
        return rows or 24, cols or 80
    except OSError:
        return 24, 80


def connect(addresses: Sequence[str], port: int) -> socket.socket:
    """A connection to the first address that answers."""
    errors = []
    for address in addresses:
        try:
            # a bytes host is taken as it is at run time (typeshed says str)
            sock = socket.create_connection((lookup_name(address), port),  # type: ignore[arg-type]
                                            timeout=CONNECT_TIMEOUT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as exc:
            errors.append(f"{address}: {exc.strerror or exc}")
    raise SessionRefused("cannot connect to the session port: " + "; ".join(errors))


def handshake(sock: socket.socket, token: str, pty: bool, stdin_fd: int, x11_cookie: bytes = b"") -> None:
    rows, cols = window_size(stdin_fd) if pty else (0, 0)
    hello = {"token": token, "pty": pty, "term": os.environ.get("TERM", "") if pty else "",
             "rows": rows, "cols": cols, "x11": x11_cookie.hex()}
    sock.sendall(wire.control(wire.HELLO, hello))
    kind, length = struct.unpack(">BI", recv_exact(sock, 5))  # read exactly the answer: the
    payload = recv_exact(sock, min(length, 4096))  # program's output may follow at once
    if kind != wire.ACCEPT:
        raise SessionRefused(payload.decode(errors="replace") or "refused")
    sock.settimeout(None)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise SessionRefused("the session port closed the connection")
        buf += chunk
    return buf


class Client:
    """One builtin session from this terminal."""

    def __init__(self, sock: socket.socket, pty: bool, nostdin: bool,
                 stdin_fd: int = 0, stdout_fd: int = 1, stderr_fd: int = 2) -> None:
        self.sock = sock
        self.pty = pty
        self.stdin_fd = stdin_fd
        self.out = {wire.STDOUT: stdout_fd, wire.STDERR: stderr_fd}
        self.stdin_open = not nostdin
        self.pending: list[int] = []
        self.status: int | None = None
        self.reader = wire.FrameReader()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.display = ""  # -X: the local display, the session's fake cookie, the real one
        self.fake = b""
        self.real: bytes | None = None
        self.channels: dict[int, socket.socket] = {}
        self.setup: dict[int, bytearray] = {}  # channels whose X setup packet is not through yet

    def forward_x11(self, display: str, fake: bytes) -> None:
        self.display, self.fake, self.real = display, fake, _x11().real_cookie(display)

    # ------------------------------------------------------------ X11 channels

    def _x11_frame(self, kind: int, payload: bytes) -> None:
        channel, data = _x11().split_channel(payload)
        if kind == wire.X11_OPEN:
            try:
                if not self.display:
                    raise OSError("X11 forwarding was not asked for")
                self.channels[channel] = _x11().connect_display(self.display)
                self.setup[channel] = bytearray()
            except (OSError, ValueError):
                self._send(wire.frame(wire.X11_CLOSE, _x11().channel_payload(channel)))
        elif kind == wire.X11_CLOSE:
            self._drop(channel, tell=False)
        elif channel in self.setup:
            self.setup[channel] += data
            try:
                packet = _x11().rewrite_setup(bytes(self.setup[channel]), self.fake, self.real)
            except ValueError:
                self._drop(channel, tell=True)
                return
            if packet is not None:
                del self.setup[channel]
                self._to_display(channel, packet)
        elif channel in self.channels:
            self._to_display(channel, data)

    def _to_display(self, channel: int, data: bytes) -> None:
        try:
            self.channels[channel].sendall(data)
        except OSError:
            self._drop(channel, tell=True)

    def _drop(self, channel: int, tell: bool) -> None:
        sock = self.channels.pop(channel, None)
        self.setup.pop(channel, None)
        if sock is not None:
            sock.close()
            if tell:
                self._send(wire.frame(wire.X11_CLOSE, _x11().channel_payload(channel)))

    def _from_display(self, sock: socket.socket) -> None:
        channel = next((c for c, s in self.channels.items() if s is sock), None)
        if channel is None:
            return
        try:
            data = sock.recv(wire.CHUNK)
        except OSError:
            data = b""
        if data:
            self._send(wire.frame(wire.X11_DATA, _x11().channel_payload(channel, data)))
        else:
            self._drop(channel, tell=True)

    def _send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def _on_signal(self, sig: int, _frame: Any) -> None:
        self.pending.append(sig)
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"s")

    def _install(self) -> dict[int, Any]:
        old: dict[int, Any] = {}
        for sig in (*FORWARDED, signal.SIGWINCH):
            old[sig] = signal.signal(sig, self._on_signal)
        return old

    def _on_wake(self) -> None:
        with contextlib.suppress(OSError):
            os.read(self._wake_r, 4096)
        while self.pending:
            sig = self.pending.pop(0)
            if sig == signal.SIGWINCH:
                if self.pty:
                    self._send(wire.control(wire.WINCH, list(window_size(self.stdin_fd))))
            else:
                self._send(wire.control(wire.SIGNAL, int(sig)))

    def _on_stdin(self) -> None:
        try:
            data = os.read(self.stdin_fd, wire.CHUNK)
        except OSError:
            data = b""
        if data:
            self._send(wire.frame(wire.STDIN, data))
        else:
            self.stdin_open = False
            self._send(wire.frame(wire.STDIN_EOF))

    def _on_socket(self) -> bool:
        """False when the connection ended."""
        try:
            data = self.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            return False
        for kind, payload in self.reader.feed(data):
            if kind in self.out:
                _write_all(self.out[kind], payload)
            elif kind == wire.EXIT:
                self.status = int(wire.load(payload).get("exit_status", LOST))
            elif kind in (wire.X11_OPEN, wire.X11_DATA, wire.X11_CLOSE):
                self._x11_frame(kind, payload)
        return True

    def run(self) -> int:
        old_handlers = self._install()
        saved = None
        if self.pty and os.isatty(self.stdin_fd):
            saved = termios.tcgetattr(self.stdin_fd)
            tty.setraw(self.stdin_fd)
        if not self.stdin_open:
            self._send(wire.frame(wire.STDIN_EOF))
        try:
            while True:
                rlist: list[int | socket.socket] = [self.sock, self._wake_r, *self.channels.values()]
                if self.stdin_open:
                    rlist.append(self.stdin_fd)
                try:
                    readable, _, _ = select.select(rlist, [], [])
                except InterruptedError:
                    continue
                if self._wake_r in readable:
                    self._on_wake()
                if self.sock in readable and not self._on_socket():
                    break
                if self.stdin_open and self.stdin_fd in readable:
                    self._on_stdin()
                for item in readable:
                    if isinstance(item, socket.socket) and item is not self.sock:
                        self._from_display(item)
        finally:
            if saved is not None:
                termios.tcsetattr(self.stdin_fd, termios.TCSAFLUSH, saved)
            for sig, handler in old_handlers.items():
                signal.signal(sig, handler)
            os.close(self._wake_r)
            os.close(self._wake_w)
            for channel in list(self.channels):
                self._drop(channel, tell=False)
            self.sock.close()
        return LOST if self.status is None else self.status


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        except BrokenPipeError:
            return
        view = view[written:]


def run(addresses: Sequence[str], port: int, token: str, *, pty: bool, nostdin: bool,
        display: str = "") -> int:
    """Connect, authenticate, run the session; the remote exit status. With ``display``
    (qrsh -X), X programs of the session show on that local display."""
    fake = _x11().fake_cookie() if display else b""
    sock = connect(addresses, port)
    try:
        handshake(sock, token, pty, 0, fake)
    except (OSError, wire.FrameError) as exc:
        sock.close()
        raise SessionRefused(str(exc)) from None
    except SessionRefused:
        sock.close()
        raise
    client = Client(sock, pty, nostdin)
    if display:
        client.forward_x11(display, fake)
    code = client.run()
    if code == LOST:
        print("qrsh: the session ended without an exit status", file=sys.stderr)
    return code
