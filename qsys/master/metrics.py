"""What only the master can measure, kept in one small place: scheduling pass time and its
phases, dispatches. Read with the ``master_metrics`` request (``Client.master_metrics``), in the
form ``qsys.restd.metrics.master_families`` turns into Prometheus families (cumulative histogram
buckets, counters, gauges); ``bench/scale.py`` reads the same map.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qsys import protocol

if TYPE_CHECKING:
    from qsys.master.identity import Identity

# seconds: a pass of a small cluster takes a millisecond, one over 100,000 pending jobs seconds
PASS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class Histogram:
    help: str
    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)  # per bucket, not cumulative; the last is +Inf
    sum: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def to_map(self) -> dict[str, Any]:
        buckets: list[list[Any]] = []
        total = 0
        for bound, count in zip([*self.bounds, "+Inf"], self.counts, strict=True):
            total += count
            buckets.append([bound, total])
        return {"help": self.help, "buckets": buckets, "sum": self.sum}


@dataclass
class PassTimes:
    """The phases of one scheduling pass, in seconds of real time (``time.perf_counter``)."""

    snapshot: float = 0.0  # the scheduler's view of the master's state
    decide: float = 0.0  # qsys.sched.schedule
    apply: float = 0.0  # the orders into memory, the launches built
    commit: float = 0.0  # the orders made durable (the event loop serves others meanwhile)
    pending: int = 0  # pending tasks the pass looked at
    dispatched: int = 0

    @property
    def total(self) -> float:
        return self.snapshot + self.decide + self.apply + self.commit


class MasterMetrics:
    def __init__(self) -> None:
        self.pass_seconds = Histogram("Time of one scheduling pass (snapshot, decisions, commit)", PASS_BUCKETS)
        self.passes = 0
        self.dispatches = 0
        self.phases = PassTimes()  # the sums over all passes
        self.last = PassTimes()

    def record_pass(self, times: PassTimes) -> None:
        self.pass_seconds.observe(times.total)
        self.passes += 1
        self.dispatches += times.dispatched
        sums = self.phases
        sums.snapshot += times.snapshot
        sums.decide += times.decide
        sums.apply += times.apply
        sums.commit += times.commit
        self.last = times

    def to_map(self) -> protocol.MetricsMap:
        last = self.last
        gauges = {
            "qsys_scheduling_last_pass_seconds": ("The last scheduling pass", last.total),
            "qsys_scheduling_last_snapshot_seconds": ("Its snapshot of the master's state", last.snapshot),
            "qsys_scheduling_last_decide_seconds": ("Its scheduler decisions", last.decide),
            "qsys_scheduling_last_apply_seconds": ("Its orders applied to memory", last.apply),
            "qsys_scheduling_last_commit_seconds": ("Its orders made durable", last.commit),
            "qsys_scheduling_last_pass_pending": ("Pending tasks the last pass considered", last.pending),
            "qsys_scheduling_last_pass_dispatches": ("Tasks the last pass dispatched", last.dispatched),
        }
        counters = {
            "qsys_dispatches_total": ("Tasks dispatched to exec hosts", self.dispatches),
            "qsys_scheduling_passes_total": ("Scheduling passes run", self.passes),
            "qsys_scheduling_snapshot_seconds_total": ("Time of all passes' snapshots", self.phases.snapshot),
            "qsys_scheduling_decide_seconds_total": ("Time of all passes' decisions", self.phases.decide),
            "qsys_scheduling_apply_seconds_total": ("Time of all passes' orders applied", self.phases.apply),
            "qsys_scheduling_commit_seconds_total": ("Time of all passes' commits", self.phases.commit),
        }
        return protocol.MetricsMap(
            histograms={"qsys_scheduling_pass_seconds": self.pass_seconds.to_map()},
            counters={name: {"help": text, "value": value} for name, (text, value) in counters.items()},
            gauges={name: {"help": text, "value": value} for name, (text, value) in gauges.items()})

    async def request(self, who: Identity, msg: protocol.MasterMetrics) -> protocol.MetricsMap:
        return self.to_map()
