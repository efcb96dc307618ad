"""Group commit for the asyncio master: many requests, few transactions.

While one transaction runs in the store's worker thread, every further ``commit()`` joins the
next batch, so under load the cost of a durable commit (an fsync) is shared by all the requests
that arrived meanwhile, and an idle master still commits a lone request at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from qsys.store.store import Change, StoreError

log = logging.getLogger("qsys.store")


class Applies(Protocol):
    """What the committer needs of a store (tests pass instrumented ones)."""

    def apply(self, changes: Sequence[Change]) -> None: ...


class GroupCommitter:
    """Serializes commits on one worker thread and batches the ones that queue up."""

    def __init__(self, store: Applies, max_batch: int = 50_000,
                 observe: Callable[[float], None] | None = None) -> None:
        self._store = store
        self._max_batch = max_batch
        self._observe = observe  # told the seconds of each transaction (the master's metrics)
        self._queue: list[tuple[Sequence[Change], asyncio.Future[None]]] = []
        self._runner: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False
        self.transactions = 0  # batches applied (successful or not), for statistics

    async def commit(self, changes: Sequence[Change]) -> None:
        """Return once ``changes`` are durable; raise what the store raised for their batch."""
        if self._closed:
            raise StoreError("the store is closed")
        if not changes:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._queue.append((list(changes), waiter))
        if self._runner is None:
            self._runner = loop.create_task(self._run(loop))
        # A cancelled caller does not cancel the write: others share its transaction.
        await asyncio.shield(waiter)

    async def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qsys-store")
        waiters: list[asyncio.Future[None]] = []
        try:
            while self._queue:
                batch, waiters = self._take()
                self.transactions += 1
                began = time.perf_counter()
                try:
                    await loop.run_in_executor(self._executor, self._store.apply, batch)
                except Exception as exc:
                    log.error("store commit of %d changes failed: %s", len(batch), exc)
                    _settle(waiters, exc)
                else:
                    _settle(waiters, None)
                if self._observe is not None:
                    self._observe(time.perf_counter() - began)
                waiters = []
        finally:
            self._runner = None
            # Only reached with work left if this task was cancelled (loop shutting down):
            # nobody may wait forever, and nobody may believe an unfinished write is durable.
            if waiters or self._queue:
                interrupted = StoreError("store commit interrupted")
                _settle(waiters + [w for _, w in self._queue], interrupted)
                self._queue.clear()

    def _take(self) -> tuple[list[Change], list[asyncio.Future[None]]]:
        """The next batch: whole requests, up to ``max_batch`` changes (always at least one)."""
        batch: list[Change] = []
        waiters: list[asyncio.Future[None]] = []
        taken = 0
        for changes, waiter in self._queue:
            if waiters and len(batch) + len(changes) > self._max_batch:
                break
            batch.extend(changes)
            waiters.append(waiter)
            taken += 1
        del self._queue[:taken]
        return batch, waiters

    async def close(self) -> None:
        """Flush what is queued, then stop the worker thread; later commits fail."""
        self._closed = True
        while self._runner is not None:
            await asyncio.shield(self._runner)
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown, True)


def _settle(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for w in waiters:
        if w.done():
            continue
        if error is None:
            w.set_result(None)
        else:
            w.set_exception(error)
