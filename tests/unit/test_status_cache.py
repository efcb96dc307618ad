"""The status cache's rules (``qsys.master.status_cache``): a reply is served again until a
write finishes, or while nothing happened (up to MAX_AGE), or while remaking it is beyond the
budget (up to MAX_STALE); -urg/-pri and -s z replies are never kept."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from qsys import protocol
from qsys.master import status_cache
from qsys.master.giveback import GiveBack
from qsys.master.metrics import Metrics
from qsys.master.status_cache import StatusCache


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t


class _State:
    def __init__(self) -> None:
        self.metrics = Metrics(started=0.0)
        self.clock = _Clock()
        self.giveback = GiveBack()  # a reply made counts towards giving memory back


class _Reads:
    """A status handler that answers how many times it was asked."""

    def __init__(self) -> None:
        self.made = 0

    async def __call__(self, who: Any, msg: Any) -> protocol.StatusReply:
        self.made += 1
        return protocol.StatusReply(f"reply {self.made}")


def _unpaced(handler: Any) -> Any:
    return handler


def _text(frame: Any) -> str:
    reply = protocol.decode(frame.data[4:])
    assert isinstance(reply, protocol.StatusReply)
    return reply.text


def _setup() -> tuple[_State, StatusCache, _Reads, Any]:
    state = _State()
    cache = StatusCache(state)  # type: ignore[arg-type]
    reads = _Reads()
    return state, cache, reads, cache.read(reads, _unpaced)


def _ask(serve: Any, msg: Any = None) -> str:
    msg = msg or protocol.StatusText(protocol.JobsStatus(["*"]))
    return _text(asyncio.run(serve(None, msg)))


def test_an_unchanged_state_is_served_again_until_a_write_is_done() -> None:
    state, cache, reads, serve = _setup()
    assert [_ask(serve) for _ in range(3)] == ["reply 1"] * 3
    assert state.metrics.status_reused.value == 2 and state.metrics.status_made.value == 1

    async def write(who: Any, msg: Any) -> protocol.Ok:
        return protocol.Ok()

    asyncio.run(cache.write(write)(None, None))
    assert _ask(serve) == "reply 2"


def test_a_write_that_failed_counts_too() -> None:
    _state, cache, _reads, serve = _setup()
    _ask(serve)

    async def refused(who: Any, msg: Any) -> None:
        raise ValueError("no")

    with pytest.raises(ValueError):
        asyncio.run(cache.write(refused)(None, None))
    assert _ask(serve) == "reply 2"


def test_while_things_happen_a_reply_is_remade_as_long_as_the_budget_lasts(monkeypatch: pytest.MonkeyPatch) -> None:
    state, cache, reads, serve = _setup()
    _ask(serve)
    state.metrics.finishes.inc()  # (not an event: the counts are commits, passes, host messages)
    assert _ask(serve) == "reply 1"

    async def report(entry: Any, msg: Any) -> None:
        return None

    asyncio.run(cache.event(report)(None, None))
    assert _ask(serve) == "reply 2"  # the budget is full: remade
    cache._budget = -1.0  # spent (and it refills slowly)
    state.metrics.store_commit.observe(0.01)
    assert _ask(serve) == "reply 2"  # served again, a moment old
    monkeypatch.setattr(status_cache, "MAX_STALE", 0.0)
    assert _ask(serve) == "reply 3"  # never older than MAX_STALE


def test_the_masters_clock_leaping_ends_a_reply() -> None:
    state, _cache, _reads, serve = _setup()
    _ask(serve)
    state.clock.t += status_cache.MAX_AGE
    assert _ask(serve) == "reply 2"


@pytest.mark.parametrize("query", [protocol.JobsStatus(["*"], urgency=True), protocol.JobsStatus(["*"], states="z"),
                                   protocol.JobsStatus(["*"], states="pf")])
def test_urgency_and_finished_jobs_are_never_kept(query: protocol.JobsStatus) -> None:
    _state, _cache, _reads, serve = _setup()
    assert [_ask(serve, protocol.StatusText(query)) for _ in range(2)] == ["reply 1", "reply 2"]


def test_different_requests_have_their_own_replies() -> None:
    _state, _cache, _reads, serve = _setup()
    assert _ask(serve, protocol.StatusText(protocol.JobsStatus(["a"]))) == "reply 1"
    assert _ask(serve, protocol.StatusText(protocol.JobsStatus(["b"]))) == "reply 2"
    assert _ask(serve, protocol.StatusText(protocol.JobsStatus(["a"]))) == "reply 1"
    assert _ask(serve, protocol.StatusText(protocol.JobsStatus(["a"]), form="xml")) == "reply 3"
