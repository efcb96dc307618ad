"""Group commit for the asyncio master: many requests, few transactions.

While one transaction runs in the store's worker thread, every further ``commit()`` joins the
next batch, so under load the cost of a durable commit (an fsync) is shared by all the requests
that arrived meanwhile, and an idle master still commits a lone request at once.

A failed transaction fails every batch queued behind it too: those requests changed memory
on top of the failed one, so none of them may become durable alone. ``on_failure`` is told
every change of the failed batches before any waiter hears of the failure (the master puts
its memory back as the store has it then, see ``qsys.store.image``).

``before_batch``, when set, is awaited before each batch is taken: the master lets a
scheduling pass that is due make its orders first, so the ends that freed slots and the
starts that fill them again share one transaction (one fsync instead of two in a row).

When the database cannot even be reached (PostgreSQL stopped, its host gone), the store is
*away*: commits are refused at once with :class:`StoreUnavailable` instead of each waiting
for a connection, a probe retries with backoff, and ``on_back`` is called when it answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from qsys.store.store import Change, StoreError, StoreUnavailable

log = logging.getLogger("qsys.store")

PROBE_FIRST = 0.25  # seconds before the first probe of a store that went away
PROBE_MAX = 5.0  # the longest wait between two probes


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
        self._prober: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False
        self.transactions = 0  # batches applied (successful or not), for statistics
        self.failures = 0  # batches that failed (cascaded ones included)
        self.away: StoreUnavailable | None = None  # set while the store cannot be reached
        self.away_since = 0.0
        self.on_failure: Callable[[list[Change]], None] | None = None
        self.on_back: Callable[[], None] | None = None
        self.before_batch: Callable[[], Awaitable[None]] | None = None

    @property
    def available(self) -> bool:
        return self.away is None

    async def commit(self, changes: Sequence[Change]) -> None:
        """Return once ``changes`` are durable; raise what the store raised for their batch."""
        if self._closed:
            raise StoreError("the store is closed")
        if not changes:
            return
        if self.away is not None:
            self._refused(list(changes))
            raise self.away
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
                if self.before_batch is not None:
                    await self.before_batch()
                batch, waiters = self._take()
                self.transactions += 1
                began = time.perf_counter()
                try:
                    await loop.run_in_executor(self._executor, self._store.apply, batch)
                except Exception as exc:
                    error = exc if isinstance(exc, StoreError) else StoreError(f"store write failed: {exc}")
                    gone = await loop.run_in_executor(self._executor, self._reachable)
                    if gone is not None:
                        self._went_away(loop, gone)
                        error = gone
                    failed = batch + [c for changes, _ in self._queue for c in changes]
                    waiters += [w for _, w in self._queue]
                    self._queue.clear()
                    self.failures += len(waiters)
                    log.error("store commit of %d changes failed (%d requests refused): %s",
                              len(failed), len(waiters), error)
                    self._refused(failed)
                    _settle(waiters, error)
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

    def _refused(self, changes: list[Change]) -> None:
        """Whoever changed memory for ``changes`` learns they will never be durable."""
        if self.on_failure is not None:
            try:
                self.on_failure(changes)
            except Exception:
                log.exception("undoing %d refused changes failed", len(changes))

    # ------------------------------------------------------------ an absent store

    def _reachable(self) -> StoreUnavailable | None:
        """In the worker thread: None when the database answers, else why it does not."""
        ping = getattr(self._store, "ping", None)
        if ping is None:
            return None
        try:
            ping()
        except StoreUnavailable as exc:
            return exc
        except Exception as exc:
            return StoreUnavailable(f"the store is not available: {exc}", str(exc))
        return None

    def _went_away(self, loop: asyncio.AbstractEventLoop, why: StoreUnavailable) -> None:
        if self.away is None:
            self.away_since = time.monotonic()
            log.error("%s; refusing changes until it answers again", why)
        self.away = why
        if self._prober is None and not self._closed:
            self._prober = loop.create_task(self._probe(loop))

    async def _probe(self, loop: asyncio.AbstractEventLoop) -> None:
        """Retry the store with backoff until it answers; then take changes again."""
        delay = PROBE_FIRST
        try:
            while self.away is not None and not self._closed:
                await asyncio.sleep(delay)
                delay = min(delay * 2, PROBE_MAX)
                if self._executor is None:
                    break
                gone = await loop.run_in_executor(self._executor, self._reachable)
                if gone is None:
                    log.warning("the store answers again after %.1f s: taking changes again",
                                time.monotonic() - self.away_since)
                    self.away = None
                    if self.on_back is not None:
                        self.on_back()
                else:
                    self.away = gone
        finally:
            self._prober = None

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
        if self._prober is not None:
            self._prober.cancel()
        while self._runner is not None:
            await asyncio.shield(self._runner)
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown, True)


def _settle(waiters: list[asyncio.Future[None]], error: StoreError | None) -> None:
    for w in waiters:
        if w.done():
            continue
        if error is None:
            w.set_result(None)
        else:  # one exception object per waiter: each gets its own traceback
            w.set_exception(type(error)(error.message, error.reason))
