"""Scheduling keeps its share of the master's CPU under load: fair queuing of requests.

One asyncio loop serves every connection and runs the scheduling passes. Left alone, a pass
that is wanted waits behind every request ready in that turn of the loop -- 50 clients that
each list thousands of jobs make that seconds -- so jobs start slowly exactly when many are
being submitted. Two rules keep both sides going:

* **A few requests per turn, in order**: at most ``REQUESTS_PER_TURN`` client requests
  start in one turn of the loop; the others wait in arrival order (one connection sends one
  request at a time, so each connection gets its turn). Everything else the loop serves --
  exec daemon messages (a task's start and end), the scheduler, timers -- gets a turn
  after every few requests instead of after all of them.
* **A due pass goes first**: a wanted pass is *due* once the pause after the previous pass
  is over. The pause is the previous pass's own cost times ``(1 - SHARE) / SHARE`` (at most
  ``MAX_PAUSE``): under load passes take at most ``SHARE`` of the time, and an idle master
  passes at once. While a pass is due, a request about to start waits until it has run, so
  the pass starts within one request's time instead of a whole turn's.

A wanted pass due within ``COMMIT_WAIT`` also goes before the next store transaction
(``before_commit``, the group committer's ``before_batch``): the ends that freed slots and
the orders that fill them again are made durable together, and their exec daemons hear of
both after one fsync instead of two in a row. The committer waits only while the dispatcher
is ``ready`` (waiting for a pass to be wanted, or its pause), never while the dispatcher
itself waits for a commit, which would then wait for ever.

Submissions that arrive together share one pass: its cost is spread over all of them, so
the cost of a request does not grow with the number of jobs waiting. Times are the loop's
monotonic clock (a share of the CPU), not the master's calendar clock.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

SHARE = 0.5  # the part of a busy master's time scheduling passes may take
MAX_PAUSE = 0.5  # seconds: the longest a wanted pass waits after the previous one
REQUESTS_PER_TURN = 4  # client requests that may start in one turn of the event loop
COMMIT_WAIT = 0.005  # seconds a store transaction waits for a wanted pass (less than an fsync)

Handler = Callable[[Any, Any], Awaitable[Any]]


class Pacer:
    """When the next pass is due, and the turn requests wait for while it is."""

    def __init__(self, wanted: asyncio.Event) -> None:
        self.wanted = wanted
        self.active = False  # a dispatcher runs the passes (else requests never wait)
        self.ready = False  # the dispatcher runs the next wanted pass once it is due, nothing else
        self.last_end = 0.0
        self.last_cost = 0.0
        self._passed: asyncio.Future[None] | None = None
        self._started = 0  # requests started in this turn of the loop
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._turn_marked = False

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def due_at(self) -> float:
        return self.last_end + min(MAX_PAUSE, self.last_cost * (1 - SHARE) / SHARE)

    def due(self, within: float = 0.0) -> bool:
        """Is a pass wanted and due (in ``within`` seconds)?"""
        return self.active and self.wanted.is_set() and self._now() + within >= self.due_at()

    async def before_commit(self) -> None:
        """Before a store transaction: let a pass due soon make its orders, so they join it."""
        if self.ready and self.due(within=COMMIT_WAIT):
            await self._next_pass()

    async def _next_pass(self) -> None:
        if self._passed is None:
            self._passed = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._passed)

    def stopped(self) -> None:
        """No more passes: nobody may wait for one."""
        self.active = self.ready = False
        self.passed(self.last_cost)

    def passed(self, cost: float) -> None:
        """A pass has made its decisions (``cost`` seconds of work), or was skipped (0)."""
        self.last_cost, self.last_end = cost, self._now()
        if self._passed is not None and not self._passed.done():
            self._passed.set_result(None)
        self._passed = None

    async def turn(self) -> None:
        """Before a request: wait while a scheduling pass is due."""
        if self.due():
            await self._next_pass()

    async def admit(self) -> None:
        """Before a request: wait for a place among this turn's few requests."""
        self._mark_turn()
        if self._started < REQUESTS_PER_TURN and not self._waiting:
            self._started += 1
            return
        place = asyncio.get_running_loop().create_future()
        self._waiting.append(place)
        await place

    def _mark_turn(self) -> None:
        if not self._turn_marked:
            self._turn_marked = True
            asyncio.get_running_loop().call_soon(self._next_turn)  # runs in the loop's next turn

    def _next_turn(self) -> None:
        self._turn_marked = False
        self._started = 0
        while self._waiting and self._started < REQUESTS_PER_TURN:
            place = self._waiting.popleft()
            if not place.done():  # its connection may have gone
                place.set_result(None)
                self._started += 1
        if self._waiting or self._started:
            self._mark_turn()

    def paced(self, handler: Handler) -> Handler:
        """``handler`` served under the two rules above."""
        async def serve(who: Any, msg: Any) -> Any:
            await self.admit()
            await self.turn()
            return await handler(who, msg)

        return serve
