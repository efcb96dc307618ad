"""The master's lease: the decisions with a fake clock, the row's conditional statements on
SQLite and PostgreSQL, and the fence every commit of a leased master goes through."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from qsys.master.lease import (
    TAKE,
    WAIT,
    WATCH,
    ExpiryWatch,
    Holding,
    LeaseHeld,
    LeaseTimes,
    MasterLease,
    claim,
    verdict,
)
from qsys.store import PutObject, Store, StoreError
from qsys.store.lease import Claimant, LeaseLost, LeaseRow, LeaseTable, check_epoch
from qsys.testing import FakeClock
from tests.pg import postgres, postgres_url  # noqa: F401  (fixtures)

TIMES = LeaseTimes(term=6.0, renew=1.5, poll=0.5, grace=0.5)
ME = Claimant("m2", "m2:7444", 4242, TIMES.term)
OTHER = Claimant("m1", "m1:7444", 1111, TIMES.term)


def row(epoch: int = 3, beat: int = 10, holder: str = "m1", pid: int = 1111) -> LeaseRow:
    return LeaseRow(epoch, beat, holder, f"{holder}:7444", pid, TIMES.term)


# ---------------------------------------------------------------- pure decisions


def test_a_renewal_counts_from_the_moment_it_was_sent() -> None:
    holding = Holding(row(), valid_until=1006.0)
    holding.renewed(sent_at=1004.0)  # succeeded later; the term counts from the send
    assert holding.valid_until == 1010.0
    assert holding.remaining(1009.0) == pytest.approx(1.0)
    assert holding.remaining(1011.0) == 0.0
    holding.renewed(sent_at=1002.0)  # a slow, older renewal completing late never shortens it
    assert holding.valid_until == 1010.0


def test_a_lease_expires_only_after_its_beat_stood_still_for_term_and_grace() -> None:
    watch = ExpiryWatch(TIMES.grace)
    watch.observe(row(beat=10), 100.0)
    watch.observe(row(beat=10), 106.0)
    assert not watch.expired(106.4)
    assert watch.expired(106.5)
    watch.observe(row(beat=11), 106.6)  # renewed: counting starts again
    assert watch.changes == 1
    assert not watch.expired(112.0)
    assert watch.expired(113.1)
    watch.observe(row(epoch=4, beat=0), 113.2)  # a new holder is a change too
    assert watch.changes == 2 and not watch.expired(113.3)


def test_verdicts() -> None:
    def dead(_pid: int) -> bool:
        return False

    def alive(_pid: int) -> bool:
        return True

    released = LeaseRow(3, 10, "", "", 0, TIMES.term)
    assert verdict(None, ME, shadow=False) == TAKE  # the first master of the cell
    assert verdict(None, ME, shadow=True) == WAIT  # a shadow waits for a master to run first
    assert verdict(released, ME, shadow=False) == TAKE
    assert verdict(released, ME, shadow=True) == WAIT  # stopped on purpose: no takeover
    assert verdict(row(holder="m1"), ME, shadow=False, alive=dead) == WATCH  # another host's
    assert verdict(row(holder="m2", pid=99), ME, shadow=False, alive=dead) == TAKE  # ours, crashed
    assert verdict(row(holder="m2", pid=99), ME, shadow=True, alive=alive) == WATCH  # ours, still running
    assert verdict(row(holder="m2", pid=99), ME, shadow=True, alive=dead) == TAKE


def test_lease_times_from_the_bootstrap() -> None:
    assert LeaseTimes.from_bootstrap({}) == LeaseTimes()
    times = LeaseTimes.from_bootstrap({"lease_time": "4", "lease_renew": "1", "shadow_poll": "0.2"})
    assert (times.term, times.renew, times.poll) == (4.0, 1.0, 0.2)
    for bad in ({"lease_time": "4", "lease_renew": "3"}, {"lease_time": "x"}, {"shadow_poll": "0"}):
        with pytest.raises(Exception, match="bootstrap"):
            LeaseTimes.from_bootstrap(bad)


# ---------------------------------------------------------------- claiming, against a fake row


class FakeTable:
    """The lease row in memory, with the same conditional semantics as LeaseTable."""

    def __init__(self, current: LeaseRow | None) -> None:
        self.current = current
        self.reads = 0

    def read(self) -> LeaseRow | None:
        self.reads += 1
        return self.current

    def take(self, seen: LeaseRow | None, me: Claimant) -> LeaseRow | None:
        if seen != self.current:
            return None
        self.current = LeaseRow((seen.epoch if seen else 0) + 1, 0, me.holder, me.address, me.pid, me.term)
        return self.current

    def renew(self, epoch: int) -> bool:
        if self.current is None or self.current.epoch != epoch:
            return False
        c = self.current
        self.current = LeaseRow(c.epoch, c.beat + 1, c.holder, c.address, c.pid, c.term)
        return True


def sleeper(clock: FakeClock, on_sleep: object = None, polls: int = 1000) -> object:
    """A ``wait`` for claim(): advances the fake clock; says stop after ``polls`` calls."""
    count = [0]

    def wait(seconds: float) -> bool:
        clock.advance(seconds)
        count[0] += 1
        if callable(on_sleep):
            on_sleep()
        return count[0] >= polls

    return wait


def test_a_master_starting_takes_a_free_lease_at_once() -> None:
    clock, table = FakeClock(1000.0), FakeTable(None)
    holding = claim(table, ME, TIMES, clock, sleeper(clock), shadow=False)  # type: ignore[arg-type]
    assert holding is not None and holding.epoch == 1 and table.current is not None
    assert table.current.holder == "m2" and holding.valid_until == 1000.0 + TIMES.term


def test_a_master_starting_refuses_while_another_renews() -> None:
    clock, table = FakeClock(1000.0), FakeTable(row(epoch=3))
    with pytest.raises(LeaseHeld, match="m1"):
        claim(table, ME, TIMES, clock, sleeper(clock, lambda: table.renew(3)), shadow=False)  # type: ignore[arg-type]
    assert table.current is not None and table.current.holder == "m1"


def test_a_silent_holder_is_taken_over_after_term_and_grace_with_the_next_epoch() -> None:
    clock, table = FakeClock(1000.0), FakeTable(row(epoch=3))
    holding = claim(table, ME, TIMES, clock, sleeper(clock), shadow=True)  # type: ignore[arg-type]
    assert holding is not None and holding.epoch == 4
    assert clock.now() - 1000.0 == pytest.approx(TIMES.term + TIMES.grace)


def test_a_shadow_never_takes_over_from_a_master_that_stopped_on_purpose() -> None:
    clock, table = FakeClock(1000.0), FakeTable(LeaseRow(3, 10, "", "", 0, TIMES.term))
    assert claim(table, ME, TIMES, clock, sleeper(clock, polls=100), shadow=True) is None  # type: ignore[arg-type]
    assert table.current is not None and table.current.epoch == 3


def test_a_shadow_loses_the_race_when_the_holder_renews_at_the_last_moment() -> None:
    clock, table = FakeClock(1000.0), FakeTable(row(epoch=3))

    class Late(FakeTable):
        def take(self, seen: LeaseRow | None, me: Claimant) -> LeaseRow | None:
            if self.reads < 20:  # the first attempt: the holder renewed just before
                table.renew(3)
            return table.take(seen, me)

        def read(self) -> LeaseRow | None:
            self.reads += 1
            return table.current

    late = Late(None)
    holding = claim(late, ME, TIMES, clock, sleeper(clock), shadow=True)  # type: ignore[arg-type]
    assert holding is not None and holding.epoch == 4
    assert clock.now() - 1000.0 > 2 * TIMES.term  # it watched the renewed beat expire again


# ---------------------------------------------------------------- the holder at run time


async def settled(condition: object, what: str) -> None:
    """Let the renewal's thread and its callback run (real time: a thread is involved)."""
    for _ in range(400):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never {what}")


