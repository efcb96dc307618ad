"""Clocks for simulations: :class:`FakeClock` stands still until a test moves it;
:class:`RealClock` is the real time. Both are what the master takes (``now``, ``wait``: see
``qsys.master.clock``) plus ``call_later``, the timers the simulated exec hosts run their jobs
and load reports on (one timer per job, no task or thread per job).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any, Protocol

from qsys.master.clock import SystemClock


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class SimClock(Protocol):
    """What the simulated exec hosts need of a clock."""

    def now(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Cancellable: ...


class RealClock(SystemClock):
    """The real time, with the running event loop's timers."""

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Cancellable:
        return asyncio.get_running_loop().call_later(delay, callback, *args)


class Timer:
    __slots__ = ("when", "callback", "args", "cancelled", "clock")

    def __init__(self, clock: FakeClock, when: float, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.clock, self.when, self.callback, self.args = clock, when, callback, args
        self.cancelled = False

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self.clock._cancelled += 1


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class FakeClock:
    """Time that moves only when told (:meth:`advance`, :meth:`set`).

    A move jumps: the clock is set to the new time first, then every timer due by then fires
    once, in the order of its due time. So advancing a day costs one wake-up per timer, not
    one per period: the master's queue-state ticker wakes once and evaluates the calendars at
    the new time; a simulated host sends one load report. Callbacks run on the event loop the
    timers were made on; a move from another thread is carried out there (and waits for it).
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._cancelled = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def now(self) -> float:
        return self._now

    # ------------------------------------------------------------ timers

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> Timer:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        timer = Timer(self, when, callback, args)
        heapq.heappush(self._heap, (when, next(self._seq), timer))
        if self._cancelled > 1024 and self._cancelled * 2 > len(self._heap):
            self._heap = [item for item in self._heap if not item[2].cancelled]
            heapq.heapify(self._heap)
            self._cancelled = 0
        return timer

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        return self.call_at(self._now + max(0.0, delay), callback, *args)

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        if event.is_set():
            return True
        loop = asyncio.get_running_loop()
        expired: asyncio.Future[None] = loop.create_future()
        timer = self.call_later(seconds, _expire, expired)
        waiter = loop.create_task(event.wait())
        try:
            await asyncio.wait((waiter, expired), return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            waiter.cancel()
        return event.is_set()

    # ------------------------------------------------------------ moving

    def advance(self, seconds: float) -> None:
        self.set(self._now + seconds)

    def set(self, when: float) -> None:
        """Move to ``when`` (never back) and fire what is due."""
        loop = self._loop
        if loop is not None and loop.is_running() and not _runs_on(loop):
            done: concurrent.futures.Future[None] = concurrent.futures.Future()

            def move() -> None:
                try:
                    self._move(when)
                    done.set_result(None)
                except BaseException as exc:
                    done.set_exception(exc)

            loop.call_soon_threadsafe(move)
            done.result()
        else:
            self._move(when)

    def _move(self, when: float) -> None:
        if when < self._now:
            raise ValueError(f"the clock does not go back ({when} < {self._now})")
        self._now = when
        heap = self._heap
        while heap and heap[0][0] <= when:
            timer = heapq.heappop(heap)[2]
            if timer.cancelled:
                self._cancelled -= 1
            else:
                timer.cancelled = True  # fired: a late cancel() is a no-op
                timer.callback(*timer.args)


def _runs_on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
