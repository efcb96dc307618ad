"""A small real file system (tmpfs) that a test fills up and frees again: a full disk.

``small_disk(path)`` mounts it at ``path`` and always unmounts it at the end (lazily if a
process still holds it, so no mount outlives the test).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path


class Disk:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / ".filler"

    def free(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self) -> None:
        """Take every free byte (a file grown until the file system says ENOSPC)."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for chunk in (1 << 20, 1 << 12, 1):
                block = b"\0" * chunk
                while True:
                    try:
                        os.write(fd, block)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)

    def free_up(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.filler.unlink()


@contextlib.contextmanager
def small_disk(path: Path, megabytes: int = 64) -> Iterator[Disk]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0755", "qsys-test", str(path)],
                   check=True, capture_output=True)
    try:
        yield Disk(path)
    finally:
        done = subprocess.run(["umount", str(path)], capture_output=True)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)
