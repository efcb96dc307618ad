"""CPython's cycle collector, kept from walking the master's whole heap every few seconds.

A master with 100,000 pending jobs holds millions of long-lived containers (jobs, specs, task
sets, the scheduler's views, the store's records). With the default thresholds the oldest
generation is collected each time it grew by a quarter: under sustained dispatch that was a
2-3.5 s stop of the event loop every 5-15 s (bench/scale.py at 1,000 hosts, 100k pending), a
sixth of the master's time. Most of those objects live until their job leaves.

So, every :data:`FREEZE_SECONDS`, the young generations are collected (cycles die young:
that is cheap and finds them) and what survived is moved out of the collector's sight
(``gc.freeze``); reference counting still frees it when its job goes. A cycle that forms
among frozen objects waits for the next :data:`THAW_SECONDS`, when everything is handed back
to the collector once (one full walk an hour instead of hundreds).

Every second, and with the oldest generation collected only after :data:`OLDEST_THRESHOLD`
young collections: a bulk submission makes ~30,000 long-lived containers a second, and with
a 10 s freeze and Python's threshold of 10 the automatic full collections walking them took
43% of the master's time while 100,000 jobs came in (2.1 s of 4.9 s; none now).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from contextlib import contextmanager

FREEZE_SECONDS = 1.0
THAW_SECONDS = 3600.0
OLDEST_THRESHOLD = 100  # young (generation 1) collections before an automatic full one (Python: 10)


@contextmanager
def paused() -> Iterator[None]:
    """No cycle collection during a scheduling pass. A pass makes hundreds of thousands of
    objects (tickets, categories, orders) that all live until it ends, and the collector
    walked them again and again as they grew: a third of a pass with tickets at 100k pending
    (bench/sched_policies.py). Reference counting frees them after it; the next young
    collection finds their cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Collector:
    """Freezes what survived the young collections, and thaws it now and then (see above)."""

    def __init__(self) -> None:
        self._thawed_at: float | None = None
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._thawed_at is None:
            self._thawed_at = loop.time()
            young, middle, _ = gc.get_threshold()
            gc.set_threshold(young, middle, OLDEST_THRESHOLD)
        self._handle = loop.call_later(FREEZE_SECONDS, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        self._thawed_at = self.step(asyncio.get_running_loop().time(), self._thawed_at or 0.0)
        self.start()

    @staticmethod
    def step(now: float, thawed_at: float) -> float:
        """One freeze, or a thaw when it is due; returns when the last thaw was."""
        if now - thawed_at >= THAW_SECONDS:
            gc.unfreeze()  # the next full collection sees everything once
            return now
        gc.collect(1)
        gc.freeze()
        return thawed_at