def test_the_running_lease_renews_lapses_and_is_lost() -> None:
    async def scenario() -> None:
        clock = FakeClock(1000.0)
        table = FakeTable(row(epoch=5, holder="m2", pid=4242))
        lease = MasterLease(table, Holding(table.current, clock.now() + TIMES.term),  # type: ignore[arg-type]
                            TIMES, clock)
        beats: list[float] = []
        lost: list[str] = []
        lease.on_beat = lambda beat: beats.append(beat.valid_for)
        lease.on_lost = lost.append
        lease.start()
        await settled(lambda: beats, "a first beat")  # renewed at once, sent at 1000
        assert beats == [pytest.approx(TIMES.term)] and lease.holding.valid_until == 1000.0 + TIMES.term
        clock.advance(TIMES.renew)
        await settled(lambda: len(beats) == 2, "a renewal after lease_renew seconds of the clock")
        assert lease.holding.valid_until == 1000.0 + TIMES.renew + TIMES.term
        failing = [True]

        def renew(epoch: int) -> bool:
            if failing[0]:
                raise StoreError("store away")
            return FakeTable.renew(table, epoch)

        table.renew = renew  # type: ignore[method-assign]
        for _ in range(5):  # renewals fail for longer than the term: lapsed, not lost
            clock.advance(TIMES.renew)
            await asyncio.sleep(0.02)
        await settled(lambda: lease._lapsed, "the lapse")
        assert lease.remaining() == 0 and not lease.lost and len(beats) == 2
        failing[0] = False  # the store is back, nobody took over: the same epoch carries on
        clock.advance(TIMES.renew)
        await settled(lambda: not lease._lapsed and lease.remaining() > 0, "the renewal after the lapse")
        table.current = row(epoch=6, holder="m1")  # a shadow took over meanwhile
        clock.advance(TIMES.renew)
        await settled(lambda: lost, "the loss")
        assert "m1" in lost[0] and lease.lost and lease.remaining() == 0
        lease._executor.shutdown(wait=True)

    asyncio.run(scenario())


