"""Remote startup pieces on their own: argument conventions, frames, the one-connection port
of daemon methods (only the granted address gets in; refusals are logged)."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from execd.spool import TaskDir
from execd.startup import accept_client, open_listener
from qsys.launch import Launch
from qsys.remote import wire
from qsys.remote.addresses import local_addresses, normalize
from qsys.startup import methods
from tests.startuplib import REPO


def test_argument_conventions_are_exact() -> None:
    assert methods.command_argv("qlogin", "/usr/bin/telnet", "node1", 4711) == ["/usr/bin/telnet", "node1", "4711"]
    assert methods.command_argv("rlogin", "/usr/bin/rlogin", "node1", 4711) == ["/usr/bin/rlogin", "-p", "4711",
                                                                                "node1"]
    assert methods.command_argv("rsh", "ssh -tt -o 'A B'", "node1", 4711, ["echo", "x y"]) == [
        "ssh", "-tt", "-o", "A B", "-n", "-p", "4711", "node1", "echo", "x y"]
    with pytest.raises(ValueError):
        methods.command_argv("rsh", "  ", "node1", 1)


def test_qlogin_wrapper_swaps_host_and_port() -> None:
    out = subprocess.run([str(REPO / "wrappers" / "qlogin_wrapper"), "-o", "A B", "-tt", "node1", "4711"],
                         env={"QSYS_SSH": "/bin/echo"}, capture_output=True, text=True, check=True)
    assert out.stdout == "-o A B -tt -p 4711 node1\n"


def test_frames_round_trip_in_pieces() -> None:
    data = wire.control(wire.HELLO, {"token": "t"}) + wire.frame(wire.STDIN, b"x" * 70000) + wire.frame(wire.STDIN_EOF)
    reader = wire.FrameReader()
    frames = []
    for i in range(0, len(data), 333):
        frames.extend(reader.feed(data[i:i + 333]))
    assert [k for k, _ in frames] == [wire.HELLO, wire.STDIN, wire.STDIN_EOF]
    assert wire.load(frames[0][1]) == {"token": "t"} and len(frames[1][1]) == 70000
    with pytest.raises(wire.FrameError):
        wire.FrameReader().feed(b"GET / HTTP/1.0\r\n\r\n")


def test_addresses() -> None:
    assert "127.0.0.1" in local_addresses()
    assert normalize("::ffff:10.1.2.3") == "10.1.2.3"


def _task(tmp_path: Path) -> tuple[TaskDir, Launch]:
    path = tmp_path / "spool" / "active_jobs" / "5.1"
    path.mkdir(parents=True)
    launch = Launch(job_id=5, task_id=1, is_array=False, spec={}, owner="u", uid=0, group="", gid=0,
                    queue="all.q", host="node1", slots=1, total_slots=1)
    (path / "job.json").write_text(json.dumps(launch.to_wire()))
    return TaskDir(path), launch


def test_daemon_port_accepts_only_the_granted_address(tmp_path: Path) -> None:
    tdir, launch = _task(tmp_path)
    listener = open_listener()
    port = listener.getsockname()[1]
    session = {"method": "rsh", "daemon": "/usr/sbin/sshd -i", "grant": ["127.0.0.1"], "token": "x"}
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(
        accept_client(listener, session, tdir, launch, time.time() + 10)))
    thread.start()
    intruder = socket.socket()
    intruder.bind(("127.0.0.2", 0))  # a local address, but not the one granted
    intruder.connect(("127.0.0.1", port))
    assert intruder.recv(10) == b""  # closed on it
    granted = socket.create_connection(("127.0.0.1", port))
    thread.join(10)
    conn, hello = result[0]  # type: ignore[misc]
    assert hello == {} and conn.getpeername()[1] == granted.getsockname()[1]
    conn.close()
    granted.close()
    audit = (tmp_path / "spool" / "audit").read_text()
    assert "job=5.1 action=session_refuse" in audit and "127.0.0.2" in audit


def test_port_closes_when_nobody_comes(tmp_path: Path) -> None:
    tdir, launch = _task(tmp_path)
    listener = open_listener()
    session = {"method": "rsh", "daemon": "builtin", "grant": [], "token": "x"}
    assert accept_client(listener, session, tdir, launch, time.time() + 0.3) is None
