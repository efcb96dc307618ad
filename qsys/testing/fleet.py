"""Many simulated exec hosts on one event loop, sharing one clock, one policy and one log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from qsys.testing.behaviour import Policy
from qsys.testing.clock import RealClock, SimClock
from qsys.testing.simhost import MasterAddress, SimHost, SimLog

CONNECT_BATCH = 100  # hosts connecting at once (the master's listen backlog is asyncio's 100)


class SimFleet:
    def __init__(self, master: MasterAddress | Callable[[], MasterAddress], key: bytes, names: Iterable[str], *,
                 slots: int = 4, clock: SimClock | None = None, policy: Policy | None = None) -> None:
        self.clock = clock or RealClock()
        self.log = SimLog()
        address = master if callable(master) else (lambda: master)
        self.hosts = {name: SimHost(name, address, key, self.clock, policy, slots, simlog=self.log)
                      for name in names}
        self._runs: list[asyncio.Task[None]] = []

    async def start(self, timeout: float = 120.0) -> None:
        """Connect every host (a hundred at a time) and wait until each has registered."""
        loop = asyncio.get_running_loop()
        hosts = list(self.hosts.values())
        for first in range(0, len(hosts), CONNECT_BATCH):
            batch = hosts[first:first + CONNECT_BATCH]
            self._runs.extend(loop.create_task(host.run()) for host in batch)
            await self.registered(batch, timeout)

    async def registered(self, hosts: Iterable[SimHost] | None = None, timeout: float = 60.0) -> None:
        """Until every host (of ``hosts``) has registered on its current link."""
        waits = [host.registered.wait() for host in (self.hosts.values() if hosts is None else hosts)]
        await asyncio.wait_for(asyncio.gather(*waits), timeout)

    async def stop(self) -> None:
        for host in self.hosts.values():
            host.stop()
        await asyncio.gather(*self._runs, return_exceptions=True)
        self._runs = []

    def running(self) -> int:
        """Tasks running on the fleet now (started, not ended)."""
        return sum(1 for host in self.hosts.values() for task in host.tasks.values() if task.report is None)
