"""qsys-sshd: the per-job SSH daemon of the ``qsys-sshd`` remote startup method.

The job's shepherd starts it inetd style for one session (``execd.startup.spawn_qsys_sshd``):
the accepted connection on stdin and stdout, the task's trace on stderr, the session's plan
(JSON) on fd 3, already as the job's user with the job's extra group ID, as the job's child.
So everything below it is the job's: its usage, qdel, h_rt. No root, no system sshd, no
configuration file, no key on disk. ``python -m execd.sshd`` is the same as ``qsys-sshd``.

It serves one SSH connection (asyncssh) and on it one session:

* authentication by public key only: the key derived from the session's token
  (:mod:`qsys.remote.sshkeys`) for the job owner's user name (or the account the job runs
  as); anything else is refused and logged. The host key derives from the token too, so
  the client can verify it without any known_hosts of the cluster.
* the program is the job's, as builtin runs it (:mod:`execd.program`), whatever command the
  client sends; a job without a command runs the login shell, or ``$SHELL -c`` the command
  the client sends. Its environment is the job's (JOB_ID, TMPDIR, QRSH_PORT, ...), plus TERM
  from a pty request and DISPLAY/XAUTHORITY from an X11 request.
* a pty with the client's window size and its changes, or three pipes (stderr apart); stdin
  EOF; signal requests; X11 forwarding (a display of its own, its Xauthority in TMPDIR). No
  port or agent forwarding, no subsystems, no second session.
* the end: after the program exited (and its output drained), exit-status; after signal n,
  exit-signal and then exit-status 128+n (OpenSSH's client reads only exit-status). Then the
  daemon ends the way the program did, so the job's report and accounting carry its status.
  A client that hangs up first: SIGHUP to the program, SIGKILL ``HANGUP_GRACE`` s later.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import errno
import json
import logging
import os
import resource
import signal
import socket
import sys
import termios
import time
from typing import Any

import asyncssh
from asyncssh.packet import Boolean, String

from execd import program
from execd.usage import decode_status
from qsys.remote import sshkeys

PLAN_FD = 3
PR_SET_NAME = 15
LOGIN_TIMEOUT = 30.0
HANGUP_GRACE = 5.0
DRAIN_IDLE = 0.3  # after the program ended: how long to wait for more output of its children
INPUT_LIMIT = 1 << 20  # unwritten input at which the channel stops reading
READ_CHUNK = 32768
SESSION_LOST = 255
CLOSE_WAIT = 5.0  # for the client to close the channel and the connection


def log(text: str) -> None:
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
    print(f"{stamp} qsys-sshd: {text}", file=sys.stderr, flush=True)


class Program:
    """The session's program and the relay between its terminal or pipes and the channel."""

    def __init__(self, chan: Any, child: program.Started, done: asyncio.Future[int | None]) -> None:
        self.loop = asyncio.get_running_loop()
        self.chan = chan
        self.child = child
        self.done = done
        self.stderr_r = child.stderr_r
        self.outputs = set(child.outputs)
        self.paused = False
        self.to_program = bytearray()
        self.eof_pending = False
        self.status: int | None = None
        self.last_output = time.monotonic()
        self.client_open = True
        for fd in [*self.outputs, *([child.stdin_w] if child.stdin_w is not None else [])]:
            os.set_blocking(fd, False)
        self.pidfd = os.pidfd_open(child.pid)
        self.loop.add_reader(self.pidfd, self._exited)
        self._read_outputs(True)

    # ------------------------------------------------------------ the program's output

    def _read_outputs(self, on: bool) -> None:
        for fd in self.outputs:
            if on:
                self.loop.add_reader(fd, self._output, fd)
            else:
                self.loop.remove_reader(fd)

    def pause_output(self) -> None:
        self.paused = True
        self._read_outputs(False)

    def resume_output(self) -> None:
        self.paused = False
        self._read_outputs(True)

    def _output(self, fd: int) -> None:
        try:
            data = os.read(fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO: the pty's last slave was closed
                raise
            data = b""
        if not data:
            self.loop.remove_reader(fd)
            self.outputs.discard(fd)
            if fd != self.child.master:
                os.close(fd)
            self._maybe_finish()
            return
        self.last_output = time.monotonic()
        if self.client_open:
            if fd == self.stderr_r:
                self.chan.write_stderr(data)
            else:
                self.chan.write(data)

    # ------------------------------------------------------------ input, size, signals

    def _input_fd(self) -> int | None:
        return self.child.master if self.child.master is not None else self.child.stdin_w

    def feed(self, data: bytes) -> None:
        fd = self._input_fd()
        if fd is None or self.status is not None:
            return
        if not self.to_program:
            self.loop.add_writer(fd, self._write_input)
        self.to_program += data
        if len(self.to_program) >= INPUT_LIMIT:
            self.chan.pause_reading()

    def feed_eof(self) -> None:
        self.eof_pending = True
        if not self.to_program:
            self._eof()

    def _write_input(self) -> None:
        fd = self._input_fd()
        assert fd is not None
        try:
            written = os.write(fd, self.to_program[:65536])
        except BlockingIOError:
            return
        except OSError:
            written = len(self.to_program)  # the program closed its input: drop it
        del self.to_program[:written]
        if len(self.to_program) < INPUT_LIMIT // 2:
            self.chan.resume_reading()
        if not self.to_program:
            self.loop.remove_writer(fd)
            if self.eof_pending:
                self._eof()

    def _eof(self) -> None:
        self.eof_pending = False
        if self.child.master is not None:
            with contextlib.suppress(OSError):
                eof = termios.tcgetattr(self.child.master)[6][termios.VEOF]
                os.write(self.child.master, eof if isinstance(eof, bytes) else bytes([eof]))
        elif self.child.stdin_w is not None:
            os.close(self.child.stdin_w)
            self.child.stdin_w = None

    def resize(self, rows: int, cols: int) -> None:
        if self.child.master is not None and rows and cols:
            program.set_winsize(self.child.master, rows, cols)

    def signal(self, sig: int) -> None:
        groups = {self.child.pid}
        if self.child.master is not None:
            with contextlib.suppress(OSError):
                groups.add(os.tcgetpgrp(self.child.master))
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, sig)

    def hang_up(self) -> None:
        """The client went away: a terminal hang-up, then SIGKILL if it does not end."""
        self.client_open = False
        if self.status is None:
            self.signal(signal.SIGHUP)
            self.loop.call_later(HANGUP_GRACE, self._kill)
        self._maybe_finish()

    def _kill(self) -> None:
        if self.status is None:
            self.signal(signal.SIGKILL)

    # ------------------------------------------------------------ the end

    def _exited(self) -> None:
        self.loop.remove_reader(self.pidfd)
        os.close(self.pidfd)
        _, self.status = os.waitpid(self.child.pid, 0)
        self.last_output = time.monotonic()
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if self.status is None or self.done.done():
            return
        idle = time.monotonic() - self.last_output
        if self.outputs and self.client_open and idle < DRAIN_IDLE:
            self.loop.call_later(DRAIN_IDLE - idle + 0.01, self._maybe_finish)
            return
        self._read_outputs(False)
        for fd in {*self.outputs, *([self.child.master] if self.child.master is not None else [])}:
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.child.stdin_w is not None:
            with contextlib.suppress(OSError):
                os.close(self.child.stdin_w)
        if self.client_open:
            send_exit(self.chan, self.status)
        self.done.set_result(self.status)


