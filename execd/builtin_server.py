"""The builtin session server: runs the session's program and relays it over the connection.

Runs in the shepherd after the client's token was checked (``execd.startup``). The program is
the job: ``$SHELL -c "<command>"`` for qrsh with a command (the command itself with
``-noshell``), the user's login shell for qrsh without a command and qlogin. With a pty the
program gets a new session with the pty as its controlling terminal, the client's window size
and TERM; without one it gets three pipes, so stdout and stderr stay apart.

The relay is one select loop: client frames go to the program (input, EOF, window size,
signals); the program's output goes to the client; when the program ends, its output is
drained and EXIT carries its status. A client that hangs up is a terminal hang-up: SIGHUP to
the program, SIGKILL if it is still there ``HANGUP_GRACE`` seconds later.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import signal
import socket
import struct
import termios
import time
from typing import TYPE_CHECKING, Any

from execd import identity
from execd.spool import TaskDir
from execd.usage import decode_status
from qsys.remote import wire, x11

if TYPE_CHECKING:
    from execd.shepherd import Plan
    from qsys.launch import Launch

HANGUP_GRACE = 5.0
DRAIN_IDLE = 0.3  # after the program ended: how long to wait for more output of its children
BUFFER_LIMIT = 1 << 20


def program_argv(launch: Launch, plan: Plan) -> tuple[str, list[str], bool]:
    """(executable, argv, search PATH) of the session's program."""
    spec = launch.spec
    shell = plan.ident.shell or "/bin/sh"
    if spec.get("job_type") == "qrsh":
        if spec.get("noshell"):
            command = str(spec.get("command") or "")
            return command, [command, *[str(a) for a in spec.get("args") or []]], True
        return shell, [shell, "-c", str((launch.session or {}).get("command", ""))], False
    return shell, ["-" + os.path.basename(shell)], False


