"""Hostile frames from an authenticated client (hypothesis): wrong field types, unknown types,
frames that are not maps, garbage, truncated frames, huge integers, deep nesting. Every whole
frame gets a clear reply (never ``internal error``, never none), and the master serves on."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from qsys import protocol
from qsys.paths import Cell
from tests.inprocess import handshake, master_thread, new_test_cell, recv_reply, send_frame

# requests a random but well-typed body could make block or stop the master
BLOCKING = {"shutdown", "wait_jobs", "session_wait"}
TYPES = sorted(name for name in protocol._REGISTRY if name not in BLOCKING)
FIELDS = {name: [f.name for f in protocol._REGISTRY[name].__record_fields__] for name in TYPES}

scalars = (st.none() | st.booleans() | st.integers(-(2 ** 63), 2 ** 64 - 1) | st.floats()
           | st.text(max_size=30) | st.binary(max_size=30))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=10) | st.integers(-5, 5), inner, max_size=4),
                      max_leaves=12)


@st.composite
def typed_bodies(draw: st.DrawFn) -> dict[Any, Any]:
    """A known message type with some of its fields (and maybe others) set to anything."""
    name = draw(st.sampled_from(TYPES))
    fields = FIELDS[name]
    chosen = draw(st.lists(st.sampled_from(fields), unique=True, max_size=len(fields))) if fields else []
    body: dict[Any, Any] = {field: draw(values) for field in chosen}
    if draw(st.booleans()):
        body[draw(st.text(max_size=8))] = draw(values)
    body["t"] = name
    return body


def _annotations(cls: type) -> dict[str, Any]:
    import builtins
    import sys

    from qsys.record import _TypeParser

    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        namespace = vars(sys.modules[klass.__module__])
        for name, text in klass.__dict__.get("__annotations__", {}).items():
            out[name] = _TypeParser(str(text), namespace, vars(builtins)).parse()
    return out


def _of_type(tree: tuple[Any, ...], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of the type an annotation names: well-typed requests reach the handlers."""
    kind = tree[0]
    if kind == "prim":
        return {"int": st.integers(-(2 ** 63), 2 ** 63 - 1) | st.integers(-3, 3), "str": st.text(max_size=40),
                "bool": st.booleans(), "float": st.floats(), "bytes": st.binary(max_size=40)}[tree[1]]
    if kind == "none":
        return st.none()
    if kind == "union":
        return st.one_of(*(_of_type(t, depth) for t in tree[1]))
    if kind == "list":
        return st.lists(_of_type(tree[1], depth + 1), max_size=4)
    if kind == "fixed":
        return st.tuples(*(_of_type(t, depth + 1) for t in tree[1])).map(list)
    if kind == "dict":
        return st.dictionaries(_of_type(tree[1], depth + 1), _of_type(tree[2], depth + 1), max_size=4)
    if kind == "record" and depth < 3:
        return _record(tree[1], depth + 1)
    return values


def _record(cls: type, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    types = _annotations(cls)
    names = [f.name for f in cls.__record_fields__]  # type: ignore[attr-defined]
    return st.fixed_dictionaries({}, optional={n: st.deferred(lambda n=n: _of_type(types[n], depth)) for n in names})


@st.composite
def well_typed(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(TYPES))
    body = draw(_record(protocol._REGISTRY[name]))
    body["t"] = name
    return body


def _deep(depth: int) -> bytes:
    return b"\x82\xa1t\xa4lines\xa5lines" + b"\x91" * depth + b"\x90"


frames = st.one_of(
    well_typed().map(lambda body: ("typed", msgpack.packb(body, use_bin_type=True))),
    typed_bodies().map(lambda body: ("typed", msgpack.packb(body, use_bin_type=True))),
    values.filter(lambda v: not isinstance(v, dict)).map(lambda v: ("not a map", msgpack.packb(v, use_bin_type=True))),
    st.dictionaries(st.just("t"), st.text(max_size=12) | st.integers(-(2 ** 63), 2 ** 63) | st.binary(max_size=4))
    .map(lambda body: ("unknown type", msgpack.packb(body, use_bin_type=True))),
    st.binary(min_size=1, max_size=64).map(lambda data: ("garbage", data)),
    st.integers(900, 5000).map(lambda depth: ("deep", _deep(depth))),
)


@pytest.fixture(scope="module")
def cell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cell]:
    cell = new_test_cell(Path(tmp_path_factory.mktemp("frames")))
    with master_thread(cell):
        yield cell


@pytest.fixture(scope="module")
def conn(cell: Cell) -> Iterator[list[socket.socket]]:
    holder = [handshake(cell)]
    yield holder
    holder[0].close()


def _still_serving(sock: socket.socket) -> None:
    protocol.send_sync(sock, protocol.JobsStatus(users=["*"]))
    assert isinstance(recv_reply(sock), protocol.JobRows)


# QSYS_FRAME_EXAMPLES: a longer run than CI's
@settings(max_examples=int(os.environ.get("QSYS_FRAME_EXAMPLES", "1500")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames)
def test_every_whole_frame_gets_a_clear_reply(conn: list[socket.socket], frame: tuple[str, bytes]) -> None:
    kind, payload = frame
    sock = conn[0]
    send_frame(sock, payload)
    reply = recv_reply(sock)
    event(f"{kind}: {reply.kind if isinstance(reply, protocol.Fail) else type(reply).__name__}")
    if isinstance(reply, protocol.Fail):
        assert reply.kind != "error" and not reply.message.startswith("internal error"), reply
        assert len(reply.message) < 2000
    else:
        assert kind == "typed"  # a random body that happens to be a valid request
    _still_serving(sock)


@settings(max_examples=40, deadline=None)
@given(payload=st.binary(min_size=0, max_size=200), claimed=st.integers(1, protocol.MAX_REQUEST))
def test_a_truncated_frame_ends_only_its_own_connection(cell: Cell, payload: bytes, claimed: int) -> None:
    if len(payload) >= claimed:
        payload = payload[: claimed - 1]
    with handshake(cell) as sock:
        send_frame(sock, payload, length=claimed)
        sock.shutdown(socket.SHUT_WR)
        rest = b""
        while chunk := sock.recv(1 << 16):  # the master closes it (after a Fail, or at once)
            rest += chunk
        assert rest == b"" or isinstance(protocol.decode(rest[4:]), protocol.Fail)
    with handshake(cell) as other:
        _still_serving(other)


def test_big_integers_and_a_frame_over_the_limit(cell: Cell) -> None:
    with handshake(cell) as sock:
        send_frame(sock, msgpack.packb({"t": "job_details", "job_ids": [str(2 ** 64)] * 3}))
        reply = recv_reply(sock)
        assert isinstance(reply, protocol.JobDetailRows) and reply.missing
        send_frame(sock, msgpack.packb({"t": "kill_job", "job_id": 2 ** 64 - 1, "task_id": -(2 ** 63)}))
        reply = recv_reply(sock)
        assert isinstance(reply, protocol.Fail) and "unexpected KillJob" in reply.message
        send_frame(sock, b"", length=protocol.MAX_REQUEST + 1)
        reply = recv_reply(sock)
        assert isinstance(reply, protocol.Fail) and "too large" in reply.message
        assert sock.recv(10) == b""  # a frame it cannot skip ends the connection
    with handshake(cell) as other:
        _still_serving(other)