def send_exit(chan: Any, status: int) -> None:
    code, sig = decode_status(status)
    with contextlib.suppress(OSError):
        if sig:
            name = signal.Signals(sig).name.removeprefix("SIG")
            # asyncssh's exit_with_signal() would close the channel before the exit-status
            chan._send_request(b"exit-signal", String(name), Boolean(False), String(""), String(""))
        chan.exit(code)


class Session(asyncssh.SSHServerSession[bytes]):
    """The one session: collects the requests, then runs the program on session start."""

    def __init__(self, plan: dict[str, Any], done: asyncio.Future[int | None]) -> None:
        self.plan = plan
        self.done = done
        self.chan: Any = None
        self.term = ""
        self.size = (80, 24)
        self.pty = False
        self.command: str | None = None
        self.program: Program | None = None

    def connection_made(self, chan: Any) -> None:
        self.chan = chan

    def pty_requested(self, term_type: str, term_size: tuple[int, int, int, int], term_modes: Any) -> bool:
        self.pty, self.term, self.size = True, term_type, (term_size[0], term_size[1])
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        self.command = command
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        log(f"subsystem {subsystem!r} refused")
        return False

    def _program(self) -> tuple[str, list[str], bool]:
        plan = self.plan
        if self.command is not None and not plan["has_command"]:
            return plan["shell"], [plan["shell"], "-c", self.command], False
        return plan["exe"], list(plan["argv"]), bool(plan["search"])

    def session_started(self) -> None:
        env = {str(k): str(v) for k, v in self.plan["env"].items()}
        if self.term:
            env["TERM"] = self.term
        display = self.chan.get_x11_display()
        if display:
            env["DISPLAY"], env["XAUTHORITY"] = display, self.plan["xauthority"]
        exe, argv, search = self._program()
        cols, rows = self.size
        child = program.start(None, self.plan["cwd"], exe, argv, search, env, self.pty, rows, cols)
        log(f"job={self.plan['job']} session: {'pty' if self.pty else 'pipes'}"
            f"{', X11 ' + display if display else ''}, pid {child.pid}: {argv!r}")
        self.program = Program(self.chan, child, self.done)

    def data_received(self, data: bytes, datatype: Any) -> None:
        if self.program is not None:
            self.program.feed(data)

    def eof_received(self) -> bool:
        if self.program is not None:
            self.program.feed_eof()
        return True  # half open: the program's output still comes

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        self.size = (width, height)
        if self.program is not None:
            self.program.resize(height, width)

    def signal_received(self, name: str) -> None:
        sig = getattr(signal, f"SIG{name}", None)
        if self.program is not None and isinstance(sig, int):
            self.program.signal(sig)

    def pause_writing(self) -> None:
        if self.program is not None:
            self.program.pause_output()

    def resume_writing(self) -> None:
        if self.program is not None:
            self.program.resume_output()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.program is not None:
            self.program.hang_up()
        elif not self.done.done():
            self.done.set_result(None)