def _set_winsize(fd: int, rows: int, cols: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _spawn(plan: Plan, exe: str, argv: list[str], search: bool, env: dict[str, str],
           pty_slave: int | None, pipes: tuple[int, int, int] | None) -> int:
    pid = os.fork()
    if pid != 0:
        return pid
    try:
        for sig in (signal.SIGPIPE, signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD,
                    signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        os.setsid()
        if pty_slave is not None:
            fcntl.ioctl(pty_slave, termios.TIOCSCTTY, 0)
            fds = (pty_slave, pty_slave, pty_slave)
        else:
            assert pipes is not None
            fds = pipes
        for target, src in enumerate(fds):
            os.dup2(src, target)
        identity.switch(plan.ident)
        try:
            os.chdir(plan.cwd)
        except OSError as exc:
            os.write(2, f"error: can't chdir to {plan.cwd}: {exc.strerror}\n".encode())
            os._exit(1)
        os.closerange(3, 65536)
        if search:
            os.execvpe(exe, argv, env)
        os.execve(exe, argv, env)
    except BaseException as exc:  # noqa: B036 - nothing may escape a forked child
        with contextlib.suppress(OSError):
            os.write(2, f"error: cannot execute {exe}: {exc}\n".encode())
    os._exit(127)


class Relay:
    """Moves bytes and control between the client connection and the program."""

    def __init__(self, conn: socket.socket, pid: int, master: int | None, stdin_w: int | None,
                 outputs: dict[int, int], launch: Launch) -> None:
        self.conn = conn
        self.pid = pid
        self.master = master  # pty master (input and output), or None
        self.stdin_w = stdin_w  # pipe to the program's stdin (no pty)
        self.outputs = dict(outputs)  # fd -> frame type (STDOUT / STDERR)
        self.launch = launch
        self.reader = wire.FrameReader()
        self.to_client = bytearray()
        self.to_program = bytearray()
        self.client_open = True
        self.stdin_eof = False
        self.hangup_at: float | None = None
        self.exited: tuple[int, Any] | None = None
        self.x_listener: socket.socket | None = None  # the session's X display (-X)
        self.channels: dict[int, socket.socket] = {}
        self.chan_out: dict[int, bytearray] = {}
        self._next_channel = 1

    # ------------------------------------------------------------ client frames

    def _target_group(self) -> int:
        if self.master is not None:
            with contextlib.suppress(OSError):
                return os.tcgetpgrp(self.master)
        return self.pid

    def _signal(self, sig: int) -> None:
        for group in {self._target_group(), self.pid}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, sig)

    def _on_frame(self, kind: int, payload: bytes) -> None:
        if kind == wire.STDIN:
            self.to_program += payload
        elif kind == wire.STDIN_EOF:
            self.stdin_eof = True
        elif kind == wire.WINCH and self.master is not None:
            rows, cols = wire.load(payload)
            _set_winsize(self.master, int(rows), int(cols))
        elif kind == wire.SIGNAL:
            sig = int(wire.load(payload))
            if 0 < sig < signal.NSIG:
                self._signal(sig)
        elif kind == wire.X11_DATA:
            channel, data = x11.split_channel(payload)
            if channel in self.chan_out:
                self.chan_out[channel] += data
        elif kind == wire.X11_CLOSE:
            self._close_channel(x11.split_channel(payload)[0], tell=False)

    # ------------------------------------------------------------ X11 channels

    def _accept_x(self) -> None:
        assert self.x_listener is not None
        try:
            sock, _ = self.x_listener.accept()
        except OSError:
            return
        sock.setblocking(False)
        channel = self._next_channel
        self._next_channel += 1
        self.channels[channel] = sock
        self.chan_out[channel] = bytearray()
        self.to_client += wire.frame(wire.X11_OPEN, x11.channel_payload(channel))

    def _close_channel(self, channel: int, tell: bool) -> None:
        sock = self.channels.pop(channel, None)
        self.chan_out.pop(channel, None)
        if sock is not None:
            sock.close()
            if tell:
                self.to_client += wire.frame(wire.X11_CLOSE, x11.channel_payload(channel))

    def _channel_io(self, sock: socket.socket, readable: bool) -> None:
        channel = next((c for c, s in self.channels.items() if s is sock), None)
        if channel is None:
            return
        try:
            if readable:
                data = sock.recv(wire.CHUNK)
                if not data:
                    self._close_channel(channel, tell=True)
                    return
                self.to_client += wire.frame(wire.X11_DATA, x11.channel_payload(channel, data))
            else:
                sent = sock.send(self.chan_out[channel])
                del self.chan_out[channel][:sent]
        except BlockingIOError:
            pass
        except OSError:
            self._close_channel(channel, tell=True)

    def _client_gone(self) -> None:
        self.client_open = False
        if self.exited is None:
            self._signal(signal.SIGHUP)
            self.hangup_at = time.monotonic() + HANGUP_GRACE

    def _read_client(self) -> None:
        try:
            data = self.conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._client_gone()
            return
        try:
            for kind, payload in self.reader.feed(data):
                self._on_frame(kind, payload)
        except (wire.FrameError, ValueError, TypeError):
            self._client_gone()

    # ------------------------------------------------------------ program side

    def _write_program(self) -> None:
        fd = self.master if self.master is not None else self.stdin_w
        if fd is None:
            self.to_program.clear()
            return
        try:
            written = os.write(fd, self.to_program[:65536])
            del self.to_program[:written]
        except BlockingIOError:
            pass
        except OSError:
            self.to_program.clear()
            self._close_stdin()

    def _close_stdin(self) -> None:
        if self.stdin_w is not None:
            os.close(self.stdin_w)
            self.stdin_w = None

    def _maybe_eof(self) -> None:
        if self.stdin_eof and not self.to_program:
            if self.master is not None:
                with contextlib.suppress(OSError):
                    eof = termios.tcgetattr(self.master)[6][termios.VEOF]
                    os.write(self.master, eof if isinstance(eof, bytes) else bytes([eof]))
            self._close_stdin()
            self.stdin_eof = False

    def _read_output(self, fd: int) -> bool:
        """False at the end of this output."""
        try:
            data = os.read(fd, wire.CHUNK)
        except BlockingIOError:
            return True
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO: the pty's last slave was closed
                raise
            data = b""
        if not data:
            del self.outputs[fd]
            if fd != self.master:
                os.close(fd)
            return False
        self.to_client += wire.frame(self.outputs[fd], data)
        return True

    def _flush_client(self) -> None:
        if not self.to_client:
            return
        if not self.client_open:
            self.to_client.clear()
            return
        try:
            sent = self.conn.send(self.to_client)
            del self.to_client[:sent]
        except BlockingIOError:
            pass
        except OSError:
            self.to_client.clear()
            self._client_gone()

    # ------------------------------------------------------------ the loop

    def run(self, h_rt_at: float | None) -> tuple[int, Any]:
        self.conn.setblocking(False)
        for fd in [*self.outputs, *([self.stdin_w] if self.stdin_w is not None else [])]:
            os.set_blocking(fd, False)
        pidfd = os.pidfd_open(self.pid)
        last_output = time.monotonic()
        try:
            while True:
                now = time.monotonic()
                if self.exited is not None:
                    idle = now - last_output
                    if not self.outputs or idle > DRAIN_IDLE or not self.client_open:
                        break
                rlist: list[Any] = []
                wlist: list[Any] = []
                if self.client_open and len(self.to_program) < BUFFER_LIMIT:
                    rlist.append(self.conn)
                if len(self.to_client) < BUFFER_LIMIT:
                    rlist.extend(self.outputs)
                if self.exited is None:
                    rlist.append(pidfd)
                    if self.x_listener is not None:
                        rlist.append(self.x_listener)
                if len(self.to_client) < BUFFER_LIMIT:
                    rlist.extend(self.channels.values())
                wlist.extend(self.channels[c] for c, out in self.chan_out.items() if out)
                if self.to_client and self.client_open:
                    wlist.append(self.conn)
                if self.to_program and (self.master is not None or self.stdin_w is not None):
                    wlist.append(self.master if self.master is not None else self.stdin_w)
                timeout = 1.0
                if self.exited is not None:
                    timeout = DRAIN_IDLE
                if self.hangup_at is not None:
                    timeout = min(timeout, max(0.0, self.hangup_at - now))
                if h_rt_at is not None:
                    timeout = min(timeout, max(0.0, h_rt_at - time.time()))
                readable, writable, _ = select.select(rlist, wlist, [], timeout)
                for item in readable:
                    if item is self.conn:
                        self._read_client()
                    elif item == pidfd:
                        _, status, ru = os.wait4(self.pid, 0)
                        self.exited = (status, ru)
                        last_output = time.monotonic()
                    elif item is self.x_listener:
                        self._accept_x()
                    elif isinstance(item, socket.socket):
                        self._channel_io(item, readable=True)
                    elif item in self.outputs:
                        if self._read_output(item):
                            last_output = time.monotonic()
                for item in writable:
                    if item is self.conn:
                        self._flush_client()
                    elif isinstance(item, socket.socket):
                        self._channel_io(item, readable=False)
                    else:
                        self._write_program()
                self._maybe_eof()
                if self.hangup_at is not None and time.monotonic() >= self.hangup_at and self.exited is None:
                    self._signal(signal.SIGKILL)
                    self.hangup_at = None
                if h_rt_at is not None and time.time() >= h_rt_at and self.exited is None:
                    self._signal(signal.SIGKILL)
                    h_rt_at = None
        finally:
            os.close(pidfd)
            for channel in list(self.channels):
                self._close_channel(channel, tell=False)
            if self.x_listener is not None:
                self.x_listener.close()
        assert self.exited is not None
        return self.exited

    def finish(self, status: int) -> None:
        """Send what is left and the exit status; the client closes after EXIT."""
        if not self.client_open:
            return
        exit_status, sig = decode_status(status)
        self.to_client += wire.control(wire.EXIT, {"exit_status": exit_status, "signal": sig})
        self.conn.setblocking(True)
        self.conn.settimeout(10.0)
        with contextlib.suppress(OSError):
            self.conn.sendall(self.to_client)
            self.conn.shutdown(socket.SHUT_WR)


def _x11_display(hello: dict[str, Any], env: dict[str, str], plan: Plan, tdir: TaskDir) -> socket.socket | None:
    """With -X: a display of the session's own, its fake cookie in a private Xauthority."""
    try:
        cookie = bytes.fromhex(str(hello.get("x11") or ""))
    except ValueError:
        return None
    if not cookie:
        return None
    try:
        listener, number = x11.open_display()
    except OSError:
        return None
    path = os.path.join(env.get("TMPDIR") or str(tdir.path), ".Xauthority")
    try:
        x11.write_xauthority(path, number, cookie, plan.ident.uid if plan.ident.switch else None)
    except OSError:
        listener.close()
        return None
    env["DISPLAY"] = f"localhost:{number}.0"
    env["XAUTHORITY"] = path
    return listener


def serve(conn: socket.socket, hello: dict[str, Any], plan: Plan, launch: Launch,
          tdir: TaskDir) -> tuple[int, Any, float]:
    """Run the program for the accepted client; (wait status, rusage, start time)."""
    env = dict(plan.env)
    use_pty = bool(hello.get("pty"))
    if hello.get("term"):
        env["TERM"] = str(hello["term"])
    x_listener = _x11_display(hello, env, plan, tdir)
    exe, argv, search = program_argv(launch, plan)
    master: int | None = None
    stdin_w: int | None = None
    outputs: dict[int, int] = {}
    if use_pty:
        master, slave = os.openpty()
        _set_winsize(master, int(hello.get("rows") or 24), int(hello.get("cols") or 80))
        if plan.ident.switch:
            with contextlib.suppress(OSError):
                os.fchown(slave, plan.ident.uid, -1)
                os.fchmod(slave, 0o620)
        pid = _spawn(plan, exe, argv, search, env, slave, None)
        os.close(slave)
        outputs[master] = wire.STDOUT
    else:
        in_r, stdin_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        pid = _spawn(plan, exe, argv, search, env, None, (in_r, out_w, err_w))
        for fd in (in_r, out_w, err_w):
            os.close(fd)
        outputs[out_r] = wire.STDOUT
        outputs[err_r] = wire.STDERR
    started = time.time()
    tdir.write_job_pid(pid)
    sig = tdir.kill_signal()
    if sig is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
    relay = Relay(conn, pid, master, stdin_w, outputs, launch)
    relay.x_listener = x_listener
    h_rt_at = started + launch.h_rt if launch.h_rt is not None else None
    status, ru = relay.run(h_rt_at)
    relay.finish(status)
    for fd in {*relay.outputs, *([master] if master is not None else [])}:
        with contextlib.suppress(OSError):
            os.close(fd)
    if relay.stdin_w is not None:
        os.close(relay.stdin_w)
    return status, ru, started
