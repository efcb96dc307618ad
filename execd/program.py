"""The program of an interactive session: what it runs and how it starts.

Shared by the two servers that run it, the builtin one (:mod:`execd.builtin_server`, in the
shepherd) and the per-job SSH daemon (:mod:`execd.sshd`, already the job's user). The
program is ``$SHELL -c "<command>"`` for qrsh with a command (the command itself with
``-noshell``), the user's login shell for qrsh without a command and qlogin. With a pty it
gets a new session with the pty as its controlling terminal and the client's window size;
without one it gets three pipes, so stdout and stderr stay apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
import termios
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from execd import identity

if TYPE_CHECKING:
    from execd.shepherd import Plan
    from qsys.launch import Launch


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


def set_winsize(fd: int, rows: int, cols: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


@dataclass
class Started:
    """A running program and our ends of its terminal or pipes."""

    pid: int
    master: int | None = None  # the pty master: its input and its output
    stdin_w: int | None = None  # no pty: the pipe to its stdin
    stderr_r: int | None = None  # no pty: the pipe from its stderr
    outputs: list[int] = field(default_factory=list)  # what to read its output from


def start(ident: identity.Identity | None, cwd: str, exe: str, argv: list[str], search: bool,
          env: dict[str, str], pty: bool, rows: int = 24, cols: int = 80) -> Started:
    """Fork the program (as ``ident`` when given, else as we are) with a pty or three pipes."""
    if pty:
        master, slave = os.openpty()
        set_winsize(master, rows or 24, cols or 80)
        if ident is not None and ident.switch:
            with contextlib.suppress(OSError):
                os.fchown(slave, ident.uid, -1)
                os.fchmod(slave, 0o620)
        pid = _spawn(ident, cwd, exe, argv, search, env, (slave, slave, slave))
        os.close(slave)
        return Started(pid, master=master, outputs=[master])
    in_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = _spawn(ident, cwd, exe, argv, search, env, (in_r, out_w, err_w), pty=False)
    for fd in (in_r, out_w, err_w):
        os.close(fd)
    return Started(pid, stdin_w=stdin_w, stderr_r=err_r, outputs=[out_r, err_r])


def _spawn(ident: identity.Identity | None, cwd: str, exe: str, argv: list[str], search: bool,
           env: dict[str, str], fds: tuple[int, int, int], pty: bool = True) -> int:
    pid = os.fork()
    if pid != 0:
        return pid
    try:
        for sig in (signal.SIGPIPE, signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD,
                    signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        os.setsid()
        if pty:
            fcntl.ioctl(fds[0], termios.TIOCSCTTY, 0)
        for target, src in enumerate(fds):
            os.dup2(src, target)
        if ident is not None:
            identity.switch(ident)
        try:
            os.chdir(cwd)
        except OSError as exc:
            os.write(2, f"error: can't chdir to {cwd}: {exc.strerror}\n".encode())
            os._exit(1)
        os.closerange(3, 65536)
        if search:
            os.execvpe(exe, argv, env)
        os.execve(exe, argv, env)
    except BaseException as exc:  # noqa: B036 - nothing may escape a forked child
        with contextlib.suppress(OSError):
            os.write(2, f"error: cannot execute {exe}: {exc}\n".encode())
    os._exit(127)

