"""Where the master asks for "now": one clock object, handed to every part that keeps time.

The default :class:`SystemClock` is the real time, shifted when the environment says so
(``QSYS_CLOCK``: an absolute epoch the clock starts at when the master starts;
``QSYS_CLOCK_OFFSET``: seconds added), so calendar tests can run in another season. A
simulated clock (tests, benchmarks) is any object with the same ``now()``.
:class:`MonotonicClock` counts durations that must not jump with the calendar (the lease).
"""

from __future__ import annotations

import os
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch, as the master sees them."""
        ...


def env_offset() -> float:
    """Seconds the environment asks the master's clock to run ahead of the real time."""
    absolute = os.environ.get("QSYS_CLOCK")
    if absolute:
        return float(absolute) - time.time()
    return float(os.environ.get("QSYS_CLOCK_OFFSET") or 0.0)


class SystemClock:
    """The real time plus a fixed offset (from the environment unless given)."""

    def __init__(self, offset: float | None = None) -> None:
        self.offset = env_offset() if offset is None else offset

    def now(self) -> float:
        return time.time() + self.offset


class MonotonicClock:
    """Seconds that only go forward, for durations (the master's lease): not the calendar."""

    def now(self) -> float:
        return time.monotonic()
