"""Pure logic of the master's resilience: the group committer when the store refuses or is
away, the store's image, and the pacing of requests against scheduling passes."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from qsys.logfile import LineFile
from qsys.master import pacing
from qsys.master.pacing import Pacer
from qsys.store import (
    Change,
    DeleteJob,
    GroupCommitter,
    PutJob,
    PutTask,
    SetCounter,
    Store,
    StoreError,
    StoreUnavailable,
)


class Flaky:
    """A store that refuses batches while ``refusing`` and is unreachable while ``away``."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.refusing = False
        self.away = False
        self.applied: list[int] = []
        self.gate = threading.Event()
        self.gate.set()

    def apply(self, changes: Sequence[Change]) -> None:
        self.gate.wait(10)
        if self.refusing or self.away:
            raise StoreError("store write failed: database or disk is full", "database or disk is full")
        self.applied.append(len(changes))
        self.inner.apply(changes)

    def ping(self) -> None:
        if self.away:
            raise StoreUnavailable("the store is not available: connection refused", "connection refused")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'qsys.db'}")
    s.create()
    return s


def test_a_failed_batch_fails_the_batches_queued_behind_it_and_says_what_they_changed(store: Store) -> None:
    flaky = Flaky(store)
    refused: list[Change] = []

    async def main() -> list[object]:
        committer = GroupCommitter(flaky)
        committer.on_failure = refused.extend
        flaky.gate.clear()
        flaky.refusing = True
        first = asyncio.create_task(committer.commit([PutJob(1, "u", "qw", {})]))
        await asyncio.sleep(0.05)
        later = [asyncio.create_task(committer.commit([PutJob(i, "u", "qw", {})])) for i in (2, 3)]
        await asyncio.sleep(0)
        flaky.gate.set()
        results = await asyncio.gather(first, *later, return_exceptions=True)
        flaky.refusing = False
        await committer.commit([PutJob(4, "u", "qw", {})])
        await committer.close()
        return list(results)

    results = asyncio.run(main())
    assert all(isinstance(r, StoreError) for r in results)
    assert sorted(c.job_id for c in refused if isinstance(c, PutJob)) == [1, 2, 3]
    assert set(store.load().jobs) == {4}
    assert set(store.image.jobs) == {4}  # the image follows only what was committed


def test_an_absent_store_refuses_at_once_and_is_probed_until_it_answers(store: Store) -> None:
    flaky = Flaky(store)

    async def main() -> None:
        committer = GroupCommitter(flaky)
        returned = asyncio.Event()
        committer.on_back = returned.set
        flaky.away = True
        with pytest.raises(StoreUnavailable):
            await committer.commit([PutJob(1, "u", "qw", {})])
        assert not committer.available
        calls = len(flaky.applied)
        with pytest.raises(StoreUnavailable, match="connection refused"):
            await committer.commit([PutJob(2, "u", "qw", {})])  # refused without a try
        assert len(flaky.applied) == calls
        flaky.away = False
        await asyncio.wait_for(returned.wait(), 10)
        assert committer.available
        await committer.commit([PutJob(3, "u", "qw", {})])
        await committer.close()

    asyncio.run(main())
    assert set(store.load().jobs) == {3}


def test_the_image_is_what_the_store_holds(store: Store, tmp_path: Path) -> None:
    store.apply([PutJob(1, "u", "qw", {"a": 1}), PutTask(1, 1, "t", "node1", {"task_id": 1}),
                 PutTask(1, 2, "t", "node1", {"task_id": 2}), SetCounter("next_job_id", 5)])
    store.apply([PutJob(2, "u", "qw", {"b": 2}), PutTask(1, 2, "r", "node1", {"task_id": 2, "x": 1}),
                 DeleteJob(2), SetCounter("next_job_id", 3)])
    image = store.image
    again = Store(f"sqlite:///{tmp_path / 'qsys.db'}")
    again.load()
    assert image == again.image
    assert image.job(1) == {"a": 1} and image.job(2) is None
    assert image.tasks_of(1) == {1: {"task_id": 1}, 2: {"task_id": 2, "x": 1}}
    assert image.counters == {"next_job_id": 5}  # a counter never goes back


def test_a_line_the_disk_cuts_short_is_taken_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "log"
    lines = LineFile(path)
    assert lines.append(b"first\n")
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:3]))  # the disk took 3 bytes
    assert not lines.append(b"second\n")
    assert path.read_bytes() == b"first\n"
    monkeypatch.setattr(os, "write", real_write)
    assert lines.append(b"third\n")
    assert path.read_bytes() == b"first\nthird\n"


def test_few_requests_start_per_turn_of_the_loop_in_their_order() -> None:
    async def main() -> None:
        pacer = Pacer(asyncio.Event())
        order: list[int] = []

        async def request(n: int) -> None:
            await pacer.admit()
            order.append(n)

        tasks = [asyncio.create_task(request(n)) for n in range(10)]
        seen = []
        for _ in range(6):
            await asyncio.sleep(0)
            seen.append(len(order))
        await asyncio.gather(*tasks)
        assert order == list(range(10))
        per_turn = [b - a for a, b in zip([0, *seen], seen, strict=False)]
        assert max(per_turn) <= pacing.REQUESTS_PER_TURN and seen[-1] == 10

    asyncio.run(main())


def test_requests_wait_while_a_pass_is_due() -> None:
    async def main() -> None:
        wanted = asyncio.Event()
        pacer = Pacer(wanted)
        pacer.active = True
        wanted.set()
        done: list[int] = []

        async def request(n: int) -> None:
            await pacer.turn()
            done.append(n)

        tasks = [asyncio.create_task(request(n)) for n in range(3)]
        for _ in range(3):
            await asyncio.sleep(0)
        assert done == []  # a pass is due: no request starts before it
        wanted.clear()
        pacer.passed(0.2)
        await asyncio.gather(*tasks)
        assert sorted(done) == [0, 1, 2]
        # the pass that just cost 0.2 s is not due again before its pause is over
        wanted.set()
        assert not pacer.due()
        assert pacer.due_at() - pacer.last_end == pytest.approx(min(pacing.MAX_PAUSE, 0.2))

    asyncio.run(main())
