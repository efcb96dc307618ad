"""Where the time of a scheduling pass goes: its phases, summed since the start, and the last
pass's. Read with the ``pass_times_status`` request (``Client.pass_times``); bench/scale.py
reports from it. Small on purpose: the master's Prometheus figures (pass time histogram,
latencies, commits) are kept elsewhere, and these sums can join them as counters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from qsys import protocol

if TYPE_CHECKING:
    from qsys.master.identity import Identity

PHASES = ("snapshot", "decide", "apply", "commit")


@dataclass
class PassTimes:
    """One pass, in seconds of real time (``time.perf_counter``)."""

    snapshot: float = 0.0  # the scheduler's view of the master's state
    decide: float = 0.0  # qsys.sched.schedule
    apply: float = 0.0  # the orders into memory, the launches built
    commit: float = 0.0  # the orders made durable (the event loop serves others meanwhile)
    pending: int = 0  # pending jobs the pass looked at
    dispatched: int = 0  # tasks it dispatched

    @property
    def total(self) -> float:
        return self.snapshot + self.decide + self.apply + self.commit


class PassLog:
    def __init__(self) -> None:
        self.passes = 0
        self.sums = PassTimes()
        self.last = PassTimes()

    def record(self, times: PassTimes) -> None:
        self.passes += 1
        sums = self.sums
        sums.snapshot += times.snapshot
        sums.decide += times.decide
        sums.apply += times.apply
        sums.commit += times.commit
        sums.pending += times.pending
        sums.dispatched += times.dispatched
        self.last = times

    def figures(self) -> protocol.PassFigures:
        def seconds(times: PassTimes) -> dict[str, float]:
            return {phase: getattr(times, phase) for phase in PHASES}

        return protocol.PassFigures(self.passes, self.sums.dispatched, seconds(self.sums), seconds(self.last),
                                    self.last.pending, self.last.dispatched)

    async def status(self, who: Identity, msg: protocol.PassTimesStatus) -> protocol.PassFigures:
        return self.figures()
