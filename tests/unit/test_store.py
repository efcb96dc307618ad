"""The store on SQLite and on a real PostgreSQL (started by tests/pg.py)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from qsys.store import (
    AddAccounting,
    Change,
    DeleteJob,
    DeleteObject,
    DeleteTask,
    GroupCommitter,
    PutJob,
    PutObject,
    PutTask,
    SetCounter,
    Store,
    StoreError,
    normalize_url,
)
from tests.pg import postgres, postgres_url  # noqa: F401  (fixtures)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'qsys.db'}"
    value: str = request.getfixturevalue("postgres_url")
    return value


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    s = Store(url)
    s.create()
    yield s
    s.close()


def reopen(store: Store, url: str) -> Store:
    store.close()
    again = Store(url)
    again.create()
    return again


def test_url_mapping() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:////tmp/x.db").drivername == "sqlite"
    with pytest.raises(StoreError):
        normalize_url("mysql://u@h/db")


def test_round_trip_every_kind(store: Store, url: str) -> None:
    job = {"name": "sleep", "args": ["60"], "restarts": {3: 1}, "blob": b"\x00\xff", "ratio": 0.5}
    store.apply([
        PutJob(7, "alice", "qw", job),
        PutTask(7, 1, "r", "node1", {"pid": 123}),
        PutTask(7, 2, "t", None, {"pid": None}),
        PutObject("queue", "all.q", {"attrs": {"slots": "4"}}),
        SetCounter("next_job_id", 8),
        AddAccounting(7, 1, "alice", 1000.5, {"exit_status": 0}),
    ])
    store = reopen(store, url)
    loaded = store.load()
    assert loaded.jobs == {7: job}
    assert loaded.tasks == {(7, 1): {"pid": 123}, (7, 2): {"pid": None}}
    assert loaded.objects == {("queue", "all.q"): {"attrs": {"slots": "4"}}}
    assert loaded.counters == {"next_job_id": 8}
    assert loaded.accounting_count == 1
    store.close()


def test_upserts_replace(store: Store) -> None:
    store.apply([PutJob(1, "alice", "qw", {"v": 1}), PutTask(1, 1, "t", "a", {"v": 1}),
                 PutObject("pe", "mpi", {"v": 1})])
    store.apply([PutJob(1, "alice", "r", {"v": 2}), PutTask(1, 1, "r", "b", {"v": 2}),
                 PutObject("pe", "mpi", {"v": 2})])
    # Same key twice in one batch: the last one wins.
    store.apply([PutJob(2, "bob", "qw", {"v": 1}), PutJob(2, "bob", "hqw", {"v": 3})])
    loaded = store.load()
    assert loaded.jobs == {1: {"v": 2}, 2: {"v": 3}}
    assert loaded.tasks == {(1, 1): {"v": 2}}
    assert loaded.objects == {("pe", "mpi"): {"v": 2}}


def test_deletes(store: Store) -> None:
    store.apply([PutJob(1, "a", "r", {}), PutJob(2, "a", "r", {}),
                 PutTask(1, 1, "r", "h", {}), PutTask(1, 2, "r", "h", {}), PutTask(2, 1, "r", "h", {}),
                 PutObject("queue", "a.q", {}), PutObject("queue", "b.q", {})])
    store.apply([DeleteJob(1), DeleteTask(2, 1), DeleteObject("queue", "a.q")])
    loaded = store.load()
    assert set(loaded.jobs) == {2}
    assert loaded.tasks == {}
    assert set(loaded.objects) == {("queue", "b.q")}


def test_order_inside_a_batch(store: Store) -> None:
    store.apply([PutJob(1, "a", "r", {}), PutTask(1, 1, "r", "h", {"old": True})])
    store.apply([
        PutTask(1, 2, "r", "h", {}),          # dies with the job below
        DeleteJob(1),
        PutJob(1, "a", "qw", {"again": 1}),   # the job comes back ...
        PutTask(1, 3, "t", "h", {"new": 1}),  # ... with a task put after the delete
        PutTask(5, 1, "r", "h", {}),
        DeleteTask(5, 1),                     # put then delete: gone
        DeleteObject("queue", "x.q"),
        PutObject("queue", "x.q", {"x": 1}),  # delete then put: there
    ])
    loaded = store.load()
    assert loaded.jobs == {1: {"again": 1}}
    assert loaded.tasks == {(1, 3): {"new": 1}}
    assert loaded.objects == {("queue", "x.q"): {"x": 1}}


def test_counters_never_go_back(store: Store, url: str) -> None:
    store.apply([SetCounter("next_job_id", 10)])
    store.apply([SetCounter("next_job_id", 4)])
    store.apply([SetCounter("next_job_id", 12), SetCounter("next_job_id", 11), SetCounter("other", 3)])
    store = reopen(store, url)
    assert store.load().counters == {"next_job_id": 12, "other": 3}
    store.apply([SetCounter("next_job_id", 13)])
    assert store.load().counters["next_job_id"] == 13
    store.close()


def test_accounting_queries(store: Store) -> None:
    rows = [(1, 1, "alice", 300.0), (1, 2, "alice", 100.0), (2, 1, "bob", 200.0), (3, 1, "alice", 400.0)]
    store.apply([AddAccounting(j, t, o, e, {"job": j, "task": t, "end": e}) for j, t, o, e in rows])
    ends = [r["end"] for r in store.accounting()]
    assert ends == sorted(ends) and len(ends) == 4
    assert [(r["job"], r["task"]) for r in store.accounting(job_id=1)] == [(1, 2), (1, 1)]
    assert [r["job"] for r in store.accounting(owner="bob")] == [2]
    assert [r["end"] for r in store.accounting(since=250.0)] == [300.0, 400.0]
    assert [r["job"] for r in store.accounting(owner="alice", since=250.0)] == [1, 3]
    assert store.accounting(job_id=99) == []
    assert store.load().accounting_count == 4


def test_durable_across_reopen_and_create_is_idempotent(store: Store, url: str) -> None:
    store.apply([PutJob(i, "u", "qw", {"i": i}) for i in range(1, 51)])
    store = reopen(store, url)
    store.create()
    store.apply([DeleteJob(i) for i in range(1, 26)])
    store = reopen(store, url)
    assert sorted(store.load().jobs) == list(range(26, 51))
    store.close()


def test_failed_batch_writes_nothing(store: Store) -> None:
    store.apply([PutJob(1, "a", "qw", {})])
    with pytest.raises(StoreError):
        # A NULL owner violates the schema; the job put before it must roll back too.
        store.apply([PutJob(2, "a", "qw", {}), PutJob(3, None, "qw", {})])  # type: ignore[arg-type]
    assert set(store.load().jobs) == {1}
    with pytest.raises(TypeError):
        store.apply(["not a change"])  # type: ignore[list-item]


def test_thousand_jobs_in_one_apply(store: Store, url: str) -> None:
    changes: list[Change] = [PutJob(i, "user", "qw", {"name": f"job{i}", "args": ["x"] * 5})
                             for i in range(1, 1001)]
    start = time.perf_counter()
    store.apply(changes)
    elapsed = time.perf_counter() - start
    print(f"\n{store.dialect}: 1,000 PutJob in one apply took {elapsed * 1000:.1f} ms")
    assert len(store.load().jobs) == 1000


# ------------------------------------------------------------------ group commit


class CountingStore:
    """Wraps a store, counts transactions and holds the first one until released."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.batches: list[int] = []
        self.gate = threading.Event()
        self.entered = threading.Event()

    def apply(self, changes: Sequence[Change]) -> None:
        self.entered.set()
        self.gate.wait(10)
        self.batches.append(len(changes))
        self.inner.apply(changes)


