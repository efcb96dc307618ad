"""Where the master asks for the time and waits for it: one clock object, handed to every part
that keeps time.

``now()`` is what the master stamps and compares (submit, start and end times, calendars,
thresholds, deadlines); ``wait(event, seconds)`` is how its timers wait (the periodic
scheduling pass, the queue-state ticker). A simulated clock (``qsys.testing.FakeClock``) has the
same two methods, so a test moves the master a day ahead without a day passing. Waits on the
outside world (a peer's answer, the flush of a reply) stay on the real time.
:class:`MonotonicClock` counts durations that must not jump with the calendar (the lease).
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch, as the master sees them."""
        ...

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        """Until ``event`` is set (True) or ``seconds`` of this clock have passed (False)."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> float:
        return time.time()

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            pass
        return event.is_set()


class MonotonicClock(SystemClock):
    """Seconds that only go forward, for durations (the master's lease): not the calendar."""

    def now(self) -> float:
        return time.monotonic()
