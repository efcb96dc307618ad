"""Batching on the drain path: ends and the orders they allow in one transaction, and the
messages of one loop turn in one write."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from qsys import protocol
from qsys.master.clock import SystemClock
from qsys.master.pacing import Pacer
from qsys.store import Change, GroupCommitter, PutTask, SetCounter


class Counting:
    def __init__(self) -> None:
        self.batches: list[list[Change]] = []

    def apply(self, changes: Sequence[Change]) -> None:
        self.batches.append(list(changes))


def _parts(ready: bool) -> tuple[asyncio.Event, Pacer, GroupCommitter, Counting]:
    """A pass wanted, the pacer of an active dispatcher (``ready`` or not), a committer
    that asks it before each batch, and the batches it stored."""
    wanted = asyncio.Event()
    pacer = Pacer(wanted)
    pacer.active, pacer.ready = True, ready
    store = Counting()
    committer = GroupCommitter(store)
    committer.before_batch = pacer.before_commit
    return wanted, pacer, committer, store


def test_a_wanted_pass_joins_the_transaction_of_the_end_that_asked_for_it() -> None:
    async def main() -> None:
        wanted, pacer, committer, store = _parts(ready=True)
        end = SetCounter("end", 1)
        order = PutTask(2, 1, "t", "node1", {})

        async def dispatcher() -> None:  # as Dispatcher._passes: woken, then one pass
            await SystemClock().wait(wanted, 5.0)
            pacer.ready = False
            wanted.clear()
            pacer.passed(0.0)
            await committer.commit([order])

        passes = asyncio.create_task(dispatcher())
        await asyncio.sleep(0)  # the dispatcher waits for a pass to be wanted
        wanted.set()  # the end asks for a pass before its commit (TaskEnds.task_finished)
        await committer.commit([end])
        await passes
        assert store.batches == [[end, order]]  # one transaction, not two in a row
        await committer.close()

    asyncio.run(main())


def test_a_commit_waits_for_no_pass_the_dispatcher_is_not_ready_for() -> None:
    async def main() -> None:
        wanted, pacer, committer, store = _parts(ready=False)  # e.g. the dispatcher itself awaits a commit
        wanted.set()
        await asyncio.wait_for(committer.commit([SetCounter("a", 1)]), 5)
        pacer.ready = True
        pacer.passed(10.0)  # a pass that cost 10 s: the next is not due within COMMIT_WAIT
        await asyncio.wait_for(committer.commit([SetCounter("b", 1)]), 5)
        assert len(store.batches) == 2
        await committer.close()

    asyncio.run(main())


def test_a_stopped_dispatcher_releases_the_commits_waiting_for_its_pass() -> None:
    async def main() -> None:
        wanted, pacer, committer, store = _parts(ready=True)
        wanted.set()
        pending = asyncio.create_task(committer.commit([SetCounter("a", 1)]))
        for _ in range(3):
            await asyncio.sleep(0)
        assert not pending.done() and store.batches == []  # waiting for the pass
        pacer.stopped()
        await asyncio.wait_for(pending, 5)
        assert store.batches == [[SetCounter("a", 1)]]
        await committer.close()

    asyncio.run(main())


class Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return False


def test_the_messages_of_one_turn_leave_in_one_write_in_order() -> None:
    async def main() -> None:
        writer = Recorder()
        box = protocol.Outbox(writer)  # type: ignore[arg-type]
        sent = [protocol.FinishedAck(1, 1), protocol.KillJob(2, 1, 9), protocol.FinishedAck(3, 1)]
        for msg in sent:
            box.put(msg)
        assert writer.writes == []  # not before the loop's next turn
        await asyncio.sleep(0)
        assert len(writer.writes) == 1
        reader = asyncio.StreamReader()
        reader.feed_data(writer.writes[0])
        reader.feed_eof()
        got = [await protocol.read_message(reader) for _ in sent]
        assert got == sent and await protocol.read_message(reader) is None
        box.put(protocol.FinishedAck(4, 1))
        await asyncio.sleep(0)
        assert len(writer.writes) == 2  # the next turn's messages: the next write

    asyncio.run(main())