def test_group_commit_batches_waiting_commits(store: Store) -> None:
    counting = CountingStore(store)

    async def main() -> None:
        committer = GroupCommitter(counting)
        first = asyncio.create_task(committer.commit([PutJob(1, "u", "qw", {})]))
        # The first transaction is now held inside apply; queue 20 more behind it.
        await asyncio.get_running_loop().run_in_executor(None, counting.entered.wait, 10)
        rest = [asyncio.create_task(committer.commit([PutJob(i, "u", "qw", {}), SetCounter("n", i)]))
                for i in range(2, 22)]
        await asyncio.sleep(0)
        counting.gate.set()
        await asyncio.gather(first, *rest)
        await committer.close()

    asyncio.run(main())
    assert counting.batches == [1, 40]
    loaded = store.load()
    assert sorted(loaded.jobs) == list(range(1, 22))
    assert loaded.counters == {"n": 21}


def test_group_commit_propagates_errors_to_the_batch(store: Store) -> None:
    counting = CountingStore(store)

    async def main() -> list[object]:
        committer = GroupCommitter(counting)
        first = asyncio.create_task(committer.commit([PutJob(1, "u", "qw", {})]))
        await asyncio.get_running_loop().run_in_executor(None, counting.entered.wait, 10)
        good = asyncio.create_task(committer.commit([PutJob(2, "u", "qw", {})]))
        bad = asyncio.create_task(committer.commit([PutJob(3, None, "qw", {})]))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        counting.gate.set()
        results = await asyncio.gather(first, good, bad, return_exceptions=True)
        # The committer keeps working after a failed batch.
        await committer.commit([PutJob(4, "u", "qw", {})])
        await committer.close()
        with pytest.raises(StoreError):
            await committer.commit([PutJob(5, "u", "qw", {})])
        return list(results)

    results = asyncio.run(main())
    assert results[0] is None
    assert isinstance(results[1], StoreError) and isinstance(results[2], StoreError)
    assert counting.batches == [1, 2, 1]
    assert set(store.load().jobs) == {1, 4}


