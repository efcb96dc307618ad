"""The master's own figures: counters and fixed-bucket histograms, and the request that reads them.

Cheap enough for every request and every pass: a counter is an integer, a histogram a list of
bucket counts with fixed bounds (one ``bisect`` over a dozen bounds, a sum, a maximum per
observation); nothing grows with the number of observations, nothing is imported but the
standard library. Durations of work (a scheduling pass phase by phase: :class:`PassTimer`)
are taken with ``time.perf_counter`` (the group committer times its transactions itself: the
store does not import the master); latencies of jobs (submission to dispatch order, order to
start) with the master's clock, as the job times themselves.

``MetricsStatus`` answers all of it as one typed :class:`~qsys.records.MasterMetrics`:
qsys-restd serves it at ``/metrics`` with Prometheus names; bench/scale.py reads the pass
figures from it (``client.master_metrics()``: the pass-time histogram, the seconds per phase
summed, the last pass).
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass
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


PHASES = ("snapshot", "decide", "apply", "commit")  # of a scheduling pass, in order


@dataclass(slots=True)
class PassTimes:
    """One scheduling pass: seconds of real time per phase, what it saw and what it ordered."""

    snapshot: float = 0.0  # the scheduler's view of the master's state
    decide: float = 0.0  # qsys.sched.schedule
    apply: float = 0.0  # the orders into memory, the launches built
    commit: float = 0.0  # the orders made durable (the event loop serves others meanwhile)
    pending: int = 0  # pending jobs the pass looked at
    dispatched: int = 0  # tasks it ordered started

    @property
    def total(self) -> float:
        return self.snapshot + self.decide + self.apply + self.commit


class PassTimer:
    """Times the phases of one pass: :meth:`mark` at the end of each, in :data:`PHASES` order."""

    __slots__ = ("_last", "seconds")

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.seconds: list[float] = []

    def mark(self) -> None:
        now = time.perf_counter()
        self.seconds.append(now - self._last)
        self._last = now

    def elapsed(self) -> float:
        """Seconds since the timer started."""
        return sum(self.seconds) + time.perf_counter() - self._last

    def times(self, pending: int, dispatched: int) -> PassTimes:
        snapshot, decide, apply, commit = self.seconds
        return PassTimes(snapshot, decide, apply, commit, pending, dispatched)


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
            "Time of one scheduling pass: snapshot, decisions, orders applied, orders committed", PASS_BOUNDS)
        self.phase_sums = PassTimes()  # seconds per phase over all passes
        self.last_pass = PassTimes()
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
        self.status_made = Counter("qsys_status_replies_made_total", "Status replies (qstat) made anew")
        self.status_reused = Counter("qsys_status_replies_reused_total",
                                     "Status replies (qstat) served again from the status cache")
        self._requests: dict[type, int] = {}

    def request(self, msg_type: type) -> None:
        """Count one client request of this message type."""
        self._requests[msg_type] = self._requests.get(msg_type, 0) + 1

    def record_pass(self, times: PassTimes) -> None:
        """One scheduling pass ended (its orders durable)."""
        self.scheduling_pass.observe(times.total)
        sums = self.phase_sums
        sums.snapshot += times.snapshot
        sums.decide += times.decide
        sums.apply += times.apply
        sums.commit += times.commit
        self.last_pass = times

    def _pass_values(self) -> tuple[list[MetricValue], list[MetricValue]]:
        """(phase sums as counters, the last pass as gauges)."""
        last = self.last_pass
        sums = [MetricValue("qsys_scheduling_phase_seconds_total", "Seconds of scheduling passes, per phase",
                            getattr(self.phase_sums, phase), {"phase": phase}) for phase in PHASES]
        gauges = [MetricValue("qsys_scheduling_last_pass_seconds", "Seconds of the last scheduling pass, per phase",
                              getattr(last, phase), {"phase": phase}) for phase in PHASES]
        gauges += [MetricValue("qsys_scheduling_last_pass_pending_jobs", "Pending jobs the last pass looked at",
                               float(last.pending)),
                   MetricValue("qsys_scheduling_last_pass_dispatches", "Tasks the last pass ordered started",
                               float(last.dispatched))]
        return sums, gauges

    def figures(self) -> MasterMetrics:
        requests = [MetricValue("qsys_requests_total", "Client requests served, per message type", float(n),
                                {"type": protocol.message_name(t)})
                    for t, n in sorted(self._requests.items(), key=lambda item: protocol.message_name(item[0]))]
        phase_sums, last_pass = self._pass_values()
        return MasterMetrics(
            histograms=[h.figures() for h in (self.scheduling_pass, self.dispatch_latency, self.start_latency,
                                              self.store_commit)],
            counters=[c.figures() for c in (self.submissions, self.dispatches, self.finishes, self.status_made,
                                            self.status_reused)] + phase_sums + requests,
            gauges=[MetricValue("qsys_master_start_time_seconds", "When the master started (Unix time)",
                                self.started), *last_pass])

    async def status(self, who: Identity, msg: protocol.MetricsStatus) -> MasterMetrics:
        """MetricsStatus: the figures, for anyone who may ask the master at all."""
        return self.figures()
