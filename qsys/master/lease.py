"""The active master's lease: taking it, keeping it, and knowing when another's has expired.

A cell with ``master_candidates`` in its bootstrap has one lease row in the store
(``qsys.store.lease``). The master that holds it renews it every ``lease_renew`` seconds;
a shadow (qsys-shadowd) that sees it unchanged for longer than the holder's term takes it
over with the next epoch, and every commit of a master checks its epoch, so the old one
can write nothing once the new one holds the lease.

No process compares its clock with another host's. Each counts with its own (monotonic)
clock: the holder from the moment it *sent* a renewal that then succeeded (valid until that
moment plus the term), a shadow from the moment it first *saw* the current beat (expired
after the term plus ``grace``). A beat is seen only after it was sent, so a shadow never
takes over a lease its holder still counts as valid, given clocks that run at the same rate;
``grace`` covers drift and delays. The exec daemons obey a master only for the time it
announces (``Challenge.valid_for``, extended by each ``MasterBeat``), so they stop obeying
an old master before a new one can exist.

A master whose lease lapsed (renewals failing: the store is away or cut off) keeps running
and keeps trying: if it renews with its epoch again nobody took over and it carries on;
if another epoch holds the lease it has lost and stops.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qsys import protocol
from qsys.errors import QsysError
from qsys.master.clock import MonotonicClock
from qsys.paths import master_candidates
from qsys.remote.addresses import local_addresses
from qsys.store import StoreError
from qsys.store.lease import Claimant, LeaseLost, LeaseRow, LeaseTable, check_epoch

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from qsys.master.clock import Clock

log = logging.getLogger("qsys.master.lease")

LOST_EXIT = 3  # exit status of a master that lost its lease
COMPLAIN_EVERY = 20  # failed renewals in a row between two log lines about them


@dataclass(frozen=True)
class LeaseTimes:
    """Seconds: the term a renewal buys, how often the holder renews, how often a shadow
    looks, and the margin a shadow adds to the holder's term before it takes over."""

    term: float = 6.0
    renew: float = 1.5
    poll: float = 0.5
    grace: float = 0.5

    @classmethod
    def from_bootstrap(cls, boot: dict[str, str]) -> LeaseTimes:
        def seconds(key: str, default: float) -> float:
            try:
                value = float(boot.get(key) or default)
            except ValueError:
                raise QsysError(f"bootstrap: {key} must be a number of seconds, not {boot.get(key)!r}") from None
            if value <= 0:
                raise QsysError(f"bootstrap: {key} must be positive")
            return value

        times = cls(seconds("lease_time", cls.term), seconds("lease_renew", cls.renew),
                    seconds("shadow_poll", cls.poll), cls.grace)
        if times.renew * 2 > times.term:
            raise QsysError(f"bootstrap: lease_renew ({times.renew:g}) must be at most half of "
                            f"lease_time ({times.term:g})")
        return times


def is_failover_cell(boot: dict[str, str]) -> bool:
    """Masters of this cell hold the lease (``master_candidates`` names where they may run)."""
    return bool((boot.get("master_candidates") or "").strip())


def own_candidate(boot: dict[str, str], host_name: str) -> tuple[str, int] | None:
    """The entry of ``master_candidates`` that is this host: by name, else by address."""
    candidates = master_candidates(boot)
    for host, port in candidates:
        if host == host_name:
            return host, port
    mine = set(local_addresses())
    for host, port in candidates:
        if host in mine:
            return host, port
    return None


def pid_alive(pid: int) -> bool:
    """A live process has this pid on this machine (a zombie does not count)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


# ---------------------------------------------------------------- the two views of a lease


class Holding:
    """The holder's view: the lease is its own until the send time of its last successful
    renewal plus the term."""

    def __init__(self, row: LeaseRow, valid_until: float) -> None:
        self.row = row
        self.valid_until = valid_until

    @property
    def epoch(self) -> int:
        return self.row.epoch

    def renewed(self, sent_at: float) -> None:
        self.valid_until = max(self.valid_until, sent_at + self.row.term)

    def remaining(self, now: float) -> float:
        return max(0.0, self.valid_until - now)


class ExpiryWatch:
    """A would-be master's view of another's lease: expired once the same epoch and beat
    were seen for longer than the holder's term plus ``grace``."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.seen: LeaseRow | None = None
        self.since = 0.0
        self.changes = 0  # how often the row changed while watched (the holder is alive)

    def observe(self, row: LeaseRow, now: float) -> None:
        if self.seen is None or (row.epoch, row.beat) != (self.seen.epoch, self.seen.beat):
            if self.seen is not None:
                self.changes += 1
            self.seen, self.since = row, now
        else:
            self.seen = row

    def expired(self, now: float) -> bool:
        return self.seen is not None and now - self.since >= self.seen.term + self.grace


