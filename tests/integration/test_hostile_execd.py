"""Hostile input to a real exec daemon: malformed requests on its qrsh -inherit port are
answered and closed (hypothesis), and malformed messages from "its master" (a fake one on a
Unix socket) are skipped without wedging the link."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qsys import auth, protocol
from qsys.remote import wire
from tests.clusterlib import REPO, Cluster, wait_until


def _inherit_port(cluster: Cluster) -> int:
    log = cluster.cell.execd_spool("node1") / "messages"
    found = wait_until(lambda: re.search(r"accepts qrsh -inherit on port (\d+)", log.read_text()), 20,
                       "the inherit port")
    return int(found.group(1))


def _execd_pid(cluster: Cluster) -> int:
    return cluster.execd_procs["node1"].pid


def _ask(port: int, data: bytes) -> tuple[bytes, bool]:
    """Send ``data`` to the inherit port; (what came back, whether the port closed it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(data)
        got = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return got, True
            if not chunk:
                return got, True
            got += chunk


hello_values = st.recursive(st.none() | st.booleans() | st.integers(-(2 ** 63), 2 ** 63) | st.text(max_size=20)
                            | st.binary(max_size=10), lambda inner: st.lists(inner, max_size=3)
                            | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
hellos = st.fixed_dictionaries({"inherit": st.just(True)}, optional={
    key: hello_values for key in ("token", "job_id", "task_id", "argv", "noshell", "env", "cwd", "from_host",
                                  "command", "command_host")})


@pytest.fixture(scope="module")
def inherit_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, int]]:
    root = Path(tmp_path_factory.mktemp("execd"))
    os.chmod(root, 0o755)
    with Cluster(root / "cell", hosts=["node1"], slots=2) as cluster:
        yield cluster, _inherit_port(cluster)


def test_a_malformed_hello_is_refused_and_closed(inherit_port: tuple[Cluster, int]) -> None:
    cluster, port = inherit_port
    pid = _execd_pid(cluster)
    before = len(os.listdir(f"/proc/{pid}/fd"))
    for _ in range(20):
        answer, closed = _ask(port, wire.control(wire.HELLO, {"inherit": True, "job_id": "x", "token": "t"}))
        assert closed and answer[0] == wire.REFUSE and b"job_id must be a number" in answer
    answer, closed = _ask(port, wire.frame(wire.STDIN, b"hi"))
    assert closed and answer[0] == wire.REFUSE
    answer, closed = _ask(port, b"\xff\x00\x00\x00\x01x")
    assert closed and answer[0] == wire.REFUSE
    assert len(os.listdir(f"/proc/{pid}/fd")) <= before + 2


@settings(max_examples=150, deadline=None)
@given(hello=hellos)
def test_any_hello_gets_an_answer(inherit_port: tuple[Cluster, int], hello: dict[str, Any]) -> None:
    _, port = inherit_port
    answer, closed = _ask(port, wire.control(wire.HELLO, hello))
    assert closed and answer[:1] == bytes([wire.REFUSE])


# ---------------------------------------------------------------- a fake master


def _frame(body: Any) -> bytes:
    payload = msgpack.packb(body, use_bin_type=True)
    return len(payload).to_bytes(4, "big") + payload


def test_malformed_messages_of_the_master_do_not_wedge_the_link(qsys_root: Path) -> None:
    cell_dir = qsys_root / "cell" / "default"
    (cell_dir / "common").mkdir(parents=True)
    key_file = cell_dir / "common" / "cluster.key"
    auth.create_key(key_file)
    path = qsys_root / "fake-master.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(1)
    listener.settimeout(30)
    env = {**os.environ, "QSYS_ROOT": str(qsys_root / "cell"), "QSYS_CELL": "default", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "execd.main", "--foreground", "--host", "fuzzhost",
                             "--master-socket", str(path), "--spool", str(qsys_root / "spool")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn, _ = listener.accept()
        conn.settimeout(30)
        nonce = auth.new_nonce()
        protocol.send_sync(conn, protocol.Challenge(nonce))
        hello = protocol.recv_sync(conn)
        assert isinstance(hello, protocol.ExecdHello)
        auth.check_execd_proof(auth.load_key(key_file), nonce, hello.host, hello.proof)
        assert isinstance(protocol.recv_sync(conn), protocol.Register)
        garbage = [[1, 2, 3], "not a map", {"t": "no_such_message"}, {"t": "start_job", "job": "x"},
                   {"t": "kill_job", "job_id": "x", "task_id": 1}, {"t": "host_config", "config": [1]},
                   {"t": "start_job", "job": {"job_id": "x"}}, {"t": "pe_slave_end", "job_id": 2 ** 64 - 1}]
        for body in garbage:
            conn.sendall(_frame(body))
        protocol.send_sync(conn, protocol.KillJob(77, 1, 9))  # a sane message after the garbage
        seen = []
        while True:
            msg = protocol.recv_sync(conn)
            seen.append(type(msg).__name__)
            if isinstance(msg, protocol.JobFinished) and msg.job_id == 77:
                break
        assert msg.report.error == "task not found on its exec host"
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(20)
        listener.close()
