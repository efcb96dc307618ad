"""One long-lived process that forks shepherds, so no interpreter is started per job.

The exec daemon starts it once (``python -m execd.forkserver``, which imports the shepherd
code once) with a SOCK_SEQPACKET socket as its stdin and sends one request per packet: the
task directory's path, optionally with one file descriptor attached (SCM_RIGHTS): the
listening socket of an interactive session, which the shepherd inherits as fd 3. For each it
forks a shepherd and answers ``<pid>`` (or ``error <text>``) in one packet. SIGCHLD is ignored
so the kernel reaps shepherds; the daemon watches them with pidfds. At EOF (the daemon
died or stopped) the forkserver exits; the shepherds live on in their own sessions.

``spare`` forks a shepherd ahead of its task: it waits for its task directory on a pipe, and
the answer ``<pid>`` carries the pipe's write end. The daemon keeps a few spares and starts a
batch task by writing the path to it (then asks for the next spare without waiting), so a
start waits neither for a fork of this interpreter nor for a round trip to this process,
the dearest steps of a start on a loaded host. A spare holds nothing of the daemon's (its
copy of the channel is closed); at EOF on its pipe (the daemon gone, or ``discard``) it
exits without running anything.

``preload <module>`` imports a module once more, on demand, so every shepherd forked after
it has it: ``execd.sshd`` (asyncssh, ~0.3 s to import) when this host's configuration names
``qsys-sshd``, so a session's daemon is forked ready instead of started as a new interpreter.
"""

from __future__ import annotations

import gc
import importlib
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from execd import builtin_server, shepherd, startup  # noqa: F401 - preloaded: a session's shepherd imports nothing
from qsys.launch import Launch

PRELOAD = "preload "
SPARE = "spare"
SPARES = 4  # spare shepherds the daemon keeps (a pass's starts to a host come together)
PRELOADABLE = ("execd.sshd",)


def warm_up() -> None:
    """Do once here what every shepherd would do again after its fork: compile the checked
    decoder of its Launch (~3 ms a shepherd on a loaded host); and freeze what is loaded, so
    no collection in a shepherd walks (and so copies, page by page) the forkserver's objects:
    a trivial job's shepherd took ~1,500 copy-on-write faults, ~250 fewer frozen."""
    Launch.from_wire(Launch(0, 1, False, {}, "", 0, "", 0, "", "", 1, 1).to_wire())
    gc.collect()
    gc.freeze()


