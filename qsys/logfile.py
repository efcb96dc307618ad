"""Append whole lines to a file, or none: what a daemon's log and the accounting file need
when the disk fills up.

A write the file system cuts short (no space left) is taken back (the file is truncated to
where the line began), so a reader never sees half a line; the caller learns the line was
not written and may keep it for later. Each file has one writing process, which is what
makes the truncation safe.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path


class LineFile:
    """An append-only file of whole lines."""

    def __init__(self, path: Path, mode: int = 0o644) -> None:
        self.path = path
        self.mode = mode
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, self.mode)
        return self._fd

    def append(self, data: bytes) -> bool:
        """Append ``data`` (whole lines) at once; False, and the file as it was, if it cannot."""
        try:
            fd = self._open()
            written = os.write(fd, data)
        except OSError:
            return False  # nothing written
        if written == len(data):
            return True
        try:  # a cut line is taken back: it began ``written`` bytes before the end (one writer)
            os.ftruncate(fd, os.fstat(fd).st_size - written)
        except OSError:
            pass
        return False

    def size(self) -> int:
        try:
            return os.fstat(self._open()).st_size
        except OSError:
            return 0

    def fsync(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError:
                pass

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class LineFileHandler(logging.Handler):
    """A logging handler writing each record as one whole line; lines the disk had no room
    for are counted and said once there is room again (the daemon keeps logging)."""

    def __init__(self, path: Path, mode: int = 0o644) -> None:
        super().__init__()
        self.file = LineFile(path, mode)
        self.lost = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = (self.format(record).replace("\n", "\n\t") + "\n").encode("utf-8", "backslashreplace")
        except Exception:
            self.handleError(record)
            return
        if self.lost:
            said = logging.makeLogRecord({"name": "qsys.log", "levelno": logging.WARNING, "levelname": "WARNING",
                                          "msg": f"{self.lost} log lines were lost: the disk had no room for them",
                                          "created": record.created, "msecs": record.msecs})
            note = (self.format(said) + "\n").encode()
            if not self.file.append(note):
                self.lost += 1
                return
            self.lost = 0
        if not self.file.append(line):
            self.lost += 1

    def close(self) -> None:
        self.file.close()
        super().close()
