"""The session broker hands a client its session's outcome even when the job has already ended:
an exec daemon that refuses a session sends the reason and then ends the job at once, so a
``qrsh -now y`` client may ask after the end (the race behind a flaky log-only test)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from qsys import protocol
from qsys.errors import QsysError
from qsys.master.sessions import Session, SessionBroker


def _broker(jobs: dict[int, Any]) -> SessionBroker:
    return SessionBroker(SimpleNamespace(jobs=jobs), SimpleNamespace())  # type: ignore[arg-type]


def _session(job_id: int) -> Session:
    return Session(job_id, "alice", "rsh", "token", "node1", [], "builtin")


def test_a_refusal_reaches_a_client_that_asks_after_the_job_ended() -> None:
    async def scenario() -> None:
        broker = _broker({})  # the job is gone already
        broker.sessions[1] = _session(1)
        broker.ready("node1", protocol.SessionReady(1, 1, error="cannot run jobs of alice"))
        with pytest.raises(QsysError, match="cannot run jobs of alice"):
            await broker.wait(SimpleNamespace(user="alice"), 1)  # type: ignore[arg-type]
        assert 1 not in broker.sessions

    asyncio.run(scenario())


def test_a_job_that_ends_without_a_session_says_so() -> None:
    async def scenario() -> None:
        broker = _broker({})
        broker.sessions[2] = _session(2)
        with pytest.raises(QsysError, match="ended before its session started"):
            await broker.wait(SimpleNamespace(user="alice"), 2)  # type: ignore[arg-type]

    asyncio.run(scenario())
