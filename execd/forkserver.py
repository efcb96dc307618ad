"""One long-lived process that forks shepherds, so no interpreter is started per job.

The exec daemon starts it once (``python -m execd.forkserver``, which imports the shepherd
code once) with a SOCK_SEQPACKET socket as its stdin and sends one request per packet: the
task directory's path, optionally with one file descriptor attached (SCM_RIGHTS): the
listening socket of an interactive session, which the shepherd inherits as fd 3. For each it
forks a shepherd and answers ``<pid>`` (or ``error <text>``) in one packet. SIGCHLD is ignored
so the kernel reaps shepherds; the daemon watches them with pidfds. At EOF (the daemon
died or stopped) the forkserver exits; the shepherds live on in their own sessions.

``preload <module>`` imports a module once more, on demand, so every shepherd forked after
it has it: ``execd.sshd`` (asyncssh, ~0.3 s to import) when this host's configuration names
``qsys-sshd``, so a session's daemon is forked ready instead of started as a new interpreter.
"""

from __future__ import annotations

import importlib
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from execd import builtin_server, shepherd, startup  # noqa: F401 - preloaded: a session's shepherd imports nothing

PRELOAD = "preload "
PRELOADABLE = ("execd.sshd",)


def serve(channel: socket.socket) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a ^C in the daemon's terminal is the daemon's
    while True:
        data, fds, _flags, _addr = socket.recv_fds(channel, 4096, 1)
        if not data:
            return
        path = data.decode().strip()
        if path.startswith(PRELOAD):
            channel.send(preload(path.removeprefix(PRELOAD)).encode())
            continue
        session_fd = fds[0] if fds else None
        try:
            pid = os.fork()
        except OSError as exc:
            channel.send(f"error fork: {exc.strerror}".encode())
            pid = -1
        if pid == 0:
            code = 1
            try:
                code = shepherd.child_main(path, session_fd=session_fd)
            finally:
                os._exit(code)
        for fd in fds:
            os.close(fd)
        if pid > 0:
            channel.send(str(pid).encode())


def preload(module: str) -> str:
    if module not in PRELOADABLE:
        return f"error: {module} is not preloadable"
    try:
        importlib.import_module(module)
    except ImportError as exc:
        return f"error: {exc}"
    return "ok"


def main() -> None:
    serve(socket.socket(fileno=0))


class ForkServerClient:
    """The daemon's handle on its forkserver: starts it (again, when it died) and asks for forks."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.channel: socket.socket | None = None
        self._lock = threading.Lock()
        self.preloads: set[str] = set()  # asked for; a restarted forkserver gets them again

    def start(self) -> None:
        env = dict(os.environ)
        package_parent = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "execd.forkserver"], stdin=theirs.fileno(),
                                         cwd="/", env=env)
        finally:
            theirs.close()
        self.channel = ours
        for module in sorted(self.preloads):
            self._preload(module)

    def preload(self, module: str) -> str:
        """Have ``module`` imported in the forkserver (blocks while it imports)."""
        with self._lock:
            self.preloads.add(module)
            if self.proc is None or self.proc.poll() is not None:
                self.start()
                return "ok"
            return self._preload(module)

    def _preload(self, module: str) -> str:
        assert self.channel is not None
        try:
            self.channel.send(f"{PRELOAD}{module}".encode())
            return self.channel.recv(4096).decode()
        except OSError as exc:
            return f"error: {exc}"

    def fork(self, task_dir: str, session_fd: int | None = None) -> int:
        """The pid of a new shepherd for ``task_dir`` (which inherits ``session_fd`` as fd 3);
        OSError when the fork failed."""
        with self._lock:
            for _attempt in (1, 2):
                if self.proc is None or self.proc.poll() is not None:
                    self.start()
                assert self.proc is not None and self.channel is not None
                try:
                    fds = [session_fd] if session_fd is not None else []
                    socket.send_fds(self.channel, [task_dir.encode()], fds)
                    answer = self.channel.recv(4096).decode().strip()
                except OSError:
                    answer = ""
                if answer.isdigit():
                    return int(answer)
                if answer.startswith("error"):
                    raise OSError(answer)
                self.stop()  # it died under us: start a new one once
            raise OSError("the forkserver does not answer")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


if __name__ == "__main__":
    main()
