"""Pure logic of the limits before authentication and of the bounded logs."""

from __future__ import annotations

import io
import logging

from qsys.admission import Gate, Limits, tcp_sockets
from qsys.logbounds import LINE_LIMIT, BoundedFormatter, RateLimit
from qsys.remote.addresses import serving_address


def test_the_gate_counts_per_peer_and_in_all() -> None:
    gate = Gate(Limits(per_peer=2, total=3, reserve=10), descriptors=100)
    a1, a2 = gate.admit("a"), gate.admit("a")
    assert a1 and a2 and gate.admit("a") is None  # the peer's cap
    b1 = gate.admit("b")
    assert b1 and not gate.room(reserve=10)  # three waiting: the total cap
    a1.authenticated()
    assert gate.room(reserve=10) and gate.admit("a") is not None
    assert gate.open == 4 and gate.unauthenticated == 3
    a1.close()
    a1.close()  # twice is once
    assert gate.open == 3


def test_the_gate_keeps_descriptors_in_reserve() -> None:
    gate = Gate(Limits(per_peer=100, total=100, reserve=64), descriptors=80)
    tickets = [gate.admit(f"p{i}") for i in range(20)]
    for ticket in tickets:
        assert ticket is not None
        ticket.authenticated()
    assert not gate.room(reserve=64) and gate.room(reserve=8)  # TCP waits, the Unix socket not


def test_tcp_sockets_share_one_port_and_skip_a_missing_family() -> None:
    socks = tcp_sockets(["127.0.0.1", "::1"], 0)
    try:
        assert len({s.getsockname()[1] for s in socks}) == 1
    finally:
        for sock in socks:
            sock.close()


def test_a_client_on_this_host_gets_a_loopback_session_port() -> None:
    assert serving_address(["127.0.0.1"]) == "127.0.0.1"
    assert serving_address([]) == "127.0.0.1"


def _logger() -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(BoundedFormatter("%(levelname)s %(message)s"))
    handler.addFilter(RateLimit(burst=5, seconds=3600))
    log = logging.getLogger(f"test.bounds.{id(out)}")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    return log, out


def test_a_huge_argument_makes_a_bounded_line() -> None:
    log, out = _logger()
    log.warning("host=%s registered", "h" * 50_000_000)
    try:
        raise ValueError("v" * 1_000_000)
    except ValueError:
        log.exception("failed with %d", 7)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("WARNING host=hhh") and "more characters]" in lines[0]
    assert max(len(line) for line in lines) <= LINE_LIMIT + 100
    assert len(out.getvalue()) < 3 * LINE_LIMIT


def test_repeated_warnings_are_rate_limited() -> None:
    log, out = _logger()
    for i in range(1000):
        log.warning("conn=%d refused: %s", i, "bad credential")
    log.info("informational lines always pass")
    lines = out.getvalue().splitlines()
    assert len(lines) == 6 and lines[-1].startswith("INFO")