def test_close_flushes_pending_commits(store: Store) -> None:
    async def main() -> None:
        committer = GroupCommitter(store)
        tasks = [asyncio.create_task(committer.commit([PutJob(i, "u", "qw", {})])) for i in range(1, 6)]
        await asyncio.sleep(0)
        await committer.close()
        await asyncio.gather(*tasks)
        assert committer.transactions >= 1

    asyncio.run(main())
    assert sorted(store.load().jobs) == [1, 2, 3, 4, 5]


def test_group_commit_caps_batch_size(store: Store) -> None:
    counting = CountingStore(store)

    async def main() -> None:
        committer = GroupCommitter(counting, max_batch=5)
        first = asyncio.create_task(committer.commit([PutJob(1, "u", "qw", {})]))
        await asyncio.get_running_loop().run_in_executor(None, counting.entered.wait, 10)
        sizes = [3, 2, 4, 7, 1]  # a request is never split, even when larger than the cap
        next_id = iter(range(100, 200))
        rest = [asyncio.create_task(committer.commit([PutJob(next(next_id), "u", "qw", {}) for _ in range(n)]))
                for n in sizes]
        await asyncio.sleep(0)
        counting.gate.set()
        await asyncio.gather(first, *rest)
        await committer.close()

    asyncio.run(main())
    assert counting.batches == [1, 5, 4, 7, 1]
    assert len(store.load().jobs) == 1 + sum([3, 2, 4, 7, 1])


def test_cancelled_committer_fails_its_waiters(store: Store) -> None:
    counting = CountingStore(store)

    async def main() -> list[object]:
        committer = GroupCommitter(counting)
        first = asyncio.create_task(committer.commit([PutJob(1, "u", "qw", {})]))
        await asyncio.get_running_loop().run_in_executor(None, counting.entered.wait, 10)
        queued = asyncio.create_task(committer.commit([PutJob(2, "u", "qw", {})]))
        await asyncio.sleep(0)
        runner = committer._runner  # the loop shutting down cancels this task
        assert runner is not None
        runner.cancel()
        results = await asyncio.gather(first, queued, return_exceptions=True)
        counting.gate.set()
        await committer.close()
        return list(results)

    results = asyncio.run(main())
    assert all(isinstance(r, StoreError) for r in results)