TAKE, WATCH, WAIT = "take", "watch", "wait"


def verdict(row: LeaseRow | None, me: Claimant, *, shadow: bool,
            alive: Callable[[int], bool] = pid_alive) -> str:
    """What a would-be master does on seeing ``row``: take the lease now, watch it expire,
    or (a shadow) wait for a master that runs.

    A master starting takes a lease nobody holds (none yet, or released by a master that
    stopped on purpose) and one its own host held for a process that is gone; a shadow never
    takes over from a master that stopped on purpose, as Grid Engine's shadowd does not."""
    if row is None or row.released:
        return WAIT if shadow else TAKE
    if row.holder == me.holder and row.pid != me.pid and not alive(row.pid):
        return TAKE
    return WATCH


class LeaseHeld(QsysError):
    """Another master holds a valid lease: this one must not start."""


def claim(table: LeaseTable, me: Claimant, times: LeaseTimes, clock: Clock, wait: Callable[[float], bool],
          *, shadow: bool, alive: Callable[[int], bool] = pid_alive) -> Holding | None:
    """Take the lease for ``me``; None when ``wait`` says to stop (it sleeps and returns True
    to stop). A master (``shadow=False``) raises LeaseHeld as soon as the lease it watches is
    renewed; a shadow watches until it expires, however long that takes."""
    watch = ExpiryWatch(times.grace)
    while True:
        try:
            row = table.read()
        except StoreError as exc:
            if not shadow:
                raise
            log.warning("cannot read the master lease: %s", exc)
            row, action = None, WAIT
        else:
            action = verdict(row, me, shadow=shadow, alive=alive)
        now = clock.now()
        if action == WATCH and row is not None:
            watch.observe(row, now)
            if watch.changes and not shadow:
                raise LeaseHeld(f"the master of this cell runs on {row.holder} ({row.address}, epoch {row.epoch})")
            if watch.expired(now):
                log.warning("the lease of %s (epoch %d) expired: taking over", row.holder, row.epoch)
                action = TAKE
        if action == TAKE:
            sent = clock.now()
            try:
                won = table.take(row, me)
            except StoreError as exc:
                if not shadow:
                    raise
                log.warning("taking the master lease failed: %s", exc)
                won = None
            if won is not None:
                log.info("holding the master lease, epoch %d", won.epoch)
                return Holding(won, sent + won.term)
            continue  # somebody changed the row first: look again
        if wait(times.poll):
            return None


def claimant(boot: dict[str, str], host_name: str, port: int | None, times: LeaseTimes) -> Claimant:
    """This process as a would-be master: its name, where it serves, its pid and term."""
    mine = own_candidate(boot, host_name)
    address = f"{mine[0]}:{mine[1]}" if mine else f"{host_name}:{port or ''}"
    return Claimant(host_name, address, os.getpid(), times.term)


def lease_table(boot: dict[str, str], times: LeaseTimes) -> LeaseTable:
    """The lease row of the cell's store (created when missing)."""
    url = boot.get("store_url")
    if not url:
        raise QsysError("a cell with master_candidates needs a store_url all its master hosts reach (PostgreSQL)")
    table = LeaseTable(url, timeout=min(2.0, times.term / 3))
    table.create()
    return table


def start_lease(boot: dict[str, str], host_name: str, port: int | None, clock: Clock | None = None) -> MasterLease:
    """The lease for a master starting by itself (qsys-master): taken at once when nobody
    holds it, else once the holder has been silent for its term; LeaseHeld if it renews."""
    times = LeaseTimes.from_bootstrap(boot)
    clock = clock or MonotonicClock()
    table = lease_table(boot, times)

    def wait(seconds: float) -> bool:
        time.sleep(seconds)
        return False

    try:
        holding = claim(table, claimant(boot, host_name, port, times), times, clock, wait, shadow=False)
    except BaseException:
        table.close()
        raise
    assert holding is not None  # wait() never says stop
    return MasterLease(table, holding, times, clock)


# ---------------------------------------------------------------- the holder at run time


