"""Status reads off the scheduler's path: one answer to a qstat serves every poll until the
state changes.

Workflow tools poll qstat every second or faster, twenty at once; rows of 5,000 jobs (and
their rendered text) cost the loop tens of milliseconds each time, which the scheduler and
the exec daemons' reports wait for. So a status reply is encoded once (a ``protocol.Frame``)
and kept with two counts it was made at:

* ``writes``: client requests other than reads, counted when they are done and before their
  reply leaves. A reply made before a write finished is never served after it: whatever a
  command was told is done (a job submitted, deleted, held) is in every later read
  (read-after-write: a job is in qstat the moment qsub returns).
* ``events``: what else changes the state: store commits and scheduling passes (counted in
  the master's metrics), exec daemon messages (counted here).

A reply is served again while no write finished since it was made, and either nothing
happened (then for up to ``MAX_AGE`` by the loop's and by the master's clock: changes that
time alone brings, such as a calendar's, are seen that late) or remaking it is beyond the budget: remade replies may take ``SHARE`` of the loop's
time (a budget that refills at that rate, up to ``BURST``). While the budget lasts every read
sees the latest state; when many clients poll while jobs start and end every few
milliseconds, polls share one rendering for a moment (at most ``MAX_STALE``) instead of each
paying a new one, so status reads take a bounded share of the loop however many poll. A hit
is served before the request's turn (``pacing``): it costs the loop little more than reading
the request.

The priorities in a reply are those of when it was made (the waiting time contribution grows
by the second: Grid Engine's qstat, too, shows those of the last scheduling run). Not kept:
answers that are mostly about the clock: qstat -urg and -pri (the waiting time itself), and
finished jobs (``-s z``), which leave the list when they expire.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from qsys import protocol

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from qsys.master.core import Master

    Handler = Callable[[Any, Any], Awaitable[Any]]

MAX_AGE = 2.0  # seconds a reply is served while nothing changed
SHARE = 0.03  # the part of the loop's time that remaking replies may take while things change
BURST = 0.1  # seconds of remaking the budget holds at most
MAX_STALE = 1.0  # the oldest reply served while things change (beyond the budget)
MAX_BYTES = 64 * 1024 * 1024  # replies kept at most (the oldest go first)

# the client requests that change nothing (everything else counts as a write)
READS = (protocol.JobsStatus, protocol.QueuesStatus, protocol.StatusText, protocol.HostsStatus,
         protocol.JobDetails, protocol.ClusterQueuesStatus, protocol.MetricsStatus, protocol.ArStatus,
         protocol.QuotaStatus, protocol.TokenList, protocol.ReadAccounting)
CACHED = (protocol.JobsStatus, protocol.QueuesStatus, protocol.StatusText)


class _Entry:
    __slots__ = ("frame", "events", "made", "clock")

    def __init__(self, frame: protocol.Frame, events: int, made: float, clock: float) -> None:
        self.frame = frame
        self.events = events
        self.made = made  # the loop's monotonic time
        self.clock = clock  # the master's clock (a test's fake clock moves by leaps)


class StatusCache:
    """The encoded status replies and the counts that say whether each is still good."""

    def __init__(self, state: Master) -> None:
        self.state = state
        self.writes = 0
        self.own_events = 0
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._bytes = 0
        self._budget = BURST  # seconds of remaking left (see above)
        self._budget_at = time.monotonic()

    def events(self) -> int:
        metrics = self.state.metrics
        return self.own_events + sum(metrics.store_commit.counts) + sum(metrics.scheduling_pass.counts)

    # ------------------------------------------------------------ the wrappers (main.py)

    def write(self, handler: Handler) -> Handler:
        """``handler`` (a request that may change state), counted as a write when done (the
        replies kept can never be served again then: they go, and the memory they held)."""
        async def serve(who: Any, msg: Any) -> Any:
            try:
                return await handler(who, msg)
            finally:
                self.writes += 1
                self._entries.clear()
                self._bytes = 0

        return serve

    def event(self, handler: Handler) -> Handler:
        """``handler`` (an exec daemon's message), counted as an event when done."""
        async def serve(entry: Any, msg: Any) -> Any:
            try:
                return await handler(entry, msg)
            finally:  # a refused change is undone in memory: a change all the same
                self.own_events += 1

        return serve

    def read(self, handler: Handler, pace: Callable[[Handler], Handler]) -> Handler:
        """``handler`` (a status read) paced by ``pace`` on a miss, its encoded reply kept and
        served again (see above)."""
        async def make(who: Any, msg: Any) -> tuple[protocol.Frame, int, int, float]:
            writes, events, began = self.writes, self.events(), time.perf_counter()
            frame = protocol.Frame(protocol.encode(await handler(who, msg)))
            self.state.giveback.note(len(frame.data) >> 10)  # its rows were garbage once encoded
            return frame, writes, events, time.perf_counter() - began

        paced = pace(make)

        async def serve(who: Any, msg: Any) -> Any:
            key = protocol.encode(msg)
            now = time.monotonic()
            entry = self._entries.get(key)
            if entry is not None and self._good(entry, now):
                self.state.metrics.status_reused.inc()
                return entry.frame
            self.state.metrics.status_made.inc()
            frame, writes, events, cost = await paced(who, msg)  # the counts when the making began
            self._budget -= cost
            if writes == self.writes and events == self.events() and self._keeps(msg):
                self._keep(key, _Entry(frame, events, time.monotonic(), self.state.clock.now()))
            return frame

        return serve

    # ------------------------------------------------------------ the rules

    def _good(self, entry: _Entry, now: float) -> bool:
        # (a write drops every entry: one kept was made after the last write)
        age = max(now - entry.made, abs(self.state.clock.now() - entry.clock))
        if entry.events == self.events():
            return age < MAX_AGE
        return age < MAX_STALE and not self._affords(now)

    def _affords(self, now: float) -> bool:
        """Is there budget left to remake a reply?"""
        self._budget = min(BURST, self._budget + (now - self._budget_at) * SHARE)
        self._budget_at = now
        return self._budget > 0

    @staticmethod
    def _keeps(msg: Any) -> bool:
        query = msg.query if isinstance(msg, protocol.StatusText) else msg
        return not query.urgency and not set(query.states) & set("zf")

    def _keep(self, key: bytes, entry: _Entry) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old.frame.data)
        self._entries[key] = entry
        self._bytes += len(entry.frame.data)
        # the oldest go first: past MAX_AGE (never served again) or beyond MAX_BYTES
        while len(self._entries) > 1:
            oldest = next(iter(self._entries.values()))
            if self._bytes <= MAX_BYTES and entry.made - oldest.made < MAX_AGE:
                break
            _, gone = self._entries.popitem(last=False)
            self._bytes -= len(gone.frame.data)

