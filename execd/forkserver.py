"""One long-lived process that forks shepherds, so no interpreter is started per job.

The exec daemon starts it once (``python -m execd.forkserver``, which imports the shepherd
code once) and writes one request per line on its stdin: ``<task dir>\\n``. For each it forks
a shepherd and answers ``<pid>\\n`` (or ``error <text>\\n``) on its stdout. SIGCHLD is ignored
so the kernel reaps shepherds; the daemon watches them with pidfds. At EOF (the daemon
died or stopped) the forkserver exits; the shepherds live on in their own sessions.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import BinaryIO

from execd import shepherd


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a ^C in the daemon's terminal is the daemon's
    for line in requests:
        path = line.decode().strip()
        if not path:
            continue
        try:
            pid = os.fork()
        except OSError as exc:
            answers.write(f"error fork: {exc.strerror}\n".encode())
            answers.flush()
            continue
        if pid == 0:
            code = 1
            try:
                code = shepherd.child_main(path)
            finally:
                os._exit(code)
        answers.write(f"{pid}\n".encode())
        answers.flush()


def main() -> None:
    serve(sys.stdin.buffer, sys.stdout.buffer)


class ForkServerClient:
    """The daemon's handle on its forkserver: starts it (again, when it died) and asks for forks."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        env = dict(os.environ)
        package_parent = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen([sys.executable, "-m", "execd.forkserver"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, cwd="/", env=env)

    def fork(self, task_dir: str) -> int:
        """The pid of a new shepherd for ``task_dir``; OSError when the fork failed."""
        with self._lock:
            for _attempt in (1, 2):
                if self.proc is None or self.proc.poll() is not None:
                    self.start()
                assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
                try:
                    self.proc.stdin.write(f"{task_dir}\n".encode())
                    self.proc.stdin.flush()
                    answer = self.proc.stdout.readline().decode().strip()
                except BrokenPipeError:
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
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None


if __name__ == "__main__":
    main()