class Server(asyncssh.SSHServer):
    """Authentication by the session's client key, for the job's user names; one session."""

    def __init__(self, plan: dict[str, Any], done: asyncio.Future[int | None]) -> None:
        self.plan = plan
        self.done = done
        self.client_key = asyncssh.import_public_key(sshkeys.public_openssh(plan["token"], sshkeys.CLIENT_LABEL))
        self.session: Session | None = None
        self.peer = "?"

    def connection_made(self, conn: Any) -> None:
        self.peer = str((conn.get_extra_info("peername") or ("?",))[0])

    def connection_lost(self, exc: Exception | None) -> None:
        if self.session is None and not self.done.done():
            self.done.set_result(None)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: Any) -> bool:
        if username not in self.plan["users"]:
            log(f"job={self.plan['job']} {self.peer}: user {username!r} refused "
                f"(the session is {', '.join(self.plan['users'])}'s)")
            return False
        if key.public_data != self.client_key.public_data:
            log(f"job={self.plan['job']} {self.peer}: key {key.get_fingerprint()} refused for {username}")
            return False
        return True

    def auth_completed(self) -> None:
        log(f"job={self.plan['job']} {self.peer}: session key accepted")

    def session_requested(self) -> Session | bool:
        if self.session is not None:
            log(f"job={self.plan['job']}: a second session refused")
            return False
        self.session = Session(self.plan, self.done)
        return self.session


async def serve(sock: socket.socket, plan: dict[str, Any]) -> int | None:
    """The connection's one session; the program's wait status (None: none ran)."""
    done: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
    server = Server(plan, done)
    host_key = asyncssh.import_private_key(sshkeys.private_openssh(plan["token"], sshkeys.HOST_LABEL))
    try:
        conn = await asyncssh.run_server(
            sock, server_factory=lambda: server, server_host_keys=[host_key],
            encoding=None, allow_pty=True, line_editor=False, x11_forwarding=True,
            x11_auth_path=plan["xauthority"], agent_forwarding=False, allow_scp=False,
            login_timeout=LOGIN_TIMEOUT, keepalive_interval=60, keepalive_count_max=3)
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        log(f"job={plan['job']}: no session: {exc}")
        return None
    try:
        return await done
    finally:
        # the client closes: a disconnect of ours could overtake the exit status it is reading
        with contextlib.suppress(TimeoutError, OSError, asyncssh.Error):
            if server.session is not None and server.session.chan is not None:
                await asyncio.wait_for(server.session.chan.wait_closed(), CLOSE_WAIT)
            await asyncio.wait_for(conn.wait_closed(), CLOSE_WAIT)
        conn.close()


def read_plan(fd: int) -> dict[str, Any]:
    with os.fdopen(fd, "rb") as f:
        plan = json.loads(f.read())
    if not isinstance(plan, dict) or not plan.get("token"):
        raise ValueError("no session plan")
    return plan


def end_like(status: int | None) -> int:
    """Exit the way the program did: its exit code, or the signal that ended it."""
    if status is None:
        return SESSION_LOST
    code, sig = decode_status(status)
    if not sig:
        return code
    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
        os.kill(os.getpid(), sig)
    return 128 + sig


def main(argv: list[str] | None = None) -> int:
    """The daemon, exec'ed (``python -m execd.sshd``) or called in a child forked from a
    shepherd whose forkserver preloaded this module (``execd.forkserver``)."""
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # a lost client is an error, not the end
    sys.stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115 - fd 2, the trace, forked or not
    with contextlib.suppress(OSError, AttributeError):  # the name ps and pgrep show, forked or not
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NAME, b"qsys-sshd", 0, 0, 0)
    parser = argparse.ArgumentParser(prog="qsys-sshd", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--debug", action="store_true", help="asyncssh's own log to the task's trace")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("asyncssh").setLevel(logging.DEBUG if args.debug else logging.WARNING)
    try:
        plan = read_plan(PLAN_FD)
        sock = socket.socket(fileno=os.dup(0))
    except (OSError, ValueError) as exc:
        print(f"qsys-sshd: {exc} (it is started by the exec daemon, inetd style: the connection on "
              f"stdin and stdout, the session plan on fd {PLAN_FD})", file=sys.stderr)
        return 2
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):  # nothing but the SSH stream may reach the connection
        os.dup2(null, fd)
    os.close(null)
    return end_like(asyncio.run(serve(sock, plan)))


if __name__ == "__main__":
    sys.exit(main())
