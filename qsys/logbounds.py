"""Log lines a peer cannot blow up: each line bounded, each kind of warning rate-limited.

A value a peer sent (a host name, a job name, an error text) may be megabytes long, and a
peer may make the same error happen thousands of times a second. :class:`BoundedFormatter`
cuts every field of a record (the message, each argument, the traceback) to a few
kilobytes, saying how much it left out; :class:`RateLimit` lets through at most ``burst``
records of one kind (logger, level, message template) per ``seconds`` and then one line
saying how many it held back. Both are installed on the daemons' handlers in one place,
``qsys.daemonize.setup_logging``.
"""

from __future__ import annotations

import logging
import time

FIELD_LIMIT = 2000  # characters of one argument or of the message
LINE_LIMIT = 8000  # characters of a whole record, traceback included


def cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[{len(text) - limit} more characters]"


class BoundedFormatter(logging.Formatter):
    """A formatter whose every field and whole line have a bounded length."""

    def format(self, record: logging.LogRecord) -> str:
        bounded = logging.makeLogRecord(record.__dict__)
        if isinstance(bounded.args, tuple) and bounded.args:
            bounded.args = tuple(_bounded(a) for a in bounded.args)
        bounded.msg = cut(bounded.getMessage(), FIELD_LIMIT * 2)
        bounded.args = None
        return cut(super().format(bounded), LINE_LIMIT)

    def formatException(self, ei) -> str:  # type: ignore[no-untyped-def,unused-ignore]
        return cut(super().formatException(ei), LINE_LIMIT // 2)


def _bounded(arg: object) -> object:
    if isinstance(arg, (int, float)) or arg is None:
        return arg
    return cut(arg if isinstance(arg, str) else repr(arg) if isinstance(arg, bytes) else str(arg), FIELD_LIMIT)


class RateLimit(logging.Filter):
    """At most ``burst`` warnings or errors of one kind per ``seconds``; informational
    records always pass (they are the daemon's own, not a peer's doing)."""

    def __init__(self, burst: int = 20, seconds: float = 10.0) -> None:
        super().__init__()
        self.burst = burst
        self.seconds = seconds
        self._windows: dict[tuple[str, int, str], list[float]] = {}  # kind -> [start, count, held]
        self._last: tuple[logging.LogRecord | None, bool] = (None, True)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        if self._last[0] is record:  # the same record at the next handler
            return self._last[1]
        verdict = self._admit(record)
        self._last = (record, verdict)
        return verdict

    def _admit(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg)[:200])
        now = time.monotonic()
        window = self._windows.get(key)
        if window is None or now - window[0] >= self.seconds:
            held = int(window[2]) if window is not None else 0
            if len(self._windows) > 1000:
                self._windows.clear()
            self._windows[key] = [now, 1, 0]
            if held:
                record.msg = f"{record.msg} [{held} like it in the last {self.seconds:.0f}s not logged]"
            return True
        window[1] += 1
        if window[1] <= self.burst:
            return True
        window[2] += 1
        return False