class MasterLease:
    """Keeps the lease of a running master: renews it, fences its commits, tells the exec
    daemons for how long to obey, and calls ``on_lost`` once another master holds it."""

    def __init__(self, table: LeaseTable, holding: Holding, times: LeaseTimes, clock: Clock) -> None:
        self.table = table
        self.holding = holding
        self.times = times
        self.clock = clock
        self.lost = False  # another master holds the lease now
        self.stopped = False
        self.on_lost: Callable[[str], None] = lambda _why: None
        self.on_beat: Callable[[protocol.MasterBeat], None] = lambda _beat: None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qsys-lease")
        self._inflight: Future[bool] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._ended: asyncio.Event | None = None
        self._lapsed = False
        self._failures = 0  # renewals failed in a row

    @property
    def epoch(self) -> int:
        return self.holding.epoch

    @property
    def address(self) -> str:
        return self.holding.row.address

    def remaining(self) -> float:
        """Seconds the lease is surely this master's (0 once lapsed or lost)."""
        return 0.0 if self.lost or self.stopped else self.holding.remaining(self.clock.now())

    def beat(self) -> protocol.MasterBeat:
        return protocol.MasterBeat(self.epoch, self.remaining())

    # ------------------------------------------------------------ fencing the commits

    def fence(self, conn: Connection) -> None:
        """Store.fence: inside each commit's transaction (the store's worker thread)."""
        try:
            check_epoch(conn, self.epoch)
        except LeaseLost as exc:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._lose, str(exc))
            raise

    # ------------------------------------------------------------ renewing

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ended = asyncio.Event()
        self._task = self._loop.create_task(self._run(self._ended))

    async def _run(self, ended: asyncio.Event) -> None:
        """Renew every ``renew`` seconds of the clock (a simulated one in tests)."""
        while not (self.lost or self.stopped):
            if self._inflight is None:
                sent = self.clock.now()
                inflight = self._executor.submit(self.table.renew, self.epoch)
                self._inflight = inflight
                inflight.add_done_callback(functools.partial(self._back_to_loop, sent))
            if await self.clock.wait(ended, self.times.renew):
                return
            self._check_lapse()

    def _back_to_loop(self, sent: float, done: Future[bool]) -> None:
        """(The renewal's thread) hand its outcome to the event loop."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._renewed, done, sent)

    def _renewed(self, done: Future[bool], sent: float) -> None:
        self._inflight = None
        if self.lost or self.stopped:
            return
        try:
            held = done.result()
        except Exception as exc:
            self._complain(exc)
            return
        if self._failures:
            log.warning("master lease renewed after %d failed attempts", self._failures)
            self._failures = 0
        if not held:
            row = self._read_quietly()
            who = f"{row.holder} (epoch {row.epoch})" if row is not None else "another master"
            self._lose(f"the master lease passed to {who}")
            return
        self.holding.renewed(sent)
        if self._lapsed and self.remaining() > 0:
            self._lapsed = False
            log.warning("master lease renewed again (epoch %d): exec daemons obey this master again", self.epoch)
        self.on_beat(self.beat())

    def _complain(self, exc: BaseException) -> None:
        """A failed renewal: said once, then every ``COMPLAIN_EVERY`` attempts (the store may
        be away for long; the log must not fill with the same lines)."""
        self._failures += 1
        if self._failures == 1 or self._failures % COMPLAIN_EVERY == 0:
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("renewing the master lease failed (%d in a row): %s", self._failures, first_line)

    def _check_lapse(self) -> None:
        if not (self.lost or self.stopped or self._lapsed) and self.remaining() <= 0:
            self._lapsed = True
            log.error("master lease lapsed (epoch %d, no renewal for %gs): exec daemons stop obeying this "
                      "master until it renews; a shadow may take over", self.epoch, self.times.term)

    def _read_quietly(self) -> LeaseRow | None:
        try:
            return self.table.read()
        except StoreError:
            return None

    def _lose(self, why: str) -> None:
        if self.lost:
            return
        self.lost = True
        log.error("%s: this master stops", why)
        self.on_lost(why)

    def stop(self) -> None:
        """End the renewals; release the lease unless it was lost (a clean stop: no shadow
        takes over, the next master to start takes it at once)."""
        if self._ended is not None:
            self._ended.set()
        if self._task is not None:
            self._task.cancel()
        if not (self.lost or self.stopped):
            self.stopped = True  # nothing of this master is obeyed from now on
            try:
                self.table.release(self.epoch)
            except StoreError as exc:
                log.warning("could not release the master lease: %s", exc)
        self._executor.shutdown(wait=False)
        self.table.close()
