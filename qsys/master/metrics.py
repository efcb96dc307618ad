"""The master's own figures: counters and fixed-bucket histograms, and the request that reads them.

Cheap enough for every request and every pass: a counter is an integer, a histogram a list of
bucket counts with fixed bounds (one ``bisect`` over a dozen bounds, a sum, a maximum per
observation); nothing grows with the number of observations, nothing is imported but the
standard library. Durations of work (a scheduling pass, a store commit) are taken with
``time.perf_counter`` through :func:`stopwatch`; latencies of jobs (submission to dispatch
order, order to start) with the master's clock, as the job times themselves.

``MetricsStatus`` answers all of it as one typed :class:`~qsys.records.MasterMetrics`:
qsys-restd serves it at ``/metrics`` with Prometheus names, and a benchmark reads the pass-time
histogram from it (``client.master_metrics().histogram("qsys_scheduling_pass_seconds")``).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from qsys import protocol
from qsys.records import MasterMetrics, MetricHistogram, MetricValue

if TYPE_CHECKING:
    from qsys.master.identity import Identity

# upper bounds in seconds: a pass takes from tens of microseconds (idle) to seconds (huge queues)
PASS_BOUNDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
               1.0, 2.5, 5.0, 10.0)
# a commit is an fsync or two: below a millisecond on SSDs, seconds on a struggling disk
COMMIT_BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# a job waits from milliseconds (an idle cluster) to hours (a full one)
LATENCY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                  900.0, 3600.0, 14400.0)


def stopwatch() -> Callable[[], float]:
    """Start measuring; the returned function gives the seconds since then."""
    began = time.perf_counter()
    return lambda: time.perf_counter() - began


class Histogram:
    """Observations counted in fixed buckets (Prometheus' ``le`` semantics: a value equal to a
    bound counts in that bound's bucket)."""

    __slots__ = ("bounds", "counts", "help", "max", "name", "sum")

    def __init__(self, name: str, help: str, bounds: tuple[float, ...]) -> None:
        self.name = name
        self.help = help
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound (+Inf)
        self.sum = 0.0
        self.max = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        if value > self.max:
            self.max = value

    def figures(self) -> MetricHistogram:
        cumulative, running = [], 0
        for count in self.counts:
            running += count
            cumulative.append(running)
        return MetricHistogram(self.name, self.help, list(self.bounds), cumulative, self.sum, self.max)


class Counter:
    """A count that only grows (since the master started)."""

    __slots__ = ("help", "name", "value")

    def __init__(self, name: str, help: str) -> None:
        self.name = name
        self.help = help
        self.value = 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount

    def figures(self) -> MetricValue:
        return MetricValue(self.name, self.help, float(self.value))


class Metrics:
    """Every figure the master keeps (one instance per master: ``Master.metrics``)."""

    def __init__(self, started: float | None = None) -> None:
        self.started = time.time() if started is None else started
        self.scheduling_pass = Histogram(
            "qsys_scheduling_pass_seconds",
            "Time of one scheduling pass: snapshot, scheduler, orders applied in memory", PASS_BOUNDS)
        self.dispatch_latency = Histogram(
            "qsys_dispatch_latency_seconds",
            "Time from a task's submission (or its -a start time) to its dispatch order", LATENCY_BOUNDS)
        self.start_latency = Histogram(
            "qsys_start_latency_seconds",
            "Time from a task's dispatch order to its exec daemon reporting it started", LATENCY_BOUNDS)
        self.store_commit = Histogram(
            "qsys_store_commit_seconds", "Time of one group commit (transaction) in the store", COMMIT_BOUNDS)
        self.submissions = Counter("qsys_submissions_total", "Jobs submitted (batch and interactive)")
        self.dispatches = Counter("qsys_dispatches_total", "Tasks dispatched to exec hosts")
        self.finishes = Counter("qsys_finishes_total", "Tasks that ended and were accounted")
        self._requests: dict[type, int] = {}

    def request(self, msg_type: type) -> None:
        """Count one client request of this message type."""
        self._requests[msg_type] = self._requests.get(msg_type, 0) + 1

    def figures(self) -> MasterMetrics:
        requests = [MetricValue("qsys_requests_total", "Client requests served, per message type", float(n),
                                {"type": protocol.message_name(t)})
                    for t, n in sorted(self._requests.items(), key=lambda item: protocol.message_name(item[0]))]
        return MasterMetrics(
            histograms=[h.figures() for h in (self.scheduling_pass, self.dispatch_latency, self.start_latency,
                                              self.store_commit)],
            counters=[c.figures() for c in (self.submissions, self.dispatches, self.finishes)] + requests,
            gauges=[MetricValue("qsys_master_start_time_seconds", "When the master started (Unix time)",
                                self.started)])

    async def status(self, who: Identity, msg: protocol.MetricsStatus) -> MasterMetrics:
        """MetricsStatus: the figures, for anyone who may ask the master at all."""
        return self.figures()
