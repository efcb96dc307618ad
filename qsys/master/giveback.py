"""Memory given back to the system after many jobs came or left (issue 12).

Python keeps what it freed for its next allocations: after a qdel of 50,000 pending jobs the
master's RSS stayed at its peak, and a qstat of them left 90 MB of its rows behind. Once a
burst of jobs leaving or arriving (a bulk submit's messages, changes and rows are transient)
or of status replies made (a KB of reply counts as a job) is over, :class:`GiveBack`
collects the young generations and asks glibc to return its free pages (``malloc_trim``: the store's blobs and
large tables are malloc'd, not in Python's own arenas). A second after the last of the burst,
so a stream of single qdels costs one trim, not one each.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import sys
from collections.abc import Callable
from typing import Any

BURST = 1000  # jobs that came or left (or KB of status replies made) before it is worth a trim
QUIET = 1.0  # seconds without more of them: the burst is over
LONGEST = 10.0  # and at most this long after it began (a steady stream is trimmed too)


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to ask
        return None
    return trim


_TRIM = _malloc_trim()


def give_back(tables: list[dict[Any, Any]] | None = None) -> None:
    """Collect the cycles, shrink ``tables`` that emptied (a dict keeps the table it grew
    to: 50,000 jobs gone left 2.4 MB of empty tables), hand free heap pages to the system.
    Only the young generations are collected (the cycles of a burst die young): a full walk
    of a 50,000-job heap took 0.5 s, and the collector (qsys.master.collector) does those."""
    gc.collect(1)
    for table in tables or ():
        kept = dict(table)
        if sys.getsizeof(table) > 2 * sys.getsizeof(kept):
            table.clear()  # the same object: others hold it
            table.update(kept)
    if _TRIM is not None:
        _TRIM(0)


class GiveBack:
    """Counts the jobs that came or left; after a burst of them, :func:`give_back` once."""

    def __init__(self, burst: int = BURST, quiet: float = QUIET, longest: float = LONGEST) -> None:
        self.burst = burst
        self.quiet = quiet
        self.longest = longest
        self.given = 0  # times given back (for tests and metrics)
        self.tables: list[dict[Any, Any]] = []  # the job tables to shrink once emptied
        self._count = 0
        self._seen = 0  # the count when last checked
        self._began: float | None = None
        self._handle: asyncio.TimerHandle | None = None

    def note(self, jobs: int = 1) -> None:
        """``jobs`` came or left memory, or as many KB of replies were made (cheap: called
        for each job of a bulk)."""
        self._count += jobs
        if self._count < self.burst or self._handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a test of pure logic): nothing to schedule on
            return
        self._began = loop.time()
        self._seen = self._count
        self._handle = loop.call_later(self.quiet, self._check)

    def _check(self) -> None:
        """Give back once no job came or left for ``quiet`` seconds (or ``longest`` passed)."""
        loop = asyncio.get_running_loop()
        assert self._began is not None
        if self._count != self._seen and loop.time() - self._began < self.longest:
            self._seen = self._count
            self._handle = loop.call_later(self.quiet, self._check)
            return
        self._handle = None
        self._count = 0
        give_back(self.tables)
        self.given += 1

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
