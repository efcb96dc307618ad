"""The cluster as the dashboard's summary and /metrics see it: one snapshot, shared.

A snapshot (every job row, queue instance, host and cluster queue) is taken from the master
at most once per ``refresh`` seconds, whoever asks, as the monitoring identity: it holds
only what every user may see (``qstat -u '*'``, ``qhost``). What it says is summed up here
(``summary``): hosts up, down and unknown, slots per queue, pending and running counts, and
the dispatch rate (tasks started in the last minutes: running ones by their start time,
finished ones by their accounting record).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from qsys.records import HostRow
from qsys.restd.adapter import MasterAdapter, Snapshot
from qsys.restd.identity import Caller
from qsys.restd.ledger import Ledger

RATE_WINDOW = 300.0  # seconds over which the dispatch rate is taken


def host_states(hosts: list[HostRow], configured: list[str]) -> dict[str, list[str]]:
    """Host names by state: up (reporting load), down (known, silent), unknown (configured,
    never seen)."""
    seen = {h.name for h in hosts}
    return {
        "up": sorted(h.name for h in hosts if h.state == "up"),
        "down": sorted(h.name for h in hosts if h.state == "down"),
        "unknown": sorted(set(configured) - seen),
    }


@dataclass
class ClusterView:
    master: MasterAdapter
    ledger: Ledger
    monitor: Caller
    refresh: float = 1.0
    _snapshot: Snapshot | None = None
    _taken: float = 0.0
    _lock: threading.Lock | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def snapshot(self) -> Snapshot:
        assert self._lock is not None
        with self._lock:
            now = time.monotonic()
            if self._snapshot is None or now - self._taken >= self.refresh:
                self._snapshot = self.master.snapshot(self.monitor.uid)
                self._taken = now
                self.ledger.refresh()
            return self._snapshot

    def summary(self) -> dict[str, Any]:
        snap = self.snapshot()
        now = time.time()
        counts = Counter(r.state_family for r in snap.jobs)
        started = sum(1 for r in snap.jobs if r.queue and (r.start_time or 0) >= now - RATE_WINDOW)
        started += self.ledger.starts_since(now - RATE_WINDOW)
        queues = [{"name": q.name, "used": q.used, "total": q.total, "free": q.available,
                   "unavailable": q.temp_disabled + q.manual_intervention, "load": q.load}
                  for q in snap.cluster_queues]
        return {
            "hosts": host_states(snap.hosts, snap.exec_hosts),
            "queues": queues,
            "jobs": {"pending": counts["pending"] + counts["held"] + counts["error"],
                     "running": counts["running"] + counts["transferring"],
                     "suspended": counts["suspended"], "by_state": dict(counts)},
            "dispatch_rate_per_minute": round(started * 60.0 / RATE_WINDOW, 2),
            "taken": now,
        }
