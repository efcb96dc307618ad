"""The accounting file followed as it grows: per-owner totals and recent task starts.

The master appends one record per finished task (``qsys.master.accounting``); restd reads
only what was added since it last looked (``refresh``), with qacct's own record parser
(``qsys.accounting_file``), so /metrics and the dashboard cost no rescan of a large file. A file that
shrank was rotated: it is read again from its start.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qsys.accounting_file import parse_record

RECENT_WINDOW = 600.0  # seconds of task starts kept for the dispatch rate


@dataclass
class OwnerTotals:
    tasks: int = 0
    cpu: float = 0.0
    wallclock: float = 0.0


@dataclass
class Ledger:
    path: Path
    owners: dict[str, OwnerTotals] = field(default_factory=dict)
    highest_job: int = 0
    recent_starts: deque[float] = field(default_factory=deque)
    _offset: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self) -> None:
        """Read the records appended since the last call."""
        with self._lock:
            try:
                size = self.path.stat().st_size
            except FileNotFoundError:
                return
            if size < self._offset:  # rotated or truncated
                self.owners.clear()
                self.recent_starts.clear()
                self._offset = 0
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read(size - self._offset)
            complete = data[: data.rfind(b"\n") + 1]  # a line being written waits for next time
            self._offset += len(complete)
            for line in complete.decode("utf-8", "replace").splitlines():
                record = parse_record(line)
                if record is not None:
                    self._add(record)
            self._forget_old(time.time())

    def _add(self, record: dict[str, Any]) -> None:
        totals = self.owners.setdefault(str(record["owner"]), OwnerTotals())
        totals.tasks += 1
        totals.cpu += float(record["cpu"])
        totals.wallclock += float(record["ru_wallclock"])
        self.highest_job = max(self.highest_job, int(record["job_number"]))
        if record["start_time"]:
            self.recent_starts.append(float(record["start_time"]))

    def _forget_old(self, now: float) -> None:
        starts = sorted(s for s in self.recent_starts if s >= now - RECENT_WINDOW)
        self.recent_starts = deque(starts)

    def starts_since(self, since: float) -> int:
        with self._lock:
            return sum(1 for s in self.recent_starts if s >= since)