def fork_spare(channel: socket.socket) -> tuple[int, int]:
    """A shepherd that waits for its task directory: (pid, the write end of its pipe)."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            channel.close()  # the daemon's end must see EOF when the forkserver is gone
            os.close(write_end)
            chunks = []
            while chunk := os.read(read_end, 65536):
                chunks.append(chunk)
            path = b"".join(chunks).decode().strip()
            code = shepherd.child_main(path) if path else 0
        finally:
            os._exit(code)
    os.close(read_end)
    return pid, write_end


def serve(channel: socket.socket) -> None:
    warm_up()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a ^C in the daemon's terminal is the daemon's
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(channel, 4096, 1)
        except ConnectionResetError:  # the daemon closed with spare answers unread
            return
        if not data:
            return
        path = data.decode().strip()
        if path.startswith(PRELOAD):
            channel.send(preload(path.removeprefix(PRELOAD)).encode())
            continue
        if path == SPARE:
            try:
                pid, write_end = fork_spare(channel)
            except OSError as exc:
                channel.send(f"error fork: {exc.strerror}".encode())
                continue
            socket.send_fds(channel, [str(pid).encode()], [write_end])
            os.close(write_end)
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
    gc.freeze()  # its objects too (see warm_up)
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
        self._spares: list[tuple[int, int]] = []  # (pid, pipe) of shepherds waiting for their task
        self._asked = 0  # spare requests whose answer is not read yet

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
        self._asked = 0  # (answers of the forkserver before are lost with its channel)
        for module in sorted(self.preloads):
            self._preload(module)
        self._ask_spares()

    def preload(self, module: str) -> str:
        """Have ``module`` imported in the forkserver (blocks while it imports)."""
        with self._lock:
            self.preloads.add(module)
            if self.proc is None or self.proc.poll() is not None:
                self.start()
                return "ok"
            self._collect_spares(every=True)
            self._discard_spares()  # forked before the module: the next ones have it
            answer = self._preload(module)
            self._ask_spares()
            return answer

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
            if session_fd is None:
                pid = self._start_spare(task_dir)
                if pid is not None:
                    return pid
            for _attempt in (1, 2):
                if self.proc is None or self.proc.poll() is not None:
                    self.start()
                self._collect_spares(every=True)
                assert self.proc is not None and self.channel is not None
                try:
                    fds = [session_fd] if session_fd is not None else []
                    socket.send_fds(self.channel, [task_dir.encode()], fds)
                    answer = self.channel.recv(4096).decode().strip()
                except OSError:
                    answer = ""
                if answer.isdigit():
                    self._ask_spares()
                    return int(answer)
                if answer.startswith("error"):
                    raise OSError(answer)
                self.stop()  # it died under us: start a new one once
            raise OSError("the forkserver does not answer")

    # ------------------------------------------------------------ the spare shepherds

    @property
    def spare_pids(self) -> list[int]:
        """The spares in hand (their answers read), in the order they are used."""
        return [pid for pid, _pipe in self._spares]

    def _start_spare(self, task_dir: str) -> int | None:
        """Hand ``task_dir`` to a spare (its pid), ask for the next one; None without one."""
        self._collect_spares(wait=not self._spares)  # one is on its way: as good as a fork now
        while self._spares:
            pid, pipe = self._spares.pop(0)
            try:
                os.write(pipe, task_dir.encode())  # shorter than PIPE_BUF: whole or not at all
            except OSError:
                continue  # it is gone (killed): the next one, or a fork on request
            finally:
                os.close(pipe)
            return pid  # the daemon asks for the next one (refill) when its turn's work is done
        return None

    def refill(self) -> None:
        """Ask for spares again after starts. Apart from the start itself: waking the
        forkserver may hand it the CPU at once, for as long as a fork takes."""
        with self._lock:
            self._ask_spares()

    def _ask_spares(self) -> None:
        """Ask for spares up to SPARES without waiting (their answers are read when needed)."""
        if self.channel is None or self.proc is None or self.proc.poll() is not None:
            return
        while len(self._spares) + self._asked < SPARES:
            try:
                self.channel.send(SPARE.encode())
            except OSError:
                return
            self._asked += 1

    def _collect_spares(self, wait: bool = False, every: bool = False) -> None:
        """Read the answers to spare requests that are there (``wait``: at least one;
        ``every``: all of them, before a request of another kind: answers come in order)."""
        while self._asked and self.channel is not None:
            flags = 0 if wait or every else socket.MSG_DONTWAIT
            try:
                data, fds, _flags, _addr = socket.recv_fds(self.channel, 4096, 1, flags)
            except BlockingIOError:
                return
            except OSError:
                self._asked = 0
                return
            self._asked -= 1
            wait = False
            answer = data.decode().strip()
            if answer.isdigit() and fds:
                # SCM_RIGHTS gives an inheritable descriptor: a lean spare spawned while the daemon
                # holds it would keep the pipe open, and this spare would never see its EOF
                os.set_inheritable(fds[0], False)
                self._spares.append((int(answer), fds[0]))
            else:
                for fd in fds:
                    os.close(fd)

    def _discard_spares(self) -> None:
        for _pid, pipe in self._spares:
            os.close(pipe)  # EOF: the spare exits without running anything
        self._spares = []

    def stop(self) -> None:
        self._discard_spares()
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