# ---------------------------------------------------------------- the row, on both databases


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return (f"sqlite:///{tmp_path / 'lease.db'}" if request.param == "sqlite"
            else str(request.getfixturevalue("postgres_url")))


@pytest.fixture
def table(url: str) -> Iterator[LeaseTable]:
    t = LeaseTable(url)
    t.create()
    yield t
    t.close()


def test_take_renew_release_are_conditional(table: LeaseTable) -> None:
    assert table.read() is None
    first = table.take(None, OTHER)
    assert first is not None and first.epoch == 1
    assert table.take(None, ME) is None  # the first row exists already
    assert table.renew(1) and table.renew(1)
    seen = table.read()
    assert seen is not None and seen.beat == 2 and seen.holder == "m1"
    stale = LeaseRow(1, 1, "m1", "m1:7444", 1111, TIMES.term)
    assert table.take(stale, ME) is None  # the beat moved since: the holder is alive
    won = table.take(seen, ME)
    assert won is not None and won.epoch == 2
    assert table.take(seen, OTHER) is None  # a second shadow that saw the same row loses
    assert not table.renew(1)  # the old holder cannot renew any more
    assert table.release(2)
    after = table.read()
    assert after is not None and after.released and after.epoch == 2


def race_for(url: str, seen: LeaseRow | None) -> list[LeaseRow | None]:
    """Two claimants take the lease they both saw at the same moment, each over its own engine."""
    barrier = threading.Barrier(2)
    results: list[LeaseRow | None] = []
    tables = [LeaseTable(url), LeaseTable(url)]

    def race(t: LeaseTable, me: Claimant) -> None:
        barrier.wait()
        try:
            results.append(t.take(seen, me))
        except StoreError:
            results.append(None)  # SQLite: the other held the write lock past the timeout

    threads = [threading.Thread(target=race, args=(t, c)) for t, c in zip(tables, (ME, OTHER), strict=True)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for t in tables:
        t.close()
    return results


def test_two_shadows_racing_for_one_expired_lease_one_wins(table: LeaseTable, url: str) -> None:
    assert table.take(None, OTHER) is not None
    for _ in range(10):
        seen = table.read()
        winners = [r for r in race_for(url, seen) if r is not None]
        assert len(winners) == 1
        now = table.read()
        assert now is not None and seen is not None and now.epoch == seen.epoch + 1
        assert now.holder == winners[0].holder


def test_a_commit_after_a_takeover_is_refused_and_writes_nothing(table: LeaseTable, url: str) -> None:
    held = table.take(None, OTHER)
    assert held is not None
    store = Store(url)
    store.create()
    try:
        store.fence = lambda conn: check_epoch(conn, held.epoch)
        store.apply([PutObject("queue", "a.q", {"slots": 1})])
        seen = table.read()
        assert table.take(seen, ME) is not None  # a shadow takes over
        with pytest.raises(LeaseLost):
            store.apply([PutObject("queue", "b.q", {"slots": 1})])
        store.fence = None
        assert set(name for _, name in store.load().objects) == {"a.q"}
    finally:
        store.close()
