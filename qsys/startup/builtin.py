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
from collections.abc import Sequence
from typing import Any

from qsys.startup import wire

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
            sock = socket.create_connection((address, port), timeout=CONNECT_TIMEOUT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as exc:
            errors.append(f"{address}: {exc.strerror or exc}")
    raise SessionRefused("cannot connect to the session port: " + "; ".join(errors))


def handshake(sock: socket.socket, token: str, pty: bool, stdin_fd: int) -> None:
    rows, cols = window_size(stdin_fd) if pty else (0, 0)
    hello = {"token": token, "pty": pty, "term": os.environ.get("TERM", "") if pty else "",
             "rows": rows, "cols": cols, "display": ""}
    sock.sendall(wire.control(wire.HELLO, hello))
    kind, length = struct.unpack(">BI", _recv_exact(sock, 5))  # read exactly the answer: the
    payload = _recv_exact(sock, min(length, 4096))  # program's output may follow at once
    if kind != wire.ACCEPT:
        raise SessionRefused(payload.decode(errors="replace") or "refused")
    sock.settimeout(None)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
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
                rlist: list[int | socket.socket] = [self.sock, self._wake_r]
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
        finally:
            if saved is not None:
                termios.tcsetattr(self.stdin_fd, termios.TCSAFLUSH, saved)
            for sig, handler in old_handlers.items():
                signal.signal(sig, handler)
            os.close(self._wake_r)
            os.close(self._wake_w)
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


def run(addresses: Sequence[str], port: int, token: str, *, pty: bool, nostdin: bool) -> int:
    """Connect, authenticate, run the session; the remote exit status."""
    sock = connect(addresses, port)
    try:
        handshake(sock, token, pty, 0)
    except (OSError, wire.FrameError) as exc:
        sock.close()
        raise SessionRefused(str(exc)) from None
    except SessionRefused:
        sock.close()
        raise
    code = Client(sock, pty, nostdin).run()
    if code == LOST:
        print("qrsh: the session ended without an exit status", file=sys.stderr)
    return code
