"""A whole cluster in the test's process: a master built with ``build_master`` on a new cell,
and a fleet of simulated exec hosts, on one event loop that runs in a thread of its own.

The test itself stays plain synchronous pytest: it talks to the master through
``qsys.client`` as any command does (the master's Unix socket), reads or changes the master's
memory through :meth:`SimCluster.call` (run on the loop's thread, so nothing races the master),
and moves a :class:`~qsys.testing.clock.FakeClock` with :meth:`SimCluster.advance`.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from qsys import auth
from qsys.client import Client
from qsys.cluster import host_names, new_cell
from qsys.master.main import MasterDaemon, build_master
from qsys.paths import Cell
from qsys.testing.behaviour import Policy
from qsys.testing.clock import FakeClock, RealClock
from qsys.testing.fleet import SimFleet
from qsys.testing.simhost import MasterAddress, SimHost
from qsys.testing.waiting import wait_until

T = TypeVar("T")


class LoopThread:
    """An event loop running in a thread of its own, and a way to run work on it from others."""

    def __init__(self, name: str = "sim-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def call(self, work: Coroutine[Any, Any, T] | Callable[[], T], timeout: float | None = 600.0) -> T:
        """Run ``work`` (a coroutine, or a function) on the loop; its result."""
        if inspect.iscoroutine(work):
            return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

        async def run() -> T:
            return work()  # type: ignore[operator]

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def close(self) -> None:
        """Cancel what still runs on the loop, stop it, join its thread."""
        if self.loop.is_closed():
            return
        if self.loop.is_running():
            self.call(_cancel_the_rest())
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()


async def _cancel_the_rest() -> None:
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


class SimCluster:
    def __init__(self, root: Path, hosts: int = 2, slots: int = 4, *, clock: FakeClock | RealClock | None = None,
                 policy: Policy | None = None, tcp: bool = False, store_url: str | None = None) -> None:
        self.cell = Cell(root, "default")
        self.host_count = hosts
        self.slots = slots
        self.clock = clock or RealClock()
        self.policy = policy
        self.tcp = tcp
        self.store_url = store_url
        self._loop: LoopThread | None = None
        self._daemon: MasterDaemon | None = None
        self._fleet: SimFleet | None = None

    # ------------------------------------------------------------ life cycle

    def __enter__(self) -> SimCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> SimCluster:
        if not self.cell.bootstrap_file.exists():
            new_cell(self.cell, hosts=self.host_count, slots=self.slots, port=0, store_url=self.store_url)
        self._loop = LoopThread("sim-cluster")
        try:
            self.call(self._start())
        except BaseException:
            self.stop()
            raise
        return self

    async def _start(self) -> None:
        daemon = self._daemon = build_master(self.cell, clock=self.clock, port=0 if self.tcp else None,
                                             bind="127.0.0.1" if self.tcp else None)
        port = await daemon.start()
        address: MasterAddress = ("127.0.0.1", port) if self.tcp and port else self.cell.master_socket
        self._fleet = SimFleet(address, auth.load_key(self.cell.key_file), host_names(self.host_count),
                               slots=self.slots, clock=self.clock, policy=self.policy)
        await self._fleet.start()

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            if loop.loop.is_running():
                loop.call(self._stop())
        finally:
            loop.close()

    async def _stop(self) -> None:
        if self._fleet is not None:
            await self._fleet.stop()
        if self._daemon is not None:
            await self._daemon.stop()

    # ------------------------------------------------------------ the test's side

    @property
    def master(self) -> MasterDaemon:
        assert self._daemon is not None, "the cluster is not started"
        return self._daemon

    @property
    def fleet(self) -> SimFleet:
        assert self._fleet is not None, "the cluster is not started"
        return self._fleet

    def host(self, name: str) -> SimHost:
        return self.fleet.hosts[name]

    @property
    def host_names(self) -> list[str]:
        return list(self.fleet.hosts)

    def client(self) -> Client:
        return Client(self.cell)

    def call(self, work: Coroutine[Any, Any, T] | Callable[[], T], timeout: float | None = 600.0) -> T:
        """Run ``work`` (a coroutine, or a function) on the cluster's event loop; its result."""
        assert self._loop is not None, "the cluster is not started"
        return self._loop.call(work, timeout)

    def advance(self, seconds: float) -> None:
        """Move the fake clock (the master's timers and the simulated jobs follow it)."""
        if not isinstance(self.clock, FakeClock):
            raise TypeError("advance needs a SimCluster made with a FakeClock")
        self.call(lambda: self.clock.advance(seconds))  # type: ignore[union-attr]

    def wait_until(self, predicate: Callable[[], T], timeout: float = 60.0, what: str = "the condition") -> T:
        """Poll ``predicate`` (in the caller's thread) until it is true; its value."""
        return wait_until(predicate, timeout, what)
